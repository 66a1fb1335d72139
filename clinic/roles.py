"""Staff roles. Each role is a Django group; views declare which roles they admit."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.mixins import AccessMixin
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

FRONT_DESK = "front_desk"
NURSE = "nurse"
PHYSICIAN = "physician"
CLINIC_ADMIN = "clinic_admin"

ROLE_LABELS = {
    FRONT_DESK: _("Front desk"),
    NURSE: _("Nurse"),
    PHYSICIAN: _("Physician"),
    CLINIC_ADMIN: _("Clinic admin"),
}
ALL_ROLES = tuple(ROLE_LABELS)


def role_label(group: Any) -> str:
    """A role's label ("Clinic admin") from its group or its name; any other group's name."""
    name = getattr(group, "name", group)
    return str(ROLE_LABELS.get(name, name))


CLINICAL = (NURSE, PHYSICIAN)


def user_roles(user: Any) -> set[str]:
    """The role names a user holds (cached on the user object for the request).

    A superuser (made for setting up, `createsuperuser`) is a clinic admin, not a
    physician, nurse or front desk: being a superuser opens no patient record, reviews
    no result and decides no hold. Clinical roles come from the groups alone."""
    if not user.is_authenticated:
        return set()
    if not hasattr(user, "_clinic_roles"):
        user._clinic_roles = set(user.groups.values_list("name", flat=True))
        if user.is_superuser:
            user._clinic_roles.add(CLINIC_ADMIN)
    return user._clinic_roles


def clinic_admin_emails(*, except_user: Any = None) -> list[str]:
    """The addresses of every active clinic admin, superusers included (they are clinic
    admins in the app, see user_roles, though not in the group): the people told of
    role changes and emergency access."""
    admins = get_user_model().objects.filter(
        Q(groups__name=CLINIC_ADMIN) | Q(is_superuser=True), is_active=True
    )
    if except_user is not None:
        admins = admins.exclude(pk=except_user.pk)
    return sorted(set(admins.exclude(email="").values_list("email", flat=True)))


def has_role(user: Any, *roles: str) -> bool:
    return bool(user_roles(user) & set(roles))


def role_required(*roles: str) -> Callable:
    """Admit only users holding one of `roles`; others get 403 (login is enforced earlier)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not has_role(request.user, *roles):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        # Read by the role x URL matrix test.
        wrapped.allowed_roles = roles  # type: ignore[attr-defined]
        return wrapped

    return decorator


class RoleRequiredMixin(AccessMixin):
    """Class-based counterpart of `role_required`."""

    allowed_roles: tuple[str, ...] = ()

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not has_role(request.user, *self.allowed_roles):
            raise PermissionDenied
        # A mixin: the View it is mixed into has dispatch.
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]


