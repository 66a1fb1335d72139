"""Preparation: prep templates, medication holds, the per-appointment prep plan
(sedation, fasting, site, transport and access needs), clinical-rule overrides,
front-desk tasks and the day-of readiness checklist."""

from datetime import time

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from patients.models import Medication
from procedures.catalog.choices import ProcedureSide, ProcedureSite

REVIEW_NOTE = _("Shipped as a default: review with your clinical team.")


class StepKind(models.TextChoices):
    WHAT_TO_BRING = "what_to_bring", _("What to bring")
    MEDICATION_HOLD = "medication_hold", _("Medicines")
    LABS = "labs", _("Blood tests")
    ESCORT = "escort", _("Getting home")
    FASTING = "fasting", _("Eating and drinking")
    CLOTHING = "clothing", _("What to wear")
    ARRIVAL = "arrival", _("Arrival")
    AFTERCARE = "aftercare", _("Afterwards")
    NOTICE = "notice", _("Notice")


class PrepTemplate(models.Model):
    """One patient-facing preparation instruction, with when and for whom it applies."""

    class Condition(models.TextChoices):
        ALWAYS = "always", _("Always")
        SEDATED = "sedated", _("Only with sedation")
        MEDICATION_HOLD = "medication_hold", _("Only when a medication hold applies")
        BLEEDING_DISORDER = "bleeding_disorder", _("Only with a bleeding disorder")
        CHILD = "child", _("Only for children")

    class Unit(models.TextChoices):
        DAYS_BEFORE = "days_before", _("days before")
        HOURS_BEFORE = "hours_before", _("hours before")
        DAYS_AFTER = "days_after", _("days after")

    code = models.SlugField(max_length=40, unique=True)
    kind = models.CharField(_("kind of step"), max_length=20, choices=StepKind.choices)
    text = models.TextField(
        _("what the patient reads"),
        help_text=_("Plain words. Never name a medicine, test or diagnosis: emails use this text."),
    )
    condition = models.CharField(
        _("applies"), max_length=20, choices=Condition.choices, default=Condition.ALWAYS
    )
    procedure_types = models.ManyToManyField(
        "procedures.ProcedureType",
        blank=True,
        related_name="prep_templates",
        verbose_name=_("only for these procedures"),
        help_text=_("Leave empty for every procedure."),
    )
    amount = models.PositiveSmallIntegerField(_("how many"), default=1)
    unit = models.CharField(_("unit"), max_length=20, choices=Unit.choices)
    at_time = models.TimeField(
        _("at (clinic time)"), default=time(10, 0), help_text=_("For steps counted in days.")
    )
    reminder_kind = models.CharField(
        _("email the patient as"),
        max_length=30,
        blank=True,
        help_text=_("A reminder kind; empty when the step is not emailed on its own."),
    )
    is_active = models.BooleanField(_("in use"), default=True)
    review_note = models.CharField(max_length=200, blank=True, default=str(REVIEW_NOTE))

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class MedicationClassRule(models.Model):
    """A clinic-wide *suggestion* of how long before a procedure to stop a class of
    medicine. Never applied by itself: a physician confirms every hold."""

    med_class = models.CharField(
        _("kind of medicine"), max_length=20, choices=Medication.Class.choices, unique=True
    )
    suggested_hold_days = models.PositiveSmallIntegerField(
        _("suggested days to stop before"), null=True, blank=True
    )
    note = models.CharField(_("note for the physician"), max_length=200, blank=True)

    class Meta:
        ordering = ["med_class"]

    def __str__(self) -> str:
        return self.get_med_class_display()


class PrepPlan(models.Model):
    """The preparation decisions for one appointment (created on first use)."""

    appointment = models.OneToOneField(
        "procedures.Appointment", on_delete=models.CASCADE, related_name="prep_plan"
    )
    food_fast_hours = models.PositiveSmallIntegerField(_("no food for (hours)"), default=6)
    clear_fluid_fast_hours = models.PositiveSmallIntegerField(
        _("no clear fluids for (hours)"), default=2
    )
    sedation_set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sedation_set_at = models.DateTimeField(null=True, blank=True)
    hold_plan_confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    hold_plan_confirmed_at = models.DateTimeField(null=True, blank=True)
    site = models.CharField(_("site"), max_length=20, choices=ProcedureSite.choices, blank=True)
    side = models.CharField(_("side"), max_length=10, choices=ProcedureSide.choices, blank=True)
    site_set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    active_infection = models.BooleanField(_("active infection"), default=False)
    cancer = models.BooleanField(_("cancer"), default=False)
    needs_wheelchair = models.BooleanField(_("needs a wheelchair"), default=False)
    needs_interpreter = models.BooleanField(_("needs an interpreter"), default=False)
    interpreter_language = models.CharField(_("interpreter language"), max_length=50, blank=True)
    escort_confirmed_via = models.CharField(max_length=20, blank=True)
    escort_confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Prep plan of appointment {self.appointment_id}"

    @property
    def hold_plan_confirmed(self) -> bool:
        return self.hold_plan_confirmed_at is not None


