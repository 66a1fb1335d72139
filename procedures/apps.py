from django.apps import AppConfig
from django.db.models import Model
from django.utils.translation import gettext_lazy as _


class ProceduresConfig(AppConfig):
    name = "procedures"
    verbose_name = _("Procedures")

    def ready(self) -> None:
        from auditlog.registry import auditlog
        from django.contrib.auth.signals import user_logged_in

        from procedures import models
        from procedures.catalog import sites
        from procedures.reports import rollup
        from procedures.today import counts

        # The site switcher starts on the home site: chosen once, at login (issue 18).
        user_logged_in.connect(sites.start_at_home_site, dispatch_uid="procedures-home-site")
        # The navigation's cached counts are dropped when a row they read changes.
        counts.connect()
        # A change to a day the reports rolled up takes that day out of the roll-up.
        rollup.connect()

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
        # Hours, leave and holidays: who changed when physicians and rooms work (#16).
        for model in (models.WorkingHours, models.Unavailability, models.ClinicHoliday):
            auditlog.register(model)
