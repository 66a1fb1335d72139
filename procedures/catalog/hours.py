"""When providers and rooms can be booked: weekly working hours and exceptions.

A provider or a room with no working-hours rows works the clinic's default
opening hours (`DEFAULT_OPENING_HOURS`, Monday to Friday 08:00-18:00), so a new
room is usable at once; rows are its "own hours" and replace the default on every
weekday. Clinic admins change them on the staff page "Hours and leave"
(`procedures.scheduling.hours_admin`), which starts own hours from a copy of the
default and lists the booked visits a change would leave outside hours before saving.
Clinic holidays (`ClinicHoliday`) close everything for the day.
"""

from datetime import time

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

WEEKDAYS = [
    (0, _("Monday")),
    (1, _("Tuesday")),
    (2, _("Wednesday")),
    (3, _("Thursday")),
    (4, _("Friday")),
    (5, _("Saturday")),
    (6, _("Sunday")),
]

# weekday -> list of (start, end) in clinic wall-clock time.
DEFAULT_OPENING_HOURS: dict[int, list[tuple[time, time]]] = {
    day: [(time(8, 0), time(18, 0))] for day in range(5)
}


class WorkingHours(models.Model):
    """One session a provider or a room works on a weekday (clinic wall-clock time)."""

    provider = models.ForeignKey(
        "procedures.Provider",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="working_hours",
    )
    room = models.ForeignKey(
        "procedures.Room",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="working_hours",
    )
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=WEEKDAYS)
    starts = models.TimeField(_("from"))
    ends = models.TimeField(_("until"))

    class Meta:
        ordering = ["weekday", "starts"]
        verbose_name = _("working hours")
        verbose_name_plural = _("working hours")
        constraints = [
            models.CheckConstraint(
                condition=Q(ends__gt=models.F("starts")), name="workinghours_ends_after_starts"
            ),
            models.CheckConstraint(
                condition=Q(provider__isnull=True, room__isnull=False)
                | Q(provider__isnull=False, room__isnull=True),
                name="workinghours_one_resource",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.starts:%H:%M}-{self.ends:%H:%M}"

    def get_additional_data(self) -> dict[str, int | None]:
        """Kept on each audit entry (django-auditlog), so the hours page can say who
        last changed a physician's or a room's hours, even for deleted rows."""
        return {"provider": self.provider_id, "room": self.room_id}

    def clean(self) -> None:
        if self.starts and self.ends and self.ends <= self.starts:
            raise ValidationError({"ends": _("The session must end after it starts.")})


class Unavailability(models.Model):
    """A stretch when a provider or a room cannot be booked: leave, training,
    maintenance, a closure."""

    class Reason(models.TextChoices):
        LEAVE = "leave", _("Leave")
        TRAINING = "training", _("Training or conference")
        SICKNESS = "sickness", _("Sickness")
        MAINTENANCE = "maintenance", _("Maintenance")
        CLOSURE = "closure", _("Closure")
        OTHER = "other", _("Other")

    provider = models.ForeignKey(
        "procedures.Provider",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="unavailabilities",
    )
    room = models.ForeignKey(
        "procedures.Room",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="unavailabilities",
    )
    starts_at = models.DateTimeField(_("from"))
    ends_at = models.DateTimeField(_("until"))
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        ordering = ["starts_at"]
        verbose_name = _("absence or closure")
        verbose_name_plural = _("absences and closures")
        indexes = [models.Index(fields=["starts_at", "ends_at"], name="unavail_span_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="unavail_ends_after_starts"
            ),
            models.CheckConstraint(
                condition=Q(provider__isnull=True, room__isnull=False)
                | Q(provider__isnull=False, room__isnull=True),
                name="unavail_one_resource",
            ),
        ]

    def __str__(self) -> str:
        who = self.provider or self.room
        return f"{who}: {self.get_reason_display()}"

    def get_additional_data(self) -> dict[str, int | None]:
        """As `WorkingHours.get_additional_data`: whose leave this is, for the audit."""
        return {"provider": self.provider_id, "room": self.room_id}
