from django.db import models
from django.utils.translation import gettext_lazy as _


class SedationLevel(models.TextChoices):
    NONE = "none", _("None")
    LOCAL = "local", _("Local anaesthetic only")
    ORAL = "oral", _("Oral anxiolytic")
    IV_MODERATE = "iv_moderate", _("IV moderate sedation")
    GENERAL = "general", _("General anaesthesia")

    @classmethod
    def sedated(cls) -> set[str]:
        """Levels after which the patient must not drive and needs an escort."""
        return {cls.ORAL, cls.IV_MODERATE, cls.GENERAL}

    @classmethod
    def needs_monitored_room(cls) -> set[str]:
        return {cls.IV_MODERATE, cls.GENERAL}


class TransportMode(models.TextChoices):
    NOT_RECORDED = "", _("Not recorded yet")
    SELF = "self", _("Travels alone (no sedation)")
    ESCORT_DRIVING = "escort_driving", _("Escort drives them home")
    TAXI_WITH_ESCORT = "taxi_with_escort", _("Taxi or ride with an escort")
    CLINIC_TRANSPORT = "clinic_transport", _("Clinic-arranged transport")
    WHEELCHAIR = "wheelchair", _("Wheelchair or stretcher transport")


class ProcedureKind(models.TextChoices):
    """What the procedure takes: decides which clinical rules apply."""

    ASPIRATION = "aspiration", _("Aspiration only")
    ASPIRATION_BIOPSY = "aspiration_biopsy", _("Aspiration and biopsy")
    BIOPSY = "biopsy", _("Biopsy only")
    BMAC = "bmac", _("Bone marrow aspirate concentrate (BMAC)")
    # A visit to talk the results through: nothing is taken, so no prep or aftercare.
    RESULTS_DISCUSSION = "results_discussion", _("Results discussion")

    @classmethod
    def with_biopsy(cls) -> set[str]:
        return {cls.ASPIRATION_BIOPSY, cls.BIOPSY}


class ProcedureSite(models.TextChoices):
    POSTERIOR_ILIAC = "posterior_iliac", _("Back of the pelvis (posterior iliac crest)")
    ANTERIOR_ILIAC = "anterior_iliac", _("Front of the pelvis (anterior iliac crest)")
    STERNUM = "sternum", _("Breastbone (sternum)")
    TIBIA = "tibia", _("Lower leg bone below the knee (tibia)")

    @classmethod
    def pelvis(cls) -> set[str]:
        return {cls.POSTERIOR_ILIAC, cls.ANTERIOR_ILIAC}


class ProcedureSide(models.TextChoices):
    LEFT = "left", _("Left")
    RIGHT = "right", _("Right")
    BOTH = "both", _("Both sides")
    MIDLINE = "midline", _("Midline (no side)")
