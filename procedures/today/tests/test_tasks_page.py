"""The front desk's task queue: open front-desk tasks and phone calls in one list,
soonest due first, filtered by kind and to overdue only, a page at a time; each row
marked done once (who and when), and a fixed number of queries."""

import datetime as dt

import pytest

from patients.tests.factories import PatientFactory
from procedures.catalog.clock import clinic_datetime
from procedures.messaging.models import CallTask
from procedures.prep.models import FrontDeskTask
from procedures.scheduling.models import Appointment, AppointmentEvent
from procedures.tests.factories import AppointmentFactory

TODAY = dt.date(2025, 3, 5)
NOW = clinic_datetime(TODAY, dt.time(10, 0))
pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return clinic_datetime(day, dt.time(hour, minute))


def appointment(family: str, day: dt.date = TODAY + dt.timedelta(days=7), **extra) -> Appointment:
    patient = PatientFactory(family_name=family, given_name="Ann")
    return AppointmentFactory(patient=patient, start_at=at(day, 9), end_at=at(day, 10), **extra)


def desk_task(family: str, due: dt.date, kind=FrontDeskTask.Kind.WHEELCHAIR, **extra):
    return FrontDeskTask.objects.create(
        appointment=appointment(family, **extra), kind=kind, due_date=due
    )


def call(family: str, due_at: dt.datetime, reason=CallTask.Reason.NO_EMAIL, **extra):
    return CallTask.objects.create(
        appointment=appointment(family), reason=reason, due_at=due_at, **extra
    )


def listed(client, query: str = "") -> list[tuple[str, int]]:
    response = client.get(f"/tasks/?{query}")
    assert response.status_code == 200
    return [(row.kind, row.task.pk) for row in response.context["rows"]]


def test_it_lists_open_tasks_and_calls_together_soonest_first(frontdesk_client, frontdesk_user):
    later_call = call("Okafor", at(TODAY + dt.timedelta(days=1), 9))
    wheelchair = desk_task("Garcia", TODAY + dt.timedelta(days=1))
    overdue_call = call("Brown", at(TODAY, 8), reason=CallTask.Reason.RESCHEDULE_REQUEST)
    interpreter = desk_task("Lee", TODAY - dt.timedelta(days=1), FrontDeskTask.Kind.INTERPRETER)
    # Closed ones and tasks for a cancelled visit are not work any more.
    done = desk_task("Done", TODAY)
    FrontDeskTask.objects.filter(pk=done.pk).update(done_at=NOW, done_by=frontdesk_user)
    call("Cancelled", at(TODAY, 7), status=CallTask.Status.CANCELLED)
    call("Called", at(TODAY, 7), status=CallTask.Status.DONE)
    desk_task("Gone", TODAY, status=Appointment.Status.CANCELLED)

    assert listed(frontdesk_client) == [
        ("desk", interpreter.pk),
        ("call", overdue_call.pk),
        ("desk", wheelchair.pk),
        ("call", later_call.pk),
    ]
    html = frontdesk_client.get("/tasks/").content.decode()
    assert "Book an interpreter" in html
    assert "Patient asked to reschedule" in html
    assert "Tasks 1 to 4 of 4." in html
    assert html.count(">overdue</span>") == 2
    link = f'href="/appointments/{wheelchair.appointment.pk}/">Garcia, Ann</a>'
    assert link in html
    assert "Done, Ann" not in html
    assert "Cancelled, Ann" not in html
    assert "Gone, Ann" not in html


def test_it_filters_by_kind_and_to_overdue_only(frontdesk_client):
    old_task = desk_task("Lee", TODAY - dt.timedelta(days=2))
    todays_task = desk_task("Garcia", TODAY)  # due today: not overdue yet
    old_call = call("Brown", at(TODAY, 9, 30))
    next_call = call("Okafor", at(TODAY, 11))

    assert listed(frontdesk_client, "show=calls") == [("call", old_call.pk), ("call", next_call.pk)]
    assert listed(frontdesk_client, "show=desk") == [
        ("desk", old_task.pk),
        ("desk", todays_task.pk),
    ]
    assert listed(frontdesk_client, "overdue=1") == [("desk", old_task.pk), ("call", old_call.pk)]
    assert listed(frontdesk_client, "show=calls&overdue=1") == [("call", old_call.pk)]
    assert len(listed(frontdesk_client, "show=nonsense")) == 4  # everything
    html = frontdesk_client.get("/tasks/?show=desk&overdue=1").content.decode()
    assert '<option value="desk" selected>' in html
    assert 'id="tasks-overdue" name="overdue" value="1" checked' in html


