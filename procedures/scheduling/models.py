from datetime import UTC, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateTimeRangeField, RangeOperators
from django.db import models
from django.db.models import Func, Q
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

from clinic.loaded import LoadedValues
from procedures.catalog.choices import SedationLevel, TransportMode
from procedures.catalog.clock import clinic_tz


class TsTzRange(Func):
    function = "TSTZRANGE"
    output_field = DateTimeRangeField()


class Transition(NamedTuple):
    """One row of the appointment lifecycle table (`Appointment.TRANSITIONS`)."""

    sources: tuple[str, ...]
    target: str
    event: str  # an AppointmentEvent.Kind
    permission: str  # a clinic.policy action


class AppointmentQuerySet(models.QuerySet):
    def active(self) -> "AppointmentQuerySet":
        """Appointments that hold their slot (not cancelled, not a no-show)."""
        return self.exclude(status__in=Appointment.RELEASED_STATUSES)

    def overlapping(self, start_at, end_at) -> "AppointmentQuerySet":
        """Active appointments whose [start, end) range meets [start_at, end_at)."""
        return self.active().filter(start_at__lt=end_at, end_at__gt=start_at)

    def blocking(self, blocked_from, blocked_until) -> "AppointmentQuerySet":
        """Active appointments whose range with buffers meets [blocked_from, blocked_until)."""
        return self.active().filter(blocked_from__lt=blocked_until, blocked_until__gt=blocked_from)

    def with_related(self) -> "AppointmentQuerySet":
        return self.select_related("patient", "procedure_type", "provider", "room")


