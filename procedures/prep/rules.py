"""Clinical rules from the domain notes, each a clear message; the ones a physician
may knowingly set aside need a recorded reason (who, why, when)."""

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from procedures.catalog.choices import ProcedureKind, ProcedureSide, ProcedureSite
from procedures.prep.facts import is_child, plan_for_update, plan_of, plan_unlocked_check
from procedures.prep.models import ClinicalOverride, PrepPlan
from procedures.prep.services import locked_appointment
from procedures.scheduling.models import Appointment, AppointmentEvent
from procedures.scheduling.rules import (
    CHILD_KINDS,
    child_max_age_years,
    child_procedure_message,
)

# Rule codes (stored on ClinicalOverride.rule).
BIOPSY_PELVIS = "biopsy_pelvis"
CHILD_ASPIRATION_ONLY = "child_aspiration_only"
CHILD_TIBIA = "child_tibia"
STERNUM_REASON = "sternum_reason"
BMAC_INFECTION_CANCER = "bmac_infection_cancer"
BLEEDING_DISORDER = "bleeding_disorder"


@dataclass(frozen=True)
class Finding:
    rule: str
    message: str
    blocking: bool  # the procedure cannot go ahead as planned
    overridable: bool  # a recorded reason lets it go ahead
    override: ClinicalOverride | None = None

    @property
    def resolved(self) -> bool:
        return not self.blocking or self.override is not None


def rule_findings(
    appointment: Appointment,
    *,
    site: str | None = None,
    active_infection: bool | None = None,
    cancer: bool | None = None,
    plan: PrepPlan | None = None,
    overrides: dict[str, ClinicalOverride] | None = None,
) -> list[Finding]:
    """What the clinical rules say about this appointment (optionally with a proposed
    site or screening answers, before they are saved). `plan` and `overrides` (the
    rules set aside, by rule): when the caller has read them (checklist.readiness)."""
    if plan is None:
        plan = plan_of(appointment)
    site = plan.site if site is None else site
    infection = plan.active_infection if active_infection is None else active_infection
    cancer = plan.cancer if cancer is None else cancer
    kind = appointment.procedure_type.kind
    if overrides is None:
        overrides = {}
        if appointment.pk:
            overrides = {o.rule: o for o in appointment.clinical_overrides.all()}
    found: list[Finding] = []

    def add(rule: str, message: str, *, blocking: bool = True, overridable: bool = False) -> None:
        found.append(
            Finding(
                rule, message, blocking, overridable, overrides.get(rule) if overridable else None
            )
        )

    child = is_child(appointment)
    if child and kind not in CHILD_KINDS:
        add(CHILD_ASPIRATION_ONLY, child_procedure_message(appointment.procedure_type.name))
    if child and site and site != ProcedureSite.TIBIA:
        add(
            CHILD_TIBIA,
            _(
                "For children under %(age)s, aspiration is from the tibia (just below the "
                "knee). Record a reason to use another site."
            )
            % {"age": child_max_age_years()},
            overridable=True,
        )
    if kind in ProcedureKind.with_biopsy() and site and site not in ProcedureSite.pelvis():
        add(
            BIOPSY_PELVIS,
            _("A biopsy is only taken from the pelvis: choose the back or front of the pelvis."),
        )
    if site == ProcedureSite.STERNUM:
        add(
            STERNUM_REASON,
            _(
                "The breastbone carries a small risk to the heart, lungs and major vessels: "
                "record the reason for choosing it."
            ),
            overridable=True,
        )
    if kind == ProcedureKind.BMAC and (infection or cancer):
        add(
            BMAC_INFECTION_CANCER,
            _(
                "BMAC is not for patients with an active infection or cancer: record a "
                "reason to go ahead."
            ),
            overridable=True,
        )
    if appointment.patient.bleeding_disorder:
        add(
            BLEEDING_DISORDER,
            _(
                "Bleeding disorder: blood count and clotting tests before the day, and press "
                "on the site for at least 10 minutes afterwards."
            ),
            blocking=False,
        )
    return found


def procedure_site_set(
    *,
    appointment_id: int,
    site: str,
    side: str,
    active_infection: bool = False,
    cancer: bool = False,
    override_reason: str = "",
    by: User,
) -> list[Finding]:
    """Set the site and side (and the BMAC screening answers), enforcing the rules.

    A rule that cannot be set aside refuses; one that can needs `override_reason`,
    recorded once per rule with who and when.
    """
    if site not in ProcedureSite.values:
        raise ValidationError({"site": _("Choose the site.")})
    if side not in ProcedureSide.values:
        raise ValidationError({"side": _("Choose the side.")})
    if site == ProcedureSite.STERNUM and side != ProcedureSide.MIDLINE:
        raise ValidationError({"side": _("The breastbone is in the midline: choose midline.")})
    if site != ProcedureSite.STERNUM and side == ProcedureSide.MIDLINE:
        raise ValidationError({"side": _("Choose left, right or both sides for this site.")})
    reason = " ".join(override_reason.split())
    with transaction.atomic():
        appointment = locked_appointment(appointment_id)
        plan_unlocked_check(appointment)
        findings = rule_findings(
            appointment, site=site, active_infection=active_infection, cancer=cancer
        )
        hard = [f.message for f in findings if f.blocking and not f.overridable]
        if hard:
            raise ValidationError({"site": hard})
        needing = [f for f in findings if f.overridable and f.override is None]
        if needing and not reason:
            raise ValidationError({"override_reason": [f.message for f in needing]})
        now = timezone.now()
        for finding in needing:
            ClinicalOverride.objects.create(
                appointment=appointment, rule=finding.rule, reason=reason, by=by, at=now
            )
        plan = plan_for_update(appointment)
        plan.site, plan.side, plan.site_set_by = site, side, by
        plan.active_infection, plan.cancer = active_infection, cancer
        plan.save()
        AppointmentEvent.objects.create(
            appointment=appointment,
            kind="site_set",
            note=f"{ProcedureSite(site).label}, {ProcedureSide(side).label}"[:300],
            by=by,
        )
    return rule_findings(appointment)
