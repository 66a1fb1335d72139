"""ISCN karyotypes: the shape of the notation, and the cells it counts."""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# --- ISCN karyotype ------------------------------------------------------------------
# An ISCN karyotype: one or more clones separated by "/", each "count,sex
# chromosomes[,abnormalities][cell count]", e.g. 46,XY[20] or
# 47,XX,+8[12]/46,XX[8] or 45,X,-Y,t(9;22)(q34.1;q11.2)[15]. The check is of the
# notation's shape (what a typing slip breaks), not of cytogenetic sense.
_ABNORMALITY = (
    r"(?:[+-](?:\d{1,2}|[XY]|mar\d*)"  # whole chromosome gained or lost, markers
    r"|(?:add|del|der|dup|ins|inv|i|idic|r|t|dic|trp|hsr|fra|mar|\?)"
    r"\([0-9XY;]+\)(?:\([pq0-9.;~?]+\))?"  # structural: t(9;22)(q34.1;q11.2)
    r"|c|idem|sl|sdl\d*)"
)
_CLONE = (
    rf"(?:\d{{2,3}}(?:~\d{{2,3}})?<?[0-9n]*>?,[XY]*(?:,{_ABNORMALITY})*"
    rf"|idem(?:,{_ABNORMALITY})*|sl(?:,{_ABNORMALITY})*)"
    r"\[(?:cp)?(\d+)\]"
)
ISCN_RE = re.compile(rf"^{_CLONE}(?:/{_CLONE})*$")
_CELL_COUNTS = re.compile(r"\[(?:cp)?(\d+)\]")


def iscn_metaphases(karyotype: str) -> int:
    """Raise ValidationError unless `karyotype` is ISCN-shaped; return the cells counted."""
    text = karyotype.replace(" ", "")
    if not ISCN_RE.match(text):
        raise ValidationError(
            _(
                "“%(k)s” is not an ISCN karyotype. Write it as e.g. 46,XY[20] or "
                "47,XX,+8[12]/46,XX[8]: the chromosome count, the sex chromosomes, "
                "any abnormalities, and the cells counted in square brackets."
            ),
            params={"k": karyotype},
            code="iscn",
        )
    return sum(int(n) for n in _CELL_COUNTS.findall(text))
