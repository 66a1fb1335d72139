from django.apps import AppConfig
from django.db.models import Model
from django.utils.translation import gettext_lazy as _


class ProceduresConfig(AppConfig):
    name = "procedures"
    verbose_name = _("Procedures")

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from procedures import models
        from procedures.today import counts

        # The navigation's cached counts are dropped when a row they read changes.
        counts.connect()

        # A reverse one-to-one is not a field of the row, but auditlog reads it on every
        # save (one query each): the prep plan is audited on its own.
        auditlog.register(models.Appointment, exclude_fields=["prep_plan"])
        model: type[Model]
        for model in (models.TestOrder, models.TestResult):
            auditlog.register(model)
        for model in (
            models.PrepPlan,
            models.MedicationHold,
            models.ClinicalOverride,
            models.ChecklistTick,
            models.FrontDeskTask,
        ):
            auditlog.register(model)
        # Scheduling: who waits for what is patient data.
        auditlog.register(models.WaitlistEntry)
