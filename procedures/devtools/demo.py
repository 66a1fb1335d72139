"""The demo clinic behind `seed_demo`: staff, catalog, resources, patients, and
appointments in the past and future with pending and overdue results.

Idempotent: everything is looked up by a natural key before it is created, and
the appointment history is only written for demo patients that have none.
"""

from datetime import date, time, timedelta
from decimal import Decimal

from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils import timezone

from clinic import roles
from patients.models import Allergy, BloodResult, Indication, Medication, Patient, new_mrn
from procedures.catalog.choices import ProcedureKind, SedationLevel, TransportMode
from procedures.catalog.clock import clinic_datetime, clinic_today
from procedures.catalog.models import ProcedureType, TestType
from procedures.catalog.resources import Provider, Room
from procedures.catalog.sites import Site, StaffProfile, default_site
from procedures.messaging.models import Reminder
from procedures.messaging.plan import reminders_plan
from procedures.prep import defaults as prep_defaults
from procedures.prep.facts import PrepFacts
from procedures.prep.frontdesk import prep_on_booked
from procedures.prep.models import MedicationClassRule, PrepTemplate
from procedures.results.models import TestOrder, TestResult
from procedures.results.orders import expected_by_for
from procedures.scheduling.models import Appointment, AppointmentEvent

STAFF = [
    # username, first, last, role, is_staff
    ("frontdesk", "Fran", "Desk", roles.FRONT_DESK, False),
    ("nurse", "Nia", "Nurse", roles.NURSE, False),
    ("physician", "Sam", "Lee", roles.PHYSICIAN, False),
    ("adeyemi", "Kemi", "Adeyemi", roles.PHYSICIAN, False),
    ("admin", "Ada", "Admin", roles.CLINIC_ADMIN, True),
]
# A second site, so a newcomer sees the header's site switcher (issue 18): the demo's
# satellite clinic. The main site is the one the CLINIC_* settings describe.
SATELLITE = {
    "code": "north",
    "name": "Northgate Satellite Clinic",
    "address": "14 Northgate Road, London",
    "phone": "020 7946 0100",
    "time_zone": "Europe/London",
    "holidays_country": "GB",
    "holidays_subdivision": "ENG",
}
# Each login's home site ("main" or the satellite's code).
HOME_SITES = {"adeyemi": "north"}
# Every demo login has an address, so escalations reach a person (issue 13).
DEMO_EMAIL_DOMAIN = "clinic.example"

# Review with your clinical team: plausible defaults, editable in the admin.
TESTS = [
    # code, name, lab, target days, max days
    ("aspirate-morphology", "Aspirate smear morphology", "Haematology lab", 2, 4),
    ("core-histology", "Core biopsy histology", "Pathology lab", 5, 7),
    ("flow-cytometry", "Flow cytometry", "Haematology lab", 2, 5),
    ("iron-stain", "Iron stain", "Haematology lab", 2, 4),
    ("cytogenetics", "Cytogenetics (karyotype)", "Genetics lab", 15, 21),
    ("fish", "FISH panel", "Genetics lab", 10, 15),
    ("ngs-panel", "Molecular / NGS panel", "Genetics lab", 20, 30),
    ("culture", "Culture and sensitivity", "Microbiology lab", 3, 7),
]

PROCEDURES = [
    # code, name, minutes, sedation, default panel
    (
        "bm-biopsy",
        "Bone marrow aspiration and biopsy",
        60,
        SedationLevel.IV_MODERATE,
        ["aspirate-morphology", "core-histology", "flow-cytometry", "cytogenetics"],
    ),
    (
        "bm-aspiration",
        "Bone marrow aspiration",
        45,
        SedationLevel.LOCAL,
        ["aspirate-morphology", "flow-cytometry", "iron-stain"],
    ),
    ("bmac", "Bone marrow aspirate concentrate (BMAC)", 90, SedationLevel.GENERAL, []),
    # Migration 0009 installs it; physicians and nurses book it from the order page.
    ("results-discussion", "Results discussion", 30, SedationLevel.NONE, []),
]
# The procedures' kinds come from prep_defaults; the discussion's is set here.
KINDS = {"results-discussion": ProcedureKind.RESULTS_DISCUSSION}

