"""Email plumbing: a local outbox backend and one helper that renders an email.

The helper renders `emails/<kind>/subject.txt`, `body.txt` and `body.html` with
the same context, so every email has a text and an HTML part.
"""

import base64
import copy
import email
import email.base64mime
import email.policy
import email.utils
import functools
import logging
import random
import re
import smtplib
import sys
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import encoders
from email._policybase import Compat32
from email.mime.base import MIMEBase
from email.mime.text import MIMEText
from email.utils import formatdate
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.smtp import EmailBackend as DjangoSMTPBackend
from django.core.mail.message import (
    RFC5322_EMAIL_LINE_LENGTH_LIMIT,
    forbid_multi_line_headers,
    sanitize_address,
)
from django.template.loader import get_template
from django.utils import translation
from django.utils.html import conditional_escape

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mimetype: str
    # Extra Content-Type parameters, e.g. {"method": "REQUEST"} for a calendar invite.
    params: dict[str, str] = field(default_factory=dict)

    def mime_part(self) -> MIMEBase:
        maintype, subtype = self.mimetype.split("/", 1)
        if maintype == "text" and self._plain():
            return self._quick_text_part(subtype)
        if maintype == "text":
            part: MIMEBase = MIMEText(self.content.decode("utf-8"), subtype, "utf-8")
        else:
            part = MIMEBase(maintype, subtype)
            part.set_payload(self.content)
            encoders.encode_base64(part)
        for name, value in self.params.items():
            part.set_param(name, value)
        part.add_header("Content-Disposition", "attachment", filename=self.filename)
        return part

    def _plain(self) -> bool:
        """ASCII content, filename and parameters: no RFC 2231 or encoded words."""
        texts = [self.filename, *self.params, *self.params.values()]
        return (
            self.content.isascii()
            and all(text.isascii() and "\r" not in text and "\n" not in text for text in texts)
            and "charset" not in {name.lower() for name in self.params}
        )

    def _quick_text_part(self, subtype: str) -> MIMEBase:
        """The part `mime_part` makes of a plain text attachment, header for header in
        the same order, without MIMEText's and set_param's parsing and re-formatting
        of the Content-Type at each step (the tests compare the bytes)."""
        content_type = f'text/{subtype}; charset="utf-8"' + "".join(
            f'; {name}="{email.utils.quote(value)}"' for name, value in self.params.items()
        )
        part = MIMEBase("text", subtype)  # Content-Type, MIME-Version
        if self.params:  # set_param moved the Content-Type to the end
            del part["Content-Type"]
            part["Content-Transfer-Encoding"] = "base64"
            part["Content-Type"] = content_type
        else:
            part.replace_header("Content-Type", content_type)
            part["Content-Transfer-Encoding"] = "base64"
        part.set_payload(email.base64mime.body_encode(self.content))
        part["Content-Disposition"] = f'attachment; filename="{email.utils.quote(self.filename)}"'
        return part


def build_email(
    kind: str,
    context: dict,
    *,
    to: list[str],
    message_id: str | None = None,
    language: str | None = None,
    attachments: Iterable[Attachment] = (),
    connection=None,
    reuse_layout: bool = False,
) -> EmailMultiAlternatives:
    """Render the three templates of `kind` into a ready-to-send message.

    With `reuse_layout`, emails of one kind and language whose context differs only in
    its plain values are rendered once and then filled in (see `render_parts`)."""
    language = language or settings.LANGUAGE_CODE
    if reuse_layout:
        subject, text, html = render_parts(kind, context, language)
    else:
        subject, text, html = _render_in_full(kind, context, language)
    headers = {"Message-ID": message_id} if message_id else {}
    message = ClinicEmail(
        subject=" ".join(subject.split()),
        body=text,
        to=to,
        headers=headers,
        connection=connection,
    )
    message.attach_alternative(html, "text/html")
    attachments = tuple(attachments)
    for attachment in attachments:
        message.attach(attachment.mime_part())
    message.clinic_attachments = attachments
    return message


