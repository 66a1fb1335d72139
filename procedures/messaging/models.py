from datetime import time

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from procedures.catalog.sites import Site


class ReminderQuerySet(models.QuerySet):
    def due(self, now) -> "ReminderQuerySet":
        return self.filter(status=Reminder.Status.PENDING, due_at__lte=now)

    def bulk_create(self, objs, *args, **kwargs):
        """As Django's, with each row's site copied from its visit where the caller left
        it unset (as `Reminder.save()` does): a plan's rows, the benchmarks' batches."""
        objs = list(objs)
        for reminder in objs:
            if reminder.site_id is None:
                reminder.site_id = reminder.appointment.site_id
        return super().bulk_create(objs, *args, **kwargs)

    def failed_unresolved(self) -> "ReminderQuerySet":
        """Emails that could not be delivered and nobody has dealt with yet: the front
        desk must reach these patients another way (shown on the today board)."""
        return self.filter(status=Reminder.Status.FAILED, resolved_at__isnull=True)

    def oldest_overdue(self, now):
        """The due time of the oldest reminder that should have gone out by `now`."""
        return (
            self.filter(
                status__in=[Reminder.Status.PENDING, Reminder.Status.SENDING], due_at__lte=now
            )
            .order_by("due_at")
            .values_list("due_at", flat=True)
            .first()
        )


