"""Issue 18: every room is at a site (0014 attached them all to the first one)."""

import django.db.models.deletion
from django.db import migrations, models

import procedures.catalog.sites


class Migration(migrations.Migration):
    dependencies = [
        ("procedures", "0014_sites"),
    ]

    operations = [
        migrations.AlterField(
            model_name="room",
            name="site",
            field=models.ForeignKey(
                default=procedures.catalog.sites.default_site_id,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="rooms",
                to="procedures.site",
                verbose_name="site",
            ),
        ),
    ]
