"""A sedated patient is told when to stop eating and when to stop drinking, the evening
before: the fasting email went out when the fast began (an afternoon visit's fast
begins at breakfast time), said nothing of drinks, and the day-before reminder said
nothing of fasting at all."""

import datetime as dt

import pytest
from django.core import mail

from patients.tests.factories import PatientFactory
from procedures.catalog.choices import ProcedureKind, SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.messaging.dispatch import reminders_dispatch
from procedures.messaging.models import Reminder
from procedures.tests.factories import ProcedureTypeFactory, ProviderFactory, RoomFactory
from procedures.workflows import prep_changes, visits

NOW = clinic_datetime(dt.date(2026, 12, 1), dt.time(9, 0))  # Tuesday 1 December
DAY = dt.date(2026, 12, 9)  # Wednesday 9 December
K = Reminder.Kind

pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


@pytest.fixture(autouse=True)
def locmem(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def book(by, *, at=dt.time(14, 0), sedation=SedationLevel.IV_MODERATE):
    start = clinic_datetime(DAY, at)
    return visits.appointment_book(
        patient=PatientFactory(email="p@example.com"),
        procedure_type=ProcedureTypeFactory(kind=ProcedureKind.BIOPSY),
        provider=ProviderFactory(),
        room=RoomFactory(),
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        sedation_level=sedation,
        by=by,
    )


def emails_until(clock, moment):
    clock.move_to(moment, tick=False)
    reminders_dispatch()
    return mail.outbox


def test_an_afternoon_visits_fast_is_emailed_the_evening_before_with_both_times(
    frontdesk_user, clock
):
    visit = book(frontdesk_user)  # 14:00: no food from 08:00, clear drinks until 12:00

    fasting = visit.reminders.get(kind=K.FASTING)
    assert fasting.due_at == clinic_datetime(dt.date(2026, 12, 8), dt.time(20, 0))
    assert fasting.step_at == clinic_datetime(DAY, dt.time(8, 0))

    sent = emails_until(clock, clinic_datetime(dt.date(2026, 12, 8), dt.time(20, 0)))
    [email] = [m for m in sent if "Please stop eating" in m.body]
    html = email.alternatives[0][0]
    for part in (email.body, html):
        assert "Please stop eating from 08:00 on Wednesday 9 December 2026" in part
        assert "clear drinks (no milk) until 12:00 on Wednesday 9 December 2026" in part
        assert "not even water" in part
        assert "from now on" not in part  # the timeline's words, wrong the evening before


def test_the_day_before_reminder_says_when_to_stop_eating_and_drinking(
    frontdesk_user, physician_user, clock
):
    visit = book(frontdesk_user, at=dt.time(9, 0))
    # The physician shortens the clear-fluid fast after booking: the email says the
    # plan as it stands when it is sent.
    prep_changes.sedation_plan_set(
        appointment_id=visit.pk,
        sedation_level=SedationLevel.IV_MODERATE,
        food_fast_hours=6,
        clear_fluid_fast_hours=1,
        by=physician_user,
    )

    sent = emails_until(clock, clinic_datetime(dt.date(2026, 12, 8), dt.time(10, 0)))
    [email] = [m for m in sent if "appointment tomorrow" in m.body]
    for part in (email.body, email.alternatives[0][0]):
        assert "Because you will have sedation, eat nothing from 03:00 on Wednesday 9" in part
        assert "clear drinks (no milk) until 08:00 on Wednesday 9 December 2026" in part


def test_a_visit_without_sedation_says_nothing_of_fasting(frontdesk_user, clock):
    book(frontdesk_user, sedation=SedationLevel.LOCAL)

    sent = emails_until(clock, clinic_datetime(dt.date(2026, 12, 8), dt.time(21, 0)))
    assert any("appointment tomorrow" in m.body for m in sent)
    assert not any("eat nothing" in m.body or "stop eating" in m.body for m in sent)


def test_a_fast_booked_inside_the_evening_before_is_emailed_at_once(frontdesk_user, clock):
    clock.move_to(clinic_datetime(dt.date(2026, 12, 8), dt.time(21, 30)), tick=False)
    visit = book(frontdesk_user)

    fasting = visit.reminders.get(kind=K.FASTING)
    assert fasting.due_at >= clinic_datetime(dt.date(2026, 12, 8), dt.time(21, 30))
    assert fasting.due_at < fasting.step_at
