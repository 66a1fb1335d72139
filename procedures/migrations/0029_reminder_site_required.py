# The email's site is required, and a site's outbox is read through its index. (Apart
# from 0028: PostgreSQL cannot alter a table with the copy's deferred checks pending.)

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("procedures", "0028_reminder_site"),
    ]

    operations = [
        migrations.AlterField(
            model_name="reminder",
            name="site",
            field=models.ForeignKey(
                db_index=False,
                editable=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="procedures.site",
                verbose_name="site",
            ),
        ),
        migrations.AddIndex(
            model_name="reminder",
            index=models.Index(fields=["site", "due_at", "id"], name="reminder_site_due_idx"),
        ),
    ]
