"""Email plumbing: one helper that renders an email, and a local outbox backend.

`build_email` renders `emails/<kind>/subject.txt`, `body.txt` and `body.html` with the
same context, in the recipient's language, into Django's `EmailMultiAlternatives`:
every email has a text and an HTML part, and goes out through whichever backend
`get_connection()` gives (EMAIL_URL selects Django's SMTP backend; without it, the
LocalOutboxBackend below).
"""

import email
import email.policy
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.mime.base import MIMEBase
from email.mime.text import MIMEText
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import make_msgid
from django.template.loader import render_to_string
from django.utils import translation


def build_email(
    kind: str,
    context: dict[str, Any],
    *,
    to: list[str],
    message_id: str | None = None,
    language: str | None = None,
    attachments: Iterable[MIMEBase] = (),
    connection: BaseEmailBackend | None = None,
) -> EmailMultiAlternatives:
    """Render the three templates of `kind` into a ready-to-send message.

    Without a `message_id` (staff mail), one is made under SITE_URL's host, as the
    patients' are: Django's own would name the machine (`localhost`, or a container's
    id), which says nothing to the reader and something about the server."""
    with translation.override(language or settings.LANGUAGE_CODE):
        subject, text, html = (
            render_to_string(f"emails/{kind}/{part}", context)
            for part in ("subject.txt", "body.txt", "body.html")
        )
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),  # a header is one line
        body=text,
        to=to,
        headers={"Message-ID": message_id or make_msgid(domain=site_domain())},
        connection=connection,
    )
    message.attach_alternative(html, "text/html")
    for attachment in attachments:
        message.attach(attachment)
    return message


def site_domain() -> str:
    """The host of SITE_URL, for Message-IDs and invite UIDs."""
    return urlparse(settings.SITE_URL).hostname or "clinic.local"


def calendar_attachment(ics: bytes, *, method: str, filename: str) -> MIMEBase:
    """An .ics invite as calendar clients want it: `text/calendar; method=...`, which
    `attach(filename, content, mimetype)` cannot say, hence a MIME part (Django's
    documented alternative)."""
    part = MIMEText(ics.decode(), "calendar", "utf-8")
    part.set_param("method", method)
    part.add_header("Content-Disposition", "attachment", filename=filename)
    return part


class LocalOutboxBackend(BaseEmailBackend):
    """Keeps each outgoing message as an .eml file under CLINIC_OUTBOX_DIR.

    Used on the embedded defaults (no EMAIL_URL), so that a person can read
    what a patient would receive at /outbox/.
    """

    def send_messages(self, email_messages: Iterable[EmailMessage]) -> int:
        outbox = Path(settings.CLINIC_OUTBOX_DIR)
        outbox.mkdir(parents=True, exist_ok=True)
        sent = 0
        for message in email_messages:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
            name = f"{stamp}-{uuid.uuid4().hex[:12]}.eml"
            tmp = outbox / f".{name}.tmp"
            tmp.write_bytes(message.message().as_bytes())
            tmp.rename(outbox / name)  # readers never see half a file
            sent += 1
        return sent


@dataclass
class OutboxMessage:
    name: str
    subject: str
    to: str
    date: str
    message_id: str
    text: str
    html: str
    attachments: list[tuple[str, str]]


def read_outbox_message(path: Path) -> OutboxMessage:
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    text = html = ""
    attachments = []
    for part in parsed.walk():
        if part.is_multipart():
            continue
        filename = part.get_filename()
        if filename:
            attachments.append((filename, part.get_content_type()))
        elif part.get_content_type() == "text/plain" and not text:
            text = part.get_content()
        elif part.get_content_type() == "text/html" and not html:
            html = part.get_content()
    return OutboxMessage(
        name=path.name,
        subject=str(parsed["Subject"] or ""),
        to=str(parsed["To"] or ""),
        date=str(parsed["Date"] or ""),
        message_id=str(parsed["Message-ID"] or ""),
        text=text,
        html=html,
        attachments=attachments,
    )


def outbox_paths() -> list[Path]:
    """Outbox files, newest first."""
    outbox = Path(settings.CLINIC_OUTBOX_DIR)
    if not outbox.is_dir():
        return []
    return sorted(outbox.glob("*.eml"), reverse=True)
