"""Two records of one patient were merged (or the merge undone): their visits follow.

`patients.merging` moves rows with plain UPDATEs and knows nothing of visits; it calls
`patient_records_merged` through settings.PATIENTS_MERGED in its transaction, and asks
`merge_warnings` (settings.PATIENTS_MERGE_WARNINGS) what to tell the admin beforehand.
"""

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import ngettext

from patients.models import Medication
from procedures.messaging.plan import reminders_prep_replan, reminders_stops_reopened
from procedures.prep import services as prep
from procedures.prep.frontdesk import frontdesk_tasks_sync
from procedures.prep.models import MedicationHold, PrepPlan
from procedures.scheduling.models import Appointment
from procedures.workflows.contacts import patient_contact_changed


def open_visits(patient_ids: list[int]) -> QuerySet[Appointment]:
    """The patients' visits whose plan can still change: not under way, done, cancelled
    or a no-show (a visit checked in, or late, still has its procedure ahead)."""
    return Appointment.objects.filter(patient_id__in=patient_ids).exclude(
        status__in=[
            *Appointment.RELEASED_STATUSES,
            Appointment.Status.IN_PROCEDURE,
            Appointment.Status.COMPLETED,
        ]
    )


def patient_records_merged(*, patient_ids: list[int], why: str, by: Any) -> list[Appointment]:
    """The patients' records changed by a merge (medicines, contact details, a bleeding
    disorder from the other record): for every visit whose procedure is still ahead, a
    confirmed hold plan that did not decide every active medicine goes back to the
    physician (invariant 32), a stop already emailed becomes a front-desk call, the
    front desk's tasks follow the medicines (a longer stop period: short notice), and
    the planned emails follow the plan and the address kept. Returns the visits whose
    plan was reopened."""
    reopened = []
    with transaction.atomic():
        for patient_id in patient_ids:
            patient_contact_changed(patient_id=patient_id)
            visits = open_visits([patient_id]).order_by("start_at", "pk")
            for appointment in visits.select_related("patient", "procedure_type"):
                undecided = prep.hold_plan_reopen_undecided(
                    appointment_id=appointment.pk, by=by, why=why
                )
                appointment.refresh_from_db()
                frontdesk_tasks_sync(appointment=appointment)
                reminders_prep_replan(appointment=appointment)
                if undecided:
                    reminders_stops_reopened(appointment=appointment)
                    reopened.append(appointment)
    return reopened


def plans_to_reopen(*, patient_ids: list[int]) -> list[Appointment]:
    """The visits of these patients (one person, about to be one record) whose confirmed
    hold plan would miss a decision once their medicines are together."""
    medicines = set(
        Medication.objects.filter(patient_id__in=patient_ids, is_active=True).values_list(
            "pk", flat=True
        )
    )
    confirmed = PrepPlan.objects.filter(hold_plan_confirmed_at__isnull=False).values(
        "appointment_id"
    )
    visits = open_visits(patient_ids).filter(pk__in=confirmed)
    decided: dict[int, set[int]] = {}
    for appointment_id, medication_id in MedicationHold.objects.filter(
        appointment__in=visits
    ).values_list("appointment_id", "medication_id"):
        decided.setdefault(appointment_id, set()).add(medication_id)
    return [
        visit
        for visit in visits.select_related("site").order_by("start_at", "pk")
        if medicines - decided.get(visit.pk, set())
    ]


def merge_warnings(*, survivor_id: int, merged_id: int) -> list[str]:
    """What the admin should know before merging: the visits whose hold plan a physician
    must confirm again (their stop emails wait until then)."""
    visits = plans_to_reopen(patient_ids=[survivor_id, merged_id])
    if not visits:
        return []
    when = ", ".join(
        f"{visit.start_at.astimezone(visit.site_tz):%a %d %b %Y %H:%M}" for visit in visits
    )
    return [
        ngettext(
            "The medicine (hold) plan of %(count)s visit to come (%(when)s) will need a "
            "physician to confirm it again: it has no decision for the other record's "
            "medicines. Its medicine-stop emails wait until then, and the front desk calls "
            "the patient if one was sent already.",
            "The medicine (hold) plans of %(count)s visits to come (%(when)s) will need a "
            "physician to confirm them again: they have no decision for the other record's "
            "medicines. Their medicine-stop emails wait until then, and the front desk calls "
            "the patient if one was sent already.",
            len(visits),
        )
        % {"count": len(visits), "when": when}
    ]
