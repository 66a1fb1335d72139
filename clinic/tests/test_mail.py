"""The email helper's shortcuts (clinic/mail.py): layouts, boundaries, header folding.
Each must give what Django and the standard library give without it."""

import email
import email.policy
import random
import string
from email._policybase import compat32

import pytest
from django.core.mail import get_connection

from clinic import mail
from clinic.mail import QUICK_FOLD, Attachment, build_email, render_parts

pytestmark = pytest.mark.django_db

HOSTILE = 'O\'Brien <b>&amp; "Zoë" %(x)s {{ y }}'


def context(**values) -> dict:
    return {
        "first_name": "Maria",
        "date": "Monday 10 March 2025",
        "time": "09:30",
        "clinic_name": "Riverside Procedure Clinic",
        "clinic_phone": "020 7946 0000",
        "clinic_address": "2 Riverside Walk, London",
        "sedated": False,
        "procedure_name": "",
        "links": {"details": "https://clinic.test/p/details/abc:def/"},
        **values,
    }


def lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").strip().split("\n")


def full(kind: str, values: dict, language: str = "en") -> tuple[str, ...]:
    return mail._render_in_full(kind, values, language)


@pytest.fixture(autouse=True)
def fresh_layouts(monkeypatch):
    monkeypatch.setattr(mail, "_layouts", {})


@pytest.mark.parametrize("language", ["en", "es"])
def test_it_fills_a_layout_in_exactly_as_the_templates_render(language):
    for values in (
        context(),
        context(first_name=HOSTILE, clinic_address=HOSTILE, procedure_name=HOSTILE),
        context(first_name="Ann", sedated=True, links={}),
        context(first_name="José", links={"details": "x", "reschedule": HOSTILE}),
    ):
        assert render_parts("day_before", values, language) == full("day_before", values, language)


def test_it_escapes_a_value_in_html_but_not_in_the_text_part():
    _subject, text, html = render_parts("day_before", context(first_name=HOSTILE), "en")
    render_parts("day_before", context(first_name="Ann"), "en")  # the same layout again
    assert HOSTILE in text
    assert "O&#x27;Brien &lt;b&gt;&amp;amp; &quot;Zo" in html
    assert HOSTILE not in html


def test_it_reuses_one_layout_per_kind_language_and_shape():
    render_parts("day_before", context(first_name="Ann"), "en")
    render_parts("day_before", context(first_name="Bob"), "en")
    render_parts("day_before", context(first_name="Bob"), "es")
    render_parts("day_before", context(first_name="Bob", procedure_name="Biopsy"), "en")
    assert len(mail._layouts) == 3


def test_it_renders_in_full_what_a_layout_cannot_hold():
    values = context(items=[1, 2])  # a list: no layout
    assert render_parts("day_before", values, "en") == full("day_before", values)
    assert mail._layouts == {}


def probe_templates(settings, *, subject: str) -> None:
    """An email kind `probe` whose text part depends on a value's length."""
    templates = {
        "emails/probe/subject.txt": subject,
        "emails/probe/body.txt": "{% if first_name|length > 3 %}long{% endif %}",
        "emails/probe/body.html": "<p>{{ first_name }}</p>",
    }
    settings.TEMPLATES = [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "OPTIONS": {"loaders": [("django.template.loaders.locmem.Loader", templates)]},
        }
    ]


def test_it_drops_a_layout_whose_template_uses_a_value_beyond_showing_it(settings):
    probe_templates(settings, subject="Hello {{ first_name|upper }}")
    # A filter changes the marker: no layout at all.
    assert render_parts("probe", {"first_name": "Ann"}, "en") == ("Hello ANN", "", "<p>Ann</p>")
    assert render_parts("probe", {"first_name": "Maria"}, "en") == (
        "Hello MARIA",
        "long",
        "<p>Maria</p>",
    )


def test_it_checks_a_layout_against_a_full_render_before_trusting_it(settings, monkeypatch):
    probe_templates(settings, subject="Hi")
    # The marker is long, "Ann" is not: the first email shows the layout is wrong.
    assert render_parts("probe", {"first_name": "Ann"}, "en") == ("Hi", "", "<p>Ann</p>")
    assert render_parts("probe", {"first_name": "Bob"}, "en") == ("Hi", "", "<p>Bob</p>")
    [layout] = mail._layouts.values()
    assert layout.pieces is None


def test_it_writes_short_ascii_headers_as_compat32_does():
    rnd = random.Random(5)
    alphabet = string.ascii_letters + string.digits + " \t;,:=\"'<>@.-_()"
    for _ in range(3000):
        name = rnd.choice(["Subject", "To", "Message-ID", "Content-Type"])
        value = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 90)))
        assert QUICK_FOLD.fold_binary(name, value) == compat32.fold_binary(name, value)
    for value in ("Café à 9 h", "a" * 100, "two\r\n lines"):
        assert QUICK_FOLD.fold("Subject", value) == compat32.fold("Subject", value)


