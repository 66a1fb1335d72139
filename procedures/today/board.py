"""The today board: who is still to come, who is here, and what needs fixing before
each procedure (escort, prep, emails, blood tests): a read across every concern.

What each entry shows (times, labels, links, badge classes) is worked out here, once per
request, so the templates only print strings: at a network's scale (~765 arrivals a
day) a template lookup through related objects, a `get_FOO_display` or a `{% url %}`
per row costs more than the SQL."""

from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.db.models import Exists, OuterRef, QuerySet
from django.utils.translation import gettext as _

from clinic.http import url_maker
from patients.models import Medication
from patients.selectors import bloods_of_patients_needing_them
from procedures.catalog.choices import ProcedureKind, SedationLevel
from procedures.catalog.clock import clinic_tz
from procedures.catalog.sites import at_site
from procedures.messaging.models import Reminder
from procedures.prep.models import ChecklistItem, ChecklistTick, PrepPlan
from procedures.scheduling.calendars import (
    OTHER_STATUS_BADGE,
    STATUS_BADGES,
    choice_labels,
)
from procedures.scheduling.models import Appointment
from procedures.scheduling.slots import clinic_day_bounds

# --- The today board ---------------------------------------------------------------

# Still to come through the door.
EXPECTED = (
    Appointment.Status.REQUESTED,
    Appointment.Status.SCHEDULED,
    Appointment.Status.CONFIRMED,
)


@dataclass(slots=True)
class Flag:
    """Something to fix before the patient's procedure, and the page where it is fixed."""

    code: str
    text: str
    url: str


@dataclass(slots=True)
class Arrival:
    """One of the day's arrivals on the today board, with the codes of what needs fixing;
    what a row shows beyond the values loaded (time, labels, links) is filled in by
    `board_rows` for the rows shown only."""

    pk: int
    start_at: datetime
    status: str
    provider_id: int
    provider: str
    room_id: int
    room: str
    site_id: int
    sedation: str
    patient: str
    procedure: str
    flag_codes: list[str] = field(default_factory=list)
    patient_id: int = 0
    time: str = ""
    url: str = ""
    status_label: str = ""
    status_badge: str = ""
    sedation_label: str = ""
    check_in_url: str = ""  # "" when the lifecycle does not allow it
    flags: list[Flag] = field(default_factory=list)


def day_appointments(*, day: date) -> QuerySet[Appointment]:
    """The day's appointments on the board (cancelled ones left out): the base every
    board read starts from, so a caller can narrow it (a site, a room) first."""
    start, end = clinic_day_bounds(day)
    return Appointment.objects.filter(start_at__gte=start, start_at__lt=end).exclude(
        status=Appointment.Status.CANCELLED
    )


def today_arrivals(
    *,
    day: date,
    site_id: int | None = None,
    appointments: QuerySet[Appointment] | None = None,
    limit: int | None = None,
) -> list[Arrival]:
    """The day's arrivals by time (cancelled ones left out), each with the codes of what
    needs fixing, in a fixed number of queries:

    - `escort`: escort not confirmed for a sedated patient,
    - `hold` (`hold_thinner` when a medicine is a blood thinner): hold plan not
      confirmed (the physician has not confirmed the medicine plan of a patient who
      takes medicines),
    - `reminder`: a patient email that failed,
    - `labs`: pre-procedure blood tests not back for a patient with a bleeding disorder
      (not ticked on the readiness checklist).

    `site_id`: that site's arrivals only (None: every site's). `limit`: the first
    `limit` of them only (a page of the board, read from its first visit on).
    """
    booked = at_site(day_appointments(day=day), site_id) if appointments is None else appointments
    # What the flags need to know of each visit, asked in the same query (an index probe
    # per visit) rather than by one query per flag selecting the day again.
    arrivals_read = (
        booked.annotate(
            email_failed=Exists(
                Reminder.objects.filter(
                    appointment=OuterRef("pk"),
                    status=Reminder.Status.FAILED,
                    resolved_at__isnull=True,
                )
            ),
            plan_confirmed=Exists(
                PrepPlan.objects.filter(
                    appointment=OuterRef("pk"), hold_plan_confirmed_at__isnull=False
                )
            ),
            labs_back=Exists(
                ChecklistTick.objects.filter(
                    appointment=OuterRef("pk"), item=ChecklistItem.LABS_BACK
                )
            ),
        )
        .order_by("start_at", "pk")
        .values_list(
            "pk",
            "start_at",
            "status",
            "sedation_level",
            "escort_confirmed_at",
            "patient_id",
            "patient__family_name",
            "patient__given_name",
            "patient__bleeding_disorder",
            "procedure_type__name",
            "procedure_type__kind",
            "provider_id",
            "provider__display_name",
            "room_id",
            "room__name",
            "site_id",
            "email_failed",
            "plan_confirmed",
            "labs_back",
        )
    )
    rows = list(arrivals_read if limit is None else arrivals_read[:limit])
    if not rows:
        return []
    # A hold plan only matters for a patient taking medicines (as readiness() says).
    # (A correlated EXISTS above would have PostgreSQL read and hash every medicine.)
    on_medicines, thinners = set(), set()
    patients = booked.values("patient_id") if limit is None else {row[5] for row in rows}
    for patient_id, med_class in Medication.objects.filter(
        patient__in=patients, is_active=True
    ).values_list("patient_id", "med_class"):
        on_medicines.add(patient_id)
        if med_class in Medication.BLOOD_THINNERS:
            thinners.add(patient_id)
    # Platelets and INR before the needle for the anticoagulated or bleeding-disorder
    # patients (`needs_bloods`, from what was just read): missing or out of the clinic's
    # range. Only they need judging: a network's day is thousands of patients, a few
    # hundred of them.
    needing = {row[5] for row in rows if row[8]} | thinners  # patient_id, bleeding_disorder
    bloods = bloods_of_patients_needing_them(needing, on=day) if needing else {}
    sedated = SedationLevel.sedated()
    done = (*Appointment.RELEASED_STATUSES, Appointment.Status.COMPLETED)
    arrivals = []
    for (
        pk,
        start_at,
        status,
        sedation,
        escort_confirmed_at,
        patient_id,
        family_name,
        given_name,
        bleeding_disorder,
        procedure,
        procedure_kind,
        provider_id,
        provider,
        room_id,
        room,
        site_id,
        email_failed,
        plan_confirmed,
        labs_back,
    ) in rows:
        codes = []
        # A results discussion is a talk: no escort, medicines or blood tests to chase.
        procedure_visit = procedure_kind != ProcedureKind.RESULTS_DISCUSSION
        if status not in done:
            if procedure_visit and sedation in sedated and escort_confirmed_at is None:
                codes.append("escort")
            if procedure_visit and patient_id in on_medicines and not plan_confirmed:
                # Said in the prep page's words; a blood thinner named (bleeding risk).
                codes.append("hold_thinner" if patient_id in thinners else "hold")
            if email_failed:
                codes.append("reminder")
            # Blood tests before the procedure are asked for with a bleeding disorder only.
            # One blood flag a row: recorded bloods missing or out of range first, else
            # the checklist's "blood tests back" not ticked for a bleeding disorder.
            if procedure_visit and patient_id in bloods and not bloods[patient_id].ok:
                codes.append("inr" if bloods[patient_id].missing_inr else "bloods")
            elif procedure_visit and bleeding_disorder and not labs_back:
                codes.append("labs")
        arrivals.append(
            Arrival(
                pk=pk,
                start_at=start_at,
                status=status,
                sedation=sedation,
                patient=f"{family_name}, {given_name}",
                procedure=procedure,
                provider_id=provider_id,
                provider=provider,
                room_id=room_id,
                room=room,
                site_id=site_id,
                flag_codes=codes,
                patient_id=patient_id,
            )
        )
    return arrivals


