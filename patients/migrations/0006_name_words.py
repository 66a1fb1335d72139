"""The words of patients' names, for the typo search's spelling correction (issue #18),
filled in from the records that exist."""

import django.contrib.postgres.indexes
from django.db import migrations, models

import clinic.migration_ops


def fill_name_words(apps, schema_editor):
    Patient = apps.get_model("patients", "Patient")
    NameWord = apps.get_model("patients", "NameWord")
    words: set[str] = set()
    names = Patient.objects.values_list("search_name", flat=True).distinct()
    for name in names.iterator(chunk_size=5000):
        words.update(word for word in name.split() if len(word) >= 3)
    NameWord.objects.bulk_create(
        [NameWord(word=word) for word in sorted(words)], ignore_conflicts=True, batch_size=5000
    )


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0005_search_family_prefix"),
    ]

    operations = [
        migrations.CreateModel(
            name="NameWord",
            fields=[
                ("word", models.CharField(max_length=150, primary_key=True, serialize=False)),
            ],
            options={
                "indexes": [
                    clinic.migration_ops.TrigramIndex(
                        django.contrib.postgres.indexes.OpClass("word", name="gin_trgm_ops"),
                        name="nameword_trgm_idx",
                    )
                ],
            },
        ),
        migrations.RunPython(fill_name_words, migrations.RunPython.noop),
    ]
