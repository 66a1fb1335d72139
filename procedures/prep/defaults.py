"""The clinic's default preparation texts and medication-class suggestions.

Written in our own plain words as a starting point: REVIEW WITH YOUR CLINICAL TEAM.
Installed once by migration 0006_prep_defaults (and by `seed_demo`); after that
they are edited in the admin (Prep templates, Medication class rules). Plain data
and one installer that takes the model classes, so a migration can use it with
its historical models.
"""

from datetime import time

from django.utils.translation import gettext_noop

# The texts are marked for the Spanish catalogue: a patient who reads Spanish is sent
# and shown them in Spanish while they stay as installed (an edited text is sent as
# written; `timeline.py`).

TEMPLATES = [
    # code, kind, condition, amount, unit, at, reminder kind, text
    (
        "bring-medicine-list",
        "what_to_bring",
        "always",
        7,
        "days_before",
        time(10, 0),
        "prep_step",
        gettext_noop(
            "Write down every medicine, vitamin, supplement and herbal remedy you take, with "
            "the dose, and bring the list with you on the day."
        ),
    ),
    (
        "medicine-holds",
        "medication_hold",
        "medication_hold",
        7,
        "days_before",
        time(10, 0),
        "",
        gettext_noop(
            "Your doctor has asked you to pause some of your medicines before the procedure. "
            "Your prep sheet says which, from when, and when to start again. Do not stop a "
            "blood thinner unless your doctor has told you to."
        ),
    ),
    (
        "blood-test-before",
        "labs",
        "bleeding_disorder",
        3,
        "days_before",
        time(9, 0),
        "prep_step",
        gettext_noop(
            "Come in for a blood test (blood count and clotting) before your procedure, so "
            "the team can plan for any bleeding risk."
        ),
    ),
    (
        "arrange-escort",
        "escort",
        "sedated",
        2,
        "days_before",
        time(10, 0),
        "escort_request",
        gettext_noop(
            "Confirm who is taking you home. After sedation you must not drive, cycle or "
            "travel alone for 24 hours, so someone needs to collect you."
        ),
    ),
    (
        "fasting-food",
        "fasting",
        "sedated",
        6,
        "hours_before",
        time(0, 0),
        "fasting",
        gettext_noop(
            "Nothing to eat from now on ({hours} hours before your appointment), because you "
            "will have sedation."
        ),
    ),
    (
        "fasting-fluids",
        "fasting",
        "sedated",
        2,
        "hours_before",
        time(0, 0),
        "",
        gettext_noop(
            "Nothing more to drink from now on ({hours} hours before), not even water. Until "
            "now, sips of water or other clear drinks are fine."
        ),
    ),
    (
        "comfortable-clothes",
        "clothing",
        "always",
        1,
        "days_before",
        time(18, 0),
        "",
        gettext_noop(
            "Wear loose, comfortable clothes tomorrow. You may be asked to change into a gown."
        ),
    ),
    (
        "child-comfort",
        "what_to_bring",
        "child",
        1,
        "days_before",
        time(18, 0),
        "",
        gettext_noop("Bring a favourite toy or comforter, and something to do while you wait."),
    ),
    (
        "aftercare-site",
        "aftercare",
        "always",
        0,
        "days_after",
        time(18, 0),
        "",
        gettext_noop(
            "Some soreness where the needle went in is normal and fades over about a week. "
            "Keep the small dressing on and dry until the skin has healed."
        ),
    ),
    (
        "aftercare-warning-signs",
        "aftercare",
        "always",
        1,
        "days_after",
        time(10, 0),
        "",
        gettext_noop(
            "Call us straight away if the site keeps bleeding, turns red, hot or swollen, you "
            "get a fever, or you have new pain or numbness in your leg."
        ),
    ),
]

CLASS_RULES = [
    # class, suggested days, note for the physician
    ("anticoagulant", 3, "Depends on the drug and kidney function: decide per patient."),
    ("antiplatelet", 7, "Weigh the reason it is taken (e.g. a recent stent) first."),
    ("aspirin", 7, "Often continued for aspiration alone: decide per patient."),
    ("nsaid", 3, ""),
    ("supplement", 7, "Fish oil, ginkgo, garlic and vitamin E can thin the blood."),
    ("other", None, ""),
]

KINDS = {"bm-biopsy": "aspiration_biopsy", "bm-aspiration": "aspiration", "bmac": "bmac"}


def install(PrepTemplate, MedicationClassRule, ProcedureType) -> None:
    """Create the defaults that are missing; never overwrite an edited row."""
    for code, kind, condition, amount, unit, at, reminder_kind, text in TEMPLATES:
        PrepTemplate.objects.get_or_create(
            code=code,
            defaults={
                "kind": kind,
                "condition": condition,
                "amount": amount,
                "unit": unit,
                "at_time": at,
                "reminder_kind": reminder_kind,
                "text": text,
            },
        )
    for med_class, days, note in CLASS_RULES:
        MedicationClassRule.objects.get_or_create(
            med_class=med_class, defaults={"suggested_hold_days": days, "note": note}
        )
    for code, kind in KINDS.items():
        ProcedureType.objects.filter(code=code, kind="aspiration").update(kind=kind)
