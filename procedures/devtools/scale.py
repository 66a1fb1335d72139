"""A clinic network's worth of data for the benchmark (`manage.py seed_scale`).

Proportional to the number of patients N: five appointments per patient on a grid of
20-minute slots (08:00-18:00 clinic time, weekdays) across the providers and rooms,
about 85 % of the grid filled, so the daily load is the same at any N and the history
gets longer with N (N = 200,000 is about five years with 50 providers and 30 rooms).
Two test orders per appointment that went ahead, pending for the last 13 working
days (about 20,000 at N = 200,000); three reminder rows per appointment.

Rows are streamed table by table in batches: PostgreSQL `COPY ... FROM STDIN` through
psycopg 3, plain `executemany` elsewhere (SQLite, for the tests). Memory is bounded by
one batch. Every row is marked so a re-run deletes exactly what an earlier run made:
patients' MRNs start with "S", providers are "Scale Dr ...", rooms "Scale room ...",
the procedure and test types' codes start with "scale-". Nothing else is touched.
"""

import random
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.contrib.auth.models import Group, User
from django.db import connection, models, transaction
from django.utils import timezone

from clinic import roles
from patients import normalise
from patients.models import NameWord, Patient
from procedures.catalog.clock import clinic_datetime, clinic_today
from procedures.catalog.models import ProcedureType, TestType
from procedures.catalog.resources import Provider, Room
from procedures.catalog.sites import Site
from procedures.devtools import scale_records
from procedures.devtools.copy_rows import _next_id, _reset_sequence, _Writer
from procedures.devtools.scale_names import GIVEN, family_name
from procedures.devtools.scale_sites import scale_sites, scale_sites_queryset
from procedures.messaging.models import Reminder
from procedures.reports.models import ReportDay
from procedures.reports.rollup import forget_sites, roll_due
from procedures.results.models import TestOrder
from procedures.scheduling.models import Appointment

MRN_PREFIX = "S"
PROVIDER_PREFIX = "Scale Dr "
ROOM_PREFIX = "Scale room "
CODE_PREFIX = "scale-"
USER_PREFIX = "scale-"
SLOT_MINUTES = 20
FIRST_SLOT = time(8, 0)
SLOTS_PER_DAY = 30  # 08:00 to 18:00
FILL = 0.85
APPOINTMENTS_PER_PATIENT = 5
ORDERS_PER_APPOINTMENT = 2
REMINDERS_PER_APPOINTMENT = 3
PENDING_WORKING_DAYS = 13
# How far ahead the clinics are booked: the same at any N (so is the slot finder's view).
FUTURE_WORKING_DAYS = 10


# The providers and rooms come in this many groups (a group's rooms are worked by the
# group's providers only), a site per group (`scale_sites`).
GROUPS = 10