# --- Model permissions of each role ---------------------------------------------------
# Pages check roles (`role_required`); the Django admin checks model permissions, so
# each role's group also carries them. Patterns are "app_label.codename" with shell
# wildcards, so models added later (prep, checklists) are picked up by name. A
# permission that matches an EXCLUDED pattern is never granted, whatever the role.
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    FRONT_DESK: (
        "patients.view_patient",
        "patients.add_patient",
        "patients.change_patient",
        "procedures.view_appointment",
        "procedures.add_appointment",
        "procedures.change_appointment",
        "procedures.view_appointmentevent",
        "procedures.*_escort*",
        "procedures.*_transport*",
        "procedures.view_proceduretype",
        "procedures.view_provider",
        "procedures.view_room",
        "procedures.view_clinicholiday",
        "procedures.view_site",  # the clinics of the network (#18)
        "procedures.view_reminder",
        # The state of each test, never its result.
        "procedures.view_testorder",
    ),
    NURSE: (
        "patients.view_patient",
        "patients.*_allergy",  # the clinical record (#14)
        "patients.*_bloodresult",
        "procedures.view_*",
        "procedures.change_appointment",
        "procedures.*_prep*",
        "procedures.*_checklist*",
        "procedures.*_checkin*",
        "procedures.*_medicationhold*",
        "procedures.*_sedation*",
        "procedures.*_escort*",
        "procedures.*_transport*",
    ),
    PHYSICIAN: (
        "patients.view_patient",
        "patients.change_patient",
        "patients.*_allergy",
        "patients.*_bloodresult",
        "procedures.view_*",
        "procedures.add_*",
        "procedures.change_*",
    ),
    CLINIC_ADMIN: (
        "procedures.*_proceduretype",
        "procedures.*_testtype",
        "procedures.*_provider",
        "procedures.*_room",
        "procedures.*_clinicholiday",
        "procedures.*_site",  # the network's clinics and staff home sites (#18)
        "procedures.*_staffprofile",
        "procedures.*_workinghours",  # scheduling (#3): hours, leave and closures
        "procedures.*_unavailability",
        "procedures.*_preptemplate",
        "procedures.*_medicationclassrule",
        "procedures.view_reminder",
        "procedures.*_reminderpolicy",  # when each kind of reminder goes out
        "procedures.*_resultcoverage",  # who answers for results while a physician is away
        # Merges of duplicate patient records: the record of each, and its undo (#14).
        "patients.view_patientmerge",
        "patients.change_patientmerge",
        "auth.view_user",
        "auth.add_user",
        "auth.change_user",
        "auth.view_group",
        "auditlog.view_logentry",
        "clinic.view_readaccess",
        "clinic.view_emergencyaccess",
        "axes.view_accessattempt",
        "axes.delete_accessattempt",  # the unlock
        "axes.view_accessfailurelog",
        "axes.view_accesslog",
        "otp_totp.view_totpdevice",
        "otp_totp.delete_totpdevice",  # a lost phone: the user enrols again
    ),
}
ROLE_PERMISSIONS_EXCLUDED: dict[str, tuple[str, ...]] = {
    FRONT_DESK: ("procedures.*_testresult",),
    NURSE: ("procedures.*_testresult", "procedures.view_reminder"),
    PHYSICIAN: (
        "procedures.*_proceduretype",
        "procedures.*_testtype",
        "procedures.*_provider",
        "procedures.*_room",
        "procedures.*_clinicholiday",
        "procedures.*_workinghours",
        "procedures.*_unavailability",
        "procedures.*_reminder",
        "procedures.add_site",
        "procedures.change_site",
        "procedures.delete_site",
        "procedures.*_staffprofile",
    ),
    CLINIC_ADMIN: (),
}
# Never granted to any role: the audit trail and patient records are not deleted
# through the app, and audit rows are not edited.
NEVER_GRANTED = (
    "auditlog.add_*",
    "auditlog.change_*",
    "auditlog.delete_*",
    "clinic.add_*",
    "clinic.change_*",
    "clinic.delete_*",
    "patients.delete_*",
    "procedures.delete_appointment*",
    "procedures.delete_test*",
    "auth.delete_*",
)


def role_permission_codes(role: str, available: list[str]) -> set[str]:
    """Which of the `available` "app_label.codename" permissions `role` holds."""
    from fnmatch import fnmatchcase

    def matches(code: str, patterns) -> bool:
        return any(fnmatchcase(code, pattern) for pattern in patterns)

    excluded = ROLE_PERMISSIONS_EXCLUDED.get(role, ()) + NEVER_GRANTED
    return {
        code
        for code in available
        if matches(code, ROLE_PERMISSIONS[role]) and not matches(code, excluded)
    }


def sync_role_permissions(apps=None) -> None:
    """Create the role groups and give each exactly its permissions.

    Runs in the migration that introduced it and after every `migrate`
    (post_migrate), so permissions of models added later are granted by the
    same rules. `apps` is the migration state's registry, or the live one.
    """
    if apps is None:
        from django.apps import apps
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = {
        f"{p.content_type.app_label}.{p.codename}": p
        for p in Permission.objects.select_related("content_type")
    }
    for role in ALL_ROLES:
        group, _created = Group.objects.get_or_create(name=role)
        codes = role_permission_codes(role, list(permissions))
        group.permissions.set([permissions[code] for code in codes])
