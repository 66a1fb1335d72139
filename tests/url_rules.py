"""Who may open what, for every URL pattern of the project: the one table that
tests/test_url_access.py checks (every role, every URL) and that the walks over every
URL reuse (tests/security/test_reads_audited.py, tests/security/test_hostile_requests.py).

A URL added without a rule here fails `test_it_declares_a_rule_for_every_url`."""

from django.urls import URLPattern, URLResolver, get_resolver

from clinic import roles

ANON, FD, RN, MD, ADMIN = "anonymous", roles.FRONT_DESK, roles.NURSE, roles.PHYSICIAN, "admin"
WHO = (ANON, FD, RN, MD, ADMIN)
LOGIN = "login"
PATIENT_LINK = "patient link"  # public, no login, never a redirect


def everyone(code):
    return {who: code for who in WHO}


def staff(allowed: tuple, code=200):
    """`code` for the allowed roles, 403 for other staff, the login page for anonymous."""
    return {ANON: LOGIN, **{who: code if who in allowed else 403 for who in WHO[1:]}}


CLINICAL_STAFF = (FD, RN, MD)
RULES = {
    "home": {ANON: LOGIN, FD: 302, RN: 302, MD: 302, ADMIN: 302},
    "manage": staff((ADMIN,)),
    "healthz": everyone("public"),
    "login": everyone(200),
    "logout": {ANON: LOGIN, **{w: 405 for w in WHO[1:]}},  # POST only
    "password_change": {ANON: LOGIN, **{w: 200 for w in WHO[1:]}},
    "password_change_done": {ANON: LOGIN, **{w: 200 for w in WHO[1:]}},
    "outbox_list": {ANON: LOGIN, **{w: 200 for w in WHO[1:]}},
    "outbox_detail": {ANON: LOGIN, **{w: 200 for w in WHO[1:]}},
    "outbox_html": {ANON: LOGIN, **{w: 200 for w in WHO[1:]}},
    "patients:list": staff(CLINICAL_STAFF),
    "patients:create": staff((FD,)),
    # A physician with no care relationship to the patient is sent to the emergency
    # access form first (clinic/emergency.py); u-md treats nobody.
    "patients:detail": {**staff(CLINICAL_STAFF), MD: 302},
    "patients:update": staff((FD,)),
    "patients:pick": staff((FD,), code=405),  # POST only
    # The clinical record (#14): nurses and physicians; u-md treats nobody (gated).
    "patients:clinical": {**staff((RN, MD)), MD: 302},
    "patients:allergy_add": staff((RN, MD), code=405),  # POST only
    "patients:allergy_none": staff((RN, MD), code=405),  # POST only
    "patients:allergy_remove": staff((RN, MD), code=405),  # POST only
    "patients:bloods_add": staff((RN, MD), code=405),  # POST only
    "patients:bleeding_disorder_set": staff((RN, MD), code=405),  # POST only
    "patients:merge": staff((ADMIN,)),  # clinic admins merge duplicate records
    "procedures:appointment_list": staff(CLINICAL_STAFF),
    # Physicians and nurses book the results discussion from the order page.
    "procedures:appointment_book": staff(CLINICAL_STAFF),
    "procedures:appointment_detail": {**staff(CLINICAL_STAFF), MD: 302},  # care relationship
    "procedures:appointment_complete": staff((RN, MD), code=405),  # POST only
    "procedures:appointment_cancel": staff((FD, MD), code=405),  # POST only
    # Scheduling (#3)
    "procedures:slot_finder": staff((FD,)),
    "procedures:appointment_confirm": staff((FD,), code=405),  # POST only
    "procedures:appointment_check_in": staff(CLINICAL_STAFF, code=405),  # POST only
    "procedures:appointment_check_in_undo": staff(CLINICAL_STAFF, code=405),
    "procedures:appointment_start": staff((RN, MD), code=405),  # POST only
    "procedures:appointment_no_show": staff((FD,), code=405),  # POST only
    "procedures:appointment_reschedule": staff((FD,)),
    "procedures:calendar": staff(CLINICAL_STAFF),
    "procedures:day_sheet": staff(CLINICAL_STAFF),
    "procedures:today": staff(CLINICAL_STAFF),
    "procedures:today_counts": staff(CLINICAL_STAFF),
    "procedures:day_checklists": staff((RN, MD)),
    "procedures:day_checklist_tick": staff((RN, MD), code=405),  # POST only
    "procedures:tasks": staff((FD,)),
    "procedures:task_done": staff((FD,), code=405),  # POST only
    "procedures:tasks_overdue": staff((FD,)),
    "procedures:waitlist": staff(CLINICAL_STAFF),
    "procedures:waitlist_remove": staff((FD,), code=405),  # POST only
    "procedures:waitlist_offer": staff((FD,), code=405),  # POST only
    "procedures:worklist": staff((RN, MD)),
    "procedures:result_log": {**staff((RN, MD)), MD: 302},  # care relationship, as above
    "procedures:result_review": staff((MD,), code=405),  # POST only
    "procedures:result_communicate": staff((RN, MD), code=405),  # POST only
    "procedures:order_sent": staff((RN, MD), code=405),  # POST only
    "procedures:order_reassign": staff((MD,), code=405),  # POST only
    "procedures:order_cancel": staff((RN, MD), code=405),  # POST only
    "procedures:order_replace": staff((RN, MD), code=405),  # POST only
    "procedures:physicians_without_email": staff((ADMIN,)),
    "procedures:alarms": staff((FD, RN, MD, ADMIN)),
    "procedures:open_loops": staff((RN, MD, ADMIN)),
    "procedures:open_loops_sign_off": staff((MD,), code=405),  # POST only
    "procedures:result_pdf": staff((RN, MD), code=404),  # no such report
    "procedures:results_attention": staff((RN, MD)),
    "procedures:turnaround": staff((RN, MD, ADMIN)),
    "procedures:turnaround_csv": staff((RN, MD, ADMIN)),
    # The operations dashboard (#18): aggregates, for those who run the clinic.
    "procedures:operations": staff((MD, ADMIN)),
    "procedures:operations_csv": staff((MD, ADMIN)),
    # The matrix's appointment is only requested: the sample form sends you back to it.
    "procedures:procedure_complete": staff((RN, MD), code=302),
    "procedures:prep_detail": {**staff(CLINICAL_STAFF), MD: 302},  # care relationship
    "procedures:prep_print": {**staff(CLINICAL_STAFF), MD: 302},  # care relationship
    "procedures:prep_medication_add": staff((RN, MD), code=405),  # POST only
    "procedures:prep_hold_set": staff((MD,), code=405),  # POST only
    "procedures:prep_hold_confirm": staff((MD,), code=405),  # POST only
    "procedures:prep_sedation": staff((MD,), code=405),  # POST only
    "procedures:prep_transport": staff(CLINICAL_STAFF, code=405),  # POST only
    "procedures:prep_site": staff((MD,), code=405),  # POST only
    "procedures:prep_checklist_tick": staff((RN, MD), code=405),  # POST only
    "procedures:prep_task_done": staff((FD,), code=405),  # POST only
    "procedures:hours": staff((ADMIN,)),
    "procedures:hours_detail": staff((ADMIN,)),
    "procedures:hours_leave_add": staff((ADMIN,), code=405),  # POST only
    "procedures:hours_leave_remove": staff((ADMIN,), code=405),  # POST only
    "procedures:hours_closure_add": staff((ADMIN,), code=405),  # POST only
    "procedures:hours_public_holidays": staff((ADMIN,), code=405),  # POST only
    "procedures:hours_closure_remove": staff((ADMIN,), code=405),  # POST only
    "account_security": {ANON: LOGIN, **{w: 200 for w in WHO[1:]}},
    "logout_everywhere": {ANON: LOGIN, **{w: 405 for w in WHO[1:]}},  # POST only
    "session_status": {ANON: LOGIN, **{w: 200 for w in WHO[1:]}},
    "session_keepalive": {ANON: LOGIN, **{w: 405 for w in WHO[1:]}},  # POST only
    "two_factor_setup": {ANON: LOGIN, **{w: 200 for w in WHO[1:]}},
    "two_factor_verify": {ANON: LOGIN, **{w: 302 for w in WHO[1:]}},  # not enrolled: to setup
    "audit_list": staff((ADMIN,)),
    "audit_export": staff((ADMIN,)),
    "emergency_access": staff((MD,)),
    # Reminders (#5): the staff outbox; patient link pages need no login and show
    # the same friendly page for any token that is not valid.
    "procedures:outbox_list": staff((FD, ADMIN)),
    "procedures:reminder_resend": staff((FD, ADMIN), code=405),  # POST only
    "procedures:reminder_resolve": staff((FD, ADMIN), code=405),  # POST only
    # Sites (#18): the header's site switcher, every staff role (POST only).
    "procedures:site_switch": staff((FD, RN, MD, ADMIN), code=405),
    "procedures:patient_link": everyone(PATIENT_LINK),
    # Lab interfaces (#17): the FHIR endpoint takes a lab's bearer token (POST only).
    "procedures:labs:fhir_results": everyone(405),
    "procedures:labs:unmatched_list": staff((RN, MD)),
    "procedures:labs:unmatched_detail": staff((RN, MD), code=404),  # no such message
    "procedures:labs:unmatched_match": staff((RN, MD), code=405),  # POST only
    "procedures:labs:unmatched_reject": staff((RN, MD), code=405),  # POST only
    "procedures:labs:order_messages": staff((RN, MD, ADMIN)),
    "procedures:labs:order_message_retry": staff((RN, MD, ADMIN), code=405),  # POST only
    "procedures:labs:order_message_resolve": staff((RN, MD, ADMIN), code=405),  # POST only
    "procedures:labs:structured_result": {**staff((MD,)), MD: 302},  # care relationship
    "procedures:labs:order_labels": {**staff((RN, MD)), MD: 302},  # care relationship
    "procedures:labs:requisition": {**staff((RN, MD), code=302), MD: 302},  # no orders: back
}


def project_url_names(resolver=None, namespace=""):
    """Every named URL pattern outside the Django admin (which guards itself)."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            if entry.app_name == "admin":
                continue
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from project_url_names(entry, ns)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{namespace}{entry.name}"


def may_open(name: str, who: str) -> bool:
    """Whether `who` gets past the login and the role check on `name` (a 2xx, a
    redirect of the page's own, a 404 or a 405 for the wrong method)."""
    return RULES[name][who] not in (LOGIN, 403)
