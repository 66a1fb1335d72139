"""Small helpers of the patient link pages."""

import re

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()


@register.filter
def tel_link(phone: str) -> SafeString:
    """The phone number as a link a phone can dial (`tel:` with its digits and a leading
    +, as written: a local number dials locally, as the patient would)."""
    digits = re.sub(r"[^\d+]", "", phone or "")
    if not digits:
        return format_html("{}", phone or "")
    return format_html('<a href="tel:{}">{}</a>', digits, phone)
