"""Two records of one person made one, and undone again.

Everything that points at the duplicate record moves to the record kept, found
generically through the patient's reverse relations (`_meta`), so this app needs
to know nothing of visits, orders or emails. What moved is written down (model,
field and primary keys), which is what makes the merge reversible.
"""

from collections.abc import Collection
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from .models import DuplicateOverride, Patient, PatientMerge

# Details the record kept takes from the duplicate when it has none of its own.
FILLED_FIELDS = [
    "email",
    "phone",
    "address",
    "next_of_kin_name",
    "next_of_kin_relationship",
    "next_of_kin_phone",
    "referring_clinician",
    "indication",
    "indication_detail",
    "weight_kg",
    "height_cm",
    "measured_on",
    "asa_class",
    "pregnancy",
]
# Contact details both records may hold, differently: the admin chooses which one the
# record kept keeps (its own by default). The other stays on the duplicate's row.
CHOSEN_FIELDS = ["email", "phone", "address"]
# Never moved: the merge records themselves (they name both records on purpose).
NOT_MOVED = {PatientMerge}
FILLED = "_filled"
# The record kept's own values of the details taken from the duplicate, for the undo.
REPLACED = "_replaced"
# The "different person" decisions between the two records, closed by the merge.
CLOSED_OVERRIDES = "_closed_overrides"


def contact_conflicts(*, survivor: Patient, merged: Patient) -> list[tuple[str, str, str]]:
    """The contact details (field, the record kept's, the duplicate's) both records
    hold and that differ: the admin chooses one of each (`CHOSEN_FIELDS`)."""
    conflicts = []
    for name in CHOSEN_FIELDS:
        kept, theirs = getattr(survivor, name), getattr(merged, name)
        if kept and theirs and _same(name, kept) != _same(name, theirs):
            conflicts.append((name, kept, theirs))
    return conflicts


def _same(name: str, value: str) -> str:
    """A detail as compared: an email without case, a phone by its digits, an address
    without case or spacing."""
    if name == "phone":
        return "".join(ch for ch in value if ch.isdigit())
    return " ".join(value.lower().split())


def _pair_overrides(survivor: Patient, merged: Patient) -> list[int]:
    """The "different person" decisions of either record that name the other one: the
    merge says they were wrong, so they are closed (not moved onto the record kept,
    where it would name its own MRN)."""
    ids = []
    for override in DuplicateOverride.objects.filter(
        patient__in=[survivor, merged], closed_by_merge__isnull=True
    ):
        other = merged.pk if override.patient_id == survivor.pk else survivor.pk
        if other in override.other_ids:
            ids.append(override.pk)
    return ids


def _relations() -> list[models.ForeignObjectRel]:
    """Every foreign key or one-to-one that points at a patient, hidden ones included."""
    found = []
    for rel in Patient._meta.get_fields(include_hidden=True):
        if not isinstance(rel, models.ForeignObjectRel):
            continue
        if not (rel.auto_created and not rel.concrete and rel.is_relation):
            continue
        if rel.related_model in NOT_MOVED:
            continue
        if rel.many_to_many:
            raise ValidationError(
                _("Patients cannot be merged while %(model)s links them many-to-many.")
                % {"model": _model(rel)._meta.verbose_name_plural}
            )
        found.append(rel)
    return found


def _model(rel: models.ForeignObjectRel) -> type[models.Model]:
    """The model holding the foreign key of `rel` (once apps are ready, never "self")."""
    model = rel.related_model
    if isinstance(model, str):
        raise TypeError(f"Unresolved relation to {model!r}")
    return model


def _key(rel: models.ForeignObjectRel) -> str:
    return f"{_model(rel)._meta.label_lower}:{rel.field.name}"


