"""A phone number in international form: the one place that parses phone numbers."""

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


def phone_clean(text: str) -> str:
    """A phone number in international form, or ValidationError in words."""
    text = (text or "").strip()
    try:
        number = phonenumbers.parse(text, getattr(settings, "CLINIC_PHONE_REGION", "GB"))
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_possible_number(number):
        raise ValidationError(
            _("%(text)s is not a phone number. Enter it with its area code, e.g. 07700 900123.")
            % {"text": text or _("An empty value")}
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
