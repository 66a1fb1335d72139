"""Small HTTP helpers that know no domain."""

from functools import wraps

from django.http import HttpRequest, HttpResponse


def no_referrer(view):
    """Send no Referer from this page: its URL is a credential (a patient link), and
    the browser would otherwise hand it to whatever the page links to or loads.
    SecurityMiddleware keeps a Referrer-Policy that a view has set."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Referrer-Policy"] = "no-referrer"
        return response

    return wrapped
