"""The daily open-loops sign-off: one row per clinic day, written when someone signs
the day's report off or when the unsigned day is escalated."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class OpenLoopsDay(models.Model):
    """Who signed off a day's open loops and when; or when the unsigned day was chased."""

    day = models.DateField(_("clinic day"), unique=True)
    signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    signed_off_at = models.DateTimeField(_("signed off at"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)
    # The counts as they stood when signed off (the report itself is always live).
    counts = models.JSONField(default=dict, blank=True)
    # The unsigned day was escalated to the clinic lead: when, and to whom ("" when
    # nobody could be emailed: an alarm like any escalation without a recipient).
    escalated_at = models.DateTimeField(null=True, blank=True)
    escalated_to = models.CharField(max_length=254, blank=True)
    escalation_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-day"]
        verbose_name = _("open-loops sign-off")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(signed_off_at__isnull=True)
                | models.Q(signed_off_by__isnull=False),
                name="openloops_signed_has_who",
            )
        ]

    def __str__(self) -> str:
        return f"Open loops of {self.day}"
