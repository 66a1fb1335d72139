"""What Django's request log writes (settings.LOGGING, clinic/access_log.py)."""

import logging
import sys

import pytest

from clinic.access_log import NoPermissionDeniedTraceback

pytestmark = pytest.mark.django_db


def test_a_refused_page_is_one_warning_line_without_a_traceback(nurse_client, caplog):
    """QA pass 2, #7: every 403 wrote a full traceback into the production log."""
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = nurse_client.get("/appointments/find/")

    assert response.status_code == 403
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.levelno == logging.WARNING  # still counted among the 4xx
    assert record.getMessage() == "Forbidden (Permission denied): /appointments/find/"
    assert record.exc_info is None
    assert "Traceback" not in caplog.text


def test_a_server_error_keeps_its_traceback(caplog):
    """Only PermissionDenied loses it: the filter leaves every other record alone."""
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("django.request").makeRecord(
            "django.request", logging.ERROR, __file__, 1, "Internal Server Error", (), None
        )
        record.exc_info = sys.exc_info()
    record.status_code = 500

    assert NoPermissionDeniedTraceback().filter(record) is True
    assert record.exc_info is not None