def test_it_says_when_there_is_nothing_to_do(frontdesk_client):
    assert "Nothing to do." in frontdesk_client.get("/tasks/").content.decode()

    desk_task("Garcia", TODAY + dt.timedelta(days=3))
    html = frontdesk_client.get("/tasks/?overdue=1").content.decode()
    assert "Nothing matches these filters." in html


def test_it_shows_fifty_tasks_a_page_keeping_the_filters(frontdesk_client):
    calls = [call(f"P{i:03}", at(TODAY, 8) + dt.timedelta(minutes=i)) for i in range(55)]

    first = listed(frontdesk_client, "show=calls")
    second = listed(frontdesk_client, "show=calls&page=2")

    assert first == [("call", c.pk) for c in calls[:50]]
    assert second == [("call", c.pk) for c in calls[50:]]
    html = frontdesk_client.get("/tasks/?show=calls").content.decode()
    assert "Page 1 of 2" in html
    assert 'href="?show=calls&amp;page=2"' in html


def test_it_marks_a_call_done_with_who_when_and_the_note(frontdesk_client, frontdesk_user):
    owed = call("Brown", at(TODAY, 8), reason=CallTask.Reason.RESCHEDULE_REQUEST)

    response = frontdesk_client.post(
        "/tasks/done/",
        {
            "kind": "call",
            "task": owed.pk,
            "note": "  Moved to  Friday ",
            "next": "/tasks/?show=calls",
        },
        follow=True,
    )

    assert response.redirect_chain[-1][0] == "/tasks/?show=calls"
    assert "Done: Patient asked to reschedule, for Ann Brown." in response.content.decode()
    owed.refresh_from_db()
    assert owed.status == CallTask.Status.DONE
    assert (owed.done_at, owed.done_by) == (NOW, frontdesk_user)
    event = AppointmentEvent.objects.get(appointment=owed.appointment, kind="call_done")
    assert (event.by, event.note) == (
        frontdesk_user,
        "Patient asked to reschedule: Moved to Friday",
    )
    assert listed(frontdesk_client) == []


def test_it_marks_a_front_desk_task_done(frontdesk_client, frontdesk_user):
    task = desk_task("Garcia", TODAY, FrontDeskTask.Kind.TRANSPORT)

    response = frontdesk_client.post("/tasks/done/", {"kind": "desk", "task": task.pk}, follow=True)

    assert response.redirect_chain[-1][0] == "/tasks/"
    assert "Done: Book clinic transport, for Ann Garcia." in response.content.decode()
    task.refresh_from_db()
    assert (task.done_at, task.done_by) == (NOW, frontdesk_user)
    assert "Nothing to do." in response.content.decode()


def test_marking_a_closed_task_again_changes_nothing(frontdesk_client, frontdesk_user, client):
    from conftest import make_user

    task = desk_task("Garcia", TODAY)
    owed = call("Brown", at(TODAY, 8))
    for kind, pk in (("desk", task.pk), ("call", owed.pk)):
        frontdesk_client.post("/tasks/done/", {"kind": kind, "task": pk})
    other = make_user("fd2", "front_desk")
    client.force_login(other)

    for kind, pk, what in (("desk", task.pk, "Arrange a wheelchair"), ("call", owed.pk, "Patient")):
        response = client.post("/tasks/done/", {"kind": kind, "task": pk}, follow=True)
        assert f"Already closed, nothing changed: {what}" in response.content.decode()

    task.refresh_from_db()
    owed.refresh_from_db()
    assert task.done_by == owed.done_by == frontdesk_user
    assert AppointmentEvent.objects.filter(kind="call_done").count() == 1


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "call", "task": "999"},
        {"kind": "desk", "task": "999"},
        {"kind": "other", "task": "1"},
        {"kind": "call", "task": "abc"},
        {},
    ],
)
def test_an_unknown_task_gets_a_message_not_an_error(frontdesk_client, data):
    response = frontdesk_client.post("/tasks/done/", data, follow=True)

    assert response.status_code == 200
    assert "That " in response.content.decode()
    assert "is not on the list any more." in response.content.decode()


