"""Bad input, generated: every form gets garbage (huge strings, control characters
including NUL, wrong types, SQL and script fragments, missing fields) and must answer
with an error on the page: never a 500, never a saved row.

The fields come from each form class itself, so a field added later is fuzzed too.
Each example spoils at least one required field (drops it, or puts a NUL in it), so a
correct answer is always "no": an example that happened to be valid would prove
nothing. Examples are bounded (30 per form) so the whole file runs in seconds.
"""

import pytest
from auditlog.models import LogEntry
from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.contrib.messages import get_messages
from django.db.models import Model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinic.emergency import EmergencyAccessForm
from clinic.models import EmergencyAccess
from clinic.two_factor import TokenForm
from patients.forms import PatientForm
from patients.models import Patient
from procedures.messaging.models import Reminder
from procedures.results.forms import ResultForm
from procedures.results.models import TestResult
from procedures.scheduling.forms import BookingForm, CancelForm
from procedures.scheduling.models import Appointment, AppointmentEvent
from procedures.tests.factories import AppointmentFactory, TestOrderFactory

pytestmark = pytest.mark.django_db
EXAMPLES = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

NASTY = [
    "'; DROP TABLE patients_patient; --",
    "' OR '1'='1",
    '"><script>alert(1)</script>',
    "<img src=x onerror=alert(1)>",
    "{{ settings.SECRET_KEY }}",
    "{% debug %}",
    "../../etc/passwd",
    "%00",
    "\x00",
    "\u202e\u0000\ufeff",
    "9" * 400,
    "-1",
    "1e309",
    "NaN",
    "[]",
    "{}",
    "null",
    "true",
    "2026-02-30",
    "31/31/2031",
    "0000-00-00T25:61",
    "😀" * 50,
]
garbage = st.one_of(
    st.sampled_from(NASTY),
    st.text(min_size=0, max_size=40),  # any code point, control characters included
    st.text(alphabet=st.characters(max_codepoint=31), max_size=20),
    st.text(min_size=1, max_size=5).map(lambda s: s * 2000),  # huge
    st.integers().map(str),
    st.floats(allow_nan=True).map(str),
)


def spoiled_posts(form_class: type[forms.Form]) -> st.SearchStrategy[dict]:
    """POST data for `form_class`: garbage in every field, one required field spoiled."""
    form = form_class() if form_class is not PasswordChangeForm else form_class(user=None)
    names = list(form.fields)
    required = [
        n
        for n, f in form.fields.items()
        if f.required and not isinstance(f, forms.BooleanField | forms.FileField)
    ]
    assert required, f"{form_class.__name__} has no required field to spoil"

    @st.composite
    def build(draw):
        data = {}
        for name in names:
            if draw(st.booleans()) or name in required:
                data[name] = draw(st.one_of(garbage, st.lists(garbage, max_size=3)))
        victim = draw(st.sampled_from(required))
        if draw(st.booleans()):
            data.pop(victim, None)
        else:
            data[victim] = draw(garbage) + "\x00"
        return data

    return build()


def counts(*models: type[Model]) -> dict[str, int]:
    return {m.__name__: m.objects.count() for m in models}


def shows_an_error(response) -> bool:
    if response.status_code in (400, 429):
        return True
    if response.status_code == 302:
        return any(m.level_tag == "error" for m in get_messages(response.wsgi_request))
    page = response.content.decode()
    return response.status_code == 200 and any(
        marker in page
        for marker in ("error-summary", "invalid-feedback", "alert-danger", "errorlist")
    )


def check(client, url: str, data: dict, *models: type[Model]) -> None:
    before = counts(*models)

    response = client.post(url, data)  # the test client raises on a 500

    assert response.status_code != 500
    assert counts(*models) == before, f"a row was saved for {data!r}"
    assert shows_an_error(response), f"no error shown for {data!r}: {response.status_code}"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Each example checks a password; the production hasher would take minutes here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def appointment(db):
    return AppointmentFactory()


@given(data=spoiled_posts(PatientForm))
@EXAMPLES
def test_it_refuses_garbage_when_registering_a_patient(frontdesk_client, data):
    check(frontdesk_client, "/patients/new/", data, Patient, LogEntry)


@given(data=spoiled_posts(PatientForm))
@EXAMPLES
def test_it_refuses_garbage_when_editing_a_patient(frontdesk_client, appointment, data):
    patient = appointment.patient
    before = Patient.objects.values().get(pk=patient.pk)

    check(frontdesk_client, f"/patients/{patient.pk}/edit/", data, Patient, LogEntry)

    assert Patient.objects.values().get(pk=patient.pk) == before


@given(data=spoiled_posts(BookingForm))
@EXAMPLES
def test_it_refuses_garbage_when_booking(frontdesk_client, appointment, data):
    check(frontdesk_client, "/appointments/book/", data, Appointment, Reminder, AppointmentEvent)


@pytest.mark.usefixtures("care_for_all")
@given(data=spoiled_posts(ResultForm))
@EXAMPLES
def test_it_refuses_garbage_when_logging_a_result(physician_client, data):
    order = TestOrderFactory()
    check(physician_client, f"/results/{order.pk}/", data, TestResult)


@given(data=spoiled_posts(CancelForm))
@EXAMPLES
def test_it_refuses_garbage_when_cancelling(frontdesk_client, appointment, data):
    check(frontdesk_client, f"/appointments/{appointment.pk}/cancel/", data, AppointmentEvent)
    appointment.refresh_from_db()
    assert appointment.status != Appointment.Status.CANCELLED


@given(data=spoiled_posts(AuthenticationForm))
@EXAMPLES
def test_it_refuses_garbage_at_the_login_page(client, data):
    response = client.post("/accounts/login/", data)

    assert response.status_code in (200, 429)
    assert shows_an_error(response)
    assert "_auth_user_id" not in client.session


@given(data=spoiled_posts(PasswordChangeForm))
@EXAMPLES
def test_it_refuses_garbage_when_changing_a_password(frontdesk_client, frontdesk_user, data):
    check(frontdesk_client, "/accounts/password_change/", data)
    frontdesk_user.refresh_from_db()
    assert frontdesk_user.check_password("correct-horse-battery")


@given(data=spoiled_posts(EmergencyAccessForm))
@EXAMPLES
def test_it_refuses_garbage_as_an_emergency_access_reason(physician_client, appointment, data):
    check(
        physician_client,
        f"/emergency-access/{appointment.patient_id}/",
        data,
        EmergencyAccess,
    )


@given(data=spoiled_posts(TokenForm))
@EXAMPLES
def test_it_refuses_garbage_as_a_two_factor_code(frontdesk_client, data):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    check(frontdesk_client, "/accounts/two-factor/setup/", data)
    assert not TOTPDevice.objects.filter(confirmed=True).exists()


@given(
    params=st.dictionaries(
        st.sampled_from(
            ["kind", "user", "object_type", "object_id", "date_from", "date_to", "page"]
        ),
        garbage,
    )
)
@EXAMPLES
def test_it_answers_garbage_audit_filters_with_the_page_not_a_500(client, params):
    from django.contrib.auth.models import User

    from clinic import roles
    from conftest import make_user

    user = User.objects.filter(username="fuzz-admin").first() or make_user(
        "fuzz-admin", roles.CLINIC_ADMIN, is_staff=True
    )
    client.force_login(user)

    # 400 (with the message) for a date outside 1900-2100, else the page.
    assert client.get("/audit/", params).status_code in (200, 400)
    assert client.get("/audit/export.csv", params).status_code in (200, 400)
