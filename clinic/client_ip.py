"""The client's address, for rate limits, the login lockout and the audit.

Behind a TLS proxy every connection comes from the proxy, so the connection's
address (REMOTE_ADDR) names the proxy, not the person. The proxy appends the
address it saw to X-Forwarded-For; that header is trusted only as far as the
settings say, because anyone can send one:

- CLINIC_TRUSTED_PROXIES: addresses or networks of our own proxies. The header
  is read only when the connection comes from one of them, from the right,
  skipping our proxies; the first other address is the client.
- CLINIC_PROXY_COUNT: the number of proxies in front of the app, when their
  addresses are not fixed (a container network). The client is the address
  that many hops from the right. Use it only where the app cannot be reached
  except through those proxies.

With neither set (the default) X-Forwarded-For is ignored: the client is the
connection's address.
"""

import ipaddress
from functools import lru_cache

from auditlog.middleware import AuditlogMiddleware as _AuditlogMiddleware
from django.conf import settings
from django.http import HttpRequest

ATTRIBUTE = "_clinic_client_ip"


@lru_cache(maxsize=16)
def _networks(proxies: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(proxy.strip(), strict=False) for proxy in proxies if proxy)


def _address(text: str):
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address, networks) -> bool:
    return address is not None and any(address in network for network in networks)


def resolve(remote_addr: str, forwarded_for: str) -> str | None:
    """The client's address from the connection's and the X-Forwarded-For header."""
    peer = _address(remote_addr or "")
    if peer is None:
        return None
    hops = [_address(part) for part in (forwarded_for or "").split(",") if part.strip()]
    networks = _networks(tuple(getattr(settings, "CLINIC_TRUSTED_PROXIES", ()) or ()))
    count = int(getattr(settings, "CLINIC_PROXY_COUNT", 0) or 0)
    if networks:
        if not _trusted(peer, networks):
            return str(peer)  # not through our proxy: its header is whatever the client says
        client = peer
        for hop in reversed(hops):
            if hop is None:
                break  # garbage: stop at the last address we can vouch for
            client = hop
            if not _trusted(hop, networks):
                break
        return str(client)
    if count > 0 and len(hops) >= count and hops[-count] is not None:
        return str(hops[-count])
    return str(peer)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address for this request (cached on it)."""
    cached = getattr(request, ATTRIBUTE, None)
    if cached is None:
        meta = request.META
        cached = resolve(meta.get("REMOTE_ADDR", ""), meta.get("HTTP_X_FORWARDED_FOR", "")) or ""
        setattr(request, ATTRIBUTE, cached)
    return cached or None


class AuditlogMiddleware(_AuditlogMiddleware):
    """django-auditlog's middleware, which would take X-Forwarded-For's first entry
    from anyone, with the client's address as resolved above."""

    @staticmethod
    def _get_remote_addr(request):
        if settings.AUDITLOG_DISABLE_REMOTE_ADDR:
            return None
        return client_ip(request)
