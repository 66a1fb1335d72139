"""Changes to who holds which role: audited, shown on /audit/, told to the other
clinic admins, and never granted to oneself.

A clinic admin manages staff accounts and their roles in the admin. Roles open
patient records (nurse, physician) or the audit (clinic admin), so:

- every change of a user's roles is a django-auditlog entry (User is registered
  with its `groups`), listed on /audit/ as "groups (added: physician)";
- the other clinic admins get an email naming the account, the roles added and
  removed and who made the change (no patient data, generic subject);
- a clinic admin cannot add a role to their own account: another clinic admin
  must (two-person rule). A superuser is exempt (there is one, for setup).
"""

import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import make_msgid
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import urlencode

from . import roles
from .mail import site_domain

logger = logging.getLogger(__name__)


def role_change_allowed(*, by, user, before: set[str], after: set[str]) -> bool:
    """Whether `by` may change `user`'s roles from `before` to `after`."""
    if by.is_superuser or by.pk != user.pk:
        return True
    return not (after - before)


def role_change_notify(*, by, user, added: set[str], removed: set[str]) -> int:
    """Email the clinic admins other than `by` about one change of `user`'s roles.

    The set-up superuser is among them (it is a clinic admin without the group), so
    a second admin's grants reach it. Grants the only admin makes reach nobody: they
    are on /audit/ (logged here as a warning)."""
    if not (added or removed):
        return 0
    recipients = roles.clinic_admin_emails(except_user=by)
    if not recipients:
        logger.warning("role change of user %s: no other clinic admin to tell", user.pk)
        return 0
    audit_url = (
        settings.SITE_URL
        + reverse("audit_list")
        + "?"
        + urlencode({"kind": "changes", "object_type": "auth.user", "object_id": user.pk})
    )
    labels = roles.ROLE_LABELS
    context = {
        "user": user,
        "by": by,
        "added": [str(labels.get(name, name)) for name in sorted(added)],
        "removed": [str(labels.get(name, name)) for name in sorted(removed)],
        "audit_url": audit_url,
    }
    EmailMultiAlternatives(
        subject=render_to_string("emails/role_change/subject.txt", context).strip(),
        body=render_to_string("emails/role_change/body.txt", context),
        to=recipients,
        headers={"Message-ID": make_msgid(domain=site_domain())},
    ).send()
    return len(recipients)
