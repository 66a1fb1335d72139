"""What the patient's emails say about medicines stopped for a visit and about the days
after it (QA pass 3: one visit, two blood thinners stopped).

A stop email said "change how you take a medicine ... Do not stop any other medicine",
which the second stop email contradicted, and two stops at the same minute went as one
such email; it came at the very minute of the last dose; no email ever said when to
start a stopped medicine again; and the aftercare email said "your visit yesterday"
whenever it was sent."""

import datetime as dt
import re

import pytest
from django.core import mail
from django.core.cache import cache

from patients.medications import medication_add
from patients.models import Medication
from patients.tests.factories import PatientFactory
from procedures.catalog.choices import ProcedureKind, ProcedureSide, ProcedureSite, SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.messaging.dispatch import reminders_dispatch
from procedures.messaging.models import CallTask, Reminder
from procedures.prep import rules as prep_rules
from procedures.prep.checklist import checklist_tick
from procedures.prep.models import MedicationHold
from procedures.scheduling import lifecycle
from procedures.tests.factories import ProcedureTypeFactory, ProviderFactory, RoomFactory
from procedures.workflows import prep_changes, visits

NOW = clinic_datetime(dt.date(2026, 12, 1), dt.time(9, 0))  # Tuesday 1 December 2026
DAY = dt.date(2026, 12, 18)  # Friday 18 December
DOB = dt.date(1958, 3, 14)
TUESDAY, WEDNESDAY = dt.date(2026, 12, 15), dt.date(2026, 12, 16)
K, S = Reminder.Kind, Reminder.Status
MEDICINES = {"Warfarin": "3 mg daily", "Apixaban": "5 mg twice daily"}

pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


