"""Every sentence a patient reads has its Spanish (one patient in ten reads Spanish).

The patient's emails and link pages are read from their templates as `makemessages`
reads them (Django's `templatize`), and each message must come back translated from
the committed catalogue. The staff's pages and emails are in English only."""

import ast
import datetime as dt
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation
from django.utils.translation.template import templatize

from patients.tests.factories import PatientFactory
from procedures.catalog.choices import ProcedureKind, SedationLevel
from procedures.messaging.mail import reminder_message
from procedures.messaging.models import Reminder
from procedures.prep.timeline import patient_timeline, prep_timeline
from procedures.tests.factories import (
    AppointmentFactory,
    ProcedureTypeFactory,
    ProviderFactory,
    ReminderFactory,
    RoomFactory,
)
from procedures.tests.migrations import latest, migrate
from procedures.workflows import visits

TEMPLATES = Path(settings.BASE_DIR) / "templates"
# What a patient reads: an email of every patient kind, its shared parts, the link pages.
PATIENT_TEMPLATES = sorted(
    [
        *(p for kind in Reminder.Kind for p in (TEMPLATES / "emails" / kind).glob("*")),
        *(TEMPLATES / "emails").glob("_*"),
        *(TEMPLATES / "procedures" / "patient").glob("*.html"),
        # The prep sheet the staff print and hand to the patient.
        TEMPLATES / "procedures" / "prep" / "prep_print.html",
        TEMPLATES / "procedures" / "prep" / "_timeline.html",
    ]
)
# The staff's own words on those: the print sheet's title and its bar above the sheet.
STAFF_WORDS = {
    "Your preparation",
    "Back to the prep plan",
    "Print this page with your browser's Print command (Ctrl+P); only the sheet is printed.",
}
CALL = re.compile(r"\b(n?gettext)\(((?:u?'(?:[^'\\]|\\.)*'(?:, )?)+)")
# A translated literal in a filter's argument ({{ day|date:_("l j F Y") }}).
CONSTANT = re.compile(r'(?<![\w.])_\(("(?:[^"\\]|\\.)*")\)')
LITERAL = re.compile(r"u?('(?:[^'\\]|\\.)*')")


def messages(path: Path) -> list[tuple[str, ...]]:
    """The msgids of `path` (a plural's two forms together)."""
    found = []
    python = templatize(path.read_text(), origin=str(path))
    for _call, args in CALL.findall(python):
        found.append(tuple(ast.literal_eval(literal) for literal in LITERAL.findall(args)))
    found.extend((ast.literal_eval(literal),) for literal in CONSTANT.findall(python))
    return found


# The Python a patient's link pages run: their forms, views and the phone check.
PATIENT_CODE = [
    "procedures/messaging/links.py",
    "procedures/messaging/link_forms.py",
    "procedures/messaging/views/patient_links.py",
    "clinic/phones.py",
    "procedures/messaging/ics.py",
    # The preparation steps: the installed texts, and the timeline's own.
    "procedures/prep/defaults.py",
    "procedures/prep/timeline.py",
]
GETTEXT = {"_", "gettext", "gettext_lazy", "gettext_noop"}
# What the timeline says to the staff only (`PrepStep.staff_note`).
STAFF_ONLY = {
    "Hold plan not confirmed.",
    "Booked less than %(days)s days ahead: the front desk is flagged.",
}


def code_messages(path: Path) -> list[str]:
    """The literal msgids `path` passes to gettext."""
    return [
        node.args[0].value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", getattr(node.func, "attr", "")) in GETTEXT
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ]


@pytest.mark.parametrize("name", PATIENT_CODE)
def test_every_message_of_the_patients_pages_code_has_its_spanish(name):
    path = Path(settings.BASE_DIR) / name
    assert code_messages(path) or name.endswith("views/patient_links.py")
    with translation.override("es"):
        untranslated = [
            m for m in code_messages(path) if translation.gettext(m) == m and m not in STAFF_ONLY
        ]
    assert untranslated == []


