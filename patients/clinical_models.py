"""The clinical record's rows: allergies and pre-procedure bloods."""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Allergy(models.Model):
    """An allergy or intolerance that matters in a sedation clinic."""

    class Substance(models.TextChoices):
        LOCAL_ANAESTHETIC = "local_anaesthetic", _("Local anaesthetics")
        LATEX = "latex", _("Latex")
        CHLORHEXIDINE = "chlorhexidine", _("Chlorhexidine")
        IODINE = "iodine", _("Iodine or povidone-iodine")
        ADHESIVE = "adhesive", _("Adhesive dressings and tapes")
        SEDATIVE = "sedative", _("Sedatives")
        OPIOID = "opioid", _("Opioids")
        OTHER = "other", _("Something else (name it)")

    class Severity(models.TextChoices):
        MILD = "mild", _("Mild")
        MODERATE = "moderate", _("Moderate")
        SEVERE = "severe", _("Severe (anaphylaxis)")
        UNKNOWN = "unknown", _("Not known")

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="allergies"
    )
    substance = models.CharField(_("allergic to"), max_length=20, choices=Substance.choices)
    substance_other = models.CharField(_("name of the substance"), max_length=100, blank=True)
    reaction = models.CharField(_("reaction"), max_length=200)
    severity = models.CharField(_("severity"), max_length=10, choices=Severity.choices)
    is_active = models.BooleanField(default=True)
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-is_active", "substance", "pk"]
        verbose_name_plural = _("allergies")
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(substance="other") | ~models.Q(substance_other=""),
                name="allergy_other_is_named",
                violation_error_message=_("Name the substance."),
            )
        ]

    def __str__(self) -> str:
        return f"Allergy {self.pk} of patient {self.patient_id}"

    @property
    def substance_label(self) -> str:
        if self.substance == self.Substance.OTHER:
            return self.substance_other
        return str(self.get_substance_display())


class BloodResult(models.Model):
    """A pre-procedure blood test: platelet count and/or INR on the day it was taken."""

    PLATELETS = (0, 2000)  # x10^9/L
    INR = (Decimal("0.5"), Decimal("15"))

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="blood_results"
    )
    taken_on = models.DateField(_("blood taken on"))
    platelets = models.PositiveIntegerField(
        _("platelet count (x10⁹/L)"),
        null=True,
        blank=True,
        validators=[
            MaxValueValidator(PLATELETS[1], _("A platelet count over 2000 cannot be right."))
        ],
    )
    inr = models.DecimalField(
        _("INR"),
        max_digits=4,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[
            MinValueValidator(INR[0], _("An INR below 0.5 cannot be right.")),
            MaxValueValidator(INR[1], _("An INR above 15 cannot be right.")),
        ],
    )
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-taken_on", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(platelets__isnull=False) | models.Q(inr__isnull=False),
                name="bloodresult_has_a_value",
                violation_error_message=_("Enter the platelet count, the INR, or both."),
            )
        ]

    def __str__(self) -> str:
        return f"Blood result {self.pk} of patient {self.patient_id}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        born = self.patient.date_of_birth if self.patient_id else None
        if self.taken_on and self.taken_on > timezone.localdate():
            errors["taken_on"] = str(_("The blood cannot have been taken after today."))
        elif self.taken_on and born and self.taken_on < born:
            errors["taken_on"] = _(
                "The blood cannot have been taken before the patient was born (%(born)s)."
            ) % {"born": born.strftime("%d/%m/%Y")}
        if self.platelets is None and self.inr is None:
            errors["platelets"] = str(_("Enter the platelet count, the INR, or both."))
        if errors:
            raise ValidationError(errors)
