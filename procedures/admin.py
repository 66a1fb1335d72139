from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from clinic import roles
from procedures import models
from procedures.messaging.outbox import reminders_follow_visits
from procedures.results.orders import orders_follow_rooms
from procedures.scheduling.hours_admin import weekly_text
from procedures.scheduling.site_rules import (
    deactivation_refusal,
    provider_sites_refusal,
    room_move_refusal,
    visits_follow_rooms,
)


@admin.register(models.ProcedureType)
class ProcedureTypeAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "default_duration_minutes",
        "default_sedation_level",
        "setup_minutes",
        "turnover_minutes",
        "is_active",
    ]
    filter_horizontal = ["default_tests", "optional_tests"]


@admin.register(models.TestType)
class TestTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "lab", "turnaround_target_days", "turnaround_max_days", "is_active"]


class ReadOnlyHereMixin:
    """Hours and leave are changed on the staff page, which lists the booked visits a
    change would leave outside hours before saving (docs/invariants.md)."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class WorkingHoursInline(ReadOnlyHereMixin, admin.TabularInline):
    """Read-only here: own hours are set on the staff page "Hours and leave", which
    says "clinic default" or "own hours" and warns about booked visits first. (Adding
    one row here used to replace the default on every weekday without a word.)"""

    model = models.WorkingHours
    extra = 0
    fields = readonly_fields = ("weekday", "starts", "ends")
    verbose_name_plural = _("own working hours (none: the clinic default applies)")


class UnavailabilityInline(ReadOnlyHereMixin, admin.TabularInline):
    model = models.Unavailability
    extra = 0
    fields = readonly_fields = ("starts_at", "ends_at", "reason", "note")


class HoursColumn:
    """The list's "Hours" column: clinic default or own hours, never "0 working hours"."""

    @admin.display(description=_("hours"))
    def hours(self, obj) -> str:
        weekly: dict = {}
        for row in obj.working_hours.all():
            weekly.setdefault(row.weekday, []).append((row.starts, row.ends))
        if not weekly:
            return _("Clinic default: %(hours)s") % {"hours": weekly_text(None)}
        return _("Own hours: %(hours)s") % {"hours": weekly_text(weekly)}

    @admin.display(description=_("change hours and leave"))
    def hours_page(self, obj) -> str:
        kind = "physician" if isinstance(obj, models.Provider) else "room"
        url = reverse("procedures:hours_detail", args=[kind, obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Hours and leave"))


class DeactivationCheck(forms.ModelForm):
    """Refuses "active" unticked while visits are to come with it (invariant 31): an
    inactive physician, room or site is offered nowhere, so its visits would be on no
    list. The admin moves or cancels them first."""

    def clean(self):
        data = super().clean()
        if self.instance.pk and self.instance.is_active and data.get("is_active") is False:
            refusal = deactivation_refusal(self.instance)
            if refusal:
                self.add_error("is_active", refusal)
        return data


class SiteAdminForm(DeactivationCheck):
    pass


@admin.register(models.Site)
class SiteAdmin(admin.ModelAdmin):
    """The network's clinics (issue 18; README: "How to add a site")."""

    form = SiteAdminForm

    list_display = ["name", "code", "phone", "time_zone", "holidays_country", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name", "code"]
    prepopulated_fields = {"code": ["name"]}


@admin.register(models.StaffProfile)
class StaffProfileAdmin(admin.ModelAdmin):
    """Each staff member's home site: where the header's site switcher starts."""

    list_display = ["user", "home_site"]
    list_filter = ["home_site"]
    autocomplete_fields = ["user"]


class ProviderAdminForm(DeactivationCheck):
    """Refuses sites that would leave one of the physician's visits at a site they do
    not work at (invariant 17)."""

    def clean(self):
        data = super().clean()
        if self.instance.pk and "sites" in data:
            refusal = provider_sites_refusal(self.instance, list(data["sites"]))
            if refusal:
                self.add_error("sites", refusal)
        return data


@admin.register(models.Provider)
class ProviderAdmin(HoursColumn, admin.ModelAdmin):
    form = ProviderAdminForm
    list_display = ["display_name", "user", "is_active", "hours", "hours_page"]
    list_filter = ["sites", "is_active"]
    filter_horizontal = ["sites"]
    inlines = [WorkingHoursInline, UnavailabilityInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("working_hours")

    def get_form(self, request, obj=None, change=False, **kwargs):
        """The "User" list: active accounts that hold the physician role and are no other
        physician's (this one's own account stays listed)."""
        form_class = super().get_form(request, obj, change=change, **kwargs)
        field = form_class.base_fields.get("user")
        if field is not None:
            others = models.Provider.objects.exclude(user=None)
            if obj is not None:
                others = others.exclude(pk=obj.pk)
            field.queryset = (
                get_user_model()
                .objects.filter(is_active=True, groups__name=roles.PHYSICIAN)
                .exclude(pk__in=others.values("user_id"))
                .distinct()
                .order_by("username")
            )
        return form_class


class RoomAdminForm(DeactivationCheck):
    """Refuses a move to a site where one of the room's visits' physicians does not
    work (invariant 17)."""

    def clean(self):
        data = super().clean()
        site = data.get("site")
        if self.instance.pk and site is not None and site.pk != self.instance.site_id:
            refusal = room_move_refusal(self.instance, site)
            if refusal:
                self.add_error("site", refusal)
        return data


@admin.register(models.Room)
class RoomAdmin(HoursColumn, admin.ModelAdmin):
    form = RoomAdminForm
    list_display = ["name", "site", "is_monitored", "is_active", "hours", "hours_page"]
    list_filter = ["site", "is_active"]
    filter_horizontal = ["procedure_types"]
    inlines = [WorkingHoursInline, UnavailabilityInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("working_hours")

    def save_model(self, request, obj, form, change):
        """A room moved to another site takes its visits, their orders and emails with
        it (the admin's save is one transaction): a visit, its orders and emails are at
        its room's site."""
        super().save_model(request, obj, form, change)
        if change and "site" in form.changed_data:
            visits_follow_rooms(room_ids=[obj.pk])
            orders_follow_rooms(room_ids=[obj.pk])
            reminders_follow_visits(models.Appointment.objects.filter(room=obj))


@admin.register(models.Unavailability)
class UnavailabilityAdmin(ReadOnlyHereMixin, admin.ModelAdmin):
    """Leave, training, maintenance and closures across all providers and rooms."""

    list_display = ["__str__", "starts_at", "ends_at", "reason", "note"]
    list_filter = ["reason", "provider", "room"]


@admin.register(models.ResultCoverage)
class ResultCoverageAdmin(admin.ModelAdmin):
    """Who answers for a physician's results while they are on leave."""

    list_display = ["absent", "covering", "starts_on", "ends_on"]
    list_filter = ["absent", "covering"]


@admin.register(models.ClinicHoliday)
class ClinicHolidayAdmin(ReadOnlyHereMixin, admin.ModelAdmin):
    """Read-only here: closures are added and removed on "Hours and leave", which lists
    the booked visits a closure falls on before saving (scheduling/closures.py)."""

    list_display = ["date", "name", "site"]
    list_filter = ["site"]


@admin.register(models.Reminder)
class ReminderAdmin(admin.ModelAdmin):
    list_display = ["pk", "kind", "status", "due_at", "attempts", "sent_at", "last_error"]
    list_filter = ["status", "kind"]
    readonly_fields = [f.name for f in models.Reminder._meta.fields]


@admin.register(models.ReminderPolicy)
class ReminderPolicyAdmin(admin.ModelAdmin):
    """When each kind of patient email goes out (kinds without a row use the defaults)."""

    list_display = ["kind", "enabled", "days_offset", "send_time", "updated_at"]
    list_editable = ["enabled", "days_offset", "send_time"]


@admin.register(models.CallTask)
class CallTaskAdmin(admin.ModelAdmin):
    list_display = ["pk", "reason", "reminder_kind", "status", "due_at", "appointment_id"]
    list_filter = ["status", "reason"]
    raw_id_fields = ["appointment"]
    readonly_fields = ["created_at", "done_at", "done_by"]


@admin.register(models.PrepTemplate)
class PrepTemplateAdmin(admin.ModelAdmin):
    """The patient's preparation texts. Shipped defaults: review with your clinical team."""

    list_display = ["code", "kind", "condition", "amount", "unit", "at_time", "is_active"]
    list_filter = ["kind", "condition", "is_active"]
    list_editable = ["is_active"]
    filter_horizontal = ["procedure_types"]
    search_fields = ["code", "text"]


@admin.register(models.MedicationClassRule)
class MedicationClassRuleAdmin(admin.ModelAdmin):
    """Suggested stop periods per class of medicine: shown to the physician, never applied."""

    list_display = ["med_class", "suggested_hold_days", "note"]
    list_editable = ["suggested_hold_days", "note"]
