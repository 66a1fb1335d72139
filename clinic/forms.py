from django import forms
from django.core.exceptions import ValidationError


def apply_service_errors(
    form: forms.BaseForm, exc: ValidationError, field_map: dict[str, str | None] | None = None
) -> None:
    """Show a service's ValidationError on the form, field by field where it can."""
    field_map = field_map or {}
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            name = field_map.get(field, field)
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc)
