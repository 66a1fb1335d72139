"""Patient-link tokens stay out of logs and Referer headers (clinic/access_log.py,
clinic/http.py, deploy/gunicorn.conf.py)."""

import datetime as dt
import logging
import runpy
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from gunicorn.config import Config

from clinic.access_log import RedactingLogger, RedactPatientLinks
from tests.conftest import ROOT

TOKEN = "eyJhIjoxLCJ2IjoxLCJlIjoxNzAwMDAwMDAwfQ:1tXyZa:abcDEF0123456789-_secret"
PATH = f"/p/details/{TOKEN}/"


def gunicorn_access_line(tmp_path, *, path: str, referer: str) -> str:
    """What gunicorn, configured by deploy/gunicorn.conf.py, writes for one request."""
    conf = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    cfg = Config()
    for name in ("logger_class", "access_log_format"):
        if name in conf:
            cfg.set(name, conf[name])
    log_file = tmp_path / "access.log"
    cfg.set("accesslog", str(log_file))
    logger = cfg.logger_class(cfg)
    assert isinstance(logger, RedactingLogger)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": path + "?next=" + path,
        "PATH_INFO": path,
        "QUERY_STRING": "next=" + path,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_REFERER": referer,
        "HTTP_USER_AGENT": "test",
    }
    response = SimpleNamespace(status="200 OK", headers=[("Content-Type", "text/html")], sent=10)
    request = SimpleNamespace(headers=[("REFERER", referer)])
    logger.access(response, request, environ, dt.timedelta(milliseconds=5))
    for handler in logger.access_log.handlers:
        handler.flush()
    return log_file.read_text()


def test_the_access_log_writes_patient_links_redacted(tmp_path):
    line = gunicorn_access_line(tmp_path, path=PATH, referer=f"https://clinic.example{PATH}")

    assert TOKEN not in line
    assert "secret" not in line
    assert "/p/details/[redacted]/" in line
    assert '"GET /p/details/[redacted]/' in line


def test_the_access_log_keeps_other_paths(tmp_path):
    line = gunicorn_access_line(tmp_path, path="/patients/12/", referer="-")

    assert "GET /patients/12/" in line


def test_djangos_own_log_lines_are_redacted_too():
    record = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "%s: %s", ("Too Many Requests", PATH), None
    )

    RedactPatientLinks().filter(record)

    assert TOKEN not in record.getMessage()
    assert "/p/details/[redacted]/" in record.getMessage()


@pytest.mark.django_db
def test_a_patient_link_page_sends_its_origin_only_as_referer(client):
    cache.clear()
    response = client.get(PATH)

    assert response.status_code == 200
    assert response["Referrer-Policy"] == "strict-origin"
    # Staff pages keep the site's policy.
    assert client.get("/accounts/login/")["Referrer-Policy"] == "same-origin"