class Appointment(LoadedValues):
    # What the reports' daily roll-up counts (procedures/reports/rollup.py): a save that
    # changes one of these on a visit of a day already rolled up forgets that day.
    tracked_fields = (
        "site_id",
        "room_id",
        "start_at",
        "status",
        "cancel_reason_code",
        "blocked_from",
        "blocked_until",
        "created_at",
    )

    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        SCHEDULED = "scheduled", _("Scheduled")
        CONFIRMED = "confirmed", _("Confirmed")
        CHECKED_IN = "checked_in", _("Checked in")
        IN_PROCEDURE = "in_procedure", _("In procedure")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")
        NO_SHOW = "no_show", _("No-show")

    class CancelReason(models.TextChoices):
        PATIENT_REQUEST = "patient_request", _("Patient asked to cancel")
        PATIENT_UNWELL = "patient_unwell", _("Patient unwell")
        PREP_NOT_DONE = "prep_not_done", _("Preparation not done (e.g. medication not held)")
        NO_ESCORT = "no_escort", _("No escort to take the patient home")
        PROVIDER_UNAVAILABLE = "provider_unavailable", _("Physician unavailable")
        ROOM_UNAVAILABLE = "room_unavailable", _("Room or equipment unavailable")
        CLINICAL = "clinical", _("No longer clinically needed")
        OTHER = "other", _("Other")

    RELEASED_STATUSES = (Status.CANCELLED, Status.NO_SHOW)
    # The lifecycle, the one table of it: action -> (statuses it may start from, the
    # status it leads to, the timeline event it writes, the policy action that says who
    # may do it: clinic.policy). Time rules (check in on the day, a no-show once the
    # start has passed) are `lifecycle_refusal`. Rescheduling moves a confirmed
    # appointment back to scheduled: the new time is not confirmed yet.
    TRANSITIONS = {
        "confirm": Transition(
            (Status.REQUESTED, Status.SCHEDULED),
            Status.CONFIRMED,
            "confirmed",
            "appointment_confirm",
        ),
        "check_in": Transition(
            (Status.SCHEDULED, Status.CONFIRMED),
            Status.CHECKED_IN,
            "checked_in",
            "appointment_check_in",
        ),
        "start": Transition(
            (Status.CHECKED_IN,), Status.IN_PROCEDURE, "started", "appointment_start"
        ),
        # Only a started procedure completes: the start is where readiness is checked
        # (consent, site and side, a reason for anything else missing), so completing
        # straight from checked in would skip it. A checked-in patient who does not go
        # ahead is cancelled with a reason.
        "complete": Transition(
            (Status.IN_PROCEDURE,),
            Status.COMPLETED,
            "completed",
            "appointment_complete",
        ),
        "cancel": Transition(
            (Status.REQUESTED, Status.SCHEDULED, Status.CONFIRMED, Status.CHECKED_IN),
            Status.CANCELLED,
            "cancelled",
            "appointment_cancel",
        ),
        "no_show": Transition(
            (Status.SCHEDULED, Status.CONFIRMED), Status.NO_SHOW, "no_show", "appointment_no_show"
        ),
        # A check-in made by mistake (the wrong patient of two namesakes, a tap on the
        # wrong row), taken back before the procedure starts, by those who check in.
        # The visit returns to the status it had before (`lifecycle.appointment_check_in_undo`
        # reads it from the check-in's timeline line): scheduled, or confirmed.
        "undo_check_in": Transition(
            (Status.CHECKED_IN,), Status.SCHEDULED, "check_in_undone", "appointment_check_in"
        ),
        "reschedule": Transition(
            (Status.REQUESTED, Status.SCHEDULED, Status.CONFIRMED),
            Status.SCHEDULED,
            "rescheduled",
            "appointment_reschedule",
        ),
    }
    COMPLETABLE_STATUSES = TRANSITIONS["complete"].sources

    # The patient, physician and room have no index of their own: each leads an index
    # with the start time (Meta.indexes), which answers the same lookups. A plain one
    # beside it was smaller, so PostgreSQL ANDed it into a day's bitmap: 40,000 of a
    # physician's history read to keep 254 (docs/performance.md, seventh round).
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="appointments", db_index=False
    )
    procedure_type = models.ForeignKey(
        "procedures.ProcedureType", on_delete=models.PROTECT, verbose_name=_("procedure")
    )
    provider = models.ForeignKey(
        "procedures.Provider", on_delete=models.PROTECT, related_name="appointments", db_index=False
    )
    room = models.ForeignKey(
        "procedures.Room", on_delete=models.PROTECT, related_name="appointments", db_index=False
    )
    # The room's site, copied by save() (docs/invariants.md, 20): a site's day is read
    # from the index (`appt_start_site_idx`) without the network's other visits, not
    # filtered through the rooms. Follows a room the admin moves (`visits_follow_rooms`).
    # (No index of its own: a site's visits are read by day, through the start time's.)
    site = models.ForeignKey(
        "procedures.Site",
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        db_index=False,
    )
    start_at = models.DateTimeField(_("starts"))
    end_at = models.DateTimeField(_("ends"))
    # The room (and the patient) is held from set-up before the procedure to the end
    # of turnover and recovery after it. Snapshotted from the procedure type when
    # booked; blocked_from/blocked_until are derived from them in save() and are
    # what the room and patient exclusion constraints compare.
    buffer_before_minutes = models.PositiveSmallIntegerField(default=0)
    buffer_after_minutes = models.PositiveSmallIntegerField(default=0)
    blocked_from = models.DateTimeField(editable=False)
    blocked_until = models.DateTimeField(editable=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SCHEDULED)
    sedation_level = models.CharField(
        _("sedation"), max_length=20, choices=SedationLevel.choices, default=SedationLevel.LOCAL
    )
    transport_mode = models.CharField(
        _("transport home"), max_length=20, choices=TransportMode.choices, blank=True
    )
    escort_name = models.CharField(_("escort's name"), max_length=100, blank=True)
    escort_phone = models.CharField(_("escort's phone"), max_length=30, blank=True)
    escort_confirmed_at = models.DateTimeField(null=True, blank=True)
    # At most rules.NOTES_MAX characters (the database checks it too).
    notes = models.TextField(_("notes for the team"), max_length=2000, blank=True)
    cancel_reason = models.CharField(max_length=200, blank=True)
    cancel_reason_code = models.CharField(
        _("reason for cancelling"), max_length=30, choices=CancelReason.choices, blank=True
    )
    # Bumped on every reschedule: reminders planned for an older version are void,
    # and the calendar invite's SEQUENCE follows it.
    version = models.PositiveIntegerField(default=1)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AppointmentQuerySet.as_manager()

    site_lookup = "site"  # its site: catalog.sites.at_site

    class Meta:
        ordering = ["start_at", "pk"]
        indexes = [
            # A day's visits; a site's day (the Today board, calendars, counts) is
            # narrowed to its own inside the index, before any row is read. (Site
            # first would read fewer entries, but PostgreSQL cannot see that a day's
            # rows lie together and prefers a plain start-time index: measured in
            # docs/performance.md, sixth round.)
            models.Index(fields=["start_at", "site"], name="appt_start_site_idx"),
            # The today board's "visits from earlier days not ended" (today/loops.py):
            # the few visits still checked in or in procedure, not years of history.
            models.Index(
                fields=["start_at"],
                name="appt_not_ended_idx",
                condition=Q(status__in=["checked_in", "in_procedure"]),
            ),
            models.Index(fields=["provider", "start_at"], name="appt_provider_start_idx"),
            models.Index(fields=["room", "start_at"], name="appt_room_start_idx"),
            models.Index(fields=["patient", "start_at"], name="appt_patient_start_idx"),
            # A room's active holds over a span (the slot finder, the calendars' free
            # rooms, the booking rules): the hold's end is in the index, so the rows
            # that end before the span are left there (without it PostgreSQL ANDed
            # the network's 70,000 future holds into the bitmap).
            models.Index(
                fields=["room", "blocked_from", "blocked_until"],
                name="appt_room_active_idx",
                condition=~Q(status__in=["cancelled", "no_show"]),
            ),
            # The slot finder and the booking rules ask for active bookings that end
            # after a moment: only the future, never the years of history.
            models.Index(
                fields=["blocked_until"],
                name="appt_active_until_idx",
                condition=~Q(status__in=["cancelled", "no_show"]),
            ),
            # The slot finder reads a day's active bookings at a time: a range of
            # blocked_from (bounded by the longest booking), not the month's rows.
            models.Index(
                fields=["blocked_from", "id"],
                name="appt_active_from_idx",
                condition=~Q(status__in=["cancelled", "no_show"]),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_at__gt=models.F("start_at")), name="appt_end_after_start"
            ),
            models.CheckConstraint(
                condition=Q(blocked_from__lte=models.F("start_at"))
                & Q(blocked_until__gte=models.F("end_at")),
                name="appt_blocked_covers_procedure",
            ),
            # The guarantee against double booking (PostgreSQL only; the booking
            # service checks the same thing first to give a friendly message). The
            # physician is held for the procedure; the room and the patient for the
            # procedure with its buffers (set-up, turnover, recovery).
            *[
                ExclusionConstraint(
                    name=f"appt_no_overlap_{field}",
                    expressions=[
                        (field, RangeOperators.EQUAL),
                        (
                            TsTzRange(start, end, models.Value("[)")),
                            RangeOperators.OVERLAPS,
                        ),
                    ],
                    condition=~Q(status__in=["cancelled", "no_show"]),
                )
                for field, start, end in (
                    ("provider", "start_at", "end_at"),
                    ("room", "blocked_from", "blocked_until"),
                    ("patient", "blocked_from", "blocked_until"),
                )
            ],
        ]

    def __str__(self) -> str:
        return f"Appointment {self.pk} at {self.start_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"

    def save(self, *args, **kwargs):
        # Derived columns, kept in step with the times and the room whoever saves the
        # row. The site is read from the room only when the room is new or another
        # (booking and moving assign the room, so it is in hand: no query).
        self.blocked_from = self.start_at - timedelta(minutes=self.buffer_before_minutes)
        self.blocked_until = self.end_at + timedelta(minutes=self.buffer_after_minutes)
        if self.site_id is None or self.room_id != getattr(self, "_saved_room_id", None):
            self.site_id = self.room.site_id
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            derived = set()
            if {"start_at", "end_at"} & set(update_fields):
                derived |= {"blocked_from", "blocked_until"}
            if "room" in update_fields or "room_id" in update_fields:
                derived.add("site")
            kwargs["update_fields"] = {*update_fields, *derived}
        super().save(*args, **kwargs)
        self._saved_room_id = self.room_id

    def get_absolute_url(self) -> str:
        return reverse("procedures:appointment_detail", args=[self.pk])

    @classmethod
    def from_db(cls, db, field_names, values):
        # The room as read, so save() knows whether it changed (and the site with it).
        instance = super().from_db(db, field_names, values)
        instance._saved_room_id = instance.__dict__.get("room_id")
        return instance

    @property
    def site_tz(self) -> ZoneInfo:
        """The zone of the visit's site (its room's): its day and wall-clock rules are
        there, whoever looks (invariant 19). Loads the room and site if not selected."""
        return self.room.site.tz

    @property
    def is_sedated(self) -> bool:
        return self.sedation_level in SedationLevel.sedated()

    @property
    def is_future(self) -> bool:
        return self.start_at > timezone.now()

    @property
    def is_upcoming(self) -> bool:
        return self.start_at > timezone.now() and self.status not in self.RELEASED_STATUSES

    def allows(self, action: str) -> bool:
        """Whether the lifecycle lets `action` happen from the current status."""
        return self.status in self.TRANSITIONS[action].sources

    def lifecycle_refusal(self, action: str, *, now: datetime) -> StrOrPromise | None:
        """Why `action` cannot happen now, in words (None: it can). The status rules
        first, then the time rules of the day."""
        if not self.allows(action):
            if self.status == self.TRANSITIONS[action].target and action in REPEATS_SAID:
                # The same step twice (Back, a second tab, a colleague): "already", not
                # "a checked-in appointment cannot be checked in" (QA pass 1, #11).
                return _("This appointment is already %(done)s. Nothing was changed.") % {
                    "done": LIFECYCLE_DONE[action]
                }
            return _("An appointment that is %(status)s cannot be %(done)s.") % {
                "status": self.get_status_display().lower(),
                "done": LIFECYCLE_DONE[action],
            }
        tz = self.site_tz if action == "check_in" else clinic_tz()
        if (
            action == "check_in"
            and self.start_at.astimezone(tz).date() != now.astimezone(tz).date()
        ):
            return _(
                "A patient can only be checked in on the day of the appointment (%(day)s)."
            ) % {"day": formats.date_format(self.start_at.astimezone(tz), "l j F Y")}
        if action == "no_show" and self.start_at > now:
            return _("A patient can only be marked as a no-show once the start time has passed.")
        return None

    @property
    def can_confirm(self) -> bool:
        return self.allows("confirm")

    @property
    def can_check_in(self) -> bool:
        """Offered only when it can be done: the right status, on the day itself."""
        return self.lifecycle_refusal("check_in", now=timezone.now()) is None

    @property
    def can_undo_check_in(self) -> bool:
        return self.allows("undo_check_in")

    @property
    def can_start(self) -> bool:
        return self.allows("start")

    @property
    def can_complete(self) -> bool:
        return self.allows("complete")

    @property
    def can_cancel(self) -> bool:
        return self.allows("cancel")

    @property
    def can_mark_no_show(self) -> bool:
        return self.allows("no_show")

    @property
    def can_reschedule(self) -> bool:
        return self.allows("reschedule")