def _templates(kind: str) -> tuple:
    return tuple(get_template(f"emails/{kind}/{name}") for name in EMAIL_PARTS)


def _render_in_full(kind: str, context: dict, language: str, templates=None) -> tuple[str, ...]:
    templates = templates or _templates(kind)
    with translation.override(language):
        return tuple(template.render(context) for template in templates)


# --- Layouts: render an email's templates once per shape, fill in the values -----------
#
# Reminders of one kind in one language differ only in the values they show (a first
# name, a date, a link) and in which of them are empty. A layout is the three templates
# rendered once for a kind, a language and such a shape, with a marker in place of each
# value; an email is then the layout with its own values put in, HTML-escaped exactly
# where the template escaped the marker. Rendering three templates with includes,
# inheritance and translations cost more per reminder than everything else put together.
#
# A layout is only a shortcut: the first email made from it, and every
# LAYOUT_CHECK_EVERY-th after, is also rendered in full and compared. A layout that ever
# differs (a template that uses a value for more than showing it or testing whether it
# is empty, e.g. through a filter) is dropped for good, and its emails rendered in full.

EMAIL_PARTS = ("subject.txt", "body.txt", "body.html")
LAYOUT_CHECK_EVERY = 500
MAX_LAYOUTS = 1000
_MARK = "\x1a"
_MARKED = re.compile("\x1a(&|&amp;)([A-Za-z0-9_]+(?:\\.[A-Za-z0-9_]+)*)\x1a")


@dataclass
class _Layout:
    templates: tuple
    pieces: tuple | None  # per part: literal strings and (path, escaped); None: broken
    uses: int = 0


_layouts: dict[tuple, _Layout] = {}


def _shape(context: dict) -> tuple | None:
    """What a layout depends on: each key, and for each value either a marker (a
    non-empty string) or the value itself (empty, None, a flag, a number); None when
    some value is anything else (a list, a date, a lazy translation)."""
    shape: list[tuple[str, Any]] = []
    for key, value in context.items():
        if isinstance(value, dict):
            inner = _shape(value)
            if inner is None:
                return None
            shape.append((key, inner))
        elif isinstance(value, str):
            if _MARK in value:
                return None
            shape.append((key, _MARK if value else value))
        elif value is None or isinstance(value, bool | int):
            shape.append((key, value))
        else:
            return None
    return tuple(shape)


def _marked(context: dict, prefix: str = "") -> dict:
    """The context with a marker naming its path in place of each non-empty string."""
    marked: dict[str, Any] = {}
    for key, value in context.items():
        if isinstance(value, dict):
            marked[key] = _marked(value, f"{prefix}{key}.")
        elif isinstance(value, str) and value:
            marked[key] = f"{_MARK}&{prefix}{key}{_MARK}"
        else:
            marked[key] = value
    return marked


def _paths(marked: dict, prefix: str = "") -> set[str]:
    paths = set()
    for key, value in marked.items():
        if isinstance(value, dict):
            paths |= _paths(value, f"{prefix}{key}.")
        elif isinstance(value, str) and value.startswith(_MARK):
            paths.add(f"{prefix}{key}")
    return paths


def _pieces(rendered: str, paths: set[str]) -> tuple | None:
    """The literal text and the markers of one rendered part; None if a marker came
    out changed (a filter): such a part cannot be filled in."""
    pieces: list = []
    end = 0
    for match in _MARKED.finditer(rendered):
        if match.group(2) not in paths:
            return None
        pieces.append(rendered[end : match.start()])
        pieces.append((tuple(match.group(2).split(".")), match.group(1) == "&amp;"))
        end = match.end()
    pieces.append(rendered[end:])
    if any(isinstance(piece, str) and _MARK in piece for piece in pieces):
        return None
    return tuple(pieces)


def _fill(pieces: tuple, context: dict) -> str:
    out = []
    for piece in pieces:
        if isinstance(piece, str):
            out.append(piece)
            continue
        path, escaped = piece
        value: Any = context
        for key in path:
            value = value[key]
        out.append(conditional_escape(value) if escaped else value)
    return "".join(out)