@dataclass
class ScalePlan:
    """`patients` sets the history's length; `volume` multiplies the daily work (the
    providers and rooms, so visits a day): volume 10 is about 7,650 visits a day."""

    patients: int
    providers: int = 50
    rooms: int = 30
    seed: int = 1
    today: date = field(default_factory=clinic_today)
    volume: int = 1

    def __post_init__(self) -> None:
        self.volume = max(1, self.volume)
        self.providers *= self.volume
        self.rooms *= self.volume
        # Each slot needs a distinct provider and patient for every room in use.
        self.rooms = max(1, min(self.rooms, self.providers, self.patients))
        self.groups = max(1, min(GROUPS, self.rooms))
        self.appointments = self.patients * APPOINTMENTS_PER_PATIENT
        per_day = max(1, round(self.rooms * SLOTS_PER_DAY * FILL))
        self.working_days = max(1, -(-self.appointments // per_day))
        self.future_days = min(FUTURE_WORKING_DAYS, max(1, self.working_days - 3))

    def days(self) -> list[date]:
        """The working days of the history: the past ones, today (a weekday or not), the
        future ones."""
        past = self.working_days - self.future_days
        days: list[date] = []
        day = self.today
        while len(days) < past:
            day -= timedelta(days=1)
            if day.weekday() < 5:
                days.append(day)
        days.reverse()
        days.append(self.today)
        day = self.today
        while len(days) < self.working_days + 1:
            day += timedelta(days=1)
            if day.weekday() < 5:
                days.append(day)
        return days


@dataclass
class ScaleReport:
    counts: dict[str, int] = field(default_factory=dict)
    working_days: int = 0
    first_day: date | None = None
    last_day: date | None = None
    rolled_days: int = 0  # site-days counted into the reports' roll-up


def group_name(i: int, count: int, plan: ScalePlan) -> str:
    """The i-th of `count` providers or rooms, named by its group: "g03-0012"."""
    return f"g{i * plan.groups // count:02d}-{i:04d}"


def group_of(name: str) -> int:
    """The group (its site: `scale_sites`) of a seeded provider or room, from its name."""
    return int(name.rsplit(" ", 1)[-1][1:3])


# ---------------------------------------------------------------- clearing


def _purge(model: type[models.Model], qs: models.QuerySet, depth: int = 0) -> int:
    """Delete `qs` and, first, every row that points at it (raw DELETEs: no signals, no
    per-row Python, so millions of rows go in seconds)."""
    for rel in model._meta.related_objects:
        if isinstance(rel, models.ManyToManyRel) and rel.through is not None:
            through = rel.through
            link = next(
                f for f in through._meta.fields if f.related_model is model and f.many_to_one
            )
            through._default_manager.filter(**{f"{link.name}__in": qs}).delete()
            continue
        child = rel.related_model
        if depth > 6 or child is model or isinstance(child, str):
            continue
        _purge(child, child._base_manager.filter(**{f"{rel.field.name}__in": qs}), depth + 1)
    for f in model._meta.local_many_to_many:
        if f.remote_field.through is None:  # never, once models are loaded
            continue
        f.remote_field.through._default_manager.filter(
            **{f"{f.m2m_field_name()}__in": qs}
        )._raw_delete(connection.alias)
    return qs._raw_delete(connection.alias)


def scale_clear() -> int:
    """Delete every row an earlier seed_scale made (and what hangs off it)."""
    with transaction.atomic():
        patients = Patient.objects.filter(mrn__startswith=MRN_PREFIX)
        providers = Provider.objects.filter(display_name__startswith=PROVIDER_PREFIX)
        rooms = Room.objects.filter(name__startswith=ROOM_PREFIX)
        # Appointments of scale patients, or on scale providers/rooms, go first.
        appts = Appointment.objects.filter(
            models.Q(patient__in=patients)
            | models.Q(provider__in=providers)
            | models.Q(room__in=rooms)
        )
        deleted = _purge(Appointment, appts)
        deleted += _purge(TestOrder, TestOrder.objects.filter(responsible__in=providers))
        deleted += _purge(Patient, patients)
        deleted += _purge(Provider, providers)
        deleted += _purge(Room, rooms)
        deleted += _purge(Site, scale_sites_queryset())  # and the staff's home-site rows
        deleted += _purge(ProcedureType, ProcedureType.objects.filter(code__startswith=CODE_PREFIX))
        deleted += _purge(TestType, TestType.objects.filter(code__startswith=CODE_PREFIX))
        deleted += scale_records.clear(User.objects.filter(username__startswith=USER_PREFIX))
    return deleted


# ---------------------------------------------------------------- seeding


def scale_users() -> dict[str, User]:
    """One login per role for the benchmark (kept between runs; password unusable)."""
    users = {}
    for role in (roles.FRONT_DESK, roles.NURSE, roles.PHYSICIAN, roles.CLINIC_ADMIN):
        user, created = User.objects.get_or_create(username=f"{USER_PREFIX}{role}")
        if created:
            user.set_unusable_password()
            user.save()
        user.groups.add(Group.objects.get(name=role))
        users[role] = user
    return users


def scale_seed(
    plan: ScalePlan, *, progress: Callable[[str, int], Callable[[int], None]]
) -> ScaleReport:
    """Write the dataset described by `plan`. `progress(table, total)` returns a
    function that is called with the number of rows just written."""
    rng = random.Random(plan.seed)  # noqa: S311 (reproducible test data)
    report = ScaleReport(working_days=plan.working_days)
    users = scale_users()
    reviewer_id = users[roles.PHYSICIAN].pk
    now = timezone.now()

    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Check foreign keys row by row as COPY goes, instead of queueing millions
            # of deferred checks for the commit.
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        tests = [
            TestType.objects.create(
                code=f"{CODE_PREFIX}{code}",
                name=name,
                turnaround_target_days=target,
                turnaround_max_days=target + 3,
            )
            for code, name, target in (
                ("morph", "Scale morphology", 3),
                ("flow", "Scale flow cytometry", 5),
            )
        ]
        procedure = ProcedureType.objects.create(
            code=f"{CODE_PREFIX}bma",
            name="Scale bone marrow aspiration",
            default_duration_minutes=SLOT_MINUTES,
        )
        procedure.default_tests.set(tests)
        # Named by group ("Scale Dr g03-0012"): a group is a later site.
        Provider.objects.bulk_create(
            Provider(display_name=f"{PROVIDER_PREFIX}{group_name(i, plan.providers, plan)}")
            for i in range(plan.providers)
        )
        Room.objects.bulk_create(
            Room(name=f"{ROOM_PREFIX}{group_name(i, plan.rooms, plan)}") for i in range(plan.rooms)
        )
        provider_ids = list(
            Provider.objects.filter(display_name__startswith=PROVIDER_PREFIX)
            .order_by("display_name")
            .values_list("pk", flat=True)
        )
        room_ids = list(
            Room.objects.filter(name__startswith=ROOM_PREFIX)
            .order_by("name")
            .values_list("pk", flat=True)
        )
        # A site per group: its rooms there, its providers working there (only there),
        # the benchmark's logins at home at the first.
        scale_sites(
            groups=plan.groups,
            room_prefix=ROOM_PREFIX,
            provider_prefix=PROVIDER_PREFIX,
            users=list(users.values()),
        )
        # Each room's site, which its visits' orders carry (docs/invariants.md, 18).
        site_of_room = dict(Room.objects.filter(pk__in=room_ids).values_list("pk", "site"))
        room_sites = [site_of_room[pk] for pk in room_ids]
        # The benchmark's physician is the first provider (their own results worklist).
        Provider.objects.filter(pk=provider_ids[0]).update(user=users[roles.PHYSICIAN])
        # Room r is worked by the providers of its group only (distinct at each slot:
        # a group has at least as many providers as rooms).
        room_group = [r * plan.groups // plan.rooms for r in range(plan.rooms)]
        group_providers = [
            [p for i, p in enumerate(provider_ids) if i * plan.groups // plan.providers == g]
            for g in range(plan.groups)
        ]
        group_first_room = [room_group.index(g) for g in range(plan.groups)]

        # Patients.
        first_patient = _next_id(Patient)
        tick = progress("patients", plan.patients)

        names_seen: set[str] = set()

        def patient_rows():
            for i in range(plan.patients):
                given, family = GIVEN[(i * 31) % len(GIVEN)], family_name(i)
                name = normalise.search_name(given, family)
                names_seen.add(name)
                yield {
                    "id": first_patient + i,
                    "mrn": f"{MRN_PREFIX}{i:08d}",
                    "given_name": given,
                    "family_name": family,
                    # What Patient.save() would derive (rows here bypass save()).
                    "search_name": name,
                    "search_family": normalise.search_family(family),
                    "phone_key": normalise.phone_key(f"07700 {i % 1000000:06d}"),
                    "date_of_birth": date(1930, 1, 1) + timedelta(days=rng.randrange(27000)),
                    "sex": ("female", "male", "other")[i % 3],
                    "email": f"s{i}@patients.example",
                    "phone": f"07700 {i % 1000000:06d}",
                    "preferred_language": "es" if i % 10 == 0 else "en",
                    "email_reminders": i % 20 != 0,
                    "created_at": now,
                    "updated_at": now,
                }

        report.counts["patients"] = _Writer(Patient).write(patient_rows(), tick)
        _reset_sequence(Patient)
        # The words of their names, as Patient.save() would add them.
        NameWord.objects.add_names(names_seen)

        # Appointments on the grid: at each slot, room r gets a distinct provider and
        # a distinct patient, so none of the exclusion constraints can fire.
        days = plan.days()
        report.first_day, report.last_day = days[0], days[-1]
        first_appt = _next_id(Appointment)
        # Day index, status index, provider and room index of each appointment (its id
        # is first_appt + position), kept compactly for the orders and reminders after.
        appt_day, appt_status, appt_provider = array("H"), array("B"), array("l")
        appt_room = array("H")
        tick = progress("appointments", plan.appointments)
        statuses = list(Appointment.Status)
        status_ix = {s: statuses.index(s) for s in statuses}
        today_n = days.index(plan.today)
        today = plan.today

        def appointment_rows():
            made = 0
            for d_n, day in enumerate(days):
                for s in range(SLOTS_PER_DAY):
                    start = clinic_datetime(
                        day,
                        (
                            datetime.combine(day, FIRST_SLOT) + timedelta(minutes=SLOT_MINUTES * s)
                        ).time(),
                    )
                    end = start + timedelta(minutes=SLOT_MINUTES)
                    for r, room_id in enumerate(room_ids):
                        if made >= plan.appointments:
                            return
                        if rng.random() > FILL:
                            continue
                        g = room_group[r]
                        lane = group_providers[g]
                        local = r - group_first_room[g]
                        provider_id = lane[(local + d_n * 7 + s) % len(lane)]
                        patient_id = first_patient + made % plan.patients
                        if day < today:
                            roll = rng.random()
                            status = (
                                Appointment.Status.CANCELLED
                                if roll < 0.05
                                else Appointment.Status.NO_SHOW
                                if roll < 0.08
                                else Appointment.Status.COMPLETED
                            )
                        elif day == today:
                            status = (
                                Appointment.Status.CHECKED_IN,
                                Appointment.Status.CONFIRMED,
                                Appointment.Status.SCHEDULED,
                            )[s % 3]
                        else:
                            status = (Appointment.Status.CONFIRMED, Appointment.Status.SCHEDULED)[
                                s % 2
                            ]
                        pk = first_appt + made
                        appt_day.append(d_n)
                        appt_status.append(status_ix[status])
                        appt_provider.append(provider_id)
                        appt_room.append(r)
                        made += 1
                        yield {
                            "id": pk,
                            "patient_id": patient_id,
                            "procedure_type_id": procedure.pk,
                            "provider_id": provider_id,
                            "room_id": room_id,
                            "site_id": room_sites[r],  # as Appointment.save() copies it
                            "start_at": start,
                            "end_at": end,
                            "blocked_from": start,
                            "blocked_until": end,
                            "status": status,
                            "sedation_level": "local",
                            "completed_at": end if status == Appointment.Status.COMPLETED else None,
                            "created_at": start - timedelta(days=21),
                            "updated_at": end,
                        }

        report.counts["appointments"] = _Writer(Appointment).write(appointment_rows(), tick)
        _reset_sequence(Appointment)

        # Test orders: two per completed appointment (placed with the sample form).
        completed = status_ix[Appointment.Status.COMPLETED]
        released = {status_ix[Appointment.Status.CANCELLED], status_ix[Appointment.Status.NO_SHOW]}
        pending = ("ordered", "collected", "sent", "preliminary")
        made = len(appt_day)

        def appt_meta():
            for n in range(made):
                yield first_appt + n, appt_day[n], appt_status[n], appt_provider[n], appt_room[n]

        tick = progress("test orders", made * ORDERS_PER_APPOINTMENT)

        def order_rows():
            for pk, d_n, st, provider_id, r in appt_meta():
                if st != completed:
                    continue  # orders are placed when the procedure is completed
                day = days[d_n]
                for test in tests:
                    row = {
                        "appointment_id": pk,
                        "site_id": room_sites[r],
                        "test_type_id": test.pk,
                        "responsible_id": provider_id,
                        "expected_by": day + timedelta(days=test.turnaround_target_days + 2),
                        "created_at": now,
                        "updated_at": now,
                    }
                    at = clinic_datetime(day, time(12))
                    row["collected_at"] = at
                    row["sent_at"] = at + timedelta(hours=2)
                    age = today_n - d_n
                    if age <= PENDING_WORKING_DAYS:
                        row["status"] = pending[rng.randrange(4)] if age > 1 else "sent"
                    elif age <= PENDING_WORKING_DAYS + 2:
                        row["status"] = "final"
                        row["final_at"] = at + timedelta(days=5)
                    else:
                        row.update(
                            status="communicated",
                            final_at=at + timedelta(days=5),
                            reviewed_at=at + timedelta(days=6),
                            reviewed_by_id=reviewer_id,
                            communicated_at=at + timedelta(days=7),
                            communicated_by_id=reviewer_id,
                            communicated_how="phone",
                        )
                    yield row

        report.counts["test orders"] = _Writer(TestOrder, with_id=False).write(order_rows(), tick)
        _reset_sequence(TestOrder)

        # Reminders: booking confirmation, day before, aftercare.
        tick = progress("reminders", made * REMINDERS_PER_APPOINTMENT)
        kinds = (
            (Reminder.Kind.BOOKING_CONFIRMATION, -14),
            (Reminder.Kind.DAY_BEFORE, -1),
            (Reminder.Kind.AFTERCARE, 1),
        )

        def reminder_rows():
            for pk, d_n, st, _provider, r in appt_meta():
                day = days[d_n]
                for kind, offset in kinds:
                    due = clinic_datetime(day + timedelta(days=offset), time(10))
                    row = {
                        "appointment_id": pk,
                        "site_id": room_sites[r],  # its visit's, as Reminder.save() copies it
                        "kind": kind,
                        "due_at": due,
                        "created_at": due,
                    }
                    if due <= now:
                        row["status"] = "sent"
                        row["sent_at"] = due
                        row["attempts"] = 1
                    elif st in released:
                        row["status"] = "cancelled"
                    yield row

        report.counts["reminders"] = _Writer(Reminder, with_id=False).write(reminder_rows(), tick)
        _reset_sequence(Reminder)

        # What a day's work leaves behind besides emails, in proportion to the visits:
        # prep plans, checklist ticks, front-desk tasks, medicines, audit rows.
        visits = scale_records.Visits(
            first_appt=first_appt,
            first_patient=first_patient,
            patients=plan.patients,
            days=days,
            today_n=today_n,
            day=appt_day,
            status=appt_status,
            statuses=statuses,
        )
        for table, model, rows, total in scale_records.tables(visits, users, rng, now):
            report.counts[table] = _Writer(model, with_id=False).write(rows, progress(table, total))
            _reset_sequence(model)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                # Back to the declared timing, for a caller's transaction (a test's).
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    # The rows went in without save(), so the reports' roll-up hears of none of them:
    # every site's days are counted afresh, as the hourly job would (reports/rollup.py).
    forget_sites(Site.objects.values_list("pk", flat=True))
    report.rolled_days = roll_due().days
    if connection.vendor == "postgresql":
        # Statistics for the planner, and (outside a transaction) the visibility map that
        # lets counts use index-only scans, as autovacuum would in a live database.
        # The small tables too: the planner's guess at a site's rooms (2 rows, not 30)
        # chose a loop over every room's whole history for a day's calendar (10 ms
        # instead of 2 at 10x), until autovacuum came round to them.
        tables = [
            m._meta.db_table
            for m in (
                Patient,
                NameWord,
                Provider,
                Room,
                Appointment,
                TestOrder,
                Reminder,
                ReportDay,
                *scale_records.MODELS,
            )
        ]
        command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f"{command} {connection.ops.quote_name(table)}")
    return report
