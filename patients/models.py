import secrets
from datetime import date

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core.exceptions import ValidationError
from django.db import connection, models
from django.db.models.functions import Greatest, Upper
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class PatientQuerySet(models.QuerySet):
    def search(self, query: str) -> "PatientQuerySet":
        """Patients matching every word of `query` in a name, or the MRN, or a DOB."""
        query = " ".join(query.split())
        if not query:
            return self.none()
        parsed = _parse_date(query)
        if parsed:
            return self.filter(date_of_birth=parsed)
        qs = self
        for term in query.split(" "):
            qs = qs.filter(
                models.Q(family_name__icontains=term)
                | models.Q(given_name__icontains=term)
                | models.Q(mrn__iexact=term)
            )
        return qs

    def search_fuzzy(self, query: str, limit: int = 20) -> list["Patient"]:
        """`search()`, and on PostgreSQL, when that finds nobody, names that are close
        (a typo, a missing letter) by trigram similarity, closest first.

        The similarity filter is `UPPER(name) % UPPER(term)`, which the GIN trigram
        indexes on UPPER(family_name) and UPPER(given_name) serve.
        """
        exact = list(self.search(query)[:limit])
        query = " ".join(query.split())
        if exact or not query or _parse_date(query) or connection.vendor != "postgresql":
            return exact
        from django.contrib.postgres.search import TrigramSimilarity

        qs = self.annotate(upper_family=Upper("family_name"), upper_given=Upper("given_name"))
        score = None
        for term in query.upper().split(" "):
            qs = qs.filter(
                models.Q(upper_family__trigram_similar=term)
                | models.Q(upper_given__trigram_similar=term)
            )
            term_score = Greatest(
                TrigramSimilarity("upper_family", term), TrigramSimilarity("upper_given", term)
            )
            score = term_score if score is None else score + term_score
        return list(qs.annotate(similarity=score).order_by("-similarity", "pk")[:limit])


# How staff may type a date (day first); forms and search read the same ones.
DATE_INPUT_FORMATS = ["%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y"]


def _parse_date(text: str) -> date | None:
    from datetime import datetime

    for fmt in DATE_INPUT_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()  # noqa: DTZ007 (a calendar date)
        except ValueError:
            continue
    return None


def new_mrn() -> str:
    """A medical record number: 'C' and eight random digits (checked unique by the caller)."""
    return f"C{secrets.randbelow(10**8):08d}"


class Patient(models.Model):
    class Sex(models.TextChoices):
        FEMALE = "female", _("Female")
        MALE = "male", _("Male")
        OTHER = "other", _("Other or not stated")

    class Language(models.TextChoices):
        ENGLISH = "en", _("English")
        SPANISH = "es", _("Spanish")

    mrn = models.CharField(_("MRN"), max_length=20, unique=True, editable=False)
    given_name = models.CharField(_("first name"), max_length=100)
    family_name = models.CharField(_("last name"), max_length=100)
    date_of_birth = models.DateField(_("date of birth"))
    sex = models.CharField(_("sex"), max_length=10, choices=Sex.choices, default=Sex.OTHER)
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    preferred_language = models.CharField(
        _("preferred language"), max_length=5, choices=Language.choices, default=Language.ENGLISH
    )
    email_reminders = models.BooleanField(
        _("send email reminders"),
        default=True,
        help_text=_("Booking confirmations, preparation reminders and result notices."),
    )
    details_in_email = models.BooleanField(
        _("patient asked for details in email"),
        default=False,
        help_text=_("Only when the patient asked for it: emails then name the procedure."),
    )
    bleeding_disorder = models.BooleanField(_("bleeding disorder"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PatientQuerySet.as_manager()

    class Meta:
        ordering = ["family_name", "given_name", "pk"]
        indexes = [
            models.Index(fields=["family_name", "given_name"], name="patient_name_idx"),
            models.Index(fields=["date_of_birth"], name="patient_dob_idx"),
            # icontains compiles to UPPER(col) LIKE UPPER(%s) on PostgreSQL:
            # index that expression, not the plain column.
            # search() matches the MRN with iexact (UPPER(mrn) = UPPER(term)) OR'ed with
            # the names: with this index the planner combines three index scans.
            models.Index(Upper("mrn"), name="patient_mrn_upper_idx"),
            GinIndex(
                OpClass(Upper("family_name"), name="gin_trgm_ops"),
                name="patient_family_trgm_idx",
            ),
            GinIndex(
                OpClass(Upper("given_name"), name="gin_trgm_ops"),
                name="patient_given_trgm_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.family_name}, {self.given_name} ({self.mrn})"

    def get_absolute_url(self) -> str:
        return reverse("patients:detail", args=[self.pk])

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def can_receive_email(self) -> bool:
        return self.email_reminders and bool(self.email)

    def clean(self) -> None:
        errors = {}
        today = date.today()  # noqa: DTZ011 (compared with a calendar date)
        if self.date_of_birth and self.date_of_birth > today:
            errors["date_of_birth"] = _("The date of birth cannot be in the future.")
        elif self.date_of_birth and self.date_of_birth.year < 1900:
            errors["date_of_birth"] = _("Enter a date of birth after 1900.")
        if self.email_reminders and not self.email:
            errors["email"] = _(
                "Enter an email address, or untick 'send email reminders' for this patient."
            )
        if errors:
            raise ValidationError(errors)


class Medication(models.Model):
    """One medicine, vitamin, supplement or herbal remedy the patient takes.

    The list is what the physician reads when deciding holds before a procedure;
    the class only lets the clinic *suggest* a hold, never apply one.
    """

    class Class(models.TextChoices):
        ANTICOAGULANT = "anticoagulant", _("Anticoagulant (blood thinner)")
        ANTIPLATELET = "antiplatelet", _("Antiplatelet")
        ASPIRIN = "aspirin", _("Aspirin")
        NSAID = "nsaid", _("Anti-inflammatory painkiller (NSAID)")
        SUPPLEMENT = "supplement", _("Vitamin, supplement or herbal remedy")
        OTHER = "other", _("Other")

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="medications")
    name = models.CharField(_("medicine"), max_length=120)
    dose = models.CharField(_("dose and how often"), max_length=120, blank=True)
    med_class = models.CharField(_("kind of medicine"), max_length=20, choices=Class.choices)
    is_active = models.BooleanField(_("still taking it"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.CheckConstraint(condition=~models.Q(name=""), name="medication_name_not_empty")
        ]

    def __str__(self) -> str:
        return f"Medication {self.pk} of patient {self.patient_id}"

    @property
    def thins_blood(self) -> bool:
        return self.med_class in {
            self.Class.ANTICOAGULANT,
            self.Class.ANTIPLATELET,
            self.Class.ASPIRIN,
            self.Class.NSAID,
        }
