"""Two records of one person made one, and undone again.

Everything that points at the duplicate record moves to the record kept, found
generically through the patient's reverse relations (`_meta`), so this app needs
to know nothing of visits, orders or emails. What moved is written down (model,
field and primary keys), which is what makes the merge reversible.
"""

from typing import Any

from django.apps import apps
from django.contrib.postgres.constraints import ExclusionConstraint
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import Patient, PatientMerge

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
# Never moved: the merge records themselves (they name both records on purpose).
NOT_MOVED = {PatientMerge}
FILLED = "_filled"


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


def patient_merge(*, survivor: Patient, merged: Patient, reason: str, user: Any) -> PatientMerge:
    """Make `merged` part of `survivor`: everything pointing at it moves, its MRN
    finds the survivor, and the merge is recorded with what moved."""
    reason = " ".join(reason.split())
    if not reason:
        raise ValidationError({"reason": _("Say why these are the same person.")})
    if survivor.pk == merged.pk:
        raise ValidationError(_("Choose two different records."))
    with transaction.atomic():
        # Lock both, in a fixed order so that two merges cannot deadlock.
        locked = {
            p.pk: p
            for p in Patient.objects.select_for_update().filter(pk__in=[survivor.pk, merged.pk])
        }
        survivor, merged = locked[survivor.pk], locked[merged.pk]
        if survivor.merged_into_id or merged.merged_into_id:
            raise ValidationError(_("One of these records has already been merged."))
        moved: dict[str, list] = {}
        for rel in _relations():
            model, name = _model(rel), rel.field.name
            objects = list(model._base_manager.filter(**{name: merged}))
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
        filled = []
        for name in FILLED_FIELDS:
            if getattr(survivor, name) in ("", None) and getattr(merged, name) not in ("", None):
                setattr(survivor, name, getattr(merged, name))
                filled.append(name)
        if merged.bleeding_disorder and not survivor.bleeding_disorder:
            survivor.bleeding_disorder = True
            filled.append("bleeding_disorder")
        if filled:
            survivor.save(update_fields=[*filled, "updated_at"])
        moved[FILLED] = filled
        merged.merged_into = survivor
        merged.save(update_fields=["merged_into", "updated_at"])
        return PatientMerge.objects.create(
            survivor=survivor,
            merged=merged,
            survivor_mrn=survivor.mrn,
            merged_mrn=merged.mrn,
            reason=reason,
            moved=moved,
            merged_by=user,
        )


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
            if key == FILLED:
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
        if filled:
            survivor.save(update_fields=[*filled, "updated_at"])
        merged.merged_into = None
        merged.save(update_fields=["merged_into", "updated_at"])
        merge.undone_at = timezone.now()
        merge.undone_by = user
        merge.save(update_fields=["undone_at", "undone_by"])
    return merge


def merge_preview(*, survivor: Patient, merged: Patient) -> list[tuple[str, int]]:
    """What would move: (what, how many) for each kind of record pointing at `merged`."""
    rows = []
    for rel in _relations():
        count = _model(rel)._base_manager.filter(**{rel.field.name: merged}).count()
        if count:
            rows.append((str(_model(rel)._meta.verbose_name_plural), count))
    return rows