class Reminder(models.Model):
    """An email to a patient, as an outbox row written with the change that causes it."""

    class Kind(models.TextChoices):
        BOOKING_CONFIRMATION = "booking_confirmation", _("Booking confirmation")
        RESCHEDULED = "rescheduled", _("New time (rescheduled)")
        MEDICATION_HOLD = "medication_hold", _("Medication stop reminder")
        FASTING = "fasting", _("Fasting reminder")
        PREP_STEP = "prep_step", _("Preparation reminder")
        ESCORT_REQUEST = "escort_request", _("Escort confirmation request")
        DAY_BEFORE = "day_before", _("Day-before reminder")
        AFTERCARE = "aftercare", _("Aftercare")
        # The same day as the procedure, essential (never switched off by the patient).
        WARNING_SIGNS = "warning_signs", _("Warning signs after the procedure")
        CANCELLATION = "cancellation", _("Cancellation notice")
        RESULTS_READY = "results_ready", _("Results ready")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")
        SKIPPED = "skipped", _("Skipped")

    appointment = models.ForeignKey(
        "procedures.Appointment", on_delete=models.PROTECT, related_name="reminders"
    )
    # The visit's site, carried so that a site's outbox reads the site's emails through
    # an index instead of the network's, each joined to its visit to be kept or dropped
    # (docs/invariants.md, 21). Copied from the visit when the row is written (`save`,
    # `bulk_create`); follows the visit when it moves to another site.
    site = models.ForeignKey(
        Site,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        db_index=False,  # the outbox's index below starts with it
        verbose_name=_("site"),
    )
    kind = models.CharField(max_length=30, choices=Kind.choices)
    # The appointment version this reminder was planned for; a reschedule voids older ones.
    appointment_version = models.PositiveIntegerField(default=1)
    due_at = models.DateTimeField()
    # Past this moment the reminder is useless (a fasting reminder after the
    # procedure): the dispatcher skips it instead of sending it late.
    expires_at = models.DateTimeField(null=True, blank=True)
    # For a preparation step: what and when (the text is shown to the patient only
    # behind the link, or in the email when the patient asked for details).
    step_kind = models.CharField(max_length=40, blank=True)
    step_text = models.TextField(blank=True)
    # The step's specifics (a medicine's name): in email only with the patient's consent.
    step_detail = models.TextField(blank=True)
    step_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # An SMTP code and class name only: never message content or addresses.
    last_error = models.CharField(max_length=200, blank=True)
    # Why the row was cancelled or skipped instead of sent ("visit completed", "escort
    # confirmed", ...), or, for a sent row, that its email went as one with a twin
    # ("same words as email N: sent once"): the clinic's words, never patient data.
    skip_reason = models.CharField(max_length=100, blank=True)
    # A failed email stays flagged for the front desk until someone resolves it.
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ReminderQuerySet.as_manager()

    site_lookup = "site"  # its visit's site, carried: catalog.sites.at_site

    class Meta:
        ordering = ["due_at", "pk"]
        indexes = [
            # The dispatcher polls this every minute: only pending rows matter.
            models.Index(
                fields=["due_at"],
                name="reminder_pending_due_idx",
                condition=models.Q(status="pending"),
            ),
            models.Index(
                fields=["lease_until"],
                name="reminder_sending_lease_idx",
                condition=models.Q(status="sending"),
            ),
            models.Index(
                fields=["due_at"],
                name="reminder_failed_open_idx",
                condition=models.Q(status="failed", resolved_at__isnull=True),
            ),
            # The staff outbox, newest due first: read backwards until a page of the
            # site's emails is found, not the site's whole history sorted (issue 18:
            # 300,000 rows and 0.7 s at a network site).
            models.Index(fields=["due_at", "id"], name="reminder_due_idx"),
            # A site's outbox, newest due first: the site's own emails, read backwards
            # (at ten sites the network-wide walk above met 13,000 emails, each joined
            # to its visit, to keep a site's newest 1,000).
            models.Index(fields=["site", "due_at", "id"], name="reminder_site_due_idx"),
            # The open-loops report's emails failed without a call, oldest first: the
            # failed ones (a handful), not every visit of the site joined first.
            models.Index(
                fields=["due_at", "id"],
                name="reminder_failed_due_idx",
                condition=models.Q(status="failed"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"

    def save(self, *args, **kwargs):
        if self.site_id is None:  # a new row: its visit's site (invariant 21)
            self.site_id = self.appointment.site_id
        super().save(*args, **kwargs)

    @property
    def is_flagged(self) -> bool:
        return self.status == self.Status.FAILED and self.resolved_at is None


class ReminderPolicy(models.Model):
    """When a kind of reminder goes out, relative to the appointment's clinic date.

    Without a row for a kind, the defaults in services/reminder_plan.py apply.
    """

    kind = models.CharField(
        _("reminder"), max_length=30, choices=Reminder.Kind.choices, unique=True
    )
    enabled = models.BooleanField(_("send it"), default=True)
    days_offset = models.SmallIntegerField(
        _("days from the appointment"),
        help_text=_("-2 is two days before the appointment's date, 1 the day after."),
    )
    send_time = models.TimeField(_("time of day (clinic time)"), default=time(10, 0))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("reminder policy")
        verbose_name_plural = _("reminder policies")
        ordering = ["days_offset", "kind"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.days_offset:+d} d at {self.send_time:%H:%M}"


class CallTask(models.Model):
    """A phone call the front desk owes a patient: instead of an email the patient
    cannot receive, or because they asked (through a link) to reschedule."""

    class Reason(models.TextChoices):
        NO_EMAIL = "no_email", _("Patient gets no email: tell them by phone")
        EMAIL_FAILED = "email_failed", _("Email could not be delivered")
        RESCHEDULE_REQUEST = "reschedule_request", _("Patient asked to reschedule")
        MISSED_STOP = "missed_stop", _("A medicine stop time passed before the patient was told")
        RESULTS_CALL = "results_call", _("Results: the physician calls the patient")
        # The visit moved after a medicine stop was emailed for the old time: the
        # patient must hear, by phone, that it no longer applies and what to do now.
        STOP_WITHDRAWN = (
            "stop_withdrawn",
            _("Visit moved after a medicine stop was emailed: call the patient with new dates"),
        )
        # Two records of the patient were merged after a stop was emailed: the plan now
        # has a medicine it never decided on, and the email said to stop only one.
        RECORDS_MERGED = (
            "records_merged",
            _("Records merged after a medicine stop was emailed: call the patient"),
        )
        MEDICINE_ADDED = (
            "medicine_added",
            _("Medicine added after a medicine stop was emailed: call the patient"),
        )

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    appointment = models.ForeignKey(
        "procedures.Appointment", on_delete=models.PROTECT, related_name="call_tasks"
    )
    reason = models.CharField(max_length=30, choices=Reason.choices)
    # What the call is about: the Reminder.Kind the email would have been.
    reminder_kind = models.CharField(max_length=30, choices=Reminder.Kind.choices, blank=True)
    appointment_version = models.PositiveIntegerField(default=1)
    # The outbox row the call stands in for (a refused email, one the patient cannot
    # receive): kept in step with it, e.g. back to an email when an address returns.
    reminder = models.ForeignKey(
        Reminder, null=True, blank=True, on_delete=models.SET_NULL, related_name="call_tasks"
    )
    # A results call: the order it is about and the physician who makes it (who
    # chose "I will call" at the review). It is theirs, not the front desk's, and
    # closes when the patient is recorded as told about that order, or the order
    # is cancelled (workflows.results).
    order = models.ForeignKey(
        "procedures.TestOrder",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="call_tasks",
    )
    physician = models.ForeignKey(
        "procedures.Provider", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    due_at = models.DateTimeField(default=timezone.now)
    note = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    # Why a call was closed without being made (the visit was cancelled or moved).
    closed_reason = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    site_lookup = "appointment__site"  # its site: catalog.sites.at_site

    class Meta:
        ordering = ["due_at", "pk"]
        indexes = [
            models.Index(
                fields=["due_at"], name="calltask_open_due_idx", condition=models.Q(status="open")
            )
        ]

    def __str__(self) -> str:
        return f"Call #{self.pk} ({self.get_reason_display()})"


class PatientLinkUse(models.Model):
    """A single-use patient link that has been used (the token's digest, never the token)."""

    digest = models.CharField(max_length=64, unique=True)
    purpose = models.CharField(max_length=20)
    appointment = models.ForeignKey(
        "procedures.Appointment", on_delete=models.CASCADE, related_name="+"
    )
    used_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.purpose} link used {self.used_at:%Y-%m-%d}"


class EmailOptOut(models.Model):
    """The patient unsubscribed from non-essential emails (through a link)."""

    patient = models.OneToOneField(
        "patients.Patient", on_delete=models.CASCADE, related_name="email_opt_out"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Opt-out of patient {self.patient_id}"
