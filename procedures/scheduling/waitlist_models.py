from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class WaitlistEntryQuerySet(models.QuerySet):
    def waiting(self) -> "WaitlistEntryQuerySet":
        return self.filter(status=WaitlistEntry.Status.WAITING)

    def matching(self, appointment) -> "WaitlistEntryQuerySet":
        """Waiting patients who could take `appointment`'s freed slot: same procedure,
        the same physician or any, the slot's day within their window, and not the
        patient who just gave it up."""
        day = appointment.start_at.astimezone(appointment.site_tz).date()
        return (
            self.waiting()
            .filter(procedure_type=appointment.procedure_type_id)
            .filter(models.Q(provider__isnull=True) | models.Q(provider=appointment.provider_id))
            .filter(models.Q(earliest__isnull=True) | models.Q(earliest__lte=day))
            .filter(models.Q(latest__isnull=True) | models.Q(latest__gte=day))
            .exclude(patient=appointment.patient_id)
            .select_related("patient", "provider", "procedure_type")
            .order_by("created_at", "pk")
        )


class WaitlistEntry(models.Model):
    """A patient waiting for an earlier slot for a procedure (with one physician, or any)."""

    class Status(models.TextChoices):
        WAITING = "waiting", _("Waiting")
        BOOKED = "booked", _("Booked")
        REMOVED = "removed", _("Removed")

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="waitlist_entries"
    )
    procedure_type = models.ForeignKey(
        "procedures.ProcedureType", on_delete=models.PROTECT, verbose_name=_("procedure")
    )
    provider = models.ForeignKey(
        "procedures.Provider",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        verbose_name=_("physician"),
        help_text=_("Leave empty for any physician."),
    )
    earliest = models.DateField(_("available from"), null=True, blank=True)
    latest = models.DateField(_("needed by"), null=True, blank=True)
    note = models.CharField(_("note for the front desk"), max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WAITING)
    booked_appointment = models.ForeignKey(
        "procedures.Appointment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WaitlistEntryQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("waitlist entry")
        verbose_name_plural = _("waitlist entries")
        indexes = [
            models.Index(
                fields=["procedure_type", "created_at"],
                name="waitlist_waiting_idx",
                condition=models.Q(status="waiting"),
            )
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "procedure_type"],
                condition=models.Q(status="waiting"),
                name="waitlist_one_waiting_per_procedure",
                violation_error_message=_("This patient is already waiting for this procedure."),
            )
        ]

    def __str__(self) -> str:
        return f"Waitlist entry {self.pk} ({self.status})"
