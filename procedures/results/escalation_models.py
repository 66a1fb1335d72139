from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class ResultCoverage(models.Model):
    """While a physician is on leave, a colleague answers for their results."""

    absent = models.ForeignKey(
        "procedures.Provider",
        on_delete=models.CASCADE,
        related_name="coverage_while_away",
        verbose_name=_("physician on leave"),
    )
    covering = models.ForeignKey(
        "procedures.Provider",
        on_delete=models.CASCADE,
        related_name="coverage_given",
        verbose_name=_("covering physician"),
    )
    starts_on = models.DateField(_("from"))
    ends_on = models.DateField(_("until (inclusive)"))

    class Meta:
        ordering = ["starts_on", "pk"]
        verbose_name = _("results coverage")
        verbose_name_plural = _("results coverage")
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=F("starts_on")), name="coverage_ends_after_start"
            ),
            models.CheckConstraint(condition=~Q(absent=F("covering")), name="coverage_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.covering} covers {self.absent} {self.starts_on} to {self.ends_on}"


class ResultEscalation(models.Model):
    """One chase of one late order at one level: written once, emailed once."""

    class Level(models.TextChoices):
        OVERDUE = "overdue", _("Result overdue: physician told")
        OVERDUE_LEAD = "overdue_lead", _("Result long overdue: clinic lead told")
        UNREVIEWED = "unreviewed", _("Final result not reviewed: physician told")
        UNREVIEWED_LEAD = "unreviewed_lead", _("Final result not reviewed: clinic lead told")
        UNCOMMUNICATED = "uncommunicated", _("Patient not told: physician told")

    order = models.ForeignKey(
        "procedures.TestOrder", on_delete=models.CASCADE, related_name="escalations"
    )
    level = models.CharField(max_length=20, choices=Level.choices)
    # Staff addresses only; empty when nobody could be reached (shown on the timeline).
    recipient = models.CharField(max_length=254, blank=True)
    created_at = models.DateTimeField()
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["order", "level"], name="escalation_once_per_level")
        ]
        indexes = [
            models.Index(
                fields=["created_at"],
                name="escalation_unsent_idx",
                condition=Q(notified_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.level} for order {self.order_id}"