# Offered, unticked, when the procedure is completed.
OPTIONAL_TESTS = {
    "bm-biopsy": ["fish", "ngs-panel", "culture", "iron-stain"],
    "bm-aspiration": ["cytogenetics", "fish", "culture"],
}

DEMO_MEDICATIONS = [
    # patient index, name, dose, class
    (3, "Apixaban", "5 mg twice daily", "anticoagulant"),
    (3, "Fish oil", "1 capsule daily", "supplement"),
    (1, "Aspirin", "75 mg daily", "aspirin"),
]

PATIENTS = [
    # given, family, dob, email, bleeding disorder
    ("Maria", "Garcia", date(1961, 4, 12), "maria.garcia@example.com", False),
    ("John", "Okafor", date(1955, 9, 3), "john.okafor@example.com", True),
    ("Aisha", "Khan", date(1978, 1, 25), "aisha.khan@example.com", False),
    ("Peter", "Novak", date(1949, 11, 30), "peter.novak@example.com", False),
    ("Lucy", "Brown", date(1990, 6, 8), "lucy.brown@example.com", False),
    ("Tomás", "Silva", date(1968, 2, 17), "tomas.silva@example.com", False),
    # Today's two visits: the day's own steps (check in, the checklist, start, the sample
    # form) can be tried at once, whatever day the demo is seeded on.
    ("Grace", "Mensah", date(1972, 5, 21), "grace.mensah@example.com", False),
    ("Daniel", "Kowalski", date(1984, 10, 2), "daniel.kowalski@example.com", False),
]


