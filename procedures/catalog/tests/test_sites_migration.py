"""The single-clinic database becomes one site on PostgreSQL too (the SQLite path is
tests/test_upgrade_from_old_main.py): the migration goes back and forward again."""

import pytest

from procedures.tests.migrations import latest, migrate

BEFORE = [("procedures", "0013_issue12_skip_reason_calls")]
AFTER = [("procedures", "0015_sites_room_required")]


@pytest.mark.django_db(transaction=True)
def test_it_makes_one_site_of_the_clinic_and_attaches_every_room_physician_and_login(
    postgres, settings
):
    settings.CLINIC_NAME = "Old Town Clinic"
    settings.CLINIC_ADDRESS = "1 Market Square, York"
    settings.CLINIC_PHONE = "01904 496000"
    settings.CLINIC_TIME_ZONE = "Europe/London"
    leaf = latest()
    try:
        old = migrate(BEFORE)
        rooms = [
            old.get_model("procedures", "Room").objects.create(name=f"Room {i}") for i in (1, 2)
        ]
        Provider = old.get_model("procedures", "Provider")
        physicians = [Provider.objects.create(display_name=f"Dr {n}") for n in ("Lee", "Ray")]
        User = old.get_model("auth", "User")
        logins = [User.objects.create(username=n) for n in ("fd", "rn", "md")]
        old.get_model("procedures", "ClinicHoliday").objects.create(
            date="2025-12-25", name="Closed"
        )

        new = migrate(AFTER)

        [site] = new.get_model("procedures", "Site").objects.all()
        assert (site.code, site.name, site.address, site.phone, site.time_zone) == (
            "main",
            "Old Town Clinic",
            "1 Market Square, York",
            "01904 496000",
            "Europe/London",
        )
        Room = new.get_model("procedures", "Room")
        assert sorted(Room.objects.filter(site=site).values_list("pk", flat=True)) == sorted(
            r.pk for r in rooms
        )
        for physician in new.get_model("procedures", "Provider").objects.all():
            assert list(physician.sites.all()) == [site]
        assert len(physicians) == 2
        homes = new.get_model("procedures", "StaffProfile").objects.values_list(
            "user_id", "home_site_id"
        )
        assert sorted(homes) == sorted((u.pk, site.pk) for u in logins)
        [closure] = new.get_model("procedures", "ClinicHoliday").objects.all()
        assert (closure.name, closure.site_id) == ("Closed", None)  # still every site's
    finally:
        migrate(leaf)
