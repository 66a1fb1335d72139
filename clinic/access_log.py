"""Patient-link tokens never reach a log.

A patient link (/p/<purpose>/<token>/) is a bearer credential for a page about
one patient's appointment. The web server's access log (gunicorn's
`RedactingLogger`, named in deploy/gunicorn.conf.py) and Django's own log lines
(`RedactPatientLinks`, a filter on the console handler: Django logs every 4xx
with its path, e.g. a rate-limited link's 429) write such paths as
/p/<purpose>/[redacted]/, in the request line, the path, the query and the
Referer alike.
"""

import logging
import re

from django.core.exceptions import PermissionDenied
from gunicorn.glogging import Logger

PATIENT_LINK = re.compile(r"(/p/[A-Za-z0-9_-]{1,32}/)[^/\s\"?#]+")
REDACTED = r"\1[redacted]"


def redact(text: str) -> str:
    return PATIENT_LINK.sub(REDACTED, text) if "/p/" in text else text


class RedactingLogger(Logger):
    """gunicorn's logger, with patient-link tokens taken out of every access-log field."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {
            key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()
        }


class RedactPatientLinks(logging.Filter):
    """A logging filter that redacts patient-link paths in a record's message and args."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        return True


class NoPermissionDeniedTraceback(logging.Filter):
    """On `django.request`: a refused page (PermissionDenied, a 403) keeps its one
    WARNING line, "Forbidden (Permission denied): /path", without Django's traceback.

    A 403 is the access policy working (a role opening another role's page), not a
    fault; its traceback filled the production log (QA pass 2, #7). The line stays, at
    its level, so whatever counts 4xx still counts it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            getattr(record, "status_code", None) == 403
            and record.exc_info
            and isinstance(record.exc_info[1], PermissionDenied)
        ):
            record.exc_info = None
            record.exc_text = None
        return True