@transaction.atomic
def seed_demo(*, password: str) -> dict[str, int]:
    """Create (or complete) the demo clinic. Returns what was created."""
    created = {"users": 0, "patients": 0, "appointments": 0}
    users = {}
    for username, first, last, role, is_staff in STAFF:
        user, new = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "is_staff": is_staff,
                "email": f"{username}@{DEMO_EMAIL_DOMAIN}",
            },
        )
        if not user.email:  # a demo made before the addresses
            user.email = f"{username}@{DEMO_EMAIL_DOMAIN}"
            user.save(update_fields=["email"])
        if new:
            user.set_password(password)
            user.save()
            created["users"] += 1
        user.groups.add(Group.objects.get(name=role))
        users[username] = user
    admin = users["admin"]
    if not admin.is_superuser:
        admin.is_superuser = admin.is_staff = True
        admin.save(update_fields=["is_superuser", "is_staff"])

    tests = {}
    for code, name, lab, target, maximum in TESTS:
        tests[code], _ = TestType.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "lab": lab,
                "turnaround_target_days": target,
                "turnaround_max_days": maximum,
            },
        )
    procedures = {}
    for code, name, minutes, sedation, panel in PROCEDURES:
        procedure, new = ProcedureType.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "default_duration_minutes": minutes,
                "default_sedation_level": sedation,
                "kind": KINDS.get(code, ProcedureKind.ASPIRATION),
            },
        )
        if new:
            procedure.default_tests.set([tests[c] for c in panel])
            procedure.optional_tests.set([tests[c] for c in OPTIONAL_TESTS.get(code, [])])
        procedures[code] = procedure
    # Prep templates, medication-class suggestions and each procedure's kind: migration
    # 0006 installs them, but a flushed test database needs them again.
    prep_defaults.install(PrepTemplate, MedicationClassRule, ProcedureType)

    lee, _ = Provider.objects.get_or_create(
        display_name="Dr Lee", defaults={"user": users["physician"]}
    )
    okafor, _ = Provider.objects.get_or_create(
        display_name="Dr Adeyemi", defaults={"user": users["adeyemi"]}
    )
    if okafor.user_id is None:  # a demo made before Dr Adeyemi had a login
        okafor.user = users["adeyemi"]
        okafor.save(update_fields=["user"])
    main = default_site()
    north, _ = Site.objects.get_or_create(
        code=SATELLITE["code"], defaults={k: v for k, v in SATELLITE.items() if k != "code"}
    )
    lee.sites.add(main)
    okafor.sites.add(main, north)  # works at both: the switcher shows her at each
    for username, user in users.items():
        home = north if HOME_SITES.get(username) == north.code else main
        StaffProfile.objects.get_or_create(user=user, defaults={"home_site": home})
    room1, _ = Room.objects.get_or_create(
        name="Procedure room 1", defaults={"is_monitored": True, "site": main}
    )
    room2, _ = Room.objects.get_or_create(
        name="Procedure room 2", defaults={"is_monitored": False, "site": main}
    )
    Room.objects.get_or_create(
        name="Northgate room 1", defaults={"is_monitored": True, "site": north}
    )
    _seed_scheduling(procedures, room2)

    patients = []
    for given, family, dob, email, bleeding in PATIENTS:
        patient = Patient.objects.filter(
            given_name=given, family_name=family, date_of_birth=dob
        ).first()
        if patient is None:
            patient = Patient.objects.create(
                mrn=new_mrn(),
                given_name=given,
                family_name=family,
                date_of_birth=dob,
                email=email,
                bleeding_disorder=bleeding,
                preferred_language="es" if given == "Tomás" else "en",
            )
            created["patients"] += 1
        patients.append(patient)
    # Medicines for the prep plans (the physician decides the holds in the app).
    for index, name, dose, med_class in DEMO_MEDICATIONS:
        Medication.objects.get_or_create(
            patient=patients[index], name=name, defaults={"dose": dose, "med_class": med_class}
        )
    _seed_clinical_records(patients, nurse=users["nurse"])
    created["patients"] += _seed_duplicate_pair()

    today = clinic_today()
    plan = [
        # patient index, days from today, hour, procedure, provider, room, status
        (0, -20, 9, "bm-biopsy", lee, room1, Appointment.Status.COMPLETED),
        (1, -12, 11, "bm-biopsy", lee, room1, Appointment.Status.COMPLETED),
        (2, -3, 9, "bm-aspiration", okafor, room2, Appointment.Status.COMPLETED),
        (3, 1, 9, "bm-biopsy", lee, room1, Appointment.Status.SCHEDULED),
        (4, 1, 11, "bm-aspiration", okafor, room2, Appointment.Status.CONFIRMED),
        (5, 3, 10, "bm-biopsy", lee, room1, Appointment.Status.SCHEDULED),
        (6, 0, 10, "bm-aspiration", lee, room1, Appointment.Status.CHECKED_IN),
        (7, 0, 15, "bm-aspiration", okafor, room2, Appointment.Status.CONFIRMED),
    ]
    for index, days, hour, code, provider, room, status in plan:
        patient = patients[index]
        if patient.appointments.exists():
            continue
        procedure = procedures[code]
        start = clinic_datetime(today + timedelta(days=days), time(hour, 0))
        # The room's set-up and recovery, as a booking holds it (booking._check_slot).
        before, after = procedure.buffers(procedure.default_sedation_level)
        appointment = Appointment.objects.create(
            patient=patient,
            procedure_type=procedure,
            provider=provider,
            room=room,
            start_at=start,
            end_at=start + timedelta(minutes=procedure.default_duration_minutes),
            buffer_before_minutes=before,
            buffer_after_minutes=after,
            status=status,
            sedation_level=procedure.default_sedation_level,
            transport_mode=TransportMode.ESCORT_DRIVING
            if procedure.default_sedation_level in SedationLevel.sedated()
            else TransportMode.SELF,
            created_by=users["frontdesk"],
        )
        checked_in = status == Appointment.Status.CHECKED_IN
        AppointmentEvent.objects.create(
            appointment=appointment,
            kind="booked",
            to_status=Appointment.Status.CONFIRMED if checked_in else status,
            by=users["frontdesk"],
        )
        if checked_in:  # confirmed, then checked in this morning (its undo returns there)
            AppointmentEvent.objects.create(
                appointment=appointment,
                kind="checked_in",
                from_status=Appointment.Status.CONFIRMED,
                to_status=status,
                by=users["frontdesk"],
            )
        created["appointments"] += 1
        if status == Appointment.Status.COMPLETED:
            appointment.completed_at = start + timedelta(hours=1)
            appointment.save(update_fields=["completed_at"])
            for test_type in procedure.default_tests.all():
                TestOrder.objects.create(
                    appointment=appointment,
                    site=appointment.room.site,
                    test_type=test_type,
                    status=TestOrder.Status.SENT,
                    collected_at=appointment.completed_at,
                    expected_by=expected_by_for(
                        collected_at=appointment.completed_at,
                        turnaround_days=test_type.turnaround_target_days,
                        site=appointment.room.site,
                    ),
                    responsible=provider,
                )
            if index == 0:
                _demo_results(appointment, users["physician"])
        elif start > timezone.now() and not checked_in:
            # A future visit gets what a booking plans (workflows.visits.appointment_book):
            # its emails and its front-desk tasks (booked inside the medicine-stop period:
            # the desk is flagged). The demo's visits were "booked" before: their
            # confirmation went out.
            prep = PrepFacts.of_new_booking(appointment)
            reminders_plan(appointment=appointment, prep=prep)
            prep_on_booked(appointment=appointment, prep=prep)
            Reminder.objects.filter(
                appointment=appointment,
                kind=Reminder.Kind.BOOKING_CONFIRMATION,
                status=Reminder.Status.PENDING,
            ).update(status=Reminder.Status.SENT, sent_at=timezone.now())
    _bring_demo_visits_up_to_date([p.pk for p in patients])
    return created