def _clash(obj: models.Model) -> ValidationError | None:
    """Whether `obj`, already pointed at the record kept in memory, breaks one of its
    model's unique or exclusion constraints (overlapping bookings, for one)."""
    try:
        obj.validate_unique()
    except ValidationError as error:
        return error
    for constraint in obj._meta.constraints:
        if isinstance(constraint, ExclusionConstraint) and connection.vendor != "postgresql":
            continue
        if isinstance(constraint, models.CheckConstraint):
            continue
        try:
            # BaseConstraint.validate exists since Django 4.1; the stubs lack it.
            constraint.validate(type(obj), obj)  # type: ignore[attr-defined]
        except ValidationError:
            return ValidationError(
                _(
                    "%(what)s %(pk)s of the duplicate record would overlap or clash with "
                    "one of the record kept (%(rule)s). Cancel or change one of them, then "
                    "merge again."
                )
                % {
                    "what": str(obj._meta.verbose_name).capitalize(),
                    "pk": obj.pk,
                    "rule": constraint.name,
                }
            )
    return None


def patient_merge(
    *,
    survivor: Patient,
    merged: Patient,
    reason: str,
    user: Any,
    take_from_merged: Collection[str] = (),
) -> PatientMerge:
    """Make `merged` part of `survivor`: everything pointing at it moves, its MRN
    finds the survivor, and the merge is recorded with what moved.

    `take_from_merged`: the contact details (of `CHOSEN_FIELDS`) the admin chose from
    the duplicate where both records had one; the others stay the record kept's. The
    visits then follow in the same transaction (settings.PATIENTS_MERGED): their emails
    go to the address kept, and a hold plan confirmed without a decision for a medicine
    the other record brought goes back to the physician (invariant 32)."""
    reason = " ".join(reason.split())
    if not reason:
        raise ValidationError({"reason": _("Say why these are the same person.")})
    if survivor.pk == merged.pk:
        raise ValidationError(_("Choose two different records."))
    if unknown := set(take_from_merged) - set(CHOSEN_FIELDS):
        raise ValidationError(
            _("Only the email, phone and address can be chosen (not %(names)s).")
            % {"names": ", ".join(sorted(unknown))}
        )
    with transaction.atomic():
        # Lock both, in a fixed order so that two merges cannot deadlock.
        locked = {
            p.pk: p
            for p in Patient.objects.select_for_update().filter(pk__in=[survivor.pk, merged.pk])
        }
        survivor, merged = locked[survivor.pk], locked[merged.pk]
        if survivor.merged_into_id or merged.merged_into_id:
            raise ValidationError(_("One of these records has already been merged."))
        moved: dict[str, Any] = {}
        closed = _pair_overrides(survivor, merged)
        for rel in _relations():
            model, name = _model(rel), rel.field.name
            rows = model._base_manager.filter(**{name: merged})
            if model is DuplicateOverride:
                rows = rows.exclude(pk__in=closed)  # they stay, closed, where they were
            objects = list(rows)
            if not objects:
                continue
            if rel.one_to_one and model._base_manager.filter(**{name: survivor}).exists():
                # The record kept has its own (an email opt-out, say): leave this one.
                continue
            for obj in objects:
                setattr(obj, name, survivor)
                if clash := _clash(obj):
                    raise clash
            pks = [obj.pk for obj in objects]
            try:
                with transaction.atomic():
                    model._base_manager.filter(pk__in=pks).update(**{name: survivor})
            except IntegrityError as error:
                raise ValidationError(
                    _(
                        "The records cannot be merged: %(what)s of the two records clash. "
                        "Cancel or change one of them, then merge again."
                    )
                    % {"what": model._meta.verbose_name_plural}
                ) from error
            moved[_key(rel)] = pks
        # The duplicate's detail where the admin chose it over the record kept's own
        # (an empty one is filled below in any case).
        replaced = {}
        for name in CHOSEN_FIELDS:
            kept, theirs = getattr(survivor, name), getattr(merged, name)
            if name in take_from_merged and kept and theirs and kept != theirs:
                replaced[name] = kept
                setattr(survivor, name, theirs)
        filled = list(replaced)
        for name in FILLED_FIELDS:
            if getattr(survivor, name) in ("", None) and getattr(merged, name) not in ("", None):
                setattr(survivor, name, getattr(merged, name))
                filled.append(name)
        if merged.bleeding_disorder and not survivor.bleeding_disorder:
            survivor.bleeding_disorder = True
            filled.append("bleeding_disorder")
        if filled:
            survivor.save(update_fields=[*filled, "updated_at"])
        moved[FILLED] = [name for name in filled if name not in replaced]
        moved[REPLACED] = replaced
        moved[CLOSED_OVERRIDES] = closed
        merged.merged_into = survivor
        merged.save(update_fields=["merged_into", "updated_at"])
        merge = PatientMerge.objects.create(
            survivor=survivor,
            merged=merged,
            survivor_mrn=survivor.mrn,
            merged_mrn=merged.mrn,
            reason=reason,
            moved=moved,
            merged_by=user,
        )
        DuplicateOverride.objects.filter(pk__in=closed).update(closed_by_merge=merge)
        import_string(settings.PATIENTS_MERGED)(
            patient_ids=[survivor.pk],
            why=_("Records %(kept)s and %(old)s merged.")
            % {"kept": survivor.mrn, "old": merged.mrn},
            by=user,
        )
        return merge