def test_a_built_email_parses_back_into_its_parts():
    message = build_email(
        "day_before",
        context(first_name="Zoë"),
        to=["zoe@example.com"],
        message_id="<reminder-7@clinic.test>",
        attachments=[Attachment("appointment.ics", b"BEGIN:VCALENDAR\r\n", "text/calendar")],
        reuse_layout=True,
    ).freeze()
    raw = message.message().as_bytes(linesep="\r\n")
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    leaves = {p.get_content_type(): p for p in parsed.walk() if not p.is_multipart()}
    subject, text, html = full("day_before", context(first_name="Zoë"))
    assert str(parsed["Message-ID"]) == "<reminder-7@clinic.test>"
    assert str(parsed["Subject"]) == " ".join(subject.split())
    assert lines(leaves["text/plain"].get_content()) == lines(text)
    assert lines(leaves["text/html"].get_content()) == lines(html)
    assert leaves["text/calendar"].get_content() == "BEGIN:VCALENDAR\r\n"
    boundaries = [p.get_boundary() for p in parsed.walk() if p.is_multipart()]
    assert len(set(boundaries)) == 2
    assert message.message() is message.message()  # frozen: built once


def slow_part(attachment: Attachment) -> bytes:
    """What `mime_part` made before its shortcut: MIMEText, then each parameter."""
    from email.mime.text import MIMEText

    subtype = attachment.mimetype.split("/", 1)[1]
    part = MIMEText(attachment.content.decode("utf-8"), subtype, "utf-8")
    for name, value in attachment.params.items():
        part.set_param(name, value)
    part.add_header("Content-Disposition", "attachment", filename=attachment.filename)
    return part.as_bytes()


@pytest.mark.parametrize(
    "attachment",
    [
        Attachment("appointment.ics", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "text/calendar"),
        Attachment("a.ics", b"X" * 500, "text/calendar", {"method": "REQUEST"}),
        Attachment('we"ird\\ name.txt', b"a;b\r\n", "text/plain", {"method": "CANCEL", "x": 'q"'}),
        Attachment(
            "zoe.ics", "ATTENDEE;CN=Zoë\r\n".encode(), "text/calendar", {"method": "CANCEL"}
        ),
        Attachment("Zoë.txt", b"hi", "text/plain"),
        Attachment("c.txt", b"hi", "text/plain", {"charset": "utf-8"}),
    ],
)
def test_an_attachment_part_is_byte_for_byte_what_mimetext_makes(attachment):
    assert attachment.mime_part().as_bytes() == slow_part(attachment)


# --- Skeletons: an email's bytes written without its MIME tree ------------------------


def django_bytes(message) -> bytes:
    """What Django itself sends for `message`: its own MIME tree, written by the standard
    library's generator with compat32 (no QuickFold), with the boundaries the email
    chose."""
    from django.core.mail import EmailMultiAlternatives

    tree = EmailMultiAlternatives.message(message)
    boundaries = iter(message.message()._boundaries)
    for part in tree.walk():
        if part.is_multipart():
            part.set_boundary(next(boundaries))
    return tree.as_bytes(linesep="\r\n")


ICS = Attachment(
    "appointment.ics",
    b"BEGIN:VCALENDAR\r\nMETHOD:CANCEL\r\nEND:VCALENDAR\r\n" * 3,
    "text/calendar",
    {"method": "CANCEL"},
)
AWKWARD_VALUES = [
    {"first_name": "Maria"},
    {"first_name": "Zoë Ñúñez-Ibáñez", "clinic_name": "Clínica «Ribera» Señora"},
    {"first_name": 'O\'Brien "the <b>bold</b>" & co; x:y'},
    {"first_name": "Maximiliana Concepción de la Santísima Trinidad " * 3},
    {"first_name": "a" * 1200},  # a line too long for 7bit/8bit: quoted-printable
    {"first_name": "Line\rbreaks\r\nof\nevery kind"},
    {"first_name": "=" * 15 + "0" * 19 + "=="},  # a would-be boundary
]


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("attachments", [(), (ICS,)], ids=["no invite", "invite"])
@pytest.mark.parametrize("values", AWKWARD_VALUES)
def test_it_writes_an_email_byte_for_byte_as_django_does(
    monkeypatch, language, attachments, values
):
    monkeypatch.setattr(mail, "_skeletons", {})
    for to in ("maria@example.com", "a.very.long.address.that.goes.on@sub.example-hospital.co.uk"):
        # Twice each: the first is checked against Django before the skeleton is used.
        for number in (1, 2):
            message = build_email(
                "day_before",
                context(**values),
                to=[to],
                message_id=f"<reminder-{number}@clinic.test>",
                language=language,
                attachments=attachments,
                reuse_layout=True,
            ).freeze()

            raw = message.message().as_bytes(linesep="\r\n")

            if "a" * 1200 in values["first_name"]:  # Django's quoted-printable: no skeleton
                assert not isinstance(message.message(), mail.PrebuiltMessage)
                continue
            assert isinstance(message.message(), mail.PrebuiltMessage)
            assert raw == django_bytes(message)
    assert all(skeleton.pieces for skeleton in mail._skeletons.values())