# The steps whose target status means "done already" (a visit back at "scheduled" was
# not necessarily taken back from a check-in, nor moved).
REPEATS_SAID = frozenset({"confirm", "check_in", "start", "complete", "cancel", "no_show"})
LIFECYCLE_DONE = {
    "confirm": _("confirmed"),
    "check_in": _("checked in"),
    "start": _("started"),
    "complete": _("completed"),
    "cancel": _("cancelled"),
    "no_show": _("marked as a no-show"),
    "undo_check_in": _("taken back to before its check-in"),
    "reschedule": _("rescheduled"),
}


class AppointmentEvent(models.Model):
    """One line of an appointment's timeline: who did what, and when."""

    class Kind(models.TextChoices):
        BOOKED = "booked", _("Booked")
        CONFIRMED = "confirmed", _("Confirmed")
        CHECKED_IN = "checked_in", _("Checked in")
        CHECK_IN_UNDONE = "check_in_undone", _("Check-in undone")
        # Before "Procedure started", with the reason and what was missing (prep's
        # readiness_start_check): an override in the visit's own history.
        START_NOT_READY = "start_not_ready", _("Started while not ready")
        STARTED = "started", _("Procedure started")
        COMPLETED = "completed", _("Procedure completed")
        CANCELLED = "cancelled", _("Cancelled")
        NO_SHOW = "no_show", _("Marked as no-show")
        RESCHEDULED = "rescheduled", _("Rescheduled")

    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="events")
    # Other steps (e.g. preparation) may record kinds of their own: no choices enforced.
    kind = models.CharField(max_length=40)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20, blank=True)
    # Text, not 300 characters: a start while not ready keeps its reason and every item
    # that was missing whole (QA pass 1, #5); other steps still keep theirs short.
    note = models.TextField(blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.kind} on appointment {self.appointment_id}"

    @property
    def kind_label(self) -> StrOrPromise:
        """The kind in words (kinds other modules record show as they are, tidied)."""
        try:
            return self.Kind(self.kind).label
        except ValueError:
            return self.kind.replace("_", " ").capitalize()

    @property
    def to_status_label(self) -> StrOrPromise:
        try:
            return Appointment.Status(self.to_status).label
        except ValueError:
            return self.to_status
