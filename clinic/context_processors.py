from django.conf import settings

from .policy import Permissions
from .roles import user_roles


def clinic(request):
    return {
        "clinic_name": settings.CLINIC_NAME,
        "clinic_phone": settings.CLINIC_PHONE,
        "user_roles": user_roles(request.user) if hasattr(request, "user") else set(),
        # Who may do what (clinic.policy): `{% if may.appointment_confirm %}`.
        "may": Permissions(getattr(request, "user", None)),
        "debug_outbox": settings.DEBUG
        and settings.EMAIL_BACKEND == "clinic.mail.LocalOutboxBackend",
        "session_idle_seconds": settings.CLINIC_SESSION_IDLE_SECONDS,
        "session_warning_seconds": settings.CLINIC_SESSION_WARNING_SECONDS,
    }