def patient_merge_undo(*, merge_id: int, user: Any) -> PatientMerge:
    """Put back what a merge moved, and make the duplicate a record of its own again.

    Rows added to the record kept since the merge stay where they are.
    """
    with transaction.atomic():
        merge = PatientMerge.objects.select_for_update().get(pk=merge_id)
        if merge.undone_at:
            raise ValidationError(_("This merge has already been undone."))
        survivor = Patient.objects.select_for_update().get(pk=merge.survivor_id)
        merged = Patient.objects.select_for_update().get(pk=merge.merged_id)
        if survivor.merged_into_id:
            raise ValidationError(
                _("The record kept was merged again since: undo that merge first.")
            )
        for key, pks in merge.moved.items():
            if key in (FILLED, REPLACED, CLOSED_OVERRIDES):
                continue
            label, name = key.split(":")
            model = apps.get_model(label)
            model._base_manager.filter(pk__in=pks, **{name: survivor}).update(**{name: merged})
        filled = merge.moved.get(FILLED, [])
        for name in filled:
            field = Patient._meta.get_field(name)
            if not isinstance(field, models.Field):  # FILLED_FIELDS are plain columns
                raise TypeError(name)
            setattr(survivor, name, field.get_default())
        replaced = merge.moved.get(REPLACED, {})
        for name, value in replaced.items():
            setattr(survivor, name, value)
        if filled or replaced:
            survivor.save(update_fields=[*filled, *replaced, "updated_at"])
        merged.merged_into = None
        merged.save(update_fields=["merged_into", "updated_at"])
        merge.undone_at = timezone.now()
        merge.undone_by = user
        merge.save(update_fields=["undone_at", "undone_by"])
        DuplicateOverride.objects.filter(closed_by_merge=merge).update(closed_by_merge=None)
        import_string(settings.PATIENTS_MERGED)(
            patient_ids=[survivor.pk, merged.pk],
            why=_("Merge of %(kept)s and %(old)s undone.")
            % {"kept": merge.survivor_mrn, "old": merge.merged_mrn},
            by=user,
        )
    return merge


def merge_preview(*, survivor: Patient, merged: Patient) -> list[tuple[str, int]]:
    """What would move: (what, how many) for each kind of record pointing at `merged`."""
    rows = []
    for rel in _relations():
        count = _model(rel)._base_manager.filter(**{rel.field.name: merged}).count()
        if count:
            rows.append((str(_model(rel)._meta.verbose_name_plural), count))
    return rows


def merge_warnings(*, survivor: Patient, merged: Patient) -> list[str]:
    """What the merge would change beyond moving rows, in words for the admin's preview
    (the visits' hold plans to confirm again: settings.PATIENTS_MERGE_WARNINGS)."""
    warn = import_string(settings.PATIENTS_MERGE_WARNINGS)
    return list(warn(survivor_id=survivor.pk, merged_id=merged.pk))
