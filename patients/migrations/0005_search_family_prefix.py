"""The folded family name for the short-term search (issue #18), filled in for the
records that exist, and its b-tree index."""

from django.db import migrations, models

from patients.normalise import search_family


def fill_search_family(apps, schema_editor):
    Patient = apps.get_model("patients", "Patient")
    batch = []
    for patient in Patient.objects.only("pk", "family_name").iterator(chunk_size=2000):
        patient.search_family = search_family(patient.family_name)
        batch.append(patient)
        if len(batch) == 2000:
            Patient.objects.bulk_update(batch, ["search_family"])
            batch = []
    if batch:
        Patient.objects.bulk_update(batch, ["search_family"])


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0004_pat_record"),
    ]

    operations = [
        migrations.AddField(
            model_name="patient",
            name="search_family",
            field=models.CharField(default="", editable=False, max_length=150),
        ),
        migrations.RunPython(fill_search_family, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(
                fields=["search_family", "search_name", "id"], name="patient_family_prefix_idx"
            ),
        ),
    ]
