from django.db import models
from django.utils.translation import gettext_lazy as _

from procedures.catalog.choices import ProcedureKind, SedationLevel
from procedures.catalog.sites import Site


class TestType(models.Model):
    """A test run on the sample, with its expected turnaround in working days."""

    __test__ = False  # a clinical test, not a pytest class

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    lab = models.CharField(_("performing lab"), max_length=100, blank=True)
    turnaround_target_days = models.PositiveSmallIntegerField(_("target turnaround (working days)"))
    turnaround_max_days = models.PositiveSmallIntegerField(_("maximum turnaround (working days)"))
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(turnaround_max_days__gte=models.F("turnaround_target_days")),
                name="testtype_max_gte_target",
            )
        ]

    def __str__(self) -> str:
        return self.name


class ProcedureType(models.Model):
    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    default_duration_minutes = models.PositiveSmallIntegerField(_("default duration (minutes)"))
    default_sedation_level = models.CharField(
        _("default sedation"), max_length=20, choices=SedationLevel.choices
    )
    kind = models.CharField(
        _("what it takes"),
        max_length=20,
        choices=ProcedureKind.choices,
        default=ProcedureKind.ASPIRATION,
        help_text=_("Decides the clinical rules: a biopsy only from the pelvis, and so on."),
    )
    default_tests = models.ManyToManyField(
        TestType, blank=True, related_name="procedure_types", verbose_name=_("default test panel")
    )
    # Offered, unticked, when the procedure is completed (e.g. FISH, NGS, culture).
    optional_tests = models.ManyToManyField(
        TestType,
        blank=True,
        related_name="optional_for_procedure_types",
        verbose_name=_("optional tests"),
    )
    # Buffers hold the room (and the patient) around the procedure itself; the
    # physician is free again at the procedure's end. See docs/scheduling.md.
    setup_minutes = models.PositiveSmallIntegerField(_("room set-up before (minutes)"), default=0)
    turnover_minutes = models.PositiveSmallIntegerField(
        _("room turnover after (minutes)"), default=0
    )
    recovery_minutes_oral = models.PositiveSmallIntegerField(
        _("recovery after oral sedation (minutes)"), default=0
    )
    recovery_minutes_iv = models.PositiveSmallIntegerField(
        _("recovery after IV sedation (minutes)"), default=0
    )
    recovery_minutes_general = models.PositiveSmallIntegerField(
        _("recovery after general anaesthesia (minutes)"), default=0
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(default_duration_minutes__gt=0),
                name="proceduretype_duration_positive",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_discussion(self) -> bool:
        """A results discussion: a conversation, not a procedure (no prep, no aftercare)."""
        return self.kind == ProcedureKind.RESULTS_DISCUSSION

    def recovery_minutes(self, sedation_level: str) -> int:
        """Minutes the patient recovers in the room after the procedure."""
        minutes: dict[str, int] = {
            SedationLevel.ORAL: self.recovery_minutes_oral,
            SedationLevel.IV_MODERATE: self.recovery_minutes_iv,
            SedationLevel.GENERAL: self.recovery_minutes_general,
        }
        return minutes.get(sedation_level, 0)

    def buffers(self, sedation_level: str) -> tuple[int, int]:
        """(minutes before, minutes after) the room is held around the procedure."""
        return self.setup_minutes, self.turnover_minutes + self.recovery_minutes(sedation_level)


class ClinicHoliday(models.Model):
    """A day the clinic and its labs do not work: skipped when counting turnaround.

    With a site, that site only is closed; without one, every site (the one clinic of a
    database from before sites)."""

    date = models.DateField()
    name = models.CharField(max_length=100)
    site = models.ForeignKey(
        Site,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="holidays",
        help_text=_("Leave empty when every site is closed."),
    )

    class Meta:
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(
                fields=["date"],
                condition=models.Q(site__isnull=True),
                name="clinicholiday_one_network_closure_a_day",
            ),
            models.UniqueConstraint(fields=["site", "date"], name="clinicholiday_site_date"),
        ]

    def __str__(self) -> str:
        return f"{self.date}: {self.name}"
