import secrets
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.indexes import OpClass
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import connection, models
from django.db.models.functions import Lower, Upper
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinic.migration_ops import TrigramIndex

from . import normalise
from .normalise import fold

# How close a typed word must be to a word of a name for the typo-tolerant search.
WORD_SIMILARITY_THRESHOLD = 0.45
# Terms shorter than this have no trigram of their own: search() reads them as the
# beginning of a family name.
SHORT_TERM = 3
# search()'s order: by name, ignoring case.
NAME_ORDER = (Lower("family_name"), Lower("given_name"), "pk")
# The order of `patient_family_prefix_idx`: by the folded family name, then the folded
# name (given names first), ignoring accents and punctuation too. A range of it is read
# in this order (a short term, a family name's beginning: `_first`).
FAMILY_ORDER = ("search_family", "search_name", "pk")
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def _next_prefix(prefix: str) -> str:
    """The smallest folded text above every text starting with `prefix` ("lj" for
    "li", "m" for "lz"), or "" when there is none ("zz")."""
    while prefix:
        last = _ALPHABET.find(prefix[-1])
        if 0 <= last < len(_ALPHABET) - 1:
            return prefix[:-1] + _ALPHABET[last + 1]
        prefix = prefix[:-1]
    return ""


def _family_begins(prefix: str) -> models.Q:
    """Folded family names starting with `prefix`: a range of `patient_family_prefix_idx`
    (see PatientQuerySet._short_terms for why a range and not LIKE)."""
    begins = models.Q(search_family__gte=prefix)
    above = _next_prefix(prefix)
    if above:
        begins &= models.Q(search_family__lt=above)
    return begins