def _bring_demo_visits_up_to_date(patient_ids: list[int]) -> None:
    """A demo seeded before visits carried their buffers and tasks: its visits get the
    room's set-up and recovery, and its future ones their front-desk tasks (idempotent:
    the buffers are only set while unset, the tasks are a sync)."""
    visits = Appointment.objects.filter(patient__in=patient_ids).select_related(
        "procedure_type", "room", "patient"
    )
    for appointment in visits:
        before, after = appointment.procedure_type.buffers(appointment.sedation_level)
        if (before or after) and (
            appointment.buffer_before_minutes,
            appointment.buffer_after_minutes,
        ) == (0, 0):
            appointment.buffer_before_minutes, appointment.buffer_after_minutes = before, after
            appointment.save(
                update_fields=[
                    "buffer_before_minutes",
                    "buffer_after_minutes",
                    "blocked_from",
                    "blocked_until",
                ]
            )
        if appointment.start_at > timezone.now() and appointment.status in (
            Appointment.Status.SCHEDULED,
            Appointment.Status.CONFIRMED,
        ):
            prep_on_booked(appointment=appointment)


def _demo_results(appointment: Appointment, physician: User) -> None:
    """The oldest demo visit shows the loop's later steps: one result final but not
    reviewed (the escalation chases it), one reviewed but the patient not told yet."""
    orders = {o.test_type.code: o for o in appointment.test_orders.all()}
    if appointment.completed_at is None:  # never: the demo completed it
        raise ValueError("the visit is not completed")
    logged_at = appointment.completed_at + timedelta(days=3)
    for code, status in [
        ("aspirate-morphology", TestOrder.Status.FINAL),
        ("flow-cytometry", TestOrder.Status.REVIEWED),
    ]:
        order = orders.get(code)
        if order is None:
            continue
        TestResult.objects.create(
            order=order,
            interpretation=TestResult.Interpretation.NORMAL,
            cellularity=TestResult.Cellularity.NORMAL,
            report_text="Demo: normocellular marrow, trilineage haematopoiesis.",
            logged_by=physician,
            logged_at=logged_at,
        )
        order.status, order.final_at = status, logged_at
        if status == TestOrder.Status.REVIEWED:
            order.reviewed_at, order.reviewed_by = logged_at + timedelta(hours=2), physician
            order.review_action = "Discuss at the next clinic visit."
        order.save()