def render_parts(kind: str, context: dict, language: str) -> tuple[str, ...]:
    """Subject, text and HTML of `kind` for `context`: as `_render_in_full` renders them,
    through a layout where the context allows one."""
    templates = _templates(kind)
    shape = _shape(context)
    if shape is None:
        return _render_in_full(kind, context, language, templates)
    key = (kind, language, shape)
    layout = _layouts.get(key)
    # The engine's compiled templates (cached by its loader) tell whether they reloaded.
    compiled = tuple(template.template for template in templates)
    if layout is None or layout.templates != compiled:
        if len(_layouts) >= MAX_LAYOUTS:
            return _render_in_full(kind, context, language, templates)
        marked = _marked(context)
        paths = _paths(marked)
        rendered = _render_in_full(kind, marked, language, templates)
        pieces = [_pieces(part, paths) for part in rendered]
        layout = _Layout(compiled, None if None in pieces else tuple(pieces))
        _layouts[key] = layout
    if layout.pieces is None:
        return _render_in_full(kind, context, language, templates)
    parts = tuple(_fill(pieces, context) for pieces in layout.pieces)
    layout.uses += 1
    if layout.uses % LAYOUT_CHECK_EVERY == 1:
        full = _render_in_full(kind, context, language, templates)
        if full != parts:
            log.warning("the %s email's layout differs from its templates: not used", kind)
            layout.pieces = None
            return full
    return parts


class QuickFold(Compat32):
    """The standard library's compat32 policy, which Django's messages use, minus its
    cost for the common header: a short ASCII line is written as it is, which is what
    compat32's `Header` machinery makes of it too (the tests compare the two)."""

    def _fold(self, name, value, sanitize):
        if (
            isinstance(value, str)
            and value.isascii()
            and len(name) + len(value) <= QUICK_FOLD_WIDTH
            and "\n" not in value
            and "\r" not in value
        ):
            return f"{name}: {value}{self.linesep}"
        return super()._fold(name, value, sanitize)


QUICK_FOLD_WIDTH = 70  # well inside compat32's 78 columns
QUICK_FOLD = QuickFold()


class ClinicEmail(EmailMultiAlternatives):
    """An email that is cheaper to write out than Django's own.

    - Its multipart boundaries are chosen when the MIME tree is built. Left unset, the
      standard library's generator picks each one while writing the message out and
      checks it against the whole text with a regular expression compiled afresh for
      every boundary: about half the cost of serialising a reminder. Here each is
      checked against the parts with a plain substring search.
    - Its short ASCII headers skip compat32's `Header` machinery (`QuickFold`).
    - `freeze()` writes the email's bytes once, ahead of sending (the dispatcher does it
      while the previous message is on the wire): from the skeleton of its shape where
      it has one (see "Skeletons" below), else from the MIME tree, which the backend's
      `message()` then reuses.
    """

    _frozen = None
    # (sender, recipients) as the SMTP backend gives them to the server, worked out by
    # freeze() so that the thread holding the connection need not (SMTPBackend).
    envelope: tuple[str, list[str]] | None = None
    # The `Attachment`s behind `attachments` (build_email sets them): a skeleton writes
    # their parts itself.
    clinic_attachments: tuple = ()

    def message(self):
        if self._frozen is not None:
            return self._frozen
        message = super().message()
        message.policy = QUICK_FOLD
        texts = [part.get_payload() for part in message.walk() if not part.is_multipart()]
        for part in message.walk():
            if part.is_multipart():
                part.set_boundary(_boundary(texts))
        return message

    def freeze(self) -> "ClinicEmail":
        """Write the email out now and keep it: change nothing about the email after."""
        self._frozen = None
        self._frozen = _prebuilt(self) or self.message()
        encoding = self.encoding or settings.DEFAULT_CHARSET
        self.envelope = (
            sanitize_address(self.from_email, encoding),
            [sanitize_address(address, encoding) for address in self.recipients()],
        )
        return self

    def _tree(self, boundaries: list[str]):
        """The MIME tree Django builds for this email, with the given boundaries."""
        message = super().message()
        message.policy = QUICK_FOLD
        multiparts = [part for part in message.walk() if part.is_multipart()]
        if len(multiparts) != len(boundaries):
            raise ValueError("the email's shape changed since its bytes were written")
        for part, boundary in zip(multiparts, boundaries, strict=True):
            part.set_boundary(boundary)
        return message


