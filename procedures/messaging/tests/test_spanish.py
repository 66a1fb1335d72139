"""Every sentence a patient reads has its Spanish (one patient in ten reads Spanish).

The patient's emails and link pages are read from their templates as `makemessages`
reads them (Django's `templatize`), and each message must come back translated from
the committed catalogue. The staff's pages and emails are in English only."""

import ast
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation
from django.utils.translation.template import templatize

from procedures.messaging.models import Reminder

TEMPLATES = Path(settings.BASE_DIR) / "templates"
# What a patient reads: an email of every patient kind, its shared parts, the link pages.
PATIENT_TEMPLATES = sorted(
    [
        *(p for kind in Reminder.Kind for p in (TEMPLATES / "emails" / kind).glob("*")),
        *(TEMPLATES / "emails").glob("_*"),
        *(TEMPLATES / "procedures" / "patient").glob("*.html"),
    ]
)
CALL = re.compile(r"\b(n?gettext)\(((?:u?'(?:[^'\\]|\\.)*'(?:, )?)+)")
LITERAL = re.compile(r"u?('(?:[^'\\]|\\.)*')")


def messages(path: Path) -> list[tuple[str, ...]]:
    """The msgids of `path` (a plural's two forms together)."""
    found = []
    for _call, args in CALL.findall(templatize(path.read_text(), origin=str(path))):
        found.append(tuple(ast.literal_eval(literal) for literal in LITERAL.findall(args)))
    return found


# The Python a patient's link pages run: their forms, views and the phone check.
PATIENT_CODE = [
    "procedures/messaging/links.py",
    "procedures/messaging/link_forms.py",
    "procedures/messaging/views/patient_links.py",
    "clinic/phones.py",
]
GETTEXT = {"_", "gettext", "gettext_lazy"}


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
        untranslated = [m for m in code_messages(path) if translation.gettext(m) == m]
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
            if shown in msgid:
                untranslated.append(msgid[0])
    assert untranslated == []
