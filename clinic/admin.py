"""Admin for the plumbing's tables: the audit rows are read-only for everyone."""

from auditlog.models import LogEntry
from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from . import roles
from .audit_views import ACTIONS, changed_fields
from .models import EmergencyAccess, ReadAccess
from .role_changes import role_change_allowed, role_change_notify


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
    list_display = ["at", "user", "object_type", "record", "view_name", "ip_address"]
    list_filter = ["object_type"]
    list_select_related = ["user"]
    date_hierarchy = "at"

    @admin.display(description=gettext_lazy("Record"))
    def record(self, read: ReadAccess) -> str:
        """The record's id, or for a list (a search, a board, a calendar) how many it
        showed (their ids are on the row's page)."""
        if read.object_ids:
            count = len(read.object_ids)
            return ngettext("a list of %(n)d", "a list of %(n)d", count) % {"n": count}
        return read.object_id


@admin.register(EmergencyAccess)
class EmergencyAccessAdmin(ReadOnlyAdmin):
    list_display = ["at", "user", "object_type", "object_id", "expires_at", "notified_at"]
    list_select_related = ["user"]
    date_hierarchy = "at"


# django-auditlog's own admin shows each change's old and new values (a patient's
# date of birth, phone, results) and searches them. Ours names the record by type
# and id and lists the changed fields' names only, as the audit page does.
admin.site.unregister(LogEntry)


@admin.register(LogEntry)
class ClinicLogEntryAdmin(ReadOnlyAdmin):
    list_display = ["timestamp", "actor", "action_label", "record", "fields_changed", "remote_addr"]
    list_filter = ["action", "content_type"]
    list_select_related = ["actor", "content_type"]
    search_fields = ["object_pk", "actor__username"]
    date_hierarchy = "timestamp"
    fields = ["timestamp", "actor", "action_label", "record", "fields_changed", "remote_addr"]
    # Names only; the stubs type `fields` as groups (names or tuples of names).
    readonly_fields = fields  # type: ignore[assignment]

    def get_object(self, request, object_id, from_field=None):
        entry = super().get_object(request, object_id, from_field)
        if entry is not None:
            # The page's title and breadcrumbs print the entry, whose text is the
            # record's own (a patient's name): name it by type and id instead. Never saved.
            entry.object_repr = self.record(entry)
        return entry

    @admin.display(description=gettext_lazy("action"))
    def action_label(self, entry) -> str:
        return str(ACTIONS.get(entry.action, entry.action))

    @admin.display(description=gettext_lazy("record"))
    def record(self, entry) -> str:
        return f"{entry.content_type.app_label}.{entry.content_type.model} #{entry.object_pk}"

    @admin.display(description=gettext_lazy("fields changed"))
    def fields_changed(self, entry) -> str:
        return changed_fields(entry)


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
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if db_field.name == "groups" and field is not None:
            # "Clinic admin", not the group's code "clinic_admin".
            field.label_from_instance = roles.role_label
        return field

    def get_queryset(self, request):
        users = super().get_queryset(request)
        # A clinic admin does not see or edit superusers' accounts.
        return users if self._is_superuser(request) else users.filter(is_superuser=False)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)
        if obj is None or "groups" not in form_class.base_fields:
            return form_class
        before = set(obj.groups.values_list("name", flat=True))

        class RoleForm(form_class):
            def clean_groups(self):
                groups = self.cleaned_data["groups"]
                after = {group.name for group in groups}
                if not role_change_allowed(by=request.user, user=obj, before=before, after=after):
                    raise forms.ValidationError(
                        _(
                            "You cannot add a role to your own account. Ask another clinic "
                            "admin to do it: role changes need a second person."
                        )
                    )
                return groups

        return RoleForm

    def save_related(self, request, form, formsets, change):
        user = form.instance
        before = set(user.groups.values_list("name", flat=True)) if change else set()
        super().save_related(request, form, formsets, change)
        after = set(user.groups.values_list("name", flat=True))
        added, removed = after - before, before - after
        if added or removed:
            by = request.user

            def tell():
                try:
                    role_change_notify(by=by, user=user, added=added, removed=removed)
                except Exception:  # the change stands; say so rather than fail the page
                    messages.warning(
                        request, _("The role change is saved but the other admins were not told.")
                    )

            transaction.on_commit(tell)
