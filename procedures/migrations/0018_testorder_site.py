"""Issue 18: an order carries its visit's room's site (docs/invariants.md, 18).

Added empty, without its index or foreign-key check, filled by one UPDATE joining the
visits and their rooms; 0019 then makes it required and adds the index and the check
in one pass each, instead of updating the index and queueing a deferred check for
every row (about 1.8 million at the benchmark's 200,000 patients).
"""

import django.db.models.deletion
from django.db import migrations, models

BACKFILL = """
UPDATE procedures_testorder AS o
   SET site_id = r.site_id
  FROM procedures_appointment AS a
  JOIN procedures_room AS r ON r.id = a.room_id
 WHERE a.id = o.appointment_id
"""


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
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop, elidable=False),
    ]
