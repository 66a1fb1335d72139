"""Lab interface rows: the labs we talk to, what goes out, what comes in, and the
structured findings of each result. Table names are `procedures_lab...`."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from procedures.labs.choices import ResultKind
from procedures.labs.kinds import display_rows


class Lab(models.Model):
    """A laboratory: how orders reach it and how it proves who it is when it sends
    results back (its MSH-3/MSH-4 over MLLP, its bearer token over FHIR)."""

    class Protocol(models.TextChoices):
        OML = "hl7v2-oml", _("HL7 v2.5.1 OML^O21 over MLLP")
        ORM = "hl7v2-orm", _("HL7 v2.5.1 ORM^O01 over MLLP")
        FHIR = "fhir", _("FHIR R4 (ServiceRequest + Specimen bundle)")

    name = models.CharField(_("name"), max_length=100, unique=True)
    protocol = models.CharField(_("protocol"), max_length=12, choices=Protocol.choices)
    host = models.CharField(_("MLLP host"), max_length=200, blank=True)
    port = models.PositiveIntegerField(_("MLLP port"), null=True, blank=True)
    base_url = models.URLField(_("FHIR base URL"), blank=True)
    # How the lab names itself in MSH-3 (application) and MSH-4 (facility).
    sending_application = models.CharField(_("lab application (MSH-3)"), max_length=60)
    sending_facility = models.CharField(_("lab facility (MSH-4)"), max_length=60, blank=True)
    # SHA-256 of the bearer token the lab presents to our FHIR endpoint; the token
    # itself is shown once when set (lab_token_set) and never stored.
    token_hash = models.CharField(max_length=64, blank=True, editable=False)
    outbound_token = models.CharField(
        _("token we present to the lab's FHIR server"), max_length=200, blank=True
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["sending_application", "sending_facility"], name="lab_unique_sender"
            ),
            models.CheckConstraint(
                condition=Q(protocol="fhir", base_url__gt="")
                | (~Q(protocol="fhir") & Q(host__gt="", port__isnull=False)),
                name="lab_has_an_address",
                violation_error_message=_(
                    "An HL7 v2 lab needs a host and a port; a FHIR lab needs a base URL."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def set_token(self) -> str:
        """Give the lab a new inbound token; returns it (shown once, stored hashed)."""
        token = secrets.token_urlsafe(32)
        self.token_hash = self.hash_token(token)
        return token

    def token_matches(self, token: str) -> bool:
        return bool(self.token_hash) and secrets.compare_digest(
            self.token_hash, self.hash_token(token)
        )


class LabTestCode(models.Model):
    """Where a test type is sent, and the codes it travels under."""

    test_type = models.OneToOneField(
        "procedures.TestType", on_delete=models.CASCADE, related_name="lab_code"
    )
    lab = models.ForeignKey(Lab, on_delete=models.PROTECT, related_name="test_codes")
    code = models.CharField(_("lab's test code"), max_length=40)
    loinc = models.CharField(_("LOINC code"), max_length=20, blank=True)
    kind = models.CharField(_("result form"), max_length=20, choices=ResultKind.choices)

    class Meta:
        ordering = ["lab", "code"]

    def __str__(self) -> str:
        return f"{self.code} at {self.lab}"


class LabOrderMessageQuerySet(models.QuerySet):
    def due(self, now) -> "LabOrderMessageQuerySet":
        return self.filter(status=LabOrderMessage.Status.PENDING, next_attempt_at__lte=now)

    def needs_attention(self) -> "LabOrderMessageQuerySet":
        return self.filter(status=LabOrderMessage.Status.FAILED)


class LabOrderMessage(models.Model):
    """One order message to a lab: an outbox row, written in the transaction that
    marks the sample sent, claimed by the dispatcher with a lease."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to be sent")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Accepted by the lab")
        FAILED = "failed", _("Failed: needs staff")
        CANCELLED = "cancelled", _("Cancelled")

    order = models.ForeignKey(
        "procedures.TestOrder", on_delete=models.PROTECT, related_name="lab_messages"
    )
    lab = models.ForeignKey(Lab, on_delete=models.PROTECT, related_name="order_messages")
    # MSH-10 (or the FHIR Bundle.identifier): stable across retries, so a lab that
    # got the message but whose ACK was lost sees the same id again.
    control_id = models.CharField(max_length=40, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    ack_code = models.CharField(_("lab's answer"), max_length=4, blank=True)
    ack_text = models.CharField(max_length=300, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    payload = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    objects = LabOrderMessageQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # Never doubled: one new-order message per order and lab.
            models.UniqueConstraint(fields=["order", "lab"], name="laborder_once_per_order")
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="laborder_due_idx",
                condition=Q(status="pending"),
            )
        ]

    def __str__(self) -> str:
        return f"Order message {self.control_id} to {self.lab}"


