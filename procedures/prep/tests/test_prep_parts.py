"""Issue 16: the prep page saves each part once, and the escort lives in one place.

Each part of the prep (medicines and holds, sedation and fasting, site and side,
getting home) is saved by exactly one form, and saving it leaves every other part as
it was. The escort is an input only in the prep page's "Getting home" form; the
booking form, the slot finder and the appointment page show it or link to it.
"""

import datetime as dt
import re

import pytest
from django.urls import reverse

from patients.medications import medication_add
from patients.tests.factories import PatientFactory
from procedures.catalog.choices import ProcedureKind, SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.prep.models import PrepPlan
from procedures.scheduling.models import Appointment
from procedures.tests.factories import AppointmentFactory, ProcedureTypeFactory

NOW = clinic_datetime(dt.date(2027, 3, 1), dt.time(9, 0))
DAY = dt.date(2027, 3, 10)
pytestmark = [pytest.mark.clock(NOW), pytest.mark.usefixtures("care_for_all")]

# Which stored values belong to which part of the prep.
PARTS = {
    "sedation": (
        "appointment.sedation_level",
        "plan.food_fast_hours",
        "plan.clear_fluid_fast_hours",
    ),
    "site": ("plan.site", "plan.side", "plan.active_infection", "plan.cancer"),
    "transport": (
        "appointment.transport_mode",
        "appointment.escort_name",
        "appointment.escort_phone",
        "appointment.escort_confirmed_at",
        "plan.needs_wheelchair",
        "plan.needs_interpreter",
        "plan.interpreter_language",
    ),
}


@pytest.fixture
def appointment(db):
    appointment = AppointmentFactory(
        procedure_type=ProcedureTypeFactory(kind=ProcedureKind.ASPIRATION_BIOPSY),
        patient=PatientFactory(given_name="Maria", bleeding_disorder=False),
        start_at=clinic_datetime(DAY, dt.time(9, 0)),
        end_at=clinic_datetime(DAY, dt.time(10, 0)),
        sedation_level=SedationLevel.IV_MODERATE,
        transport_mode="escort_driving",
        escort_name="Ana Lopez",
        escort_phone="+44 7700 900123",
    )
    PrepPlan.objects.create(
        appointment=appointment,
        food_fast_hours=8,
        clear_fluid_fast_hours=3,
        site="posterior_iliac",
        side="left",
        needs_wheelchair=True,
    )
    return appointment


def stored(appointment) -> dict[str, tuple]:
    appointment = Appointment.objects.get(pk=appointment.pk)
    plan = PrepPlan.objects.get(appointment=appointment)
    rows = {"appointment": appointment, "plan": plan}

    def value(path: str):
        row, field = path.split(".")
        return getattr(rows[row], field)

    return {part: tuple(value(p) for p in paths) for part, paths in PARTS.items()}


def url(name, appointment):
    return reverse(f"procedures:{name}", args=[appointment.pk])


POSTS = {
    "sedation": (
        "prep_sedation",
        {"sed-sedation_level": "oral", "sed-food_fast_hours": 6, "sed-clear_fluid_fast_hours": 2},
    ),
    "site": ("prep_site", {"site-site": "posterior_iliac", "site-side": "right"}),
    "transport": (
        "prep_transport",
        {
            "tr-transport_mode": "taxi_with_escort",
            "tr-escort_name": "Rui Lopez",
            "tr-escort_phone": "07700 900456",
            "tr-escort_confirmed": "on",
        },
    ),
}


@pytest.mark.parametrize("part", list(POSTS))
def test_it_saves_one_part_and_leaves_every_other_part_as_it_was(
    physician_client, appointment, part
):
    before = stored(appointment)
    name, data = POSTS[part]

    response = physician_client.post(url(name, appointment), data)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"].endswith(f"#{part}")
    after = stored(appointment)
    assert after[part] != before[part]
    for other in PARTS.keys() - {part}:
        assert after[other] == before[other], other


