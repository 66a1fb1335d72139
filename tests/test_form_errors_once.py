"""A form's errors are listed once: in the summary above it (includes/form_errors.html,
which links each to its field and takes focus). Crispy's own list of non-field errors
is left empty (templates/bootstrap5/errors.html), so every form it draws must have
that summary above it, for the same form, or its non-field errors would not show
at all."""

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
CRISPY = re.compile(r"{%\s*crispy\s+(\w+)")
SUMMARY = re.compile(r'{%\s*include\s+"includes/form_errors.html"(?:[^%]*?\bform=(\w+))?')


def test_every_crispy_form_has_the_error_summary_for_it_above():
    missing = []
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        for found in CRISPY.finditer(text):
            form = found.group(1)
            summaries = [m or "form" for m in SUMMARY.findall(text[: found.start()])]
            if form not in summaries:
                missing.append(f"{path.relative_to(TEMPLATES)}: {form}")
    assert missing == []


def test_crispys_own_error_list_is_empty():
    text = (TEMPLATES / "bootstrap5" / "errors.html").read_text()
    assert "non_field_errors" not in text.split("{% endcomment %}")[-1]
