"""Issue 18: an order carries its visit's room's site (docs/invariants.md, 18).

Three steps, each its own transaction, so that no lock that stops the worklist being
read is held for long on a big table: the column is added empty (a catalogue change,
without its index or foreign-key check); 0019 fills it with one UPDATE joining the
visits and their rooms (readers go on meanwhile); 0020 makes it required and adds the
index and the check, one pass each, instead of updating an index and queueing a
deferred check for every row (1.7 million at the benchmark's 200,000 patients).
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("procedures", "0017_slot_finder_and_worklist_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="testorder",
            name="site",
            field=models.ForeignKey(
                null=True,
                db_index=False,
                db_constraint=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="test_orders",
                to="procedures.site",
                verbose_name="site",
            ),
        ),
    ]