def test_the_patient_templates_are_found():
    names = {p.name for p in PATIENT_TEMPLATES}
    assert {"subject.txt", "body.txt", "body.html", "link_page.html", "_visit.txt"} <= names
    assert len(PATIENT_TEMPLATES) > 40


@pytest.mark.parametrize("path", PATIENT_TEMPLATES, ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_every_sentence_a_patient_reads_has_its_spanish(path):
    untranslated = []
    with translation.override("es"):
        for msgid in messages(path):
            if len(msgid) == 1:
                shown = translation.gettext(msgid[0])
            else:
                shown = translation.ngettext(msgid[0], msgid[1], 2)
            if shown in msgid and msgid[0] not in STAFF_WORDS:
                untranslated.append(msgid[0])
    assert untranslated == []


@pytest.mark.django_db
@pytest.mark.clock(dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC))
def test_a_patient_who_reads_spanish_is_told_how_to_prepare_in_spanish(frontdesk_user):
    """The preparation steps were the installed English texts in a Spanish email (and on
    the Spanish link page); the staff still read them in English."""
    patient = PatientFactory(preferred_language="es", details_in_email=True)
    start = dt.datetime(2025, 3, 10, 10, 0, tzinfo=dt.UTC)
    visit = visits.appointment_book(
        patient=patient,
        procedure_type=ProcedureTypeFactory(kind=ProcedureKind.ASPIRATION_BIOPSY),
        provider=ProviderFactory(),
        room=RoomFactory(),
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        sedation_level=SedationLevel.IV_MODERATE,
        by=frontdesk_user,
    )

    fasting = visit.reminders.get(kind=Reminder.Kind.FASTING)
    spanish = "No coma nada a partir de ahora (6 horas antes de su cita), porque recibirá sedación."
    assert fasting.step_text == spanish
    message = reminder_message(fasting)
    # The email, sent the evening before, says when to stop eating and drinking (not
    # the timeline's "from now on").
    assert "Deje de comer a partir de las 04:00 del lunes, 10 de marzo de 2025" in message.body
    assert "Puede beber agua y otras bebidas claras (sin leche) hasta las 08:00" in message.body
    # A mail client (and a screen reader) reads the HTML part as Spanish, not English.
    html = message.alternatives[0][0]
    assert '<html lang="es">' in html
    assert spanish in [step.text for step in patient_timeline(visit)]
    staff = [step.text for step in prep_timeline(visit)]
    assert (
        "Nothing to eat from now on (6 hours before your appointment), because you will have "
        "sedation." in staff
    )


# --- The migration: emails planned in English before -----------------------------------

BEFORE = [("procedures", "0029_reminder_site_required")]


@pytest.mark.django_db(transaction=True)
def test_the_migration_puts_a_spanish_patients_pending_steps_in_spanish(postgres):
    """Planned before the steps were translated, a Spanish patient's pending fasting
    email carried the English text: the dispatcher, now comparing with the Spanish plan,
    would have cancelled it at send time."""

    def pending(language, text, status=Reminder.Status.PENDING):
        patient = PatientFactory(preferred_language=language)
        return ReminderFactory(
            kind=Reminder.Kind.FASTING,
            status=status,
            appointment=AppointmentFactory(patient=patient),
            step_text=text,
        )

    english = (
        "Nothing to eat from now on (8 hours before your appointment), because you will "
        "have sedation."
    )
    spanish_patient = pending("es", english)
    english_patient = pending("en", english)
    sent = pending("es", english, status=Reminder.Status.SENT)
    edited = pending("es", "Nothing to eat after your supper the night before.")
    leaf = latest()
    try:
        migrate(BEFORE)
        migrate(leaf)

        def text(row):
            return Reminder.objects.get(pk=row.pk).step_text

        assert text(spanish_patient) == (
            "No coma nada a partir de ahora (8 horas antes de su cita), porque recibirá sedación."
        )
        assert text(english_patient) == english
        assert text(sent) == english  # as it was sent
        assert text(edited) == "Nothing to eat after your supper the night before."
    finally:
        migrate(leaf)
