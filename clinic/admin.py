"""Admin for the plumbing's tables: the audit rows are read-only for everyone."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group

from . import roles
from .models import EmergencyAccess, ReadAccess


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable with the view permission; never added, changed or deleted here."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ReadAccess)
class ReadAccessAdmin(ReadOnlyAdmin):
    list_display = ["at", "user", "object_type", "object_id", "view_name", "ip_address"]
    list_filter = ["object_type"]
    list_select_related = ["user"]
    date_hierarchy = "at"


@admin.register(EmergencyAccess)
class EmergencyAccessAdmin(ReadOnlyAdmin):
    list_display = ["at", "user", "object_type", "object_id", "expires_at", "notified_at"]
    list_select_related = ["user"]
    date_hierarchy = "at"


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class ClinicUserAdmin(UserAdmin):
    """Clinic admins manage staff accounts and their roles, but cannot make anyone
    (themselves included) a superuser or hand out single permissions."""

    def _is_superuser(self, request) -> bool:
        return request.user.is_superuser

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if self._is_superuser(request):
            return fieldsets
        trimmed = []
        for name, options in fieldsets:
            fields = [f for f in options["fields"] if f not in ("is_superuser", "user_permissions")]
            trimmed.append((name, {**options, "fields": fields}))
        return trimmed

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups" and not self._is_superuser(request):
            kwargs["queryset"] = Group.objects.filter(name__in=roles.ALL_ROLES)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_queryset(self, request):
        users = super().get_queryset(request)
        # A clinic admin does not see or edit superusers' accounts.
        return users if self._is_superuser(request) else users.filter(is_superuser=False)
