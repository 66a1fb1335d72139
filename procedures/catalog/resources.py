from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from procedures.catalog.choices import SedationLevel


class Provider(models.Model):
    """A physician who performs procedures; linked to their staff login."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="provider",
    )
    display_name = models.CharField(_("name as shown"), max_length=100, unique=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name


class Room(models.Model):
    name = models.CharField(max_length=100, unique=True)
    is_monitored = models.BooleanField(
        _("monitored"),
        default=False,
        help_text=_("Has the monitoring needed for IV sedation or general anaesthesia."),
    )
    procedure_types = models.ManyToManyField(
        "procedures.ProcedureType",
        blank=True,
        related_name="rooms",
        verbose_name=_("procedures done here"),
        help_text=_("Leave empty when any procedure can be done in this room."),
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def can_host(self, sedation_level: str) -> bool:
        """Whether the room has what this sedation level needs (a stable contract:
        preparation asks it too)."""
        return self.is_monitored or sedation_level not in SedationLevel.needs_monitored_room()

    def can_do(self, procedure_type) -> bool:
        """Whether this procedure may be done here (no list means any procedure).

        Reads `procedure_types.all()`, so prefetch it when asking for many rooms.
        """
        allowed = self.procedure_types.all()
        return not allowed or procedure_type in allowed
