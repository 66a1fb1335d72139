"""Patient links: signed, expiring, single-purpose tokens for patients without a login.

A token is `django.core.signing` output over {appointment id, version, expiry},
salted per purpose, so an escort link cannot confirm attendance. It names no
patient and holds no health information. A link for an older appointment
version (rescheduled), a released appointment, a past expiry, or a single-use
link already used is simply not valid; the page then shows the same friendly
page whatever the reason. The page asks for the date of birth before showing
anything, and both tokens and addresses are rate-limited (cache counters).
"""

import functools
import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from procedures.messaging.models import CallTask, EmailOptOut, PatientLinkUse
from procedures.messaging.plan import reminders_prep_replan
from procedures.prep.services import escort_confirm
from procedures.scheduling.models import Appointment, AppointmentEvent

PURPOSES = ("details", "attend", "escort", "reschedule", "unsubscribe")
SINGLE_USE = frozenset({"attend", "escort", "reschedule", "unsubscribe"})
UNSUBSCRIBE_VALID_FOR = timedelta(days=180)
AFTER_VISIT_VALID_FOR = timedelta(days=30)


@dataclass(frozen=True)
class Grant:
    """What a valid token allows: one purpose, on one appointment."""

    appointment: Appointment
    purpose: str
    digest: str


def _salt(purpose: str) -> str:
    return f"procedures.patient_link.{purpose}"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_expiry(appointment: Appointment, purpose: str) -> datetime:
    now = timezone.now()
    if purpose == "unsubscribe":
        return now + UNSUBSCRIBE_VALID_FOR
    if purpose == "details" and appointment.start_at <= now:
        return now + AFTER_VISIT_VALID_FOR
    return appointment.start_at


def link_token(
    *, appointment: Appointment, purpose: str, expires_at: datetime | None = None
) -> str:
    if purpose not in PURPOSES:
        raise ValueError(purpose)
    expires_at = expires_at or link_expiry(appointment, purpose)
    payload = {"a": appointment.pk, "v": appointment.version, "e": int(expires_at.timestamp())}
    return signing.dumps(payload, salt=_salt(purpose))


@functools.cache
def _link_path_template(purpose: str) -> str:
    # reverse() walks the whole URLconf: once per purpose, not once per email.
    return reverse("procedures:patient_link", args=[purpose, "TOKEN"])


def link_url(*, appointment: Appointment, purpose: str) -> str:
    token = link_token(appointment=appointment, purpose=purpose)
    return settings.SITE_URL + _link_path_template(purpose).replace("TOKEN", token)