def _boundary(texts: list) -> str:
    """A boundary in the standard library's own format that occurs in none of `texts`."""
    while True:
        boundary = "=" * 15 + f"{random.randrange(sys.maxsize):019d}" + "=="  # noqa: S311
        if not any(isinstance(text, str) and boundary in text for text in texts):
            return boundary


# --- Skeletons: an email's bytes without its MIME tree ---------------------------------
#
# Building a reminder's MIME tree (Django's `message()`) and writing it out (the
# standard library's generator) cost more than rendering it. But emails of one shape
# (the same kinds of part, transfer encodings and attachments) differ only in a few
# header values, their boundaries and their parts' contents. A skeleton is such an
# email written out once by Django and the generator with markers in those places;
# an email of that shape is then its skeleton with its own values put in, each written
# as the generator writes it (a header folded by the same policy, a text part with its
# line endings made CRLF, an attachment in base64 lines).
#
# Like a layout, a skeleton is only a shortcut: the first email written from it, and
# every SKELETON_CHECK_EVERY-th after, is also written by Django and compared byte for
# byte; a skeleton that ever differs is dropped for good and its emails written by
# Django. An email whose shape a skeleton cannot hold (a line long enough for
# quoted-printable, a non-text attachment, headers other than the usual five) is always
# written by Django.

SKELETON_CHECK_EVERY = LAYOUT_CHECK_EVERY
MAX_SKELETONS = 1000
_CRLF_FOLD = QUICK_FOLD.clone(linesep="\r\n")
_NEWLINES = re.compile(r"\r\n|\r|\n")  # the generator's own (email.generator.NLCRE)
# Markers: a header value, a part's payload, and a boundary of the real boundaries'
# format and length (a boundary's length decides how its Content-Type is folded).
_TOP_HEADERS = ("Subject", "From", "To", "Date", "Message-ID")
_SLOTS = re.compile(rb"\x00H([A-Za-z-]+)\x00|\x00P(\d+)\x00|={15}(0{15}9\d{3})==")


def _boundary_marker(index: int) -> str:
    return "=" * 15 + f"{9000 + index:019d}" + "=="


@dataclass
class _Skeleton:
    # Literal bytes and slots: ("header", name), ("part", index), ("boundary", index).
    pieces: tuple | None  # None: broken, Django writes these emails
    multiparts: int = 0  # how many boundaries it has
    uses: int = 0


_skeletons: dict[tuple, _Skeleton] = {}


class PrebuiltMessage:
    """What `message()` gives for an email written from a skeleton: its bytes, as the
    SMTP backend asks for them (`as_bytes(linesep="\r\n")`). Anything else (a header,
    other line endings) is answered by the MIME tree Django builds for the same email,
    with the same Date and boundaries: the same bytes (the checks compare them)."""

    def __init__(self, raw: bytes, email: ClinicEmail, boundaries: list[str]):
        self.raw = raw
        self._email = email
        self._boundaries = boundaries
        self._built = None

    def tree(self):
        if self._built is None:
            self._built = self._email._tree(self._boundaries)
        return self._built

    def as_bytes(self, unixfrom: bool = False, linesep: str = "\n") -> bytes:
        if linesep == "\r\n" and not unixfrom:
            return self.raw
        return self.tree().as_bytes(unixfrom=unixfrom, linesep=linesep)

    def __getattr__(self, name):
        if name.startswith("_"):  # copy and pickle probe for these before __init__ ran
            raise AttributeError(name)
        return getattr(self.tree(), name)

    def __getitem__(self, name):
        return self.tree()[name]

    def __contains__(self, name) -> bool:
        return name in self.tree()


