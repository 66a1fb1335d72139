"""A results discussion as a kind of appointment, and the procedure type to book it.

The values are written out here (not imported) so that later edits to the demo
catalogue do not change what this migration did.
"""

from django.db import migrations, models


def add_discussion_type(apps, schema_editor):
    ProcedureType = apps.get_model("procedures", "ProcedureType")
    # An install that already has the code (made in the admin) keeps its own row.
    ProcedureType.objects.get_or_create(
        code="results-discussion",
        defaults={
            "name": "Results discussion",
            "default_duration_minutes": 30,
            "default_sedation_level": "none",
            "kind": "results_discussion",
        },
    )


class Migration(migrations.Migration):
    dependencies = [("procedures", "0008_perf_indexes")]

    operations = [
        migrations.AlterField(
            model_name="proceduretype",
            name="kind",
            field=models.CharField(
                choices=[
                    ("aspiration", "Aspiration only"),
                    ("aspiration_biopsy", "Aspiration and biopsy"),
                    ("biopsy", "Biopsy only"),
                    ("bmac", "Bone marrow aspirate concentrate (BMAC)"),
                    ("results_discussion", "Results discussion"),
                ],
                default="aspiration",
                help_text="Decides the clinical rules: a biopsy only from the pelvis, and so on.",
                max_length=20,
                verbose_name="what it takes",
            ),
        ),
        # Removing the row on the way back could orphan booked discussions: leave it.
        migrations.RunPython(add_discussion_type, migrations.RunPython.noop),
    ]
