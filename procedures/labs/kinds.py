"""One result form per kind of test: the fields each kind reports, how they are
validated (a Django form per kind, used for typed-in and imported data alike)
and which observation codes fill them.

Observation codes: LOINC where one exists for the field (the genomics reporting
and microbiology codes below); otherwise our own local code in the coding
system `99CLN` (HL7's convention for local tables), listed in
docs/integration.md. Either code fills the field.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from procedures.labs.choices import ResultKind
from procedures.labs.iscn import iscn_metaphases

if TYPE_CHECKING:
    from procedures.catalog.models import TestType

LOCAL_SYSTEM = "99CLN"
LOINC = "LN"

# --- Fields and codes --------------------------------------------------------------


@dataclass(frozen=True)
class Code:
    """An observation code that fills a field: LOINC or our local one."""

    field: str
    local: str
    loinc: str = ""


@dataclass(frozen=True)
class KindSpec:
    kind: str
    codes: tuple[Code, ...]
    # For kinds that report rows (variants, populations, sensitivities): the key of
    # the list in the JSON and the fields of one row.
    rows_key: str = ""
    row_fields: tuple[str, ...] = ()
    form: "type[KindForm] | None" = field(default=None, compare=False)

    def code_for(self, system: str, code: str) -> str | None:
        for c in self.codes:
            if code and code in (c.local, c.loinc):
                return c.field
        return None


def _decimal(value: object, *, low: int, high: int, label: object) -> Decimal:
    try:
        number = Decimal(str(value).strip().rstrip("%"))
    except (InvalidOperation, ValueError):
        raise ValidationError(_("%(label)s must be a number.") % {"label": label}) from None
    if (low is not None and number < low) or (high is not None and number > high):
        raise ValidationError(
            _("%(label)s must be between %(low)s and %(high)s.")
            % {"label": label, "low": low, "high": high}
        )
    return number


class RowsField(forms.Field):
    """Rows of a result (variants, populations, sensitivities): typed as one line per
    row with `|` between the columns, or imported as a list of dicts. Each row is
    validated by `row_form`; the value is a list of dicts."""

    widget = forms.Textarea(attrs={"rows": 3})

    def __init__(
        self, *, row_form: type[forms.Form], columns: tuple[str, ...], **kwargs: Any
    ) -> None:
        self.row_form, self.columns = row_form, columns
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return "\n".join(" | ".join(str(row.get(c, "")) for c in self.columns) for row in value)
        return value

    def to_python(self, value: Any) -> list[dict[str, Any]]:
        if not value:
            return []
        if isinstance(value, list):
            return value
        rows: list[dict[str, Any]] = []
        for line in str(value).splitlines():
            if line.strip():
                cells = [c.strip() for c in line.split("|")]
                rows.append(dict(zip(self.columns, cells + [""] * len(self.columns), strict=False)))
        return rows

    def clean(self, value: Any) -> list[dict[str, Any]]:
        rows = super().clean(value)
        cleaned: list[dict[str, Any]] = []
        errors: list[str] = []
        for number, row in enumerate(rows, start=1):
            form = self.row_form(data=row)
            if form.is_valid():
                cleaned.append({k: _jsonable(v) for k, v in form.cleaned_data.items()})
            else:
                for msgs in form.errors.values():
                    errors += [_("Row %(n)s: %(msg)s") % {"n": number, "msg": m} for m in msgs]
        if errors:
            raise ValidationError(errors)
        return cleaned


def _jsonable(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value.normalize()) if value == value.to_integral() else str(value)
    return value


class KindForm(forms.Form):
    """Base of the per-kind forms: `structured()` is the JSON document stored."""

    def structured(self) -> dict[str, Any]:
        return {
            k: _jsonable(v) for k, v in self.cleaned_data.items() if v not in ("", None, [], False)
        }


# Morphology -------------------------------------------------------------------------
FIBROSIS_GRADES = [
    ("", "—"),
    ("MF-0", "MF-0"),
    ("MF-1", "MF-1"),
    ("MF-2", "MF-2"),
    ("MF-3", "MF-3"),
]
IRON = [
    ("", "—"),
    ("absent", _("Absent")),
    ("reduced", _("Reduced")),
    ("normal", _("Normal")),
    ("increased", _("Increased")),
]


class MorphologyForm(KindForm):
    cellularity_percent = forms.IntegerField(
        label=_("Cellularity (%)"), min_value=0, max_value=100, required=False
    )
    me_ratio = forms.CharField(
        label=_("M:E ratio"), required=False, max_length=10, help_text=_("e.g. 3:1 or 2.5")
    )
    blast_percent = forms.DecimalField(
        label=_("Blasts (%)"), min_value=0, max_value=100, decimal_places=1, required=False
    )
    iron = forms.ChoiceField(label=_("Iron stores"), choices=IRON, required=False)
    fibrosis_grade = forms.CharField(
        label=_("Fibrosis grade"), max_length=5, required=False, help_text=_("MF-0 to MF-3")
    )

    def clean_me_ratio(self) -> str:
        value = str(self.cleaned_data["me_ratio"]).strip()
        if value and not re.fullmatch(r"\d+(\.\d+)?(:\d+(\.\d+)?)?", value):
            raise ValidationError(_("Write the M:E ratio as 3:1 or as a number such as 2.5."))
        return value

    def clean_fibrosis_grade(self) -> str:
        value = str(self.cleaned_data["fibrosis_grade"]).strip().upper().replace(" ", "")
        if not value:
            return ""
        grade = value.removeprefix("MF").lstrip("-")
        if grade not in ("0", "1", "2", "3"):
            raise ValidationError(_("The fibrosis grade is MF-0, MF-1, MF-2 or MF-3."))
        return f"MF-{grade}"


# Flow cytometry ---------------------------------------------------------------------
class PopulationRow(forms.Form):
    population = forms.CharField(max_length=100)
    percent = forms.DecimalField(min_value=0, max_value=100, decimal_places=2)


class FlowForm(KindForm):
    populations = RowsField(
        label=_("Populations"),
        row_form=PopulationRow,
        columns=("population", "percent"),
        help_text=_("One per line: population | % of events, e.g. CD34+ blasts | 2.1"),
    )
    immunophenotype = forms.CharField(
        label=_("Immunophenotype"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )


# Cytogenetics -----------------------------------------------------------------------
class CytogeneticsForm(KindForm):
    karyotype = forms.CharField(label=_("Karyotype (ISCN)"), max_length=300, required=False)
    metaphases = forms.IntegerField(
        label=_("Metaphases counted"), min_value=0, max_value=1000, required=False
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        karyotype = data.get("karyotype", "")
        if karyotype:
            try:
                counted = iscn_metaphases(karyotype)
            except ValidationError as exc:
                self.add_error("karyotype", exc)
                return data
            data["karyotype"] = karyotype.replace(" ", "")
            if data.get("metaphases") in (None, ""):
                data["metaphases"] = counted
            elif data["metaphases"] != counted:
                self.add_error(
                    "metaphases",
                    _("The karyotype counts %(k)s cells but %(m)s metaphases are entered.")
                    % {"k": counted, "m": data["metaphases"]},
                )
        return data


# FISH -------------------------------------------------------------------------------
class FishForm(KindForm):
    probe = forms.CharField(label=_("Probe"), max_length=120, required=False)
    result = forms.CharField(label=_("Result"), max_length=300, required=False)
    nuclei_scored = forms.IntegerField(
        label=_("Nuclei scored"), min_value=0, max_value=10000, required=False
    )


# NGS --------------------------------------------------------------------------------
TIERS = ["I", "II", "III", "IV"]


class VariantRow(forms.Form):
    gene = forms.CharField(max_length=30)
    hgvs_c = forms.CharField(max_length=120)
    hgvs_p = forms.CharField(max_length=120, required=False)
    vaf = forms.CharField(max_length=10)
    tier = forms.CharField(max_length=10, required=False)

    def clean_gene(self) -> str:
        gene = str(self.cleaned_data["gene"]).strip()
        if not re.fullmatch(r"[A-Z0-9][A-Z0-9-]*", gene.upper()):
            raise ValidationError(_("“%(g)s” is not a gene symbol.") % {"g": gene})
        return gene.upper()

    def clean_hgvs_c(self) -> str:
        value = str(self.cleaned_data["hgvs_c"]).strip()
        # The transcript prefix (NM_...:) is kept when given.
        if not re.fullmatch(r"(N[MR]_\d+(\.\d+)?:)?c\.\S+", value):
            raise ValidationError(
                _("“%(v)s” is not an HGVS c. change (e.g. c.1849G>T).") % {"v": value}
            )
        return value

    def clean_hgvs_p(self) -> str:
        value = str(self.cleaned_data["hgvs_p"]).strip()
        if value and not re.fullmatch(r"(NP_\d+(\.\d+)?:)?p\.\S+", value):
            raise ValidationError(
                _("“%(v)s” is not an HGVS p. change (e.g. p.V617F).") % {"v": value}
            )
        return value

    def clean_vaf(self) -> str:
        raw = self.cleaned_data["vaf"]
        number = _decimal(raw, low=0, high=100, label=_("VAF"))
        # A fraction (0.43) or a percentage (43%): stored as a percentage.
        if "%" not in str(raw) and number <= 1:
            number = number * 100
        return str(number.quantize(Decimal("0.1")))

    def clean_tier(self) -> str:
        tier = str(self.cleaned_data["tier"]).strip().upper().removeprefix("TIER").strip()
        if tier and tier not in TIERS:
            raise ValidationError(_("The tier is I, II, III or IV."))
        return tier


class NgsForm(KindForm):
    variants = RowsField(
        label=_("Variants"),
        row_form=VariantRow,
        columns=("gene", "hgvs_c", "hgvs_p", "vaf", "tier"),
        help_text=_(
            "One per line: gene | c. | p. | VAF % | tier, e.g. JAK2 | c.1849G>T | p.V617F | 43 | I"
        ),
    )
    no_variants = forms.BooleanField(label=_("No variants detected"), required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("no_variants") and data.get("variants"):
            raise ValidationError(_("Variants are listed: untick “No variants detected”."))
        return data


# Culture ----------------------------------------------------------------------------
class SensitivityRow(forms.Form):
    antibiotic = forms.CharField(max_length=80)
    interpretation = forms.CharField(max_length=1)

    def clean_interpretation(self) -> str:
        value = str(self.cleaned_data["interpretation"]).strip().upper()
        if value not in ("S", "I", "R"):
            raise ValidationError(_("Sensitivity is S, I or R."))
        return value


class CultureForm(KindForm):
    organism = forms.CharField(
        label=_("Organism"), max_length=120, required=False, help_text=_("Blank: no growth")
    )
    sensitivities = RowsField(
        label=_("Sensitivities"),
        row_form=SensitivityRow,
        columns=("antibiotic", "interpretation"),
        help_text=_("One per line: antibiotic | S, I or R"),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("sensitivities") and not data.get("organism"):
            raise ValidationError(_("Sensitivities need the organism they were tested on."))
        return data


SPECS: dict[str, KindSpec] = {
    ResultKind.MORPHOLOGY: KindSpec(
        ResultKind.MORPHOLOGY,
        (
            Code("cellularity_percent", "MORPH-CELL"),
            Code("me_ratio", "MORPH-ME"),
            Code("blast_percent", "MORPH-BLAST"),
            Code("iron", "MORPH-IRON"),
            Code("fibrosis_grade", "MORPH-FIB"),
        ),
        form=MorphologyForm,
    ),
    ResultKind.FLOW: KindSpec(
        ResultKind.FLOW,
        (
            Code("population", "FLOW-POP"),
            Code("percent", "FLOW-PCT"),
            Code("immunophenotype", "FLOW-IPT"),
        ),
        rows_key="populations",
        row_fields=("population", "percent"),
        form=FlowForm,
    ),
    ResultKind.CYTOGENETICS: KindSpec(
        ResultKind.CYTOGENETICS,
        (Code("karyotype", "CYTO-ISCN"), Code("metaphases", "CYTO-META")),
        form=CytogeneticsForm,
    ),
    ResultKind.FISH: KindSpec(
        ResultKind.FISH,
        (
            Code("probe", "FISH-PROBE"),
            Code("result", "FISH-RES"),
            Code("nuclei_scored", "FISH-NUC"),
        ),
        form=FishForm,
    ),
    ResultKind.NGS: KindSpec(
        ResultKind.NGS,
        (
            Code("gene", "NGS-GENE", "48018-6"),
            Code("hgvs_c", "NGS-HGVSC", "48004-6"),
            Code("hgvs_p", "NGS-HGVSP", "48005-3"),
            Code("vaf", "NGS-VAF", "81258-6"),
            Code("tier", "NGS-TIER"),
        ),
        rows_key="variants",
        row_fields=("gene", "hgvs_c", "hgvs_p", "vaf", "tier"),
        form=NgsForm,
    ),
    ResultKind.CULTURE: KindSpec(
        ResultKind.CULTURE,
        (Code("organism", "CULT-ORG", "11475-1"),),
        rows_key="sensitivities",
        row_fields=("antibiotic", "interpretation"),
        form=CultureForm,
    ),
}

# Guess for a test type without a lab code row, from its code (the demo catalog's).
_GUESSES = (
    ("flow", ResultKind.FLOW),
    ("cytogen", ResultKind.CYTOGENETICS),
    ("karyo", ResultKind.CYTOGENETICS),
    ("fish", ResultKind.FISH),
    ("ngs", ResultKind.NGS),
    ("molecular", ResultKind.NGS),
    ("culture", ResultKind.CULTURE),
)


def kind_for(test_type: "TestType") -> str:
    """The result form a test type uses: its lab code's, else guessed from its code."""
    lab_code = getattr(test_type, "lab_code", None)
    if lab_code is not None:
        return lab_code.kind
    return kind_from_code(test_type.code)


