"""System checks of our own, run by `manage.py check` (the deploy ones with --deploy)."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

PER_PROCESS_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


@register(Tags.security, deploy=True)
def shared_cache(app_configs, **kwargs) -> list[Error]:
    """Rate limits and the date-of-birth lockout kept per process let each web process
    grant its own quota: an error in production, not a warning."""
    if settings.CACHES["default"]["BACKEND"] in PER_PROCESS_CACHES:
        return [
            Error(
                "The cache is per process, so each web process keeps its own patient-link "
                "rate limits and date-of-birth lockouts.",
                hint="Set CACHE_URL to a shared cache, e.g. redis://127.0.0.1:6379/1.",
                id="clinic.E001",
            )
        ]
    return []


@register(deploy=True)
def clinic_lead_addresses(app_configs, **kwargs) -> list[Warning]:
    """Without a lead address, results overdue past the lead threshold reach nobody."""
    if not settings.DEBUG and not getattr(settings, "RESULTS_CLINIC_LEAD_EMAILS", None):
        return [
            Warning(
                "No clinic lead address: escalations of long-overdue and unreviewed results "
                "to the clinic lead are not emailed to anyone.",
                hint="Set RESULTS_CLINIC_LEAD_EMAILS, e.g. lead@clinic.example (comma-separated "
                "for several).",
                id="clinic.W002",
            )
        ]
    return []