def test_a_too_long_note_is_refused_and_the_call_stays_open(frontdesk_client):
    owed = call("Brown", at(TODAY, 8))

    response = frontdesk_client.post(
        "/tasks/done/", {"kind": "call", "task": owed.pk, "note": "x" * 301}, follow=True
    )

    assert "Keep the note under 300 characters." in response.content.decode()
    owed.refresh_from_db()
    assert owed.status == CallTask.Status.OPEN


def test_it_never_sends_you_off_site(frontdesk_client):
    owed = call("Brown", at(TODAY, 8))

    response = frontdesk_client.post(
        "/tasks/done/", {"kind": "call", "task": owed.pk, "next": "https://evil.example/"}
    )

    assert response["Location"] == "/tasks/"


@pytest.mark.parametrize("who", ["nurse_client", "physician_client"])
def test_other_roles_are_refused(request, who):
    client = request.getfixturevalue(who)
    owed = call("Brown", at(TODAY, 8))

    assert client.get("/tasks/").status_code == 403
    assert client.get("/tasks/overdue/").status_code == 403
    assert client.post("/tasks/done/", {"kind": "call", "task": owed.pk}).status_code == 403
    owed.refresh_from_db()
    assert owed.status == CallTask.Status.OPEN


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/tasks/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_navigation_links_the_page_with_an_overdue_badge(frontdesk_client, nurse_user):
    from django.test import Client

    nurse_client = Client()
    nurse_client.force_login(nurse_user)
    desk_task("Lee", TODAY - dt.timedelta(days=1))
    desk_task("Garcia", TODAY)
    call("Brown", at(TODAY, 9))
    call("Okafor", at(TODAY, 11))

    assert 'href="/tasks/"' in frontdesk_client.get("/today/").content.decode()
    assert 'href="/tasks/"' not in nurse_client.get("/today/").content.decode()
    badge = frontdesk_client.get("/tasks/overdue/").content.decode()
    assert ">2<" in badge
    assert "tasks overdue" in badge


def test_the_badge_is_empty_when_nothing_is_overdue(frontdesk_client):
    desk_task("Garcia", TODAY)

    assert frontdesk_client.get("/tasks/overdue/").content.decode().strip() == ""


def busy_queue(count: int) -> None:
    for i in range(count):
        desk_task(f"D{i:03}", TODAY - dt.timedelta(days=i % 3))
        call(f"C{i:03}", at(TODAY - dt.timedelta(days=i % 3), 8) + dt.timedelta(minutes=i))


@pytest.mark.parametrize("count", [3, 60])
def test_the_page_takes_a_fixed_number_of_queries(
    frontdesk_client, django_assert_num_queries, count
):
    busy_queue(count)

    # Session, user, roles; the count and the page's keys (one UNION each); the page's
    # tasks and its calls, each with appointment and patient.
    # ... and the one INSERT of the read of the patients shown (issue 15).
    # +1 the header's site switcher: the active sites (issue 18).
    with django_assert_num_queries(9):
        response = frontdesk_client.get("/tasks/")

    rows = response.context["rows"]
    assert len(rows) == min(2 * count, 50)
    assert {row.kind for row in rows} == {"desk", "call"}


@pytest.mark.parametrize("count", [3, 60])
def test_the_badge_takes_a_fixed_number_of_queries(
    frontdesk_client, django_assert_num_queries, count
):
    busy_queue(count)

    with django_assert_num_queries(4):
        html = frontdesk_client.get("/tasks/overdue/").content.decode()

    assert f">{2 * count - (count + 2) // 3}<" in html