class LabInboundMessage(models.Model):
    """Every message a lab sent us, kept as received, with the answer we gave.

    (lab, control id) is unique: the same message twice is one row and one result.
    An inbound message that could not be attached stays here, `match_status`
    open, until staff match it to an order or reject it with a reason.
    """

    class Transport(models.TextChoices):
        MLLP = "mllp", _("HL7 v2 over MLLP")
        FHIR = "fhir", _("FHIR R4")

    class MatchStatus(models.TextChoices):
        ATTACHED = "attached", _("Attached to the order")
        OPEN = "open", _("Unmatched: needs staff")
        MATCHED = "matched", _("Matched by staff")
        REJECTED = "rejected", _("Rejected by staff")
        REFUSED = "refused", _("Refused at the door")

    lab = models.ForeignKey(
        Lab, null=True, blank=True, on_delete=models.PROTECT, related_name="inbound"
    )
    transport = models.CharField(max_length=4, choices=Transport.choices)
    control_id = models.CharField(max_length=64)
    message_type = models.CharField(max_length=40, blank=True)
    raw = models.TextField()
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    peer = models.CharField(max_length=64, blank=True)
    ack_code = models.CharField(max_length=2)
    ack_text = models.CharField(max_length=300, blank=True)
    match_status = models.CharField(max_length=10, choices=MatchStatus.choices)
    reason = models.CharField(_("why it was not attached"), max_length=300, blank=True)
    # What the message said about whom and what (for the unmatched worklist).
    placer_number = models.CharField(max_length=40, blank=True)
    filler_number = models.CharField(max_length=40, blank=True)
    patient_mrn = models.CharField(max_length=40, blank=True)
    patient_name = models.CharField(max_length=200, blank=True)
    patient_dob = models.DateField(null=True, blank=True)
    result_status = models.CharField(max_length=1, blank=True)
    order = models.ForeignKey(
        "procedures.TestOrder",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="lab_inbound",
    )
    result = models.ForeignKey(
        "procedures.TestResult", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-received_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["lab", "transport", "control_id"],
                name="labinbound_once_per_control_id",
                condition=Q(lab__isnull=False),
            )
        ]
        indexes = [
            models.Index(
                fields=["received_at"], name="labinbound_open_idx", condition=Q(match_status="open")
            )
        ]

    def __str__(self) -> str:
        return f"Inbound {self.control_id} ({self.get_match_status_display()})"

    def get_absolute_url(self) -> str:
        return reverse("procedures:labs:unmatched_detail", args=[self.pk])


class LabResultData(models.Model):
    """The structured findings of one result version, per kind of test (a JSON
    document validated by the kind's form), typed in or imported from OBX rows."""

    class Source(models.TextChoices):
        MANUAL = "manual", _("Typed in")
        HL7 = "hl7", _("HL7 v2 message")
        FHIR = "fhir", _("FHIR message")

    # A foreign key with a unique constraint rather than a one-to-one: auditlog reads
    # every reverse one-to-one of TestResult on each save (a query per result).
    result = models.ForeignKey(
        "procedures.TestResult", on_delete=models.CASCADE, related_name="lab_findings"
    )
    kind = models.CharField(max_length=20, choices=ResultKind.choices)
    data = models.JSONField(default=dict)
    source = models.CharField(max_length=6, choices=Source.choices, default=Source.MANUAL)
    lab_status = models.CharField(_("status the lab gave"), max_length=12, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["result"], name="labresultdata_one_per_result")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} findings of result {self.result_id}"

    @property
    def display(self) -> list[tuple[str, str]]:
        """(label, value) pairs in the form's order, for templates."""
        return display_rows(self.kind, self.data)
