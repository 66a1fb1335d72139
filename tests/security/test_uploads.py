"""Uploads: refused while streaming once past the limit (clinic/uploads.py), and
result PDFs parsed before they are kept (clinic/pdf.py)."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.handlers.wsgi import WSGIHandler
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from pypdf import PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject

from clinic import roles
from clinic.pdf import PdfRefused, pdf_check
from conftest import make_user
from procedures.models import TestResult
from procedures.tests.factories import TestOrderFactory

MB = 1024 * 1024


def a_pdf(*, javascript: bool = False, password: str = "") -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    if javascript:  # a document-level script, in the /Names tree
        action = DictionaryObject(
            {
                NameObject("/S"): NameObject("/JavaScript"),
                NameObject("/JS"): TextStringObject("app.alert('hello');"),
            }
        )
        tree = DictionaryObject(
            {NameObject("/Names"): ArrayObject([TextStringObject("a"), writer._add_object(action)])}
        )
        writer._root_object[NameObject("/Names")] = DictionaryObject(
            {NameObject("/JavaScript"): writer._add_object(tree)}
        )
    if password:
        writer.encrypt(password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def an_open_action_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    action = DictionaryObject(
        {
            NameObject("/S"): NameObject("/JavaScript"),
            NameObject("/JS"): TextStringObject("app.alert(1)"),
        }
    )
    writer._root_object[NameObject("/OpenAction")] = writer._add_object(action)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# --- Parsing ------------------------------------------------------------------------


def test_it_accepts_a_plain_pdf():
    pdf_check(io.BytesIO(a_pdf()))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (a_pdf(password="secret"), "password-protected"),
        (a_pdf(javascript=True), "contains scripts or actions"),
        (an_open_action_pdf(), "contains scripts or actions"),
        (b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", "could not be read"),
        (b"%PDF-1.7\n" + b"\x00garbage" * 1000, "could not be read"),
        (a_pdf()[: len(a_pdf()) // 2], "could not be read"),
    ],
)
def test_it_refuses_encrypted_scripted_and_unreadable_pdfs(content, message):
    with pytest.raises(PdfRefused, match=message):
        pdf_check(io.BytesIO(content))


@pytest.fixture
def physician(client, settings, tmp_path):
    settings.CLINIC_PRIVATE_DIR = tmp_path / "private"
    settings.CLINIC_CARE_RELATIONSHIP = "conftest.treats_everyone"
    client.force_login(make_user("md", roles.PHYSICIAN))
    return client


def result_post(order, content: bytes) -> dict:
    return {
        "interpretation": "normal",
        "report_text": "See the lab's report.",
        "is_final": "on",
        "report_pdf": SimpleUploadedFile("report.pdf", content, content_type="application/pdf"),
    }


@pytest.mark.django_db
def test_the_result_form_refuses_a_scripted_pdf_in_words(physician):
    order = TestOrderFactory()

    response = physician.post(f"/results/{order.pk}/", result_post(order, a_pdf(javascript=True)))

    assert response.status_code == 200
    assert "contains scripts or actions" in response.content.decode()
    assert not TestResult.objects.exists()


@pytest.mark.django_db
def test_the_result_form_keeps_a_plain_pdf(physician):
    order = TestOrderFactory()

    response = physician.post(f"/results/{order.pk}/", result_post(order, a_pdf()))

    assert response.status_code == 302
    assert TestResult.objects.get().report_pdf


# --- Streaming limit ------------------------------------------------------------------


class CountingStream(io.BytesIO):
    """A request body that remembers how much of it the server read."""

    bytes_read = 0

    def read(self, size=-1):
        data = super().read(size)
        self.bytes_read += len(data)
        return data

    def readline(self, size=-1):
        data = super().readline(size)
        self.bytes_read += len(data)
        return data


def raw_post(client, path: str, body: bytes, content_length: int | None = None):
    """POST `body` through Django's WSGI handler as a server would, with the client's
    session cookie; returns (status, page, the stream)."""
    stream = CountingStream(body)
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": MULTIPART_CONTENT,
        "CONTENT_LENGTH": str(len(body) if content_length is None else content_length),
        "HTTP_COOKIE": "; ".join(f"{k}={v.value}" for k, v in client.cookies.items()),
        "wsgi.input": stream,
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
    }
    statuses = []
    chunks = WSGIHandler()(environ, lambda status, headers: statuses.append(status))
    page = b"".join(chunks).decode()
    return int(statuses[0].split()[0]), page, stream


@pytest.mark.django_db(transaction=True)
def test_a_body_over_the_limit_is_refused_before_it_is_read(physician, settings):
    settings.RESULTS_PDF_MAX_BYTES = 1 * MB
    order = TestOrderFactory()
    body = encode_multipart(BOUNDARY, result_post(order, b"%PDF-" + b"0" * (30 * MB)))

    status, page, stream = raw_post(physician, f"/results/{order.pk}/", body)

    assert status == 413
    assert "A file may be at most 1 MB" in page
    assert stream.bytes_read == 0
    assert not TestResult.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_file_over_the_limit_stops_being_read_at_the_limit(physician, settings):
    """The body is small enough to start on, the file in it is not: reading stops
    at the file limit (plus one chunk), long before the end of the body."""
    settings.RESULTS_PDF_MAX_BYTES = 1 * MB
    order = TestOrderFactory()
    body = encode_multipart(BOUNDARY, result_post(order, b"%PDF-" + b"0" * (2 * MB)))

    status, page, stream = raw_post(physician, f"/results/{order.pk}/", body)

    assert status == 413
    assert "A file may be at most 1 MB" in page
    assert stream.bytes_read < 1.5 * MB < len(body)
    assert not TestResult.objects.exists()