def room_at_site(room: str, site_id: int, site_names: dict[int, str]) -> str:
    """A room named with its site, for the "All sites" board ("Room 1 (Northgate)")."""
    return f"{room} ({site_names.get(site_id, '')})"


def board_rows(
    arrivals: list[Arrival],
    *,
    site_names: dict[int, str] | None = None,
    site_zones: dict[int, str] | None = None,
) -> list[Arrival]:
    """Fill in what the rows shown need beyond the values loaded: the time, labels,
    links and flags with the page where each is fixed (no query). With `site_names`
    (the "All sites" board), each room is named with its site; with `site_zones`, each
    time is on its site's clock, its zone named when not the page's ("11:00 CET": QA 3,
    #7, the one the patient's emails give)."""
    tz = clinic_tz()
    zones = {pk: ZoneInfo(name) for pk, name in (site_zones or {}).items() if name != tz.key}
    detail = url_maker("procedures:appointment_detail")
    check_in = url_maker("procedures:appointment_check_in")
    prep = url_maker("procedures:prep_detail")
    clinical = url_maker("patients:clinical")
    statuses = choice_labels(Appointment.Status)
    sedations = choice_labels(SedationLevel)
    can_check_in = Appointment.TRANSITIONS["check_in"].sources
    texts = {
        "escort": _("Escort not confirmed"),
        "hold": _("Hold plan not confirmed"),
        "hold_thinner": _("Hold plan not confirmed (blood thinner)"),
        "reminder": _("An email to the patient failed"),
        "labs": _("Blood tests not back"),
        "inr": _("No recent INR (blood thinner or bleeding disorder)"),
        "bloods": _("Platelets or INR out of the clinic's range"),
    }
    for a in arrivals:
        if site_names:
            a.room = room_at_site(a.room, a.site_id, site_names)
        if a.site_id in zones:
            a.time = f"{a.start_at.astimezone(zones[a.site_id]):%H:%M %Z}"
        else:
            a.time = f"{a.start_at.astimezone(tz):%H:%M}"
        a.url = detail(a.pk)
        a.status_label = statuses.get(a.status, a.status)
        a.status_badge = STATUS_BADGES.get(a.status, OTHER_STATUS_BADGE)
        a.sedation_label = sedations.get(a.sedation, a.sedation)
        a.check_in_url = check_in(a.pk) if a.status in can_check_in else ""
        where = {
            "escort": f"{prep(a.pk)}#transport",
            "hold": f"{prep(a.pk)}#holds",
            "hold_thinner": f"{prep(a.pk)}#holds",
            "reminder": a.url,
            "labs": f"{prep(a.pk)}#checklist",
            "inr": clinical(a.patient_id),
            "bloods": clinical(a.patient_id),
        }
        a.flags = [Flag(code, texts[code], where[code]) for code in a.flag_codes]
    return arrivals


def today_counts(
    *,
    day: date,
    site_id: int | None = None,
    appointments: QuerySet[Appointment] | None = None,
) -> dict[str, int]:
    """The day's appointments, those still expected and those with a flag (for the
    navigation and above the board)."""
    arrivals = today_arrivals(day=day, site_id=site_id, appointments=appointments)
    return {
        "total": len(arrivals),
        "expected": sum(1 for a in arrivals if a.status in EXPECTED),
        "flagged": sum(1 for a in arrivals if a.flag_codes),
    }
