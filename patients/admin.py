from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .merging import patient_merge_undo
from .models import PatientMerge

# No admin for Patient: patient records are read and changed on the clinic's own pages,
# where each read is audited and each role sees what it needs. The admin records no
# reads, and a superuser passes every model permission there: registered, a setup
# account could list, read and delete patients unaudited.


@admin.register(PatientMerge)
class PatientMergeAdmin(admin.ModelAdmin):
    """The clinic admin's record of each merge, and the way to undo one. Merges are made
    on the clinic's own page (Patients, Merge two records), never edited here."""

    list_display = ["merged_at", "merged_mrn", "survivor_mrn", "merged_by", "undone_at"]
    list_select_related = ["merged_by"]
    date_hierarchy = "merged_at"
    search_fields = ["merged_mrn", "survivor_mrn"]
    fields = [
        "merged_at",
        "merged_mrn",
        "survivor_mrn",
        "reason",
        "merged_by",
        "moved",
        "undone_at",
        "undone_by",
    ]
    # Names only; the stubs type `fields` as groups (names or tuples of names).
    readonly_fields = fields  # type: ignore[assignment]
    actions = ["undo_merges"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_undo_permission(self, request) -> bool:
        return request.user.has_perm("patients.change_patientmerge")

    @admin.action(description=_("Undo the selected merges"), permissions=["undo"])
    def undo_merges(self, request, queryset):
        for merge in queryset.order_by("-merged_at", "-pk"):
            try:
                patient_merge_undo(merge_id=merge.pk, user=request.user)
            except ValidationError as error:
                self.message_user(
                    request,
                    _("%(merge)s: not undone. %(why)s")
                    % {"merge": merge, "why": " ".join(error.messages)},
                    messages.ERROR,
                )
            else:
                self.message_user(
                    request,
                    _("Undone: %(old)s is a record of its own again.") % {"old": merge.merged_mrn},
                    messages.SUCCESS,
                )
