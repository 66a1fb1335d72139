"""Install the default prep templates and medication-class suggestions.

REVIEW WITH YOUR CLINICAL TEAM: the texts and numbers live in
procedures/prep_defaults.py; after this they are edited in the admin.
"""

from django.db import migrations


def load_defaults(apps, schema_editor):
    from procedures.prep import defaults as prep_defaults

    prep_defaults.install(
        apps.get_model("procedures", "PrepTemplate"),
        apps.get_model("procedures", "MedicationClassRule"),
        apps.get_model("procedures", "ProcedureType"),
    )


class Migration(migrations.Migration):
    dependencies = [("procedures", "0005_rem_reminder_plan_links")]

    operations = [migrations.RunPython(load_defaults, migrations.RunPython.noop)]