class PatientQuerySet(models.QuerySet):
    def active(self) -> "PatientQuerySet":
        """Records in use: not merged into another one."""
        return self.filter(merged_into__isnull=True)

    def current(self, **lookup: object) -> "Patient | None":
        """The record `lookup` finds, or the one it was merged into (an old MRN or id
        still reaches the person)."""
        patient = self.filter(**lookup).first()
        for _hop in range(5):  # a merge of a merge: follow the chain, never a loop
            if patient is None or patient.merged_into_id is None:
                return patient
            patient = self.filter(pk=patient.merged_into_id).first()
        return patient

    def search(self, query: str) -> "PatientQuerySet":
        """Active patients matching every word of `query` in their name (ignoring case,
        accents, apostrophes, hyphens and word order) or in their MRN, or born on the
        date `query` names. An old MRN of a merged record finds the record it joined.
        Ordered by name.

        Names are compared on the folded `search_name` column (see normalise.py). A term
        of three letters or more is found anywhere in it, through the trigram index on
        PostgreSQL. When every term is shorter than that (a trigram index cannot serve
        "li" or "ng"), the first is a family name's beginning: a range of the b-tree on
        the folded family name, read in order (see `_short_terms`).
        """
        query = " ".join(query.split())
        if not query:
            return self.none()
        parsed = _parse_date(query)
        if parsed:
            return self.active().filter(date_of_birth=parsed).order_by(*NAME_ORDER)
        terms = fold(query).split()
        if not terms:
            return self.none()
        if all(len(term) < SHORT_TERM for term in terms):
            return self._short_terms(terms)
        qs = self.active()._containing(terms)
        if len(terms) == 1 and any(ch.isdigit() for ch in terms[0]):
            # An MRN of a merged record: the record it was merged into. Read first (a
            # short list, usually empty): as a subquery inside the OR it would stop
            # PostgreSQL combining the trigram indexes.
            survivors = list(
                Patient.objects.filter(
                    mrn__contains=terms[0].upper(), merged_into__isnull=False
                ).values_list("merged_into", flat=True)
            )
            if survivors:
                qs = qs | self.active().filter(pk__in=survivors)
        # Case-folded name order: no b-tree index gives it, so PostgreSQL cannot walk
        # the name index in order and filter it row by row (175,081 rows read for
        # "thomp" at 200,000 patients); it reads the trigram index's matches and sorts
        # those.
        return qs.order_by(*NAME_ORDER)

    def _containing(self, terms: list[str]) -> "PatientQuerySet":
        """Names with each of these folded words somewhere in them (or an MRN, for a
        word with digits)."""
        qs = self
        for term in terms:
            if any(ch.isdigit() for ch in term):
                qs = qs.filter(
                    models.Q(search_name__contains=term) | models.Q(mrn__contains=term.upper())
                )
            else:
                # Every MRN has digits: a term of letters alone is a name (one index).
                qs = qs.filter(search_name__contains=term)
        return qs

    def _first(self, query: str, limit: int) -> list["Patient"]:
        """`search(query)[:limit]`, with the family names that begin with its first
        word first.

        A name the clinic sees often ("thomp": the 1,247 Thompsons of 200,000 patients)
        is found by the trigram index, but PostgreSQL must then read and sort every
        match to show the first 20: 3-5 ms, and ten times the patients make it ten
        times the work. The family names beginning with the word are a range of
        `patient_family_prefix_idx`, read in its order and stopped at the page (0.3 ms
        at any size). Only when they are fewer than a page are the other matches (the
        word inside a name, or a given name) read, after them, in search()'s order."""
        terms = fold(query).split()
        first = terms[0] if terms else ""
        if len(first) < SHORT_TERM or not first.isalpha() or _parse_date(query):
            # A date, an MRN or a short first word (search() reads those in order).
            return list(self.search(query)[:limit])
        begins = _family_begins(first)
        # A family name beginning with the word has it in its search_name (the family
        # words, and a multi-word family name once more run together): no trigram
        # filter for it, which would draw the planner away from the range.
        head = self.active()._containing(terms[1:]).filter(begins).order_by(*FAMILY_ORDER)
        found = list(head[:limit])
        if len(found) < limit:
            found += self.search(query).exclude(begins)[: limit - len(found)]
        return found

    def _short_terms(self, terms: list[str]) -> "PatientQuerySet":
        """Family names starting with the first term (and containing the others), in
        the order of `patient_family_prefix_idx`: a range scan that stops at the page.

        The range is written `>=` and `<` (not LIKE 'li%'), which a b-tree serves in
        any collation. It is exactly the names starting with the term: the folded family
        name holds only [0-9a-z] (normalise.search_family), which every collation orders
        alike. (A LIKE on top of it changed nothing but the planner's estimate: it
        counted the prefix twice, guessed 32 rows for 2,493 "th" names at 200,000
        patients, and read and sorted all of them: 13-20 ms instead of 0.2.)"""
        first, *rest = terms
        qs = self.active().filter(_family_begins(first))
        for term in rest:
            qs = qs.filter(search_name__contains=term)
        return qs.order_by(*FAMILY_ORDER)

    def search_fuzzy(self, query: str, limit: int = 20) -> list["Patient"]:
        """`search()`, and on PostgreSQL, when that finds nobody, names that are close
        (a typo, a missing letter).

        First each word of the term that no name has is corrected to the closest
        words names do have (`NameWord`, a few thousand rows: pg_trgm's own advice for
        spelling correction), and `search()`'s query runs with those: "thompsen" reads
        the 1,250 "thompson"s through the trigram index as "thomp" would, in name
        order, instead of scoring each of them (issue #18). When that finds nobody,
        names close by trigram word similarity, closest first (`_similar`).
        """
        query = " ".join(query.split())
        exact = self._first(query, limit)
        if exact or not query or _parse_date(query) or connection.vendor != "postgresql":
            return exact
        found = self._corrected(fold(query).split(), limit)
        return found or self._similar(query, limit)

    def _corrected(self, terms: list[str], limit: int) -> list["Patient"]:
        """search()'s first matches with each word no name has replaced by the names'
        words closest to it (any of them, when several are as close); [] when no word
        needed it or one has no close word."""
        corrected: list[list[str]] = []
        for term in terms:
            if len(term) < SHORT_TERM or any(ch.isdigit() for ch in term):
                corrected.append([term])
                continue
            words = NameWord.objects.closest(term)
            if not words:
                return []
            corrected.append(words)
        if corrected == [[term] for term in terms]:
            return []
        if all(len(words) == 1 for words in corrected):
            return self._first(" ".join(words[0] for words in corrected), limit)
        qs = self.active()
        for words in corrected:
            either = models.Q()
            for word in words:
                either |= models.Q(search_name__contains=word)
            qs = qs.filter(either)
        return list(qs.order_by(*NAME_ORDER)[:limit])

    def _similar(self, query: str, limit: int) -> list["Patient"]:
        """Names close to the term by trigram word similarity, closest first: the
        filter is `search_name %> term`, which the GIN trigram index on search_name
        serves (it scores every name it reads: 8-15 ms for a common name at 200,000
        patients)."""
        from django.contrib.postgres.search import TrigramWordSimilarity

        with connection.cursor() as cursor:
            # pg_trgm's default (0.6) misses one wrong letter in a six-letter name.
            cursor.execute(
                "SELECT set_config('pg_trgm.word_similarity_threshold', %s, false)",
                [str(WORD_SIMILARITY_THRESHOLD)],
            )
        qs = self.active()
        score: models.Expression | None = None
        for term in fold(query).split():
            if len(term) < 3:
                continue
            qs = qs.filter(search_name__trigram_word_similar=term)
            term_score = TrigramWordSimilarity(term, "search_name")
            score = term_score if score is None else score + term_score
        if score is None:
            return []
        return list(qs.annotate(similarity=score).order_by("-similarity", "pk")[:limit])