def _text_part(text: str) -> tuple[str, bytes] | None:
    """A text part's transfer encoding and bytes, as Django's SafeMIMEText and the
    generator write them; None where Django would switch to quoted-printable."""
    lines = text.splitlines()
    if any(len(line) * 4 > RFC5322_EMAIL_LINE_LENGTH_LIMIT for line in lines) and any(
        len(line.encode(errors="surrogateescape")) > RFC5322_EMAIL_LINE_LENGTH_LIMIT
        for line in lines
    ):
        return None
    return ("7bit" if text.isascii() else "8bit"), _NEWLINES.sub("\r\n", text).encode()


def _header_line(name: str, value: str, encoding: str) -> bytes:
    """One top-level header as Django stores it and the generator writes it."""
    return _CRLF_FOLD.fold_binary(name, forbid_multi_line_headers(name, value, encoding)[1])


_cached_header_line = functools.lru_cache(maxsize=4096)(_header_line)


def _prebuilt(message: ClinicEmail) -> PrebuiltMessage | None:
    """`message` written from the skeleton of its shape; None if it has none."""
    attachments = message.clinic_attachments
    if not (
        message.body
        and message.to
        and not message.cc
        and not message.reply_to
        and set(message.extra_headers) == {"Message-ID"}
        and [mimetype for _content, mimetype in message.alternatives] == ["text/html"]
        and len(attachments) == len(message.attachments)
        # A text attachment is always base64 (MIMEText's utf-8, or `_quick_text_part`).
        and all(a.mimetype.startswith("text/") for a in attachments)
    ):
        return None
    text = _text_part(str(message.body))
    # Django 5.2's alternatives are EmailAlternative(content, mimetype); the stubs say tuple.
    html = _text_part(message.alternatives[0].content)  # type: ignore[attr-defined]
    if text is None or html is None:
        return None
    encoding = message.encoding or settings.DEFAULT_CHARSET
    key = (
        text[0],
        html[0],
        encoding,
        # What an attachment's headers depend on (its content only on whether it is ASCII).
        tuple((a.filename, a.mimetype, tuple(a.params.items()), a._plain()) for a in attachments),
    )
    skeleton = _skeletons.get(key)
    # The Date Django would add when building the tree, fixed now, in the same place.
    date = formatdate(localtime=settings.EMAIL_USE_LOCALTIME)
    message.extra_headers = {"Date": date, **message.extra_headers}
    if skeleton is None:
        if len(_skeletons) >= MAX_SKELETONS:
            return None
        pieces = _capture(message)
        skeleton = _skeletons[key] = _Skeleton(
            pieces,
            multiparts=len(
                {p[1] for p in pieces or () if isinstance(p, tuple) and p[0] == "boundary"}
            ),
        )
    if skeleton.pieces is None:
        return None
    encoded = [base64.encodebytes(a.content).decode("ascii") for a in attachments]
    texts = [message.body, message.alternatives[0].content, *encoded]  # type: ignore[attr-defined]
    parts = [text[1], html[1], *(lines.replace("\n", "\r\n").encode() for lines in encoded)]
    boundaries = [_boundary(texts) for _multipart in range(skeleton.multiparts)]
    headers = {
        "Subject": _cached_header_line("Subject", str(message.subject), encoding),
        "From": _cached_header_line("From", str(message.from_email), encoding),
        "To": _cached_header_line("To", ", ".join(str(to) for to in message.to), encoding),
        "Date": _header_line("Date", date, encoding),
        "Message-ID": _header_line("Message-ID", message.extra_headers["Message-ID"], encoding),
    }
    out = []
    for piece in skeleton.pieces:
        if piece.__class__ is bytes:
            out.append(piece)
        elif piece[0] == "header":
            out.append(headers[piece[1]])
        elif piece[0] == "part":
            out.append(parts[piece[1]])
        else:
            out.append(boundaries[piece[1]].encode("ascii"))
    raw = b"".join(out)
    skeleton.uses += 1
    if skeleton.uses % SKELETON_CHECK_EVERY == 1:
        full = message._tree(boundaries).as_bytes(linesep="\r\n")
        if full != raw:
            log.warning("an email's skeleton differs from what Django writes: not used")
            skeleton.pieces = None
            return None
    return PrebuiltMessage(raw, message, boundaries)


