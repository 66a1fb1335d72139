"""Issue 18: sites. A single-clinic database becomes one site made from the CLINIC_*
settings, and every room, physician and staff login is attached to it. Nothing is lost:
typed closures (ClinicHoliday) stay network-wide (no site), and the settings remain the
fallback. The room's site becomes required in the next migration (PostgreSQL refuses to
alter a table with pending deferred-constraint checks in the same transaction)."""

import django.db.models.deletion
import procedures.catalog.sites
from django.conf import settings
from django.db import migrations, models


def one_site_from_settings(apps, schema_editor):
    """The clinic the settings describe becomes the network's first site."""
    Site = apps.get_model("procedures", "Site")
    Room = apps.get_model("procedures", "Room")
    Provider = apps.get_model("procedures", "Provider")
    StaffProfile = apps.get_model("procedures", "StaffProfile")
    User = apps.get_model(settings.AUTH_USER_MODEL)
    if Site.objects.exists():
        return
    site = Site.objects.create(
        code=procedures.catalog.sites.MAIN_CODE, **procedures.catalog.sites.site_from_settings()
    )
    Room.objects.filter(site__isnull=True).update(site=site)
    site.providers.add(*Provider.objects.all())
    StaffProfile.objects.bulk_create(
        StaffProfile(user_id=pk, home_site=site) for pk in User.objects.values_list("pk", flat=True)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("procedures", "0013_issue12_skip_reason_calls"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Site",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=100, unique=True, verbose_name="name")),
                (
                    "code",
                    models.SlugField(
                        help_text="A few letters shown in the site switcher and on boards, e.g. “north”.",
                        max_length=20,
                        unique=True,
                        verbose_name="short code",
                    ),
                ),
                (
                    "address",
                    models.TextField(
                        help_text="As patients read it in their emails.", verbose_name="address"
                    ),
                ),
                ("phone", models.CharField(max_length=40, verbose_name="phone")),
                (
                    "time_zone",
                    models.CharField(
                        help_text="An IANA time zone name, e.g. Europe/London.",
                        max_length=64,
                        validators=[procedures.catalog.sites.validate_time_zone],
                        verbose_name="time zone",
                    ),
                ),
                (
                    "holidays_country",
                    models.CharField(
                        blank=True,
                        help_text="ISO code (GB, IE, US); empty for no public holidays.",
                        max_length=2,
                        verbose_name="public holidays: country",
                    ),
                ),
                (
                    "holidays_subdivision",
                    models.CharField(
                        blank=True,
                        help_text="Optional, e.g. ENG, SCT, WLS or NIR for GB.",
                        max_length=10,
                        verbose_name="public holidays: region",
                    ),
                ),
                ("is_active", models.BooleanField(default=True, verbose_name="active")),
            ],
            options={
                "verbose_name": "site (clinic)",
                "verbose_name_plural": "sites (clinics)",
                "ordering": ["name"],
            },
        ),
        migrations.CreateModel(
            name="StaffProfile",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
            ],
            options={
                "verbose_name": "staff home site",
            },
        ),
        migrations.AlterField(
            model_name="clinicholiday",
            name="date",
            field=models.DateField(),
        ),
        migrations.AddField(
            model_name="clinicholiday",
            name="site",
            field=models.ForeignKey(
                blank=True,
                help_text="Leave empty when every site is closed.",
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="holidays",
                to="procedures.site",
            ),
        ),
        migrations.AddField(
            model_name="provider",
            name="sites",
            field=models.ManyToManyField(
                blank=True,
                help_text="Leave empty when the physician works at every site.",
                related_name="providers",
                to="procedures.site",
                verbose_name="works at",
            ),
        ),
        migrations.AddField(
            model_name="room",
            name="site",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="rooms",
                to="procedures.site",
                verbose_name="site",
            ),
        ),
        migrations.AddConstraint(
            model_name="clinicholiday",
            constraint=models.UniqueConstraint(
                condition=models.Q(("site__isnull", True)),
                fields=("date",),
                name="clinicholiday_one_network_closure_a_day",
            ),
        ),
        migrations.AddConstraint(
            model_name="clinicholiday",
            constraint=models.UniqueConstraint(
                fields=("site", "date"), name="clinicholiday_site_date"
            ),
        ),
        migrations.AddField(
            model_name="staffprofile",
            name="home_site",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="home_staff",
                to="procedures.site",
                verbose_name="home site",
            ),
        ),
        migrations.AddField(
            model_name="staffprofile",
            name="user",
            field=models.OneToOneField(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="staff_profile",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        # Reversed, the tables and columns go; the settings still describe the clinic.
        migrations.RunPython(one_site_from_settings, migrations.RunPython.noop),
    ]
