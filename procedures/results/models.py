import os
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinic.loaded import LoadedValues
from procedures.catalog.clock import clinic_today
from procedures.catalog.resources import Provider
from procedures.catalog.sites import Site


class PrivateStorage(FileSystemStorage):
    """Result reports live under CLINIC_PRIVATE_DIR, outside MEDIA_ROOT: no URL serves
    them, only an authorised view that records the read. The folder is read from the
    settings on each use, so tests can point it elsewhere."""

    @property
    def base_location(self) -> str:
        return str(
            getattr(settings, "CLINIC_PRIVATE_DIR", None) or Path(settings.VAR_DIR) / "private"
        )

    @property
    def location(self) -> str:
        return os.path.abspath(self.base_location)

    def url(self, name):
        raise ValueError("private files have no URL; use procedures:result_pdf")


def private_storage() -> FileSystemStorage:
    return PrivateStorage()


class TestOrderQuerySet(models.QuerySet):
    def pending(self) -> "TestOrderQuerySet":
        """Orders whose final result has not been logged yet."""
        return self.filter(status__in=TestOrder.PENDING_STATUSES)

    def open(self) -> "TestOrderQuerySet":
        """Orders the clinic still owes something: a result, a review or telling the patient."""
        return self.filter(status__in=TestOrder.OPEN_STATUSES)

    def worklist(self) -> "TestOrderQuerySet":
        """Open orders, the longest overdue first (a page's rows read only the columns
        they show: `procedures.results.worklist.worklist_rows`)."""
        return self.open().order_by("expected_by", "pk")

    def owned_by(self, user, day) -> "TestOrderQuerySet":
        """Orders `user` answers for on `day`: theirs, or a colleague's they cover.

        One list of physicians (the user's own provider UNION those they cover on
        `day`), then their orders through `testorder_open_responsible_idx`: an
        `OR EXISTS` across the two made PostgreSQL read every open order and drop
        most of them. (A page of them in due order filters by `answering_for`'s ids
        instead: see the worklist.)"""
        return self.filter(responsible__in=_answering_for(user, day))


def _answering_for(user, day) -> models.QuerySet:
    own = Provider.objects.filter(user=user).order_by().values("pk")
    covered = (
        ResultCoverage.objects.filter(covering__user=user, starts_on__lte=day, ends_on__gte=day)
        .order_by()
        .values("absent")
    )
    return own.union(covered)


def answering_for(user, day) -> list[int]:
    """Ids of the physicians whose results `user` answers for on `day`: their own
    provider's, and those of colleagues they cover (one query)."""
    return [row["pk"] for row in _answering_for(user, day)]


class SpecimenSite(models.TextChoices):
    POSTERIOR_ILIAC = "posterior_iliac", _("Posterior iliac crest")
    ANTERIOR_ILIAC = "anterior_iliac", _("Anterior iliac crest")
    STERNUM = "sternum", _("Sternum")
    TIBIA = "tibia", _("Tibia (children)")


class SpecimenSide(models.TextChoices):
    LEFT = "left", _("Left")
    RIGHT = "right", _("Right")
    BOTH = "both", _("Both sides")
    MIDLINE = "midline", _("Midline")


class NoSampleReason(models.TextChoices):
    """Why a visit ends without a sample: it takes none, or what happened instead."""

    NOT_NEEDED = "not_needed", _("No sample is taken at this visit (results discussion, BMAC)")
    ABANDONED = "abandoned", _("Procedure stopped or abandoned")
    DRY_TAP = "dry_tap", _("No sample obtained (dry tap)")
    OTHER = "other", _("Other (say what happened)")


