"""Who may do what: the one table that views and templates ask.

Each action names something a person does on a page ("appointment_confirm",
"result_review"); the table says which roles may. Views declare their action with
`@policy.allowed("...")`; templates ask `{% if may.appointment_confirm %}` (the
context processor puts `may` in every page). Nothing else tests role names. The
lifecycle table (`Appointment.TRANSITIONS`) names the action of each step.
"""

from collections.abc import Callable
from typing import Any

from clinic.roles import (
    CLINIC_ADMIN,
    CLINICAL,
    FRONT_DESK,
    NURSE,
    PHYSICIAN,
    role_required,
    user_roles,
)

STAFF = (FRONT_DESK, NURSE, PHYSICIAN)
OUTBOX = (FRONT_DESK, CLINIC_ADMIN)

ACTIONS: dict[str, tuple[str, ...]] = {
    "appointment_book": STAFF,
    "appointment_cancel": (FRONT_DESK, PHYSICIAN),
    "appointment_check_in": (FRONT_DESK, NURSE, PHYSICIAN),
    "appointment_complete": CLINICAL,
    "appointment_confirm": (FRONT_DESK,),
    "appointment_detail": STAFF,
    "appointment_list": STAFF,
    "appointment_no_show": (FRONT_DESK,),
    "appointment_reschedule": (FRONT_DESK,),
    "appointment_start": (NURSE, PHYSICIAN),
    "attention_count": CLINICAL,
    "calendar": STAFF,
    "day_sheet": STAFF,
    "order_cancel": CLINICAL,
    "day_checklists": (NURSE, PHYSICIAN),
    "order_reassign": (PHYSICIAN,),
    "order_replace": CLINICAL,
    # Issue 13: nobody to email is an alarm; the daily open-loops report. The role
    # that signs the day off is the clinic's to name: it is this line.
    "escalation_alarms": (*STAFF, CLINIC_ADMIN),
    "physicians_without_email": (CLINIC_ADMIN,),
    "open_loops": (*CLINICAL, CLINIC_ADMIN),
    "open_loops_sign_off": (PHYSICIAN,),
    # Issue 18: the operations dashboard (aggregates, no PHI) for those who run the clinic.
    "operations_dashboard": (PHYSICIAN, CLINIC_ADMIN),
    "order_sent": CLINICAL,
    "outbox_list": OUTBOX,
    "patient_create": (FRONT_DESK,),
    "patient_detail": STAFF,
    "patient_list": STAFF,
    "patient_pick": (FRONT_DESK,),
    "patient_update": (FRONT_DESK,),
    "prep_checklist_tick": (NURSE, PHYSICIAN),
    "prep_detail": STAFF,
    "prep_hold_confirm": (PHYSICIAN,),
    "prep_hold_set": (PHYSICIAN,),
    "prep_medication_add": (NURSE, PHYSICIAN),
    "prep_print": STAFF,
    "prep_sedation": (PHYSICIAN,),
    "prep_site": (PHYSICIAN,),
    "prep_task_done": (FRONT_DESK,),
    "prep_transport": STAFF,
    "procedure_complete": CLINICAL,
    "reminder_resend": OUTBOX,
    "reminder_resolve": OUTBOX,
    "result_communicate": CLINICAL,
    "result_log": CLINICAL,
    "result_pdf": CLINICAL,
    "result_review": (PHYSICIAN,),
    "slot_finder": (FRONT_DESK,),
    # Issue 18: every board and list is one site's; these roles may also choose
    # "All sites" in the header's switcher (physicians follow patients across sites).
    "sites_all": (PHYSICIAN, CLINIC_ADMIN),
    "site_switch": (*STAFF, CLINIC_ADMIN),
    "task_done": (FRONT_DESK,),
    "task_list": (FRONT_DESK,),
    "task_overdue_count": (FRONT_DESK,),
    "today_board": STAFF,
    "today_counts": STAFF,
    "turnaround": (*CLINICAL, CLINIC_ADMIN),
    "turnaround_csv": (*CLINICAL, CLINIC_ADMIN),
    "waitlist_list": STAFF,
    "waitlist_offer": (FRONT_DESK,),
    "waitlist_remove": (FRONT_DESK,),
    "worklist": CLINICAL,
    "patient_clinical": CLINICAL,
    "allergy_add": CLINICAL,
    "allergy_none": CLINICAL,
    "allergy_remove": CLINICAL,
    "bloods_add": CLINICAL,
    "bleeding_disorder_set": CLINICAL,
    "patient_merge_view": (CLINIC_ADMIN,),
    # Issue 16: hours and leave of physicians and rooms (the staff page, not only admin).
    "hours_manage": (CLINIC_ADMIN,),
    # Pages and links that are not one view: the navigation and page sections.
    "nav_staff": STAFF,
    "nav_clinical": CLINICAL,
    "nav_front_desk": (FRONT_DESK,),
    "nav_outbox": OUTBOX,
    "nav_admin": (CLINIC_ADMIN,),
    "result_enter": (PHYSICIAN,),
    "waitlist_add": (FRONT_DESK,),
}


def may(user: Any, action: str) -> bool:
    """Whether `user` may take `action` (KeyError for an action the table lacks)."""
    return bool(user_roles(user) & set(ACTIONS[action]))


def allowed(action: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The view decorator: admit the roles the table gives `action`, 403 for others."""
    decorator = role_required(*ACTIONS[action])

    def wrap(view: Callable[..., Any]) -> Callable[..., Any]:
        wrapped = decorator(view)
        wrapped.policy_action = action
        return wrapped

    return wrap


class Permissions:
    """`may` in templates: `{% if may.appointment_confirm %}` for the request's user."""

    def __init__(self, user: Any) -> None:
        self.user = user

    def __getitem__(self, action: str) -> bool:
        return may(self.user, action)

    def __contains__(self, action: str) -> bool:
        return action in ACTIONS and may(self.user, action)
