"""Choices shared by the lab models and the per-kind forms."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class ResultKind(models.TextChoices):
    MORPHOLOGY = "morphology", _("Morphology")
    FLOW = "flow", _("Flow cytometry")
    CYTOGENETICS = "cytogenetics", _("Cytogenetics (karyotype)")
    FISH = "fish", _("FISH")
    NGS = "ngs", _("NGS / molecular")
    CULTURE = "culture", _("Culture and sensitivity")
