"""The preparation emails not yet sent to patients who read Spanish carry their step in
Spanish, as the plan now writes it (prep/defaults.py, `timeline.patient_timeline`).

Without this, the dispatcher would find such a row's English text no longer in the
patient's (now Spanish) prep plan at send time and cancel it: a fasting email lost
on the day of the upgrade. Only the installed texts are translated (an edited one is
sent as written, as the plan does); nothing else changes.
"""

import re

from django.db import migrations
from django.utils import translation

PREP_KINDS = ("fasting", "medication_hold", "prep_step")
# The timeline's own step that carries an email (a medicine to stop).
HOLD_TEXT = (
    "Stop the medicine your doctor named: take no more of it from this time until after "
    "your procedure."
)


def _patterns() -> list[tuple[re.Pattern, str]]:
    """Each installed English text as a pattern ("{hours}" a number), with its msgid."""
    from procedures.prep.defaults import TEMPLATES

    texts = [template[-1] for template in TEMPLATES] + [HOLD_TEXT]
    return [
        (re.compile("^" + re.escape(text).replace(re.escape("{hours}"), r"(\d+)") + "$"), text)
        for text in texts
    ]


def translate_pending(apps, schema_editor):
    Reminder = apps.get_model("procedures", "Reminder")
    patterns = _patterns()
    rows = Reminder.objects.filter(
        status="pending", kind__in=PREP_KINDS, appointment__patient__preferred_language="es"
    ).only("pk", "step_text")
    changed = []
    with translation.override("es"):
        for row in rows.iterator():
            for pattern, msgid in patterns:
                if match := pattern.match(row.step_text):
                    hours = match.group(1) if pattern.groups else ""
                    row.step_text = translation.gettext(msgid).replace("{hours}", hours)
                    changed.append(row)
                    break
    Reminder.objects.bulk_update(changed, ["step_text"], batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [("procedures", "0029_reminder_site_required")]

    operations = [migrations.RunPython(translate_pending, migrations.RunPython.noop)]