def _capture(message: ClinicEmail) -> tuple | None:
    """The skeleton of `message`'s shape: Django's bytes for it, cut at the markers put
    in place of its top-level header values, its boundaries and its parts' payloads."""
    # The tree holds the email's attachment parts themselves: mark copies of them.
    message = copy.copy(message)
    message.attachments = [copy.deepcopy(part) for part in message.attachments]
    tree = EmailMultiAlternatives.message(message)
    tree.policy = QUICK_FOLD
    leaves = [part for part in tree.walk() if not part.is_multipart()]
    kinds = [part.get_content_type() for part in leaves[:2]]
    if kinds != ["text/plain", "text/html"] or len(leaves) != 2 + len(message.clinic_attachments):
        return None
    multiparts = [part for part in tree.walk() if part.is_multipart()]
    for index, part in enumerate(multiparts):
        part.set_boundary(_boundary_marker(index))
    for index, part in enumerate(leaves):
        part.set_payload(f"\x00P{index}\x00")
    for name, _value in tree.raw_items():
        if name.lower() not in ("content-type", "mime-version"):
            if name not in _TOP_HEADERS:
                return None
            tree.replace_header(name, f"\x00H{name}\x00")
    raw = tree.as_bytes(linesep="\r\n")
    pieces: list = []
    end = 0
    for match in _SLOTS.finditer(raw):
        literal = raw[end : match.start()]
        end = match.end()
        if match.group(1):  # a whole header line: "Name: <marker>" and its CRLF
            name = match.group(1).decode("ascii")
            prefix = f"{name}: ".encode("ascii")
            if not literal.endswith(prefix) or raw[end : end + 2] != b"\r\n":
                return None
            literal = literal[: -len(prefix)]
            slot = ("header", name)
            end += 2
        elif match.group(2):
            slot = ("part", int(match.group(2)))
        else:
            slot = ("boundary", int(match.group(3)) - 9000)
        pieces += [literal, slot]
    pieces.append(raw[end:])
    slots = [piece for piece in pieces if isinstance(piece, tuple)]
    if sorted(i for kind, i in slots if kind == "part") != list(range(len(leaves))) or {
        i for kind, i in slots if kind == "boundary"
    } != set(range(len(multiparts))):
        return None
    return tuple(piece for piece in pieces if piece != b"")


class SMTPBackend(DjangoSMTPBackend):
    """Django's SMTP backend (EMAIL_URL=smtp://... selects it), taking a frozen
    ClinicEmail's envelope as freeze() worked it out instead of parsing both
    addresses again while the connection waits. Anything else goes through
    Django's own `_send`; this mirrors it line for line otherwise."""

    def _send(self, email_message):
        envelope = getattr(email_message, "envelope", None)
        if envelope is None:
            return super()._send(email_message)
        if not email_message.recipients():
            return False
        from_email, recipients = envelope
        message = email_message.message()
        try:
            self.connection.sendmail(from_email, recipients, message.as_bytes(linesep="\r\n"))
        except smtplib.SMTPException:
            if not self.fail_silently:
                raise
            return False
        return True


class LocalOutboxBackend(BaseEmailBackend):
    """Keeps each outgoing message as an .eml file under CLINIC_OUTBOX_DIR.

    Used on the embedded defaults (no EMAIL_URL), so that a person can read
    what a patient would receive at /outbox/.
    """

    def send_messages(self, email_messages):
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
