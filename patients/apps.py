from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PatientsConfig(AppConfig):
    name = "patients"
    verbose_name = _("Patients")

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from .models import (
            Allergy,
            BloodResult,
            DuplicateOverride,
            Medication,
            Patient,
            PatientMerge,
        )

        # email_opt_out is a reverse one-to-one, not a column of the patient; auditlog would
        # read it on every save.
        auditlog.register(Patient, exclude_fields=["email_opt_out"])
        auditlog.register(Medication)
        auditlog.register(Allergy)
        auditlog.register(BloodResult)
        auditlog.register(DuplicateOverride)
        auditlog.register(PatientMerge)