@pytest.mark.parametrize("subject", ["Café à 9 h: señal", "A subject " * 12, "Plain"])
def test_it_writes_any_subject_and_sender_as_django_does(monkeypatch, settings, subject):
    settings.DEFAULT_FROM_EMAIL = "Clínica Ribera <citas@clinica.example>"
    monkeypatch.setattr(mail, "_skeletons", {})
    monkeypatch.setattr(mail, "_render_in_full", lambda *args: (subject, "text", "<p>html</p>"))
    for number in (1, 2):
        message = build_email(
            "day_before", context(), to=["zoë@example.com"], message_id=f"<r-{number}@c.test>"
        ).freeze()

        assert message.message().as_bytes(linesep="\r\n") == django_bytes(message)


def test_it_drops_a_skeleton_that_ever_differs_from_django(monkeypatch, caplog):
    monkeypatch.setattr(mail, "_skeletons", {})
    monkeypatch.setattr(mail, "SKELETON_CHECK_EVERY", 2)

    def email(number: int):
        return build_email(
            "day_before",
            context(),
            to=["maria@example.com"],
            message_id=f"<reminder-{number}@clinic.test>",
            reuse_layout=True,
        ).freeze()

    email(1)
    [skeleton] = mail._skeletons.values()
    # A skeleton gone wrong: one header line of its literal text changed.
    skeleton.pieces = tuple(
        piece.replace(b"MIME-Version: 1.0", b"MIME-Version: 9.9")
        if isinstance(piece, bytes)
        else piece
        for piece in skeleton.pieces
    )
    unchecked, checked, after = email(2), email(3), email(4)

    assert isinstance(unchecked.message(), mail.PrebuiltMessage)  # not checked: trusted
    assert b"MIME-Version: 9.9" in unchecked.message().as_bytes(linesep="\r\n")
    # The check caught it: Django writes this email and every later one.
    assert skeleton.pieces is None
    assert "skeleton differs" in caplog.text
    for message in (checked, after):
        assert not isinstance(message.message(), mail.PrebuiltMessage)
        assert b"MIME-Version: 9.9" not in message.message().as_bytes(linesep="\r\n")


def test_an_email_written_from_its_skeleton_still_answers_as_a_mime_tree():
    import copy

    message = build_email(
        "day_before",
        context(first_name="Zoë"),
        to=["zoe@example.com"],
        message_id="<reminder-7@clinic.test>",
        attachments=[ICS],
        reuse_layout=True,
    ).freeze()
    written = message.message()
    tree = message._tree(written._boundaries)  # what Django builds, same Date and boundaries

    assert isinstance(written, mail.PrebuiltMessage)
    assert written["Message-ID"] == "<reminder-7@clinic.test>"
    assert "Date" in written
    assert written.get_content_type() == "multipart/mixed"
    # Other line endings (the outbox backend, a file backend) come from the tree.
    assert written.as_bytes() == tree.as_bytes()
    assert written.as_bytes() == written.as_bytes(linesep="\r\n").replace(b"\r\n", b"\n")
    # The locmem backend keeps a deep copy.
    assert copy.deepcopy(message).message().as_bytes(linesep="\r\n") == tree.as_bytes(
        linesep="\r\n"
    )


@pytest.mark.parametrize(
    "sender",
    ["appointments@clinic.example", "Clínica Ribera <citas@clinica.example>"],
)
@pytest.mark.parametrize(
    "recipient", ["maria@example.com", "María Núñez <maria@example.com>", "jörg@exämple.de"]
)
def test_the_smtp_backend_gives_the_server_the_envelope_django_would(
    settings, smtp_server, sender, recipient
):
    """SMTPBackend takes a frozen email's envelope from freeze(); the server must see
    the same sender, recipients and bytes as through Django's own backend."""
    settings.DEFAULT_FROM_EMAIL = sender
    settings.EMAIL_HOST, settings.EMAIL_PORT = smtp_server.host, smtp_server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    message = build_email(
        "day_before",
        context(),
        to=[recipient],
        message_id="<reminder-1@clinic.test>",
        reuse_layout=True,
    ).freeze()
    assert message.envelope is not None

    for backend in ("clinic.mail.SMTPBackend", "django.core.mail.backends.smtp.EmailBackend"):
        with get_connection(backend) as connection:
            assert connection.send_messages([message]) == 1

    ours, django = smtp_server.envelopes
    assert (ours.mail_from, ours.rcpt_tos) == (django.mail_from, django.rcpt_tos)
    assert ours.original_content == django.original_content