class TestOrder(LoadedValues):
    """One test on the sample of one procedure, tracked until the patient is told."""

    # What the reports' daily roll-up counts (procedures/reports/rollup.py): a save that
    # changes one of these on a result of a day already rolled up forgets that day.
    tracked_fields = ("site_id", "final_at", "collected_at", "test_type_id")

    __test__ = False  # a clinical test, not a pytest class

    class Status(models.TextChoices):
        ORDERED = "ordered", _("Ordered")
        COLLECTED = "collected", _("Collected")
        SENT = "sent", _("Sent to lab")
        PRELIMINARY = "preliminary", _("Preliminary result")
        FINAL = "final", _("Final result")
        REVIEWED = "reviewed", _("Reviewed")
        COMMUNICATED = "communicated", _("Patient told")
        CANCELLED = "cancelled", _("Cancelled")

    class CommunicatedHow(models.TextChoices):
        PHONE = "phone", _("By phone")
        IN_PERSON = "in_person", _("In person")
        LETTER = "letter", _("By letter")

    class CancelReason(models.TextChoices):
        SAMPLE_LOST = "sample_lost", _("Sample lost")
        INADEQUATE = "inadequate", _("Sample inadequate")
        CLOTTED = "clotted", _("Sample clotted")
        LAB_REJECTED = "lab_rejected", _("Rejected by the lab")
        NOT_NEEDED = "not_needed", _("Test no longer needed")

    PENDING_STATUSES = (Status.ORDERED, Status.COLLECTED, Status.SENT, Status.PRELIMINARY)
    OPEN_STATUSES = (*PENDING_STATUSES, Status.FINAL, Status.REVIEWED)
    CLOSED_STATUSES = (Status.COMMUNICATED, Status.CANCELLED)

    appointment = models.ForeignKey(
        "procedures.Appointment", on_delete=models.PROTECT, related_name="test_orders"
    )
    test_type = models.ForeignKey("procedures.TestType", on_delete=models.PROTECT)
    # The visit's room's site, carried so that a site's worklist reads its open orders
    # through an index instead of every visit the site has had (docs/invariants.md, 18).
    # Set when the order is placed (`for_visit`); kept in step if a room moves site.
    site = models.ForeignKey(
        Site, on_delete=models.PROTECT, related_name="test_orders", verbose_name=_("site")
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ORDERED)
    responsible = models.ForeignKey(
        "procedures.Provider",
        null=True,
        on_delete=models.PROTECT,
        related_name="test_orders",
        verbose_name=_("responsible physician"),
    )
    specimen_site = models.CharField(
        _("specimen site"), max_length=20, choices=SpecimenSite.choices, blank=True
    )
    specimen_side = models.CharField(
        _("side"), max_length=10, choices=SpecimenSide.choices, blank=True
    )
    collected_at = models.DateTimeField(_("collected at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent to lab at"), null=True, blank=True)
    accession_number = models.CharField(_("lab accession number"), max_length=40, blank=True)
    expected_by = models.DateField(_("expected by"))
    final_at = models.DateTimeField(_("final result at"), null=True, blank=True)
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    review_action = models.TextField(_("action planned"), blank=True)
    communicated_at = models.DateTimeField(_("patient told at"), null=True, blank=True)
    communicated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    communicated_how = models.CharField(
        _("told how"), max_length=10, choices=CommunicatedHow.choices, blank=True
    )
    # A cancelled order says why; a replacement names the order it replaces.
    cancel_reason = models.CharField(
        _("reason cancelled"), max_length=20, choices=CancelReason.choices, blank=True
    )
    replaces = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="replacements",
        verbose_name=_("replaces order"),
    )
    # Review episodes: an amendment after the review (or after the patient was told)
    # opens a new one, with its own escalation clock from `episode_at`.
    episode = models.PositiveIntegerField(default=1)
    episode_at = models.DateTimeField(null=True, blank=True)
    # Amended after the patient was told: they must be told again.
    tell_again = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TestOrderQuerySet.as_manager()

    site_lookup = "site"  # its visit's room's site, carried: catalog.sites.at_site

    class Meta:
        ordering = ["expected_by", "pk"]
        constraints = [
            # One live order per test on a visit; a replacement follows a cancelled one.
            models.UniqueConstraint(
                fields=["appointment", "test_type"],
                condition=~Q(status="cancelled"),
                name="testorder_one_live_per_test",
            ),
            # "Patient told" only after a review, and both say who and when.
            models.CheckConstraint(
                condition=~Q(status__in=["reviewed", "communicated"])
                | Q(reviewed_at__isnull=False, reviewed_by__isnull=False),
                name="testorder_reviewed_has_reviewer",
            ),
            models.CheckConstraint(
                condition=~Q(status="communicated")
                | (Q(communicated_at__isnull=False) & ~Q(communicated_how="")),
                name="testorder_communicated_has_how",
            ),
        ]
        indexes = [
            # Turnaround (the analytics page, the operations dashboard) reads the
            # results made final in a period: without it, every order ever placed.
            models.Index(fields=["final_at"], name="testorder_final_at_idx"),
            # A site's turnaround (the analytics page's usual view): its results made
            # final in a period, read from the index alone (a quarter at a network's
            # volume is 77,000 of a site's results among 775,000: 185 ms through the
            # rows, 50 from here).
            models.Index(
                fields=["site", "final_at"],
                include=["collected_at", "test_type"],
                name="testorder_site_final_idx",
                condition=models.Q(final_at__isnull=False),
            ),
            # The worklist polls pending orders by due date.
            models.Index(
                fields=["expected_by"],
                name="testorder_pending_due_idx",
                condition=models.Q(status__in=["ordered", "collected", "sent", "preliminary"]),
            ),
            # The worklist's first page: open orders in due order, read in index order.
            models.Index(
                fields=["expected_by", "id"],
                name="testorder_open_due_idx",
                condition=models.Q(
                    status__in=["ordered", "collected", "sent", "preliminary", "final", "reviewed"]
                ),
            ),
            # A site's worklist: its open orders in due order (the page), and their
            # statuses and dates for the aging buckets, from the index alone.
            models.Index(
                fields=["site", "expected_by", "id", "status"],
                name="testorder_open_site_due_idx",
                condition=models.Q(
                    status__in=["ordered", "collected", "sent", "preliminary", "final", "reviewed"]
                ),
            ),
            # A physician's own worklist (owned_by): their open orders in due order.
            models.Index(
                fields=["responsible", "expected_by", "id"],
                name="testorder_open_responsible_idx",
                condition=models.Q(
                    status__in=["ordered", "collected", "sent", "preliminary", "final", "reviewed"]
                ),
            ),
            models.Index(
                fields=["status", "expected_by"],
                name="testorder_open_idx",
                condition=models.Q(
                    status__in=["ordered", "collected", "sent", "preliminary", "final", "reviewed"]
                ),
            ),
            # The open-loops report's "results unreviewed" and "patients untold", oldest
            # first: a few rows each, not a walk of every order's final_at filtered
            # for the status (0.35 s at a network's 1.7 million orders).
            models.Index(
                fields=["final_at", "id"],
                name="testorder_unreviewed_idx",
                condition=models.Q(status="final"),
            ),
            models.Index(
                fields=["reviewed_at", "id"],
                name="testorder_untold_idx",
                condition=models.Q(status="reviewed"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.test_type} for appointment {self.appointment_id}"

    def get_absolute_url(self) -> str:
        return reverse("procedures:result_log", args=[self.pk])

    @property
    def days_remaining(self) -> int:
        return (self.expected_by - clinic_today()).days

    @property
    def days_overdue(self) -> int:
        return max(-self.days_remaining, 0)

    @property
    def is_pending(self) -> bool:
        return self.status in self.PENDING_STATUSES

    @property
    def is_overdue(self) -> bool:
        return self.is_pending and self.days_remaining < 0


class TestOrderEvent(models.Model):
    """The order's timeline: every state change and reassignment, who and when."""

    order = models.ForeignKey(TestOrder, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=30)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20, blank=True)
    note = models.CharField(max_length=300, blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.kind} on order {self.order_id}"


class TestResult(models.Model):
    """A result as logged; amended results add rows, none is overwritten."""

    __test__ = False  # a clinical test, not a pytest class

    class Interpretation(models.TextChoices):
        NORMAL = "normal", _("Normal")
        ABNORMAL = "abnormal", _("Abnormal")
        INCONCLUSIVE = "inconclusive", _("Inconclusive")
        INADEQUATE = "inadequate", _("Specimen inadequate")

    class Cellularity(models.TextChoices):
        HYPO = "hypo", _("Hypocellular")
        NORMAL = "normal", _("Normocellular")
        HYPER = "hyper", _("Hypercellular")

    class Maturation(models.TextChoices):
        NORMAL = "normal", _("Normal maturation")
        ABNORMAL = "abnormal", _("Abnormal maturation")

    class IronStores(models.TextChoices):
        ABSENT = "absent", _("Absent")
        REDUCED = "reduced", _("Reduced")
        NORMAL = "normal", _("Normal")
        INCREASED = "increased", _("Increased")

    class Presence(models.TextChoices):
        ABSENT = "absent", _("None seen")
        PRESENT = "present", _("Present")

    class MalignancyType(models.TextChoices):
        LEUKAEMIA = "leukaemia", _("Leukaemia")
        LYMPHOMA = "lymphoma", _("Lymphoma")
        MYELOMA = "myeloma", _("Myeloma")
        METASTATIC = "metastatic", _("Spread from elsewhere (metastatic)")
        OTHER = "other", _("Other")

    class Fibrosis(models.TextChoices):
        NONE = "none", _("None")
        MILD = "mild", _("Mild")
        MARKED = "marked", _("Marked (marrow replaced by scar tissue)")

    order = models.ForeignKey(TestOrder, on_delete=models.PROTECT, related_name="results")
    interpretation = models.CharField(max_length=20, choices=Interpretation.choices)
    # Structured findings: blank means "not assessed by this test".
    cellularity = models.CharField(
        _("cellularity"), max_length=10, choices=Cellularity.choices, blank=True
    )
    maturation = models.CharField(
        _("maturation"), max_length=10, choices=Maturation.choices, blank=True
    )
    iron_stores = models.CharField(
        _("iron stores"), max_length=10, choices=IronStores.choices, blank=True
    )
    infection_signs = models.CharField(
        _("signs of infection"), max_length=10, choices=Presence.choices, blank=True
    )
    malignant_cells = models.CharField(
        _("malignant cells"), max_length=10, choices=Presence.choices, blank=True
    )
    malignancy_type = models.CharField(
        _("type of malignant cells"), max_length=12, choices=MalignancyType.choices, blank=True
    )
    fibrosis = models.CharField(_("fibrosis"), max_length=10, choices=Fibrosis.choices, blank=True)
    other_findings = models.TextField(_("other findings"), blank=True)
    report_text = models.TextField(_("report"))
    report_pdf = models.FileField(
        _("report (PDF)"), storage=private_storage, upload_to="results/%Y/%m/", blank=True
    )
    is_final = models.BooleanField(_("final result"), default=True)
    logged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    logged_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-logged_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(malignancy_type="") | Q(malignant_cells="present"),
                name="testresult_malignancy_type_needs_cells",
            )
        ]

    def __str__(self) -> str:
        return f"Result {self.pk} for order {self.order_id}"


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
    """One chase of one late order at one level in one review episode: written once,
    emailed once, and again every RESULTS_REPEAT_DIGEST_DAYS while still late."""

    class Level(models.TextChoices):
        OVERDUE = "overdue", _("Result overdue: physician told")
        OVERDUE_LEAD = "overdue_lead", _("Result long overdue: clinic lead told")
        UNREVIEWED = "unreviewed", _("Final result not reviewed: physician told")
        UNREVIEWED_LEAD = "unreviewed_lead", _("Final result not reviewed: clinic lead told")
        UNCOMMUNICATED = "uncommunicated", _("Patient not told: physician told")
        UNCOMMUNICATED_LEAD = "uncommunicated_lead", _("Patient not told: clinic lead told")

    order = models.ForeignKey(
        "procedures.TestOrder", on_delete=models.CASCADE, related_name="escalations"
    )
    level = models.CharField(max_length=20, choices=Level.choices)
    # The order's review episode this chase belongs to (TestOrder.episode).
    episode = models.PositiveIntegerField(default=1)
    # Repeat digests sent while the order stayed late (RESULTS_REPEAT_DIGEST_DAYS).
    repeats = models.PositiveIntegerField(default=0)
    # Staff addresses only; empty when nobody could be reached (shown on the timeline).
    recipient = models.CharField(max_length=254, blank=True)
    created_at = models.DateTimeField()
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "level", "episode"], name="escalation_once_per_episode"
            )
        ]
        indexes = [
            models.Index(
                fields=["created_at"],
                name="escalation_unsent_idx",
                condition=Q(notified_at__isnull=True),
            ),
            # The open-loops report's escalations nobody could be emailed, oldest first
            # (`unaddressed()`): the first fifty, not all of them sorted.
            models.Index(
                fields=["created_at", "id"],
                name="escalation_unaddressed_idx",
                condition=Q(notified_at__isnull=True, recipient=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.level} for order {self.order_id}"
