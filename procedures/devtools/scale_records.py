"""The rows a clinic's day leaves behind besides visits, orders and emails, for
`seed_scale`: prep plans, checklist ticks, front-desk tasks, medicines and the audit
(who read which record, what changed), each in proportion to the visits (medicines to
the patients), so that a page reading any of them meets a network's volume.

Every row either hangs off a seeded appointment or patient (deleted with it) or names a
seeded user (`clear()` deletes those)."""

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from auditlog.models import LogEntry
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.db import models

from clinic import roles
from clinic.models import ReadAccess
from patients.models import Medication
from procedures.catalog.clock import clinic_datetime
from procedures.prep.models import ChecklistItem, ChecklistTick, FrontDeskTask, PrepPlan
from procedures.scheduling.models import Appointment

# Per visit: one prep plan, two audited reads (the patient and the visit), one audit
# log entry; a checklist tick per visit under way or done; a front-desk task for one
# visit in TASK_EVERY. Medicines: one patient in MEDICINE_EVERY takes one.
READS_PER_VISIT = 2
TASK_EVERY = 10
MEDICINE_EVERY = 5
MODELS = (PrepPlan, ChecklistTick, FrontDeskTask, Medication, ReadAccess, LogEntry)


@dataclass
class Visits:
    """The seeded appointments, as scale.py keeps them (ids are first_appt + n)."""

    first_appt: int
    first_patient: int
    patients: int
    days: list[date]
    today_n: int
    day: Any  # array("H") of day indexes
    status: Any  # array("B") of indexes into statuses
    statuses: Sequence[str]

    def __iter__(self) -> Iterator[tuple[int, int, int, str]]:
        """(appointment id, patient id, day index, status) of every visit."""
        for n in range(len(self.day)):
            yield (
                self.first_appt + n,
                self.first_patient + n % self.patients,
                self.day[n],
                self.statuses[self.status[n]],
            )


def tables(
    visits: Visits, users: dict[str, User], rng: random.Random, now: datetime
) -> Iterator[tuple[str, type[models.Model], Iterator[dict], int]]:
    """(table label, model, rows, estimated count) for each table, in order."""
    nurse, physician = users[roles.NURSE].pk, users[roles.PHYSICIAN].pk
    desk = users[roles.FRONT_DESK].pk
    made = len(visits.day)
    under_way = {
        Appointment.Status.COMPLETED,
        Appointment.Status.CHECKED_IN,
        Appointment.Status.IN_PROCEDURE,
    }

    def at(d_n: int, hour: int = 9) -> datetime:
        return clinic_datetime(visits.days[d_n], time(hour))

    def prep_plans():
        for pk, _patient, d_n, _status in visits:
            confirmed = rng.random() < 0.7
            yield {
                "appointment_id": pk,
                "hold_plan_confirmed_by_id": physician if confirmed else None,
                "hold_plan_confirmed_at": at(d_n) - timedelta(days=3) if confirmed else None,
                "updated_at": now,
            }

    def ticks():
        for pk, _patient, d_n, status in visits:
            if status not in under_way:
                continue
            item = ChecklistItem.LABS_BACK if pk % 10 == 0 else ChecklistItem.CONSENT
            yield {"appointment_id": pk, "item": item, "by_id": nurse, "at": at(d_n, 8)}

    kinds = [
        FrontDeskTask.Kind.WHEELCHAIR,
        FrontDeskTask.Kind.INTERPRETER,
        FrontDeskTask.Kind.SHORT_NOTICE,
        FrontDeskTask.Kind.TRANSPORT,
    ]

    def tasks():
        for pk, _patient, d_n, _status in visits:
            if pk % TASK_EVERY:
                continue
            done = d_n < visits.today_n
            yield {
                "appointment_id": pk,
                "kind": kinds[(pk // TASK_EVERY) % len(kinds)],
                "due_date": visits.days[d_n] - timedelta(days=2),
                "done_at": at(d_n) - timedelta(days=2) if done else None,
                "done_by_id": desk if done else None,
                "created_at": now,
            }

    med_classes = list(Medication.Class)

    def medicines():
        for i in range(0, visits.patients, MEDICINE_EVERY):
            yield {
                "patient_id": visits.first_patient + i,
                "name": f"Scale medicine {i % 97}",
                "med_class": med_classes[(i // MEDICINE_EVERY) % len(med_classes)],
                "is_active": True,
                "created_at": now,
            }

    def reads():
        for pk, patient, d_n, _status in visits:
            when = at(d_n, 10)
            for object_type, object_id, view in (
                ("patients.patient", patient, "patients:detail"),
                ("procedures.appointment", pk, "procedures:appointment_detail"),
            ):
                yield {
                    "user_id": desk,
                    "object_type": object_type,
                    "object_id": str(object_id),
                    "view_name": view,
                    "at": when,
                }

    appointment_type = ContentType.objects.get_for_model(Appointment).pk

    def log_entries():
        for pk, _patient, d_n, _status in visits:
            yield {
                "content_type_id": appointment_type,
                "object_pk": str(pk),
                "object_id": pk,
                "object_repr": f"Appointment {pk}",
                "action": LogEntry.Action.CREATE,
                "changes": '{"status": ["None", "scheduled"]}',
                "actor_id": desk,
                "timestamp": at(d_n) - timedelta(days=21),
            }

    yield "prep plans", PrepPlan, prep_plans(), made
    yield "checklist ticks", ChecklistTick, ticks(), made
    yield "front-desk tasks", FrontDeskTask, tasks(), made // TASK_EVERY
    yield "medicines", Medication, medicines(), visits.patients // MEDICINE_EVERY
    yield "audit reads", ReadAccess, reads(), made * READS_PER_VISIT
    yield "audit log", LogEntry, log_entries(), made


def clear(users: models.QuerySet) -> int:
    """Delete the audit rows of the seeded users (the rest go with their visits)."""
    deleted = ReadAccess.objects.filter(user__in=users)._raw_delete(ReadAccess.objects.db)
    deleted += LogEntry.objects.filter(actor__in=users)._raw_delete(LogEntry.objects.db)
    return deleted