def link_read(*, purpose: str, token: str) -> Grant | None:
    """The grant of a valid token, or None (whatever the reason: never say which)."""
    if purpose not in PURPOSES or len(token) > 300:
        return None
    try:
        payload = signing.loads(token, salt=_salt(purpose))
        appointment_id, version, expires = int(payload["a"]), int(payload["v"]), int(payload["e"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    if expires < timezone.now().timestamp():
        return None
    appointment = (
        Appointment.objects.select_related("patient", "procedure_type", "provider", "room__site")
        .filter(pk=appointment_id)
        .first()
    )
    if appointment is None or appointment.version != version:
        return None
    if purpose != "unsubscribe" and appointment.status in Appointment.RELEASED_STATUSES:
        return None
    digest = token_digest(token)
    if purpose in SINGLE_USE and PatientLinkUse.objects.filter(digest=digest).exists():
        return None
    grant = Grant(appointment=appointment, purpose=purpose, digest=digest)
    return None if dob_locked(grant) else grant


def link_signed_visit(*, purpose: str, token: str) -> Appointment | None:
    """The visit a correctly signed token names, whether or not the link may still be
    used (expired, used, moved, cancelled), or None for a token we did not sign.

    Only for the "this link cannot be used" page: its site's name and phone, and the
    patient's language, so a New York patient reads New York's number in Spanish. A
    forged token never reaches the database (the signature is checked first)."""
    if purpose not in PURPOSES or len(token) > 300:
        return None
    try:
        payload = signing.loads(token, salt=_salt(purpose))
        appointment_id = int(payload["a"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    return (
        Appointment.objects.select_related("patient", "room__site")
        .filter(pk=appointment_id)
        .first()
    )


# --- Rate limits (cache counters: a shared cache in production, see docs) ------------


def _hit(key: str, window: int) -> int:
    cache.add(key, 0, timeout=window)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window)
        return 1


#: How long the address's count lasts, so how long a patient told "too many tries" waits.
PER_IP_WINDOW_SECONDS = 600
PER_TOKEN_WINDOW_SECONDS = 3600


def link_throttled(*, token: str, ip: str) -> str:
    """Why this request is refused for too many lately: "ip" (from this address),
    "token" (for this link), or "" when it is not."""
    per_token = _hit(f"plink:tok:{token_digest(token)[:32]}", PER_TOKEN_WINDOW_SECONDS)
    per_ip = _hit(f"plink:ip:{ip}", PER_IP_WINDOW_SECONDS)
    if per_ip > settings.PATIENT_LINK_MAX_PER_IP:
        return "ip"
    if per_token > settings.PATIENT_LINK_MAX_PER_TOKEN:
        return "token"
    return ""


# Wrong dates of birth count per visit and per patient, whatever the token: every
# email carries fresh tokens, so a count per token would give five guesses per email.
def _dob_keys(grant: Grant) -> tuple[str, str]:
    appointment = grant.appointment
    return f"plink:dob:visit:{appointment.pk}", f"plink:dob:patient:{appointment.patient_id}"


def dob_locked(grant: Grant) -> bool:
    per_visit, per_patient = (cache.get(key) or 0 for key in _dob_keys(grant))
    return (
        per_visit >= settings.PATIENT_LINK_MAX_DOB_TRIES
        or per_patient >= settings.PATIENT_LINK_MAX_DOB_TRIES_PER_PATIENT
    )


def dob_check(*, grant: Grant, date_of_birth: date) -> bool:
    """Constant-time compare; a wrong date counts towards locking the visit's and the
    patient's links (all of them, for a day)."""
    given = date_of_birth.isoformat().encode()
    known = grant.appointment.patient.date_of_birth.isoformat().encode()
    if hmac.compare_digest(given, known):
        return True
    for key in _dob_keys(grant):
        _hit(key, 24 * 3600)
    return False


# --- What a patient can do through a link ---------------------------------------------


def _use(grant: Grant) -> Appointment:
    """Lock the appointment and spend a single-use link (inside a transaction)."""
    appointment = Appointment.objects.select_for_update().get(pk=grant.appointment.pk)
    if appointment.version != grant.appointment.version:
        raise ValidationError(_("This link is no longer valid."))
    if grant.purpose in SINGLE_USE:
        try:
            with transaction.atomic():
                PatientLinkUse.objects.create(
                    digest=grant.digest, purpose=grant.purpose, appointment=appointment
                )
        except IntegrityError as exc:
            raise ValidationError(_("This link has already been used.")) from exc
    return appointment


def link_confirm_attendance(*, grant: Grant) -> Appointment:
    """The patient confirms they will come."""
    with transaction.atomic():
        appointment = _use(grant)
        before = appointment.status
        if appointment.status == Appointment.Status.SCHEDULED:
            appointment.status = Appointment.Status.CONFIRMED
            appointment.save(update_fields=["status", "updated_at"])
        AppointmentEvent.objects.create(
            appointment=appointment,
            kind="patient_confirmed",
            from_status=before,
            to_status=appointment.status,
            note="by the patient, through the emailed link",
        )
    return appointment


def link_confirm_escort(*, grant: Grant, name: str, phone: str) -> Appointment:
    """The patient names (or confirms) who takes them home."""
    with transaction.atomic():
        appointment = _use(grant)
        # Prep's service validates the phone number and records the event.
        confirmed = escort_confirm(
            appointment_id=appointment.pk, name=name, phone=phone, by=None, via="patient_link"
        )
        # Asked and answered: the request still waiting is withdrawn.
        reminders_prep_replan(appointment=confirmed)
    return confirmed


def link_request_reschedule(*, grant: Grant, note: str) -> CallTask:
    """The patient asks for another time: the front desk calls them back."""
    note = " ".join(note.split())
    if len(note) > 500:
        raise ValidationError({"note": _("Keep the message under 500 characters.")})
    with transaction.atomic():
        appointment = _use(grant)
        return CallTask.objects.create(
            appointment=appointment,
            reason=CallTask.Reason.RESCHEDULE_REQUEST,
            appointment_version=appointment.version,
            note=note,
        )


def link_unsubscribe(*, grant: Grant) -> None:
    """Stop non-essential emails (appointment and results notices still come)."""
    with transaction.atomic():
        appointment = _use(grant)
        EmailOptOut.objects.get_or_create(patient=appointment.patient)
