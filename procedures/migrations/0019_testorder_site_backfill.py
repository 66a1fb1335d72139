"""Issue 18: every order placed before gets its visit's room's site (0018 added the
column): one UPDATE joining the visits and their rooms."""

from django.db import migrations

BACKFILL = """
UPDATE procedures_testorder AS o
   SET site_id = r.site_id
  FROM procedures_appointment AS a
  JOIN procedures_room AS r ON r.id = a.room_id
 WHERE a.id = o.appointment_id
   AND o.site_id IS NULL
"""


class Migration(migrations.Migration):
    dependencies = [
        ("procedures", "0018_testorder_site"),
    ]

    operations = [
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop, elidable=False),
    ]
