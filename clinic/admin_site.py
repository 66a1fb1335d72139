"""The admin site: catalog, resources, users and the audit tables, for clinic admins."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from clinic import roles
from clinic.forms import AdminLoginForm


class ClinicAdminSite(admin.AdminSite):
    site_header = _("Clinic administration")
    site_title = _("Clinic administration")
    login_form = AdminLoginForm
    # "View site": the clinic admin's start page (the site's root sends a clinic admin
    # there too, not back here).
    site_url = "/manage/"  # clinic/urls.py: "manage" (a plain string, as AdminSite types it)

    def has_permission(self, request) -> bool:
        """Staff status alone is not enough: the clinic admin role (or superuser) is."""
        user = request.user
        return bool(
            user.is_active
            and user.is_staff
            and (user.is_superuser or roles.has_role(user, roles.CLINIC_ADMIN))
        )