class NameWordQuerySet(models.QuerySet):
    def closest(self, term: str, most: int = 3) -> list[str]:
        """`[term]` when a name has that word; else the words of names closest to it
        (pg_trgm similarity, `word % term`, over the trigram index): those as close as
        the closest, up to `most` ("thompsen": "thompson", not also the further
        "thomas", a given name thousands have); [] when none is close."""
        from django.contrib.postgres.search import TrigramSimilarity

        close = list(
            self.filter(word__trigram_similar=term)
            .annotate(similarity=TrigramSimilarity("word", term))
            .order_by("-similarity", "word")
            .values_list("word", "similarity")[:most]
        )
        return [word for word, similarity in close if similarity == close[0][1]]

    def add_names(self, search_names: Iterable[str]) -> None:
        """Every word of these folded names (Patient.search_name), in one INSERT that
        leaves the words already there."""
        words = {word for name in search_names for word in name.split() if len(word) >= SHORT_TERM}
        self.bulk_create(
            [NameWord(word=word) for word in sorted(words)], ignore_conflicts=True, batch_size=5000
        )


class NameWord(models.Model):
    """A word of some patient's folded name (three letters or more): the dictionary the
    typo search corrects a term against (pg_trgm's documentation, "Text Search
    Integration": a table of the distinct words, searched by similarity). Kept by
    Patient.save(); a word whose patients were renamed stays, and finds nobody.
    Holds no person: only words, none linked to a record."""

    word = models.CharField(max_length=150, primary_key=True)

    objects = NameWordQuerySet.as_manager()

    class Meta:
        indexes = [
            TrigramIndex(
                OpClass("word", name="gin_trgm_ops"), name="nameword_trgm_idx", fastupdate=False
            )
        ]

    def __str__(self) -> str:
        return self.word


# How staff may type a date (day first); forms and search read the same ones.
DATE_INPUT_FORMATS = ["%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%d %b %Y", "%d %B %Y"]

#: The details the front desk registers and edits (PatientForm): a stale edit of them is
#: refused (`services.patient_update(seen_details=...)`).
DETAILS_FIELDS = [
    "given_name",
    "family_name",
    "date_of_birth",
    "sex",
    "email",
    "phone",
    "preferred_language",
    "email_reminders",
    "details_in_email",
    "address",
    "next_of_kin_name",
    "next_of_kin_relationship",
    "next_of_kin_phone",
    "referring_clinician",
    "indication",
    "indication_detail",
    "bleeding_disorder",
]


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


class Indication(models.TextChoices):
    """Why the marrow is taken (the reasons in the domain notes)."""

    BLOOD_COUNTS = "blood_counts", _("Unexplained blood counts (anaemia, platelets, white cells)")
    BLOOD_CANCER = "blood_cancer", _("Blood cancer or disorder (leukaemia, myeloma, PV)")
    LYMPHOMA_STAGING = "lymphoma_staging", _("Staging lymphoma")
    INFECTION_TUMOUR = "infection_tumour", _("Infection or tumour in the marrow")
    TREATMENT_RESPONSE = "treatment_response", _("Checking response to treatment")
    COLLECTION = "collection", _("Marrow for a stem-cell transplant or chromosome study")
    BMAC = "bmac", _("Orthopaedic marrow concentrate (BMAC)")
    OTHER = "other", _("Other (say in the details)")


