"""Small HTTP helpers that know no domain."""

from functools import wraps

from django.http import HttpRequest, HttpResponse


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
