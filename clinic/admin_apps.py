from django.contrib.admin.apps import AdminConfig


class ClinicAdminConfig(AdminConfig):
    """django.contrib.admin with the clinic's site (clinic admins only) as the default."""

    default_site = "clinic.admin_site.ClinicAdminSite"