# Scheduling (review with your clinical team): minutes of room set-up before and
# turnover after, and recovery in the room by sedation (oral, IV, general).
BUFFERS = {
    "bm-biopsy": (10, 15, 15, 30, 60),
    "bm-aspiration": (10, 10, 15, 30, 60),
    "bmac": (15, 20, 30, 45, 90),
}


def _seed_scheduling(procedures: dict, plain_room: Room) -> None:
    """Buffers on the demo procedures (unless someone set their own) and a room that
    does not do BMAC. Providers and rooms keep the clinic's default opening hours."""
    for code, (setup, turnover, oral, iv, general) in BUFFERS.items():
        ProcedureType.objects.filter(code=code, setup_minutes=0, turnover_minutes=0).update(
            setup_minutes=setup,
            turnover_minutes=turnover,
            recovery_minutes_oral=oral,
            recovery_minutes_iv=iv,
            recovery_minutes_general=general,
        )
    if not plain_room.procedure_types.exists():
        plain_room.procedure_types.set(
            [
                p
                for code, p in procedures.items()
                if code in ("bm-biopsy", "bm-aspiration", "results-discussion")
            ]
        )


# What the clinical record shows on the demo: an allergy, a dated "no known allergies",
# measurements and ASA, a patient to ask about pregnancy, low platelets for the
# bleeding disorder. Peter Novak (apixaban, booked tomorrow) has no INR on purpose: the
# Today board flags it on his day.
CLINICAL_RECORDS: dict[int, dict[str, object]] = {
    0: {
        "weight_kg": Decimal("68.0"),
        "height_cm": Decimal("165"),
        "asa_class": Patient.AsaClass.II,
        "referring_clinician": "Dr R. Patel, Riverside Haematology",
        "indication": Indication.BLOOD_COUNTS,
        "next_of_kin_name": "Carlos Garcia",
        "next_of_kin_relationship": "husband",
        "next_of_kin_phone": "+44 20 7946 0101",
    },
    1: {"weight_kg": Decimal("82.5"), "asa_class": Patient.AsaClass.III},
    2: {"pregnancy": Patient.Pregnancy.ASK, "indication": Indication.LYMPHOMA_STAGING},
    3: {"weight_kg": Decimal("74.0"), "asa_class": Patient.AsaClass.III},
}


def _seed_clinical_records(patients: list[Patient], *, nurse: User) -> None:
    measured = clinic_today() - timedelta(days=30)
    for index, fields in CLINICAL_RECORDS.items():
        dated = {**fields, "measured_on": measured} if "weight_kg" in fields else fields
        Patient.objects.filter(pk=patients[index].pk).update(**dated)
    garcia, okafor = patients[0], patients[1]
    Allergy.objects.get_or_create(
        patient=garcia,
        substance=Allergy.Substance.LATEX,
        defaults={
            "reaction": "Hives and wheeze",
            "severity": Allergy.Severity.SEVERE,
            "recorded_by": nurse,
        },
    )
    if okafor.no_known_allergies_at is None:
        Patient.objects.filter(pk=okafor.pk).update(
            no_known_allergies_at=timezone.now(), no_known_allergies_by=nurse
        )
    yesterday = clinic_today() - timedelta(days=1)
    BloodResult.objects.get_or_create(
        patient=okafor,
        taken_on=yesterday,
        defaults={"platelets": 40, "inr": Decimal("1.2"), "recorded_by": nurse},
    )


DUPLICATE_PAIR = [("Zoë", "O'Brien-Núñez"), ("Zoe", "Nunez")]


def _seed_duplicate_pair() -> int:
    """Two records of one person (the merge demo): same date of birth, one written with
    accents and a hyphen, one without."""
    born = date(1984, 7, 21)
    made = 0
    for given, family in DUPLICATE_PAIR:
        if not Patient.objects.filter(given_name=given, family_name=family).exists():
            Patient.objects.create(
                mrn=new_mrn(),
                given_name=given,
                family_name=family,
                date_of_birth=born,
                email="zoe.obrien@example.com" if given == "Zoë" else "",
            )
            made += 1
    return made
