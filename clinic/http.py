"""Small HTTP helpers that know no domain."""

from collections.abc import Callable
from functools import wraps
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme


def origin_only_referrer(view):
    """Send this page's origin as the Referer, never its path: the path is a credential
    (a patient link), and the browser would otherwise hand it to whatever the page
    links to or loads (its own static files too, whose access-log lines carry the
    Referer). Not `no-referrer`: under that policy Chromium posts the page's own forms
    with `Origin: null`, which Django's CSRF check rightly refuses. SecurityMiddleware
    keeps a Referrer-Policy that a view has set."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Referrer-Policy"] = "strict-origin"
        return response

    return wrapped


def local_path(request: HttpRequest, candidate: str) -> str:
    """`candidate` (a `next` parameter: any text) if it is an address on this site (a
    path, or this host's full URL as the care gate passes), else "".

    `redirect()` takes a word without "/" for a view name and fails with NoReverseMatch
    (a 500 for `next=abc`), and another host's address would send a signed-in user off
    the site. No control characters: they have no place in a Location header."""
    if (
        (candidate.startswith("/") or urlsplit(candidate).scheme in ("http", "https"))
        and not any(ord(c) < 32 or ord(c) == 127 for c in candidate)
        and url_has_allowed_host_and_scheme(
            candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        return candidate
    return ""


def url_maker(name: str) -> Callable[[int], str]:
    """`reverse(name, args=[pk])` for many pks: reversed once, then pasted together."""
    marker = "2147483647"
    head, tail = reverse(name, args=[int(marker)]).split(marker)
    return lambda pk: f"{head}{pk}{tail}"
