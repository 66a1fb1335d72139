# A patient email carries its visit's site (docs/invariants.md, 21), so a site's outbox
# is a range of its own index. Existing emails get their visits' sites in one UPDATE.

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def copy_visit_sites(apps, schema_editor):
    Reminder = apps.get_model("procedures", "Reminder")
    Appointment = apps.get_model("procedures", "Appointment")
    site_of_visit = Appointment.objects.filter(pk=OuterRef("appointment_id")).values("site_id")[:1]
    Reminder.objects.update(site=Subquery(site_of_visit))


class Migration(migrations.Migration):
    dependencies = [
        ("procedures", "0027_appointment_day_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="reminder",
            name="site",
            field=models.ForeignKey(
                db_index=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="procedures.site",
                verbose_name="site",
            ),
        ),
        migrations.RunPython(copy_visit_sites, migrations.RunPython.noop, elidable=False),
    ]
