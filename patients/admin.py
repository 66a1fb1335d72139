from django.contrib import admin

from .models import Patient


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):
    list_display = ["mrn", "family_name", "given_name", "date_of_birth"]
    search_fields = ["mrn", "family_name", "given_name"]
    readonly_fields = ["mrn", "created_at", "updated_at"]
