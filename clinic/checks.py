"""System checks of our own, run by `manage.py check` (the deploy ones with --deploy)."""

from django.conf import settings
from django.core.checks import Tags, Warning, register

PER_PROCESS_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


@register(Tags.security, deploy=True)
def shared_cache(app_configs, **kwargs) -> list[Warning]:
    """Rate limits kept per process let each web process grant its own quota."""
    if settings.CACHES["default"]["BACKEND"] in PER_PROCESS_CACHES:
        return [
            Warning(
                "The cache is per process, so each web process keeps its own patient-link "
                "rate limits.",
                hint="Set CACHE_URL to a shared cache, e.g. redis://127.0.0.1:6379/1.",
                id="clinic.W001",
            )
        ]
    return []
