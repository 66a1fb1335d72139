"""Preparation: services/prep.py (templates, holds, sedation, transport, escort, timeline)."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from patients.medications import medication_add
from patients.models import Medication
from patients.tests.factories import PatientFactory
from procedures.catalog.choices import ProcedureKind, SedationLevel, TransportMode
from procedures.catalog.clock import clinic_datetime
from procedures.prep import facts, frontdesk, timeline
from procedures.prep import services as prep
from procedures.prep.models import FrontDeskTask, MedicationHold, PrepPlan, PrepTemplate
from procedures.scheduling.models import AppointmentEvent
from procedures.tests.factories import AppointmentFactory, ProcedureTypeFactory, RoomFactory
from procedures.workflows import prep_changes

LONDON = ZoneInfo("Europe/London")
NOW = clinic_datetime(dt.date(2027, 3, 1), dt.time(9, 0))  # Monday 1 March 2027
# Monday 29 March 2027, the day after the clocks go forward (Sunday 28 March, 01:00 UTC).
DAY = dt.date(2027, 3, 29)
pytestmark = pytest.mark.clock(NOW)


@pytest.fixture
def appointment(db):
    return AppointmentFactory(
        procedure_type=ProcedureTypeFactory(kind=ProcedureKind.ASPIRATION_BIOPSY),
        start_at=clinic_datetime(DAY, dt.time(9, 0)),
        end_at=clinic_datetime(DAY, dt.time(10, 0)),
        sedation_level=SedationLevel.IV_MODERATE,
        patient=PatientFactory(date_of_birth=dt.date(1960, 5, 1), bleeding_disorder=False),
    )


def steps_by_kind(appointment) -> dict[str, list]:
    found: dict[str, list] = {}
    for step in timeline.prep_timeline(appointment):
        found.setdefault(step.kind, []).append(step)
    return found


def local(at: dt.datetime) -> str:
    return f"{at.astimezone(LONDON):%a %d %b %H:%M}"


# --- Templates ---------------------------------------------------------------------


@pytest.mark.django_db
def test_it_ships_default_templates_marked_for_review():
    codes = set(PrepTemplate.objects.values_list("code", flat=True))
    assert {
        "bring-medicine-list",
        "medicine-holds",
        "fasting-food",
        "fasting-fluids",
        "arrange-escort",
        "comfortable-clothes",
        "aftercare-site",
        "aftercare-warning-signs",
    } <= codes
    for template in PrepTemplate.objects.all():
        assert "review with your clinical team" in template.review_note.lower()


def test_it_orders_a_sedated_patients_steps_by_date_across_the_dst_change(appointment):
    steps = timeline.prep_timeline(appointment)
    assert [s.at for s in steps] == sorted(s.at for s in steps)
    assert [(local(s.at), s.kind) for s in steps] == [
        ("Mon 22 Mar 10:00", "what_to_bring"),
        ("Sat 27 Mar 10:00", "escort"),  # GMT: 10:00 UTC
        ("Sun 28 Mar 18:00", "clothing"),  # BST by now: still 18:00 on the wall clock
        ("Mon 29 Mar 03:00", "fasting"),  # six real hours before 09:00 BST
        ("Mon 29 Mar 07:00", "fasting"),
        ("Mon 29 Mar 09:00", "arrival"),
        ("Mon 29 Mar 18:00", "aftercare"),
        ("Tue 30 Mar 10:00", "aftercare"),
    ]
    by_kind = steps_by_kind(appointment)
    assert by_kind["escort"][0].at == dt.datetime(2027, 3, 27, 10, 0, tzinfo=dt.UTC)
    assert by_kind["clothing"][0].at == dt.datetime(2027, 3, 28, 17, 0, tzinfo=dt.UTC)
    assert by_kind["escort"][0].reminder_kind == "escort_request"
    assert "must not drive" in by_kind["escort"][0].text
    assert "6 hours" in by_kind["fasting"][0].text
    assert "(2 hours before)" in by_kind["fasting"][1].text


def test_it_leaves_out_fasting_and_escort_without_sedation(appointment):
    appointment.sedation_level = SedationLevel.LOCAL
    by_kind = steps_by_kind(appointment)
    assert "fasting" not in by_kind
    assert "escort" not in by_kind
    assert {"what_to_bring", "clothing", "arrival", "aftercare"} <= set(by_kind)


def test_it_adds_a_blood_test_step_for_a_bleeding_disorder(appointment):
    assert "labs" not in steps_by_kind(appointment)
    appointment.patient.bleeding_disorder = True
    labs = steps_by_kind(appointment)["labs"]
    assert local(labs[0].at) == "Fri 26 Mar 09:00"
    assert "clotting" in labs[0].text


def test_it_adds_child_steps_only_for_young_children(appointment):
    assert "Bring a favourite toy" not in str(timeline.prep_timeline(appointment))
    appointment.patient.date_of_birth = dt.date(2026, 1, 1)
    assert "Bring a favourite toy" in str(timeline.prep_timeline(appointment))


def test_a_template_for_one_procedure_type_skips_the_others(appointment):
    other = ProcedureTypeFactory(code="bmac", name="BMAC", kind=ProcedureKind.BMAC)
    PrepTemplate.objects.get(code="comfortable-clothes").procedure_types.set([other])
    assert "clothing" not in steps_by_kind(appointment)
    appointment.procedure_type = other
    assert "clothing" in steps_by_kind(appointment)


def test_an_inactive_template_is_left_out(appointment):
    PrepTemplate.objects.filter(code="comfortable-clothes").update(is_active=False)
    assert "clothing" not in steps_by_kind(appointment)


# --- Medication holds --------------------------------------------------------------


@pytest.fixture
def warfarin(appointment):
    return medication_add(
        patient=appointment.patient,
        name="Warfarin",
        dose="3 mg daily",
        med_class=Medication.Class.ANTICOAGULANT,
    )


def stop_at(days_before: int, hour: int = 20) -> dt.datetime:
    return clinic_datetime(DAY - dt.timedelta(days=days_before), dt.time(hour, 0))


def test_it_suggests_a_stop_from_the_class_rule_without_applying_it(appointment, warfarin):
    (row,) = facts.hold_rows(appointment)
    assert row.hold is None
    assert row.suggested_days == 3
    assert row.suggested_stop == dt.date(2027, 3, 26)
    assert MedicationHold.objects.count() == 0
    steps = timeline.prep_timeline(appointment)
    assert not [s for s in steps if s.reminder_kind == "medication_hold"]
    (notice,) = [s for s in steps if s.kind == "notice"]
    assert notice.staff_note == "Hold plan not confirmed."
    assert "Keep taking your medicines" in notice.text


def test_a_hold_reaches_the_timeline_only_once_the_physician_confirms(
    appointment, warfarin, physician_user
):
    prep_changes.medication_hold_set(
        appointment_id=appointment.pk,
        medication_id=warfarin.pk,
        action=MedicationHold.Action.STOP,
        stop_at=stop_at(4),
        resume_guidance="the evening after, unless told otherwise",
        by=physician_user,
    )
    assert not [s for s in timeline.prep_timeline(appointment) if s.kind == "medication_hold"]

    prep_changes.hold_plan_confirm(appointment_id=appointment.pk, by=physician_user)
    appointment.refresh_from_db()
    holds = [s for s in timeline.prep_timeline(appointment) if s.kind == "medication_hold"]
    stop, general = sorted(holds, key=lambda s: s.reminder_kind or "")[::-1]
    assert local(stop.at) == "Thu 25 Mar 20:00"
    assert stop.reminder_kind == "medication_hold"
    assert "Warfarin" not in stop.text  # emails carry the text: never the medicine
    assert stop.detail.startswith("Warfarin 3 mg daily")
    assert "the evening after" in stop.detail
    assert "pause some of your medicines" in general.text
    assert appointment.prep_plan.hold_plan_confirmed_by == physician_user


def test_it_refuses_a_stop_after_the_procedure(appointment, warfarin, physician_user):
    with pytest.raises(ValidationError) as exc:
        prep_changes.medication_hold_set(
            appointment_id=appointment.pk,
            medication_id=warfarin.pk,
            action=MedicationHold.Action.STOP,
            stop_at=clinic_datetime(DAY, dt.time(12, 0)),
            by=physician_user,
        )
    assert "The stop must be before the procedure (Mon 29 Mar 09:00)" in str(exc.value)
    assert MedicationHold.objects.count() == 0


def test_it_refuses_a_stop_without_a_date_and_another_patients_medicine(
    appointment, warfarin, physician_user
):
    with pytest.raises(ValidationError, match="last dose"):
        prep_changes.medication_hold_set(
            appointment_id=appointment.pk,
            medication_id=warfarin.pk,
            action=MedicationHold.Action.STOP,
            stop_at=None,
            by=physician_user,
        )
    stranger = medication_add(patient=PatientFactory(), name="Aspirin", med_class="aspirin")
    with pytest.raises(ValidationError, match="this patient's medicines"):
        prep_changes.medication_hold_set(
            appointment_id=appointment.pk,
            medication_id=stranger.pk,
            action=MedicationHold.Action.CONTINUE,
            stop_at=None,
            by=physician_user,
        )


def test_confirming_needs_a_decision_for_every_medicine(appointment, warfarin, physician_user):
    medication_add(patient=appointment.patient, name="Fish oil", med_class="supplement")
    prep_changes.medication_hold_set(
        appointment_id=appointment.pk,
        medication_id=warfarin.pk,
        action=MedicationHold.Action.CONTINUE,
        stop_at=stop_at(2),
        by=physician_user,
    )
    with pytest.raises(ValidationError, match="Decide first for: Fish oil"):
        prep_changes.hold_plan_confirm(appointment_id=appointment.pk, by=physician_user)
    assert MedicationHold.objects.get().stop_at is None  # "keep taking" has no stop


def test_changing_a_hold_unconfirms_the_plan(appointment, warfarin, physician_user):
    kwargs = {
        "appointment_id": appointment.pk,
        "medication_id": warfarin.pk,
        "action": MedicationHold.Action.STOP,
        "stop_at": stop_at(4),
        "by": physician_user,
    }
    prep_changes.medication_hold_set(**kwargs)
    prep_changes.hold_plan_confirm(appointment_id=appointment.pk, by=physician_user)
    prep_changes.medication_hold_set(**{**kwargs, "stop_at": stop_at(5)})
    assert not PrepPlan.objects.get(appointment=appointment).hold_plan_confirmed


# --- Short notice ------------------------------------------------------------------


def test_a_booking_inside_the_stop_period_says_so_and_flags_the_front_desk(db, physician_user):
    # Booked on Monday 1 March for Thursday 4 March; aspirin's suggested stop is 7 days.
    soon = AppointmentFactory(
        start_at=clinic_datetime(dt.date(2027, 3, 4), dt.time(9, 0)),
        end_at=clinic_datetime(dt.date(2027, 3, 4), dt.time(10, 0)),
    )
    medication_add(patient=soon.patient, name="Aspirin", med_class=Medication.Class.ASPIRIN)
    assert facts.is_short_notice(soon)
    frontdesk.prep_on_booked(appointment=soon)
    (task,) = FrontDeskTask.objects.filter(appointment=soon)
    assert task.kind == FrontDeskTask.Kind.SHORT_NOTICE
    assert task.due_date == dt.date(2027, 3, 1)
    steps = timeline.prep_timeline(soon)
    (notice,) = [s for s in steps if "sooner than the usual" in s.text]
    assert steps.index(notice) <= 1  # notices lead the list
    assert notice.staff_note == "Booked less than 7 days ahead: the front desk is flagged."


def test_a_booking_well_ahead_is_not_flagged(appointment, physician_user):
    medication_add(patient=appointment.patient, name="Aspirin", med_class="aspirin")
    assert not facts.is_short_notice(appointment)
    frontdesk.prep_on_booked(appointment=appointment)
    assert not FrontDeskTask.objects.exists()
    assert "sooner than the usual" not in str(timeline.prep_timeline(appointment))


# --- Sedation plan -----------------------------------------------------------------


def test_it_sets_the_sedation_level_and_fasting_hours(appointment, physician_user):
    plan = prep_changes.sedation_plan_set(
        appointment_id=appointment.pk,
        sedation_level=SedationLevel.GENERAL,
        food_fast_hours=8,
        clear_fluid_fast_hours=3,
        by=physician_user,
    )
    appointment.refresh_from_db()
    assert appointment.sedation_level == SedationLevel.GENERAL
    assert plan.sedation_set_by == physician_user
    fasting = steps_by_kind(appointment)["fasting"]
    assert [local(s.at) for s in fasting] == ["Mon 29 Mar 01:00", "Mon 29 Mar 06:00"]
    assert "8 hours" in fasting[0].text


@pytest.mark.parametrize(
    ("food", "fluids", "field", "message"),
    [
        (1, 2, "food_fast_hours", "No food for 2 to 12 hours: 1 is out of range."),
        (13, 2, "food_fast_hours", "No food for 2 to 12 hours: 13 is out of range."),
        (6, 0, "clear_fluid_fast_hours", "No clear fluids for 1 to 6 hours: 0 is out of range."),
        (3, 4, "clear_fluid_fast_hours", "Clear fluids can stop no earlier than food"),
    ],
)
def test_it_refuses_fasting_hours_out_of_range(
    appointment, physician_user, food, fluids, field, message
):
    with pytest.raises(ValidationError) as exc:
        prep_changes.sedation_plan_set(
            appointment_id=appointment.pk,
            sedation_level=SedationLevel.IV_MODERATE,
            food_fast_hours=food,
            clear_fluid_fast_hours=fluids,
            by=physician_user,
        )
    assert message in " ".join(exc.value.message_dict[field])


def test_it_refuses_a_sedation_level_the_room_cannot_host(appointment, physician_user):
    appointment.room = RoomFactory(name="Consulting room 3", is_monitored=False)
    appointment.sedation_level = SedationLevel.LOCAL
    appointment.save()
    with pytest.raises(ValidationError) as exc:
        prep_changes.sedation_plan_set(
            appointment_id=appointment.pk,
            sedation_level=SedationLevel.GENERAL,
            food_fast_hours=6,
            clear_fluid_fast_hours=2,
            by=physician_user,
        )
    assert exc.value.message_dict["sedation_level"] == [
        "Consulting room 3 has no monitoring, so it cannot host General anaesthesia. "
        "Move the appointment to a monitored room first."
    ]
    appointment.refresh_from_db()
    assert appointment.sedation_level == SedationLevel.LOCAL


# --- Transport and escort ----------------------------------------------------------


def test_access_needs_become_dated_front_desk_tasks(appointment, frontdesk_user):
    prep.transport_set(
        appointment_id=appointment.pk,
        transport_mode=TransportMode.WHEELCHAIR,
        escort_name="Ana Garcia",
        escort_phone="07700 900123",
        needs_wheelchair=True,
        needs_interpreter=True,
        interpreter_language="Portuguese",
        by=frontdesk_user,
    )
    tasks = {t.kind: t for t in FrontDeskTask.objects.filter(appointment=appointment)}
    assert set(tasks) == {"wheelchair", "interpreter", "transport"}
    assert tasks["wheelchair"].due_date == dt.date(2027, 3, 27)
    assert tasks["interpreter"].due_date == dt.date(2027, 3, 26)
    assert tasks["interpreter"].note == "Portuguese"
    appointment.refresh_from_db()
    assert appointment.escort_phone == "+44 7700 900123"

    prep.transport_set(
        appointment_id=appointment.pk,
        transport_mode=TransportMode.ESCORT_DRIVING,
        escort_name="Ana Garcia",
        escort_phone="07700 900123",
        by=frontdesk_user,
    )
    assert not FrontDeskTask.objects.filter(appointment=appointment).exists()


@pytest.mark.parametrize("phone", ["call me", "12", "07700 900123 4567 89"])
def test_it_refuses_an_escort_phone_that_is_not_a_phone(appointment, frontdesk_user, phone):
    with pytest.raises(ValidationError) as exc:
        prep.transport_set(
            appointment_id=appointment.pk,
            transport_mode=TransportMode.ESCORT_DRIVING,
            escort_name="Ana",
            escort_phone=phone,
            by=frontdesk_user,
        )
    assert exc.value.message_dict["escort_phone"] == [
        f"{phone} is not a phone number. Enter it with its area code, e.g. 07700 900123."
    ]
    appointment.refresh_from_db()
    assert appointment.escort_name == ""


def test_a_sedated_patient_cannot_travel_home_alone(appointment, frontdesk_user):
    with pytest.raises(ValidationError, match="must not drive or travel alone"):
        prep.transport_set(
            appointment_id=appointment.pk, transport_mode=TransportMode.SELF, by=frontdesk_user
        )


def test_staff_confirm_the_escort(appointment, frontdesk_user):
    prep.escort_confirm(
        appointment_id=appointment.pk, name=" Ana  Garcia ", phone="020 7946 0001",
        by=frontdesk_user,
    )  # fmt: skip
    appointment.refresh_from_db()
    assert appointment.escort_confirmed_at == NOW
    assert (appointment.escort_name, appointment.escort_phone) == ("Ana Garcia", "+44 20 7946 0001")
    assert appointment.transport_mode == TransportMode.ESCORT_DRIVING
    assert appointment.prep_plan.escort_confirmed_by == frontdesk_user
    event = AppointmentEvent.objects.get(appointment=appointment, kind="escort_confirmed")
    assert (event.by, event.note) == (frontdesk_user, "staff")


def test_the_patient_confirms_the_escort_through_the_link(appointment):
    prep.escort_confirm(
        appointment_id=appointment.pk, name="Ana", phone="+351 912 345 678", via="patient_link"
    )
    appointment.refresh_from_db()
    assert appointment.escort_confirmed_at == NOW
    assert appointment.prep_plan.escort_confirmed_via == "patient_link"
    assert appointment.prep_plan.escort_confirmed_by is None


def test_a_new_escort_needs_confirming_again(appointment, frontdesk_user):
    prep.escort_confirm(
        appointment_id=appointment.pk, name="Ana", phone="020 7946 0001", by=frontdesk_user
    )
    prep.transport_set(
        appointment_id=appointment.pk,
        transport_mode=TransportMode.TAXI_WITH_ESCORT,
        escort_name="Rui",
        escort_phone="020 7946 0002",
        by=frontdesk_user,
    )
    appointment.refresh_from_db()
    assert appointment.escort_confirmed_at is None


def test_escort_confirm_refuses_a_bad_phone(appointment):
    with pytest.raises(ValidationError) as exc:
        prep.escort_confirm(appointment_id=appointment.pk, name="", phone="nope", via="x")
    assert set(exc.value.message_dict) == {"escort_name", "escort_phone"}
    appointment.refresh_from_db()
    assert appointment.escort_confirmed_at is None


@pytest.mark.django_db
def test_a_clinic_admin_edits_a_template_in_the_admin(client):
    from clinic import roles
    from conftest import make_user

    admin = make_user("ada", roles.CLINIC_ADMIN, is_staff=True)
    roles.sync_role_permissions()
    client.force_login(admin)
    template = PrepTemplate.objects.get(code="comfortable-clothes")
    url = f"/admin/procedures/preptemplate/{template.pk}/change/"
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {
            "code": template.code,
            "kind": template.kind,
            "text": "Wear a loose top and trousers.",
            "condition": template.condition,
            "amount": 2,
            "unit": "days_before",
            "at_time": "17:00",
            "reminder_kind": "",
            "is_active": "on",
            "review_note": template.review_note,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    template.refresh_from_db()
    assert (template.text, template.amount) == ("Wear a loose top and trousers.", 2)


@pytest.mark.parametrize(("ahead", "flagged"), [(3, True), (10, False)])
def test_booking_inside_the_stop_period_flags_the_front_desk(db, ahead, flagged):
    from procedures.tests.factories import ProviderFactory
    from procedures.workflows.visits import appointment_book

    patient = PatientFactory()
    medication_add(patient=patient, name="Aspirin", med_class=Medication.Class.ASPIRIN)
    start = clinic_datetime(dt.date(2027, 3, 1) + dt.timedelta(days=ahead), dt.time(9, 0))
    appointment = appointment_book(
        patient=patient,
        procedure_type=ProcedureTypeFactory(),
        provider=ProviderFactory(),
        room=RoomFactory(),
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        sedation_level=SedationLevel.LOCAL,
        by=None,
    )
    tasks = FrontDeskTask.objects.filter(appointment=appointment, kind="short_notice")
    assert tasks.exists() is flagged