@pytest.fixture(autouse=True)
def locmem(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    cache.clear()  # the link pages' rate limits


def book(by, *, details=False):
    patient = PatientFactory(
        given_name="Eleanor", date_of_birth=DOB, email="e@example.com", details_in_email=details
    )
    for name, dose in MEDICINES.items():
        medication_add(
            patient=patient, name=name, dose=dose, med_class=Medication.Class.ANTICOAGULANT
        )
    start = clinic_datetime(DAY, dt.time(10, 0))
    return visits.appointment_book(
        patient=patient,
        procedure_type=ProcedureTypeFactory(kind=ProcedureKind.ASPIRATION_BIOPSY),
        provider=ProviderFactory(),
        room=RoomFactory(),
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        sedation_level=SedationLevel.IV_MODERATE,
        by=by,
    )


def stop(visit, by, stops: dict[str, tuple[dt.datetime, str]]):
    """Stop each named medicine at its time with its restart guidance, keep taking the
    others, and confirm."""
    for medication in visit.patient.medications.all():
        at, resume = stops.get(medication.name, (None, ""))
        prep_changes.medication_hold_set(
            appointment_id=visit.pk,
            medication_id=medication.pk,
            action=MedicationHold.Action.STOP if at else MedicationHold.Action.CONTINUE,
            stop_at=at,
            resume_guidance=resume,
            by=by,
        )
    prep_changes.hold_plan_confirm(appointment_id=visit.pk, by=by)


def sent_at(clock, moment):
    """The emails the dispatcher sends at `moment`: (text, html) of each."""
    mail.outbox.clear()
    clock.move_to(moment, tick=False)
    reminders_dispatch()
    return [(m.body, m.alternatives[0][0]) for m in mail.outbox]


def flat(part: str) -> str:
    """The words of an email part, tags and line breaks aside."""
    return " ".join(re.sub(r"<[^>]+>", " ", part).split())


def stop_emails(emails):
    return [e for e in emails if "asked you to stop" in e[0] and "Before this visit" not in e[0]]


# A stop email: which step, how many medicines, and nothing that contradicts another ----


def test_a_stop_email_goes_the_evening_before_the_last_doses_day_with_its_time(
    frontdesk_user, physician_user, clock
):
    visit = book(frontdesk_user)
    stop(
        visit,
        physician_user,
        {
            "Warfarin": (clinic_datetime(TUESDAY, dt.time(20, 0)), ""),
            "Apixaban": (clinic_datetime(WEDNESDAY, dt.time(8, 0)), ""),
        },
    )

    rows = visit.reminders.filter(kind=K.MEDICATION_HOLD).order_by("step_at")
    # Not at 20:00 on the Tuesday, the minute of the last dose: the evening before.
    assert [r.due_at for r in rows] == [
        clinic_datetime(dt.date(2026, 12, 14), dt.time(20, 0)),
        clinic_datetime(TUESDAY, dt.time(20, 0)),
    ]
    [(text, html)] = stop_emails(
        sent_at(clock, clinic_datetime(dt.date(2026, 12, 14), dt.time(20, 0)))
    )
    for part in (flat(text), flat(html)):
        assert (
            "Your doctor has asked you to stop a medicine before your appointment. Take your "
            "last dose of it at 20:00 on Tuesday 15 December 2026." in part
        )
        # The second stop is not a contradiction: the patient knows there are two.
        assert (
            "In all, your doctor has asked you to stop 2 medicines before this appointment: "
            "we email you before each stop." in part
        )
        assert "The link below shows which medicine it is and when to start it again." in part
        assert "Do not stop a medicine your doctor has not named." in part
        assert "any other medicine" not in part
        assert "Warfarin" not in part and "Apixaban" not in part  # no details by email

    [(text, html)] = stop_emails(sent_at(clock, clinic_datetime(TUESDAY, dt.time(20, 0))))
    assert "Take your last dose of it at 08:00 on Wednesday 16 December 2026." in flat(text)
    assert "In all, your doctor has asked you to stop 2 medicines" in flat(text)


def test_two_stops_at_the_same_minute_go_as_one_email_that_says_two_medicines(
    frontdesk_user, physician_user, clock
):
    visit = book(frontdesk_user)
    at = clinic_datetime(TUESDAY, dt.time(20, 0))
    stop(visit, physician_user, {"Warfarin": (at, ""), "Apixaban": (at, "")})

    [(text, html)] = stop_emails(
        sent_at(clock, clinic_datetime(dt.date(2026, 12, 14), dt.time(20, 0)))
    )

    for part in (flat(text), flat(html)):
        assert (
            "Your doctor has asked you to stop 2 medicines before your appointment. Take your "
            "last dose of each at 20:00 on Tuesday 15 December 2026." in part
        )
        assert "The link below shows which medicines they are and when to start them again." in part
        assert "Do not stop a medicine your doctor has not named." in part
        assert "In all" not in part  # this email is about both
    # Still one email (invariant 26): the second row went with the first.
    first, second = visit.reminders.filter(kind=K.MEDICATION_HOLD).order_by("pk")
    assert (first.status, second.status) == (S.SENT, S.SENT)
    assert {first.skip_reason, second.skip_reason} == {
        "",
        f"same words as email {first.pk}: sent once",
    }


def test_with_details_each_stop_email_names_its_medicine_and_counts_the_other(
    frontdesk_user, physician_user, clock
):
    visit = book(frontdesk_user, details=True)
    at = clinic_datetime(TUESDAY, dt.time(20, 0))
    stop(visit, physician_user, {"Warfarin": (at, ""), "Apixaban": (at, "")})

    emails = stop_emails(sent_at(clock, clinic_datetime(dt.date(2026, 12, 14), dt.time(20, 0))))

    assert len(emails) == 2
    named = set()
    for text, html in emails:
        for part in (flat(text), flat(html)):
            assert "Your doctor has asked you to stop a medicine before your appointment:" in part
            assert "In all, your doctor has asked you to stop 2 medicines" in part
            assert "Do not stop a medicine your doctor has not named." in part
        named |= {name for name in MEDICINES if name in text}
    assert named == set(MEDICINES)


def test_a_stop_confirmed_after_the_evening_before_is_emailed_at_once(
    frontdesk_user, physician_user, clock
):
    visit = book(frontdesk_user)
    clock.move_to(clinic_datetime(TUESDAY, dt.time(9, 30)), tick=False)
    stop(visit, physician_user, {"Warfarin": (clinic_datetime(TUESDAY, dt.time(20, 0)), "")})

    [row] = visit.reminders.filter(kind=K.MEDICATION_HOLD)
    assert row.due_at == clinic_datetime(TUESDAY, dt.time(9, 30))
    assert not CallTask.objects.filter(appointment=visit, reason="missed_stop").exists()


# After the visit: when to start the stopped medicines again ---------------------------


def check_in_start_and_complete(visit, *, frontdesk, physician, clock):
    clock.move_to(clinic_datetime(DAY, dt.time(9, 50)), tick=False)
    lifecycle.appointment_check_in(appointment_id=visit.pk, by=frontdesk)
    prep_rules.procedure_site_set(
        appointment_id=visit.pk,
        site=ProcedureSite.POSTERIOR_ILIAC,
        side=ProcedureSide.RIGHT,
        by=physician,
    )
    for item in ("consent", "site_side"):
        checklist_tick(appointment_id=visit.pk, item=item, by=physician)
    visits.appointment_start(
        appointment_id=visit.pk, by=physician, reason="Checked by the team on the day"
    )
    clock.move_to(clinic_datetime(DAY, dt.time(11, 0)), tick=False)
    visits.appointment_complete(appointment_id=visit.pk, by=physician)


def completed(frontdesk, physician, clock, *, details=False, resume="The evening after"):
    visit = book(frontdesk, details=details)
    stop(
        visit,
        physician,
        {
            "Warfarin": (clinic_datetime(TUESDAY, dt.time(20, 0)), resume),
            "Apixaban": (clinic_datetime(WEDNESDAY, dt.time(8, 0)), resume),
        },
    )
    check_in_start_and_complete(visit, frontdesk=frontdesk, physician=physician, clock=clock)
    return visit


def the_email(emails, words):
    [email] = [e for e in emails if words in e[0]]
    return email


def test_the_same_day_email_says_not_to_restart_before_the_doctors_time_and_links_it(
    frontdesk_user, physician_user, clock, client
):
    visit = completed(frontdesk_user, physician_user, clock)

    text, html = the_email(
        sent_at(clock, clinic_datetime(DAY, dt.time(11, 1))), "Thank you for coming in today"
    )

    said = (
        "Before this visit your doctor asked you to stop 2 medicines. Do not start them "
        "again until the times your doctor gave: this link shows which medicines and when "
        "to start each again:"
    )
    for part in (flat(text), flat(html)):
        assert said in part
        assert "Warfarin" not in part
    [path] = re.findall(r"https?://[^/\s]+(/p/details/[^/\s]+/)", text.split(said)[1])
    # The link opens (after the date of birth) on the physician's words for each.
    client.post(path, {"date_of_birth": "14/03/1958"})
    page = client.get(path).content.decode()
    assert page.count("Start again: The evening after") == 2
    assert visit.reminders.get(kind=K.WARNING_SIGNS).status == S.SENT


def test_without_the_doctors_time_the_patient_is_told_to_call_before_restarting(
    frontdesk_user, physician_user, clock
):
    visit = completed(frontdesk_user, physician_user, clock, resume="")
    phone = visit.room.site.phone

    text, html = the_email(
        sent_at(clock, clinic_datetime(DAY + dt.timedelta(days=1), dt.time(10, 0))),
        "We hope you are feeling well",
    )

    for part in (flat(text), flat(html)):
        assert (
            "Before this visit your doctor asked you to stop 2 medicines. Call us on "
            f"{phone} to ask when to start them again, and do not take them until we "
            "have told you. This link shows which medicines they are:" in part
        )


def test_with_details_the_email_names_each_medicine_and_when_to_start_it(
    frontdesk_user, physician_user, clock
):
    completed(frontdesk_user, physician_user, clock, details=True)

    text, html = the_email(
        sent_at(clock, clinic_datetime(DAY, dt.time(11, 1))), "Thank you for coming in today"
    )

    for part in (flat(text), flat(html)):
        assert "Before this visit your doctor asked you to stop 2 medicines." in part
        assert "Start each again as your doctor said:" in part
        assert "Warfarin 3 mg daily: The evening after" in part
        assert "Apixaban 5 mg twice daily: The evening after" in part


def test_a_visit_without_stopped_medicines_says_nothing_of_starting_again(
    frontdesk_user, physician_user, clock
):
    visit = book(frontdesk_user)
    stop(visit, physician_user, {})  # keep taking both
    check_in_start_and_complete(
        visit, frontdesk=frontdesk_user, physician=physician_user, clock=clock
    )

    text, html = the_email(
        sent_at(clock, clinic_datetime(DAY, dt.time(11, 1))), "Thank you for coming in today"
    )

    for part in (flat(text), flat(html)):
        assert "Before this visit" not in part
        assert "start it again" not in part and "start them again" not in part


# The aftercare email names the day of the visit ---------------------------------------


def test_aftercare_sent_late_names_the_day_of_the_visit_not_yesterday(
    frontdesk_user, physician_user, clock
):
    completed(frontdesk_user, physician_user, clock)

    # Due on Saturday at 10:00; the dispatcher was down until Monday.
    text, html = the_email(
        sent_at(clock, clinic_datetime(DAY + dt.timedelta(days=3), dt.time(10, 5))),
        "We hope you are feeling well",
    )

    for part in (flat(text), flat(html)):
        assert "We hope you are feeling well after your visit on Friday 18 December 2026." in part
        assert "yesterday" not in part
