"""The project's URLs plus one bare page: the floor every page is compared with.

The bare page goes through the same middleware (session, login, role check) and the
same test client as the pages, and renders no template and reads no table of its own.
"""

from django.http import HttpResponse
from django.urls import path

from clinic import roles
from clinic.urls import urlpatterns as project_urlpatterns


@roles.role_required(roles.FRONT_DESK, roles.NURSE, roles.PHYSICIAN)
def bare(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [path("__benchmark__/bare/", bare, name="benchmark_bare"), *project_urlpatterns]