def kind_from_code(code: str) -> str:
    """The result form guessed from a test type's code (the demo catalog's codes)."""
    code = code.lower()
    for needle, kind in _GUESSES:
        if needle in code:
            return kind
    return ResultKind.MORPHOLOGY


def form_for(kind: str, data: Mapping[str, Any] | None = None, **kwargs: Any) -> KindForm:
    form = SPECS[kind].form
    if form is None:
        raise LookupError(f"no result form for {kind}")
    return form(data=data, **kwargs)


def validate(kind: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a structured document of `kind` (imported or typed); raise
    ValidationError with the form's messages, or return the cleaned document."""
    form = form_for(kind, data=data)
    if not form.is_valid():
        raise ValidationError(
            [
                f"{form.fields[f].label if f in form.fields else ''}: {m}".lstrip(": ")
                for f, msgs in form.errors.items()
                for m in msgs
            ]
        )
    return form.structured()


def display_rows(kind: str, data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs for templates, in the form's order; rows joined."""
    form = form_for(kind)
    out = []
    for name, fld in form.fields.items():
        value = data.get(name)
        if value in (None, "", [], False):
            continue
        if isinstance(value, list) and isinstance(fld, RowsField):
            cols = fld.columns
            value = "; ".join(
                " ".join(str(row.get(c, "")) for c in cols if row.get(c)) for row in value
            )
        elif value is True:
            value = _("yes")
        out.append((str(fld.label), str(value)))
    return out
