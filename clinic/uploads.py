"""Uploads refused as soon as they pass the limit, not after they arrived in full.

The largest file the clinic takes is a result PDF (RESULTS_PDF_MAX_BYTES). A
file slightly over it (FILE_SLACK_BYTES) still reaches the form, which refuses it
in words on the page. Beyond that:

- `UploadLimitMiddleware` answers 413 before reading a byte of a body whose
  Content-Length is over the file limit plus BODY_SLACK_BYTES for the other
  fields (Django never reads past Content-Length);
- `LimitedUploadHandler`, first of FILE_UPLOAD_HANDLERS, counts each file's
  bytes as they stream in and stops reading at the file limit (`UploadTooLarge`);
  the middleware, which parses the form before the CSRF check would, turns that
  into the same 413 page.
"""

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

FILE_SLACK_BYTES = 256 * 1024
BODY_SLACK_BYTES = 1024 * 1024


def file_limit() -> int:
    """Bytes of one file past which the rest of it is not read."""
    return settings.RESULTS_PDF_MAX_BYTES + FILE_SLACK_BYTES


def body_limit() -> int:
    """Bytes of a request body past which none of it is read."""
    return file_limit() + BODY_SLACK_BYTES


class UploadTooLarge(Exception):
    """A file in the request passed file_limit() while it was being read."""


class LimitedUploadHandler(FileUploadHandler):
    """Passes each chunk on to the next handler, and stops the upload at the limit."""

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > file_limit():
            raise UploadTooLarge
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler makes the file


def too_large(request: HttpRequest) -> HttpResponse:
    megabytes = settings.RESULTS_PDF_MAX_BYTES // (1024 * 1024)
    return render(request, "413.html", {"megabytes": megabytes}, status=413)


class UploadLimitMiddleware:
    """Refuse an over-long body before it is read; parse a form upload here, so that
    a file stopped at the limit is a 413 page, not an error in the CSRF check."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in ("POST", "PUT", "PATCH"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > body_limit():
                return too_large(request)
            if request.content_type == "multipart/form-data":
                try:
                    request.POST  # noqa: B018 - parse now, with the handler above
                except UploadTooLarge:
                    return too_large(request)
        return self.get_response(request)
