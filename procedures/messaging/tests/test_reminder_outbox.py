"""The staff outbox (views/outbox.py), the front desk's flag on failed emails, and
the /healthz reminder check (procedures/health.py)."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from clinic.models import Heartbeat
from procedures.catalog.clock import clinic_datetime
from procedures.messaging.dispatch import reminders_dispatch
from procedures.messaging.models import Reminder
from procedures.messaging.views import outbox
from procedures.scheduling.models import Appointment
from procedures.tests.factories import ReminderFactory

NOW = clinic_datetime(dt.date(2025, 3, 3), dt.time(9, 0))
pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


def failed(**extra) -> Reminder:
    return ReminderFactory(status=Reminder.Status.FAILED, attempts=1, last_error="550", **extra)


# --- The flag -------------------------------------------------------------------------


def test_a_refused_email_is_flagged_for_the_front_desk_until_resolved(smtp_mail, frontdesk_client):
    reminder = ReminderFactory()
    smtp_mail.scripted_replies = ["550 5.1.1 no such user"]
    reminders_dispatch()

    assert list(Reminder.objects.failed_unresolved()) == [reminder]
    page = frontdesk_client.get("/reminders/")
    assert b"1 email could not be delivered" in page.content
    assert b"needs a call" in page.content

    frontdesk_client.post(f"/reminders/{reminder.pk}/resolve/")

    assert not Reminder.objects.failed_unresolved().exists()
    reminder.refresh_from_db()
    assert reminder.resolved_at == NOW
    assert reminder.status == Reminder.Status.FAILED  # history kept


def test_resend_sends_a_new_copy_now_and_clears_the_flag(
    smtp_mail, frontdesk_client, frontdesk_user
):
    original = failed(kind=Reminder.Kind.DAY_BEFORE)

    response = frontdesk_client.post(
        f"/reminders/{original.pk}/resend/", {"confirm": "1"}, follow=True
    )

    assert b"will be sent again" in response.content
    copy = Reminder.objects.exclude(pk=original.pk).get()
    assert (copy.kind, copy.status, copy.due_at) == (Reminder.Kind.DAY_BEFORE, "pending", NOW)
    original.refresh_from_db()
    assert (original.resolved_at, original.resolved_by) == (NOW, frontdesk_user)
    reminders_dispatch()
    assert smtp_mail.message_ids()[0].startswith(f"<reminder-{copy.pk}@")


def test_resend_is_refused_in_words_for_a_time_that_no_longer_stands(frontdesk_client):
    old = failed(appointment__version=2, appointment_version=1)
    cancelled = failed(appointment__status=Appointment.Status.CANCELLED)
    waiting = ReminderFactory()

    for row, words in (
        (old, b"no longer stands"),
        (cancelled, b"no longer stands"),
        (waiting, b"has not gone out yet"),
    ):
        response = frontdesk_client.post(
            f"/reminders/{row.pk}/resend/", {"confirm": "1"}, follow=True
        )
        assert words in response.content
    assert Reminder.objects.count() == 3


def test_resolving_what_is_not_flagged_changes_nothing(frontdesk_client):
    sent = ReminderFactory(status=Reminder.Status.SENT)

    response = frontdesk_client.post(f"/reminders/{sent.pk}/resolve/", follow=True)

    assert b"Only a failed email" in response.content
    sent.refresh_from_db()
    assert sent.resolved_at is None


# --- The list -------------------------------------------------------------------------


def listed(client, query: str = "") -> list[int]:
    response = client.get(f"/reminders/{query}")
    assert response.status_code == 200
    return [r.pk for r in response.context["page"].object_list]


def test_the_outbox_filters_by_state_kind_and_appointment(frontdesk_client):
    pending = ReminderFactory()
    sent = ReminderFactory(status=Reminder.Status.SENT, kind=Reminder.Kind.DAY_BEFORE)
    flagged = failed()
    resolved = failed(resolved_at=NOW)

    assert set(listed(frontdesk_client)) == {pending.pk, sent.pk, flagged.pk, resolved.pk}
    assert listed(frontdesk_client, "?status=flagged") == [flagged.pk]
    assert set(listed(frontdesk_client, "?status=failed")) == {flagged.pk, resolved.pk}
    assert listed(frontdesk_client, "?kind=day_before") == [sent.pk]
    assert listed(frontdesk_client, f"?appointment={pending.appointment_id}") == [pending.pk]
    # Each row says its email and its state in words (the Resend button names it too).
    page = frontdesk_client.get("/reminders/?kind=day_before").content.decode()
    row = re.search(r"<tbody>(.*)</tbody>", page, re.S).group(1)
    assert row.count("Day-before reminder") == 2 and "<td>Sent" in row


def test_a_bad_filter_is_explained_and_lists_everything(frontdesk_client):
    ReminderFactory()

    response = frontdesk_client.get("/reminders/?status=lost&appointment=x")

    assert response.status_code == 200
    assert b"Select a valid choice" in response.content
    assert b"Enter a whole number" in response.content
    assert len(response.context["page"].object_list) == 1


@pytest.mark.parametrize("count", [2, 20])
def test_the_outbox_lists_in_a_fixed_number_of_queries(
    frontdesk_client, django_assert_num_queries, count
):
    ReminderFactory.create_batch(count)

    # session, user, roles, flagged count, page count, the rows with their patients
    # ... and the one INSERT of the read of the patients shown (issue 15).
    # +1 the header's site switcher: the active sites (issue 18).
    with django_assert_num_queries(8):
        response = frontdesk_client.get("/reminders/")

    assert len(response.context["page"].object_list) == count


def test_the_outbox_lists_the_newest_and_says_how_to_find_older(frontdesk_client, monkeypatch):
    """A network site's history is hundreds of thousands of emails: the newest are
    listed (not all counted), and a filter still finds an older one."""
    monkeypatch.setattr(outbox, "LISTED_AT_MOST", 3)
    rows = [ReminderFactory(due_at=NOW - dt.timedelta(days=n)) for n in range(5)]

    response = frontdesk_client.get("/reminders/")

    assert [r.pk for r in response.context["page"].object_list] == [r.pk for r in rows[:3]]
    assert b"The newest 3 emails are listed" in response.content
    oldest = rows[-1]
    assert listed(frontdesk_client, f"?appointment={oldest.appointment_id}") == [oldest.pk]


# --- /healthz -------------------------------------------------------------------------


def test_healthz_reports_the_oldest_due_reminder(client, settings):
    settings.HEALTHZ_REMINDER_MAX_AGE_SECONDS = 600
    Heartbeat.objects.create(name="dispatcher", last_run_at=timezone.now())
    ReminderFactory(due_at=NOW - dt.timedelta(minutes=4))
    ReminderFactory(due_at=NOW + dt.timedelta(hours=1))  # not due: not late
    ReminderFactory(due_at=NOW - dt.timedelta(days=1), status=Reminder.Status.SENT)

    response = client.get("/healthz")

    assert response.status_code == 200, response.json()
    assert response.json()["reminders"] == {
        "status": "ok",
        "oldest_due_age_seconds": 240.0,
        "max_age_seconds": 600,
    }


def test_healthz_turns_unhealthy_when_a_reminder_waits_too_long(client, settings):
    settings.HEALTHZ_REMINDER_MAX_AGE_SECONDS = 600
    Heartbeat.objects.create(name="dispatcher", last_run_at=timezone.now())
    ReminderFactory(
        status=Reminder.Status.SENDING,
        due_at=NOW - dt.timedelta(minutes=11),
        lease_until=NOW + dt.timedelta(minutes=1),
    )

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["reminders"]["status"] == "late"
    assert response.json()["reminders"]["oldest_due_age_seconds"] == 660.0


def test_the_appointment_page_shows_its_emails_flags_and_calls(frontdesk_client):
    from patients.tests.factories import PatientFactory
    from procedures.messaging.models import CallTask

    flagged = failed(appointment__patient=PatientFactory(email=""))
    CallTask.objects.create(
        appointment=flagged.appointment,
        reason=CallTask.Reason.NO_EMAIL,
        reminder_kind=Reminder.Kind.DAY_BEFORE,
    )

    page = frontdesk_client.get(flagged.appointment.get_absolute_url()).content.decode()

    assert "needs a call" in page
    assert "Phone calls" in page
    assert "Day-before reminder" in page
    assert f"/reminders/?appointment={flagged.appointment_id}" in page


def test_both_lists_say_why_an_email_was_not_sent_or_what_it_went_with(frontdesk_client):
    withdrawn = ReminderFactory(
        kind=Reminder.Kind.ESCORT_REQUEST,
        status=Reminder.Status.CANCELLED,
        skip_reason="escort confirmed",
    )
    merged = ReminderFactory(
        appointment=withdrawn.appointment,
        kind=Reminder.Kind.PREP_STEP,
        status=Reminder.Status.SENT,
        sent_at=NOW,
        skip_reason="same words as email 7: sent once",
    )

    outbox_page = frontdesk_client.get(f"/reminders/?appointment={merged.appointment_id}")
    visit_page = frontdesk_client.get(merged.appointment.get_absolute_url())

    for page in (outbox_page.content.decode(), visit_page.content.decode()):
        assert re.search(r"Cancelled\s*<br><small[^>]*>escort confirmed</small>", page)
        assert re.search(
            r"Sent 3 Mar 09:00\s*<br><small[^>]*>same words as email 7: sent once", page
        )


def test_resend_is_refused_while_an_identical_copy_is_still_queued(frontdesk_client):
    original = failed(kind=Reminder.Kind.BOOKING_CONFIRMATION)
    url = f"/reminders/{original.pk}/resend/"

    first = frontdesk_client.post(url, {"confirm": "1"}, follow=True)
    second = frontdesk_client.post(url, {"confirm": "1"}, follow=True)
    copy = Reminder.objects.exclude(pk=original.pk).get()
    # Pressing Resend on the copy's row is the same email again, refused too.
    frontdesk_client.post(f"/reminders/{copy.pk}/resend/", {"confirm": "1"})

    assert b"will be sent again" in first.content
    assert b"already waiting to go" in second.content
    assert Reminder.objects.filter(kind=Reminder.Kind.BOOKING_CONFIRMATION).count() == 2


def test_resend_asks_for_confirmation_first(frontdesk_client):
    original = failed(kind=Reminder.Kind.DAY_BEFORE)

    response = frontdesk_client.post(f"/reminders/{original.pk}/resend/", follow=True)
    page = frontdesk_client.get("/reminders/").content.decode()

    assert b"Confirm that the email should be sent again" in response.content
    assert Reminder.objects.count() == 1
    assert 'name="confirm" value="1"' in page
    assert "Yes, send it again" in page


def test_the_list_shows_the_year_of_a_date_in_another_year(frontdesk_client):
    ReminderFactory(due_at=clinic_datetime(dt.date(2026, 6, 17), dt.time(10, 0)))
    ReminderFactory(due_at=clinic_datetime(dt.date(2025, 3, 4), dt.time(10, 0)))

    page = frontdesk_client.get("/reminders/").content.decode()

    assert "Wed 17 Jun 2026 10:00" in page
    assert "Tue 4 Mar 10:00" in page  # this year: no year