class Patient(models.Model):
    class Sex(models.TextChoices):
        FEMALE = "female", _("Female")
        MALE = "male", _("Male")
        OTHER = "other", _("Other or not stated")

    class Language(models.TextChoices):
        ENGLISH = "en", _("English")
        SPANISH = "es", _("Spanish")

    class AsaClass(models.TextChoices):
        # Our own short wording of the ASA physical status classes.
        I = "1", _("ASA I: healthy")  # noqa: E741
        II = "2", _("ASA II: mild systemic disease")
        III = "3", _("ASA III: severe systemic disease")
        IV = "4", _("ASA IV: severe disease, a constant threat to life")
        V = "5", _("ASA V: not expected to survive without the operation")

    class Pregnancy(models.TextChoices):
        UNKNOWN = "", _("Not yet recorded")
        ASK = "ask", _("Could be pregnant: ask on the day of each procedure")
        NOT_APPLICABLE = "no", _("Cannot be pregnant")

    # Bounds for the clinical measurements (a child of a few kilograms to a large adult).
    WEIGHT_KG = (Decimal("0.5"), Decimal("350"))
    HEIGHT_CM = (Decimal("30"), Decimal("250"))

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
    address = models.TextField(_("home address"), max_length=500, blank=True)
    next_of_kin_name = models.CharField(
        _("next of kin or emergency contact"), max_length=100, blank=True
    )
    next_of_kin_relationship = models.CharField(_("relationship"), max_length=50, blank=True)
    next_of_kin_phone = models.CharField(_("their phone number"), max_length=30, blank=True)
    referring_clinician = models.CharField(_("referring clinician"), max_length=150, blank=True)
    indication = models.CharField(
        _("reason for the procedure"), max_length=30, choices=Indication.choices, blank=True
    )
    indication_detail = models.CharField(_("details of the reason"), max_length=300, blank=True)
    # The clinical record (nurses and physicians).
    weight_kg = models.DecimalField(
        _("weight (kg)"),
        max_digits=4,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[
            MinValueValidator(WEIGHT_KG[0], _("A weight of less than 0.5 kg cannot be right.")),
            MaxValueValidator(WEIGHT_KG[1], _("A weight of more than 350 kg cannot be right.")),
        ],
    )
    height_cm = models.DecimalField(
        _("height (cm)"),
        max_digits=4,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[
            MinValueValidator(HEIGHT_CM[0], _("A height of less than 30 cm cannot be right.")),
            MaxValueValidator(HEIGHT_CM[1], _("A height of more than 250 cm cannot be right.")),
        ],
    )
    measured_on = models.DateField(_("weighed and measured on"), null=True, blank=True)
    asa_class = models.CharField(
        _("ASA physical status"), max_length=1, choices=AsaClass.choices, blank=True
    )
    pregnancy = models.CharField(
        _("pregnancy"), max_length=3, choices=Pregnancy.choices, blank=True, default=""
    )
    # "No known allergies" is a statement someone made on a day, never a blank.
    no_known_allergies_at = models.DateTimeField(null=True, blank=True, editable=False)
    no_known_allergies_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    # Derived columns for search and duplicate checks (kept in step by save()).
    search_name = models.CharField(max_length=300, editable=False, default="")
    # The folded family name (normalise.search_family): a short term (one or two
    # letters, too short for a trigram) finds the family names it starts with.
    search_family = models.CharField(max_length=150, editable=False, default="")
    phone_key = models.CharField(max_length=9, editable=False, default="", db_index=True)
    # The one-time key of the registration form that created this record: the same
    # form posted twice (Back, a double click) finds this record instead of a new one.
    submission_key = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    # A record merged into another stays (its MRN finds the survivor) but is not used.
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_records",
        editable=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PatientQuerySet.as_manager()

    class Meta:
        ordering = ["family_name", "given_name", "pk"]
        indexes = [
            models.Index(fields=["family_name", "given_name"], name="patient_name_idx"),
            models.Index(fields=["date_of_birth"], name="patient_dob_idx"),
            models.Index(Upper("email"), name="patient_email_upper_idx"),
            # Kept for search_fuzzy's callers before #14; the search itself now reads
            # search_name and the MRN through the trigram indexes below.
            models.Index(Upper("mrn"), name="patient_mrn_upper_idx"),
            # search(): search_name LIKE '%word%' and mrn LIKE '%PART%' (pg_trgm). No
            # pending list: see TrigramIndex. (The trigram indexes on UPPER(family_name)
            # and UPPER(given_name) went in 0007: no query had read them since #14.)
            TrigramIndex(
                OpClass("search_name", name="gin_trgm_ops"),
                name="patient_search_name_trgm_idx",
                fastupdate=False,
            ),
            TrigramIndex(
                OpClass("mrn", name="gin_trgm_ops"), name="patient_mrn_trgm_idx", fastupdate=False
            ),
            # search() with short terms: a range of folded family names, read in order
            # (the results' order), stopping at the page's 21.
            models.Index(
                fields=["search_family", "search_name", "id"], name="patient_family_prefix_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.family_name}, {self.given_name} ({self.mrn})"

    def save(self, *args, **kwargs):
        # Derived columns, in step with the name and phone whoever saves the row.
        self.search_name = normalise.search_name(self.given_name, self.family_name)
        self.search_family = normalise.search_family(self.family_name)
        self.phone_key = normalise.phone_key(self.phone)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and {"given_name", "family_name", "phone"} & set(
            update_fields
        ):
            kwargs["update_fields"] = {*update_fields, "search_name", "search_family", "phone_key"}
        super().save(*args, **kwargs)
        if update_fields is None or {"given_name", "family_name"} & set(update_fields):
            NameWord.objects.add_names([self.search_name])

    def get_absolute_url(self) -> str:
        return reverse("patients:detail", args=[self.pk])

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def can_receive_email(self) -> bool:
        return self.email_reminders and bool(self.email)

    @property
    def needs_pregnancy_check(self) -> bool:
        """Asked on the day unless someone recorded that it cannot apply."""
        return self.pregnancy != self.Pregnancy.NOT_APPLICABLE

    def clean(self) -> None:
        errors = {}
        today = timezone.localdate()
        if self.date_of_birth and self.date_of_birth > today:
            errors["date_of_birth"] = _("The date of birth cannot be in the future.")
        elif self.date_of_birth and self.date_of_birth.year < 1900:
            errors["date_of_birth"] = _("Enter a date of birth after 1900.")
        if self.email_reminders and not self.email:
            errors["email"] = _(
                "Enter an email address, or untick 'send email reminders' for this patient."
            )
        if self.indication == Indication.OTHER and not self.indication_detail.strip():
            errors["indication_detail"] = _("Say what the reason is.")
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

    # What makes pre-procedure bloods necessary (NSAIDs alone do not).
    BLOOD_THINNERS = (Class.ANTICOAGULANT, Class.ANTIPLATELET, Class.ASPIRIN)

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

    @property
    def is_blood_thinner(self) -> bool:
        """What makes pre-procedure bloods necessary (NSAIDs alone do not)."""
        return self.med_class in self.BLOOD_THINNERS


class DuplicateOverride(models.Model):
    """Someone saved a record although it looked like others: "this is a different
    person", with their reason."""

    patient = models.ForeignKey(
        Patient, on_delete=models.CASCADE, related_name="duplicate_overrides"
    )
    # The records it looked like, by id and MRN (kept as they were, whatever happens later).
    others = models.JSONField(default=list)
    reason = models.CharField(_("why this is a different person"), max_length=300)
    decided_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A merge of this record with one it named said they are one person after all: the
    # decision is closed (kept for the audit, shown nowhere, reopened by the undo).
    closed_by_merge = models.ForeignKey(
        "PatientMerge",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="closed_overrides",
    )

    class Meta:
        ordering = ["-decided_at", "-pk"]

    def __str__(self) -> str:
        return f"Different-person decision {self.pk} for patient {self.patient_id}"

    @property
    def other_ids(self) -> set[int]:
        return {int(other["id"]) for other in self.others}


class PatientMerge(models.Model):
    """Two records of one person made one: what moved, so it can be undone."""

    survivor = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="+", verbose_name=_("record kept")
    )
    merged = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="+", verbose_name=_("duplicate record")
    )
    survivor_mrn = models.CharField(_("MRN kept"), max_length=20)
    merged_mrn = models.CharField(_("MRN merged"), max_length=20)
    reason = models.CharField(_("reason"), max_length=300)
    # {"app_label.model:field": [pk, ...]} for each relation moved, and
    # "_filled": [field, ...] for details the record kept took from the duplicate.
    moved = models.JSONField(default=dict)
    merged_at = models.DateTimeField(default=timezone.now)
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-merged_at", "-pk"]
        verbose_name = _("patient merge")
        verbose_name_plural = _("patient merges")

    def __str__(self) -> str:
        return f"Merge of {self.merged_mrn} into {self.survivor_mrn}"


# The clinical record's rows live beside the person (one registry for Django).
from .clinical_models import Allergy, BloodResult  # noqa: E402

__all__ = ["Allergy", "BloodResult", "DuplicateOverride", "Medication", "Patient", "PatientMerge"]
