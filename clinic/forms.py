from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator


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


class UsernameBounded:
    """Django's login form only tells the browser the username's maximum length; it
    would pass a longer one to authenticate(), and the login lockout (django-axes)
    would fail to record the attempt (PostgreSQL: value too long, a 500). Refuse it on
    the form, as any other field's length."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["username"]
        field.validators.append(MaxLengthValidator(field.max_length or 150))


class LoginForm(UsernameBounded, AuthenticationForm):
    pass


class AdminLoginForm(UsernameBounded, AdminAuthenticationForm):
    pass
