"""Issue 18: every order has its site (0019 filled it), checked and indexed; a site's
open orders in due order have their own index (the site's results worklist)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("procedures", "0019_testorder_site_backfill"),
    ]

    operations = [
        migrations.AlterField(
            model_name="testorder",
            name="site",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="test_orders",
                to="procedures.site",
                verbose_name="site",
            ),
        ),
        migrations.AddIndex(
            model_name="testorder",
            index=models.Index(
                condition=models.Q(
                    ("status__in", ["ordered", "collected", "sent", "preliminary", "final", "reviewed"])
                ),
                fields=["site", "expected_by", "id", "status"],
                name="testorder_open_site_due_idx",
            ),
        ),
    ]