def test_a_medicine_and_its_hold_change_no_other_part(physician_client, appointment):
    before = stored(appointment)
    med = medication_add(
        patient=appointment.patient, name="Warfarin", dose="3 mg", med_class="anticoagulant"
    )
    response = physician_client.post(
        url("prep_hold_set", appointment),
        {
            "hold-medication": med.pk,
            "hold-action": "stop",
            "hold-stop_date": "2027-03-06",
            "hold-stop_time": "20:00",
        },
    )
    assert response.status_code == 302
    assert appointment.medication_holds.count() == 1
    assert stored(appointment) == before


def test_getting_home_confirms_the_escort_in_the_same_save(frontdesk_client, appointment):
    response = frontdesk_client.post(
        url(*POSTS["transport"][:1], appointment), POSTS["transport"][1]
    )

    assert response.status_code == 302
    appointment.refresh_from_db()
    assert (appointment.escort_name, appointment.escort_phone) == ("Rui Lopez", "+44 7700 900456")
    assert appointment.escort_confirmed_at == NOW
    assert appointment.prep_plan.escort_confirmed_by.username == "fd"


def test_confirming_without_a_name_is_refused_in_words_and_saves_nothing(
    frontdesk_client, appointment
):
    before = stored(appointment)
    response = frontdesk_client.post(
        url("prep_transport", appointment),
        {"tr-transport_mode": "escort_driving", "tr-escort_confirmed": "on"},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Enter the escort&#x27;s name to confirm them." in page
    assert stored(appointment) == before


def escort_inputs(html: str) -> list[str]:
    return re.findall(r'<input[^>]*name="[^"]*escort_(?:name|phone)"', html)


def test_the_escort_is_an_input_in_one_place_only(frontdesk_client, nurse_user, appointment):
    prep_page = frontdesk_client.get(url("prep_detail", appointment)).content.decode()
    # One name and one phone input, both in the "Getting home" form.
    assert len(escort_inputs(prep_page)) == 2
    form = prep_page[prep_page.index('id="transport-form"') :]
    form = form[: form.index("</form>")]
    assert len(escort_inputs(form)) == 2
    assert prep_page.count("<form") - prep_page.count('id="transport-form"') >= 1

    elsewhere = {
        "booking form": frontdesk_client.get(reverse("procedures:appointment_book")),
        "slot finder": frontdesk_client.get(reverse("procedures:slot_finder")),
        "appointment page": frontdesk_client.get(appointment.get_absolute_url()),
    }
    frontdesk_client.force_login(nurse_user)
    elsewhere["day-of checklists"] = frontdesk_client.get(reverse("procedures:day_checklists"))
    for where, response in elsewhere.items():
        assert response.status_code == 200, where
        assert escort_inputs(response.content.decode()) == [], where
    # The appointment page shows the escort and links to the one place to change it.
    detail = elsewhere["appointment page"].content.decode()
    assert "Ana Lopez" in detail
    assert f"/appointments/{appointment.pk}/prep/#transport" in detail


def test_the_page_lists_its_parts_and_puts_the_day_of_checklist_first(
    physician_client, appointment
):
    page = physician_client.get(url("prep_detail", appointment)).content.decode()
    nav = page[page.index('aria-label="Parts of the prep plan"') :]
    nav = nav[: nav.index("</nav>")]
    anchors = re.findall(r'href="#([a-z]+)"', nav)
    assert anchors == [
        "checklist",
        "medicines",
        "sedation",
        "site",
        "transport",
        "tasks",
        "timeline",
    ]
    for anchor in anchors:
        assert f'id="{anchor}"' in page
    # The checklist comes before the medicines, not at the bottom of the page.
    assert page.index('id="checklist"') < page.index('id="medicines"')
    # One submit button per part's form (no two forms save the same part).
    assert page.count("Save sedation plan") == 1
    assert page.count("Save site and side") == 1
    assert page.count("Save getting home") == 1
    assert "Confirm escort" not in page