class MedicationHold(models.Model):
    """A physician's decision about one medicine for one appointment."""

    class Action(models.TextChoices):
        STOP = "stop", _("Stop before the procedure")
        CONTINUE = "continue", _("Keep taking it")

    appointment = models.ForeignKey(
        "procedures.Appointment", on_delete=models.CASCADE, related_name="medication_holds"
    )
    medication = models.ForeignKey(Medication, on_delete=models.CASCADE, related_name="holds")
    action = models.CharField(_("decision"), max_length=10, choices=Action.choices)
    stop_at = models.DateTimeField(_("last dose before"), null=True, blank=True)
    resume_guidance = models.CharField(_("when to start again"), max_length=200, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField()

    class Meta:
        ordering = ["stop_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["appointment", "medication"], name="hold_one_per_medication"
            ),
            models.CheckConstraint(
                condition=models.Q(action="continue") | models.Q(stop_at__isnull=False),
                name="hold_stop_has_date",
            ),
        ]

    def __str__(self) -> str:
        return f"Hold {self.pk} on appointment {self.appointment_id}"


class ClinicalOverride(models.Model):
    """A clinical rule knowingly set aside: who, why and when."""

    # The rules (codes in prep/rules.py, and checklist.START_NOT_READY) in words, for
    # the prep page: a physician reads "Started while not ready", not a code.
    RULE_LABELS = {
        "biopsy_pelvis": _("Biopsy site outside the pelvis"),
        "child_aspiration_only": _("Child: a procedure other than aspiration"),
        "child_tibia": _("Child: a site other than the tibia"),
        "sternum_reason": _("Breastbone chosen as the site"),
        "bmac_infection_cancer": _("BMAC with an active infection or cancer"),
        "start_not_ready": _("Started while not ready"),
    }

    appointment = models.ForeignKey(
        "procedures.Appointment", on_delete=models.CASCADE, related_name="clinical_overrides"
    )
    rule = models.CharField(max_length=40)
    reason = models.CharField(_("reason"), max_length=300)
    # For a start while not ready: the readiness items missing then, whole and apart
    # from the reason (once one 300-character field, where a long reason cut them off).
    missing = models.TextField(_("what was missing"), blank=True, default="")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"Override of {self.rule} on appointment {self.appointment_id}"

    @property
    def rule_label(self) -> str:
        return str(self.RULE_LABELS.get(self.rule, self.rule.replace("_", " ").capitalize()))


class FrontDeskTask(models.Model):
    """Something the front desk must arrange before the day, with a due date."""

    class Kind(models.TextChoices):
        WHEELCHAIR = "wheelchair", _("Arrange a wheelchair")
        INTERPRETER = "interpreter", _("Book an interpreter")
        SHORT_NOTICE = "short_notice", _("Booked inside the medicine-stop period: call the patient")
        TRANSPORT = "transport", _("Book clinic transport")
        # Issue 13: a test's sample must be taken again (the order was replaced).
        RECOLLECT = "recollect", _("Book the patient for a new sample (recollection)")

    appointment = models.ForeignKey(
        "procedures.Appointment", on_delete=models.CASCADE, related_name="frontdesk_tasks"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    note = models.CharField(max_length=200, blank=True)
    due_date = models.DateField(_("due"))
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    site_lookup = "appointment__site"  # its site: catalog.sites.at_site

    class Meta:
        ordering = ["due_date", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["appointment", "kind"], name="frontdesk_task_once")
        ]
        indexes = [models.Index(fields=["due_date"], name="frontdesk_task_due_idx")]

    def __str__(self) -> str:
        return f"{self.kind} for appointment {self.appointment_id}"


class ChecklistItem(models.TextChoices):
    MEDICATIONS_HELD = "medications_held", _("Medicines held as instructed")
    FASTING = "fasting", _("Fasting confirmed")
    ESCORT_PRESENT = "escort_present", _("Escort present")
    LABS_BACK = "labs_back", _("Pre-procedure blood tests back")
    PREGNANCY = "pregnancy", _("Asked whether the patient could be pregnant")
    CONSENT = "consent", _("Consent signed")
    SITE_SIDE = "site_side", _("Site and side confirmed")


class ChecklistTick(models.Model):
    """One day-of readiness item, ticked by a nurse at check-in."""

    appointment = models.ForeignKey(
        "procedures.Appointment", on_delete=models.CASCADE, related_name="checklist_ticks"
    )
    item = models.CharField(max_length=20, choices=ChecklistItem.choices)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()

    site_lookup = "appointment__site"  # its site: catalog.sites.at_site

    class Meta:
        ordering = ["at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["appointment", "item"], name="checklist_tick_once")
        ]

    def __str__(self) -> str:
        return f"{self.item} on appointment {self.appointment_id}"
