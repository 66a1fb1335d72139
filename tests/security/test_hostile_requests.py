"""Hostile requests, for every URL of the project and every role allowed to open it
(tests/url_rules.py: a URL added later is walked too): never a 500, and a refused POST
changes nothing.

For each URL and role, the walk finds the parameters the view reads (every `get`,
`getlist`, `[]` and `in` on the request's GET and POST while it answers, so a form's
fields count too; plus the names read anywhere in the code and a generic set) and sends:

- GET with every parameter set to each hostile value at once, then each parameter the
  view read on its own with a sample of the values (rotating, so every value meets every
  parameter across roles), and every parameter repeated;
- for a URL that takes POST, the same as POST bodies, an empty POST twice (a double
  click), and the ids of the other patient's records;
- the URL's own ids replaced by ids that do not exist, overflow PostgreSQL's integers,
  or belong to another patient (an allergy of theirs under this patient's URL);
- the page's own POST forms as a browser would send them: twice unchanged (a double
  click), then each field spoilt in turn.

A refused POST (4xx, a form shown again with errors, or a redirect with an error
message) must leave every table as it was (a checksum of each table's rows, audit of
reads and sessions aside). Each URL and role runs in a savepoint rolled back after it,
so what an accepted POST did never leaks into the next.

The patient-link pages (no login) get garbage tokens, tokens for another purpose or
tampered, hostile dates of birth and hostile escort and reschedule forms, and a valid
action posted twice.
"""

import html
import re
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.http import QueryDict
from django.urls import NoReverseMatch, Resolver404, resolve, reverse

from clinic.http import local_path
from procedures.messaging.links import PURPOSES, link_token
from procedures.messaging.models import CallTask, PatientLinkUse
from procedures.scheduling.models import Appointment
from procedures.tests.factories import AppointmentFactory
from tests.url_rules import ANON, RULES, WHO, may_open, project_url_names
from tests.url_world import patient_world, role_users

# The operations dashboard reads from the `replica` alias (clinic/db_routers.py).
pytestmark = pytest.mark.django_db(databases=["default", "replica"])

HOSTILE = [
    "",
    " ",
    "abc",
    "-1",
    "0",
    "1.5",
    "99999999999999999999",
    "2147483648",
    "2026-02-30",
    "9999-12-31",
    "0001-01-01",
    "2026-W99",
    "25:61",
    "\x00",
    "a\x00b",
    "%00",
    "<script>alert(1)</script>",
    "'; DROP TABLE patients_patient; --",
    "ü日本😀\u202e",
    "x" * 10_000,
    "//evil.example/",
    "²",  # str.isdigit() says yes, int() says no
    "[]",
]
# Names worth trying on any page, whether or not its view reads them today.
GENERIC = (
    "page",
    "day",
    "date",
    "week",
    "site",
    "q",
    "sort",
    "status",
    "next",
    "physician",
    "provider",
    "room",
    "lab",
    "test",
    "from",
    "to",
    "kind",
    "format",
    "id",
    "patient",
    "view",
    "by",
    "show",
)
# Every parameter at once with one of these; then MIXED requests of every value.
UNIFORM = ["abc", "99999999999999999999", "9999-12-31", "\x00", "x" * 10_000, "²"]
MIXED = 3
HTMX = {"HX-Request": "true", "HX-Target": "calendar"}
SAMPLE = 1  # values per parameter the view reads, on its own (rotating)
NOT_INPUT = {"csrfmiddlewaretoken"}
# Read on every request, written by a refused one on purpose, or touched by the test's
# own login: the audit of reads, sessions, the login lockout's records.
NOT_WATCHED = re.compile(
    r"^(clinic_readaccess|django_session|axes_.*|clinic_heartbeat"
    r"|auth_permission|auth_group_permissions|django_content_type)$"
)
CODE = Path(__file__).resolve().parents[2]


def names_read_in_code() -> set[str]:
    """Every parameter name the views read by hand (request.GET.get("x") and the like)."""
    pattern = re.compile(r"""\b(?:GET|POST)(?:\.get|\.getlist|\[)\(?\s*["']([\w-]+)["']""")
    found = set()
    for package in ("clinic", "patients", "procedures"):
        for path in (CODE / package).rglob("*.py"):
            if "tests" not in path.parts:
                found |= set(pattern.findall(path.read_text()))
    return found


@contextmanager
def reads_recorded():
    """The keys looked up on any GET or POST QueryDict while the block runs."""
    seen: set[str] = set()
    originals = {
        attr: getattr(QueryDict, attr) for attr in ("get", "getlist", "__getitem__", "__contains__")
    }

    def spy(attr):
        original = originals[attr]

        def wrapper(self, key, *args, **kwargs):
            if isinstance(key, str):
                seen.add(key)
            return original(self, key, *args, **kwargs)

        return wrapper

    for attr in originals:
        setattr(QueryDict, attr, spy(attr))
    try:
        yield seen
    finally:
        for attr, original in originals.items():
            setattr(QueryDict, attr, original)


def table_checksums() -> dict[str, str]:
    """Each watched table's row count and a checksum of its rows, in one query."""
    tables = [
        t
        for t in connection.introspection.django_table_names(only_existing=True)
        if not NOT_WATCHED.match(t)
    ]
    # Table names from Django's own list, never from input.
    sql = " UNION ALL ".join(
        f"SELECT '{t}', count(*)::text || ':' || "  # noqa: S608
        f"md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM \"{t}\" x"
        for t in tables
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return dict(cursor.fetchall())


def changed(before: dict, after: dict) -> list[str]:
    return sorted(t for t in before if before[t] != after.get(t))


def refused(response) -> bool:
    """The answer says no: an error status, a form with errors, an error message."""
    if response.status_code >= 400:
        return True
    if response.status_code in (301, 302, 303):
        # This request's messages only, not those an earlier redirect left unread.
        queued = getattr(response.wsgi_request, "_messages", None)
        return any(m.level_tag == "error" for m in getattr(queued, "_queued_messages", []))
    if response.streaming:
        return False
    page = response.content.decode("utf-8", "replace")
    return any(
        marker in page
        for marker in ("error-summary", "invalid-feedback", "alert-danger", "errorlist")
    )


class Walk:
    """Sends requests for one URL and role, and collects what went wrong."""

    def __init__(self, client, problems: dict[tuple, str], label: str):
        self.client, self.problems, self.label = client, problems, label
        self.state: dict | None = None  # the tables after the last watched request

    def send(self, method: str, url: str, data=None, *, watch: bool = False, headers=None):
        before = (self.state or table_checksums()) if watch else None
        self.state = None
        sid = transaction.savepoint()
        try:
            response = getattr(self.client, method)(url, data or {}, headers=headers)
        except Exception as exc:  # the test client raises what the view raised: a 500
            transaction.savepoint_rollback(sid)
            self.problem(method, url, data, f"500 {type(exc).__name__}: {str(exc)[:160]}")
            return None
        transaction.savepoint_commit(sid)
        if response.status_code >= 500 and response.status_code != 503:  # /healthz: by design
            self.problem(method, url, data, f"{response.status_code}")
        elif watch:
            self.state = table_checksums()
            spoilt = changed(before, self.state)
            if spoilt and refused(response):
                self.problem(
                    method, url, data, f"refused ({response.status_code}) but changed {spoilt}"
                )
        return response

    def problem(self, method, url, data, what):
        """One line per URL, method and kind of failure (the first example of each)."""
        shown = {k: (v[:40] if isinstance(v, str) else v) for k, v in (data or {}).items()}
        key = (self.label.split()[-1], method, re.split(r"[:(]", what)[0])
        self.problems.setdefault(key, f"{self.label} {method.upper()} {url} {shown!s:.300}: {what}")


def bodies(keys: list[str], r: int, n: int, ids: tuple = ()) -> list[dict]:
    """Role `r` of `n`'s share of the requests that set every parameter at once: each
    of the UNIFORM values in all of them (and each of `ids`, the other patient's), then
    MIXED requests giving each parameter a different value, and repeated parameters."""
    uniform = [dict.fromkeys(keys, v) for v in [*UNIFORM, *ids]]
    mixed = [
        {k: HOSTILE[(i * 5 + j) % len(HOSTILE)] for i, k in enumerate(keys)} for j in range(MIXED)
    ]
    repeated = [{k: ["1", "abc", "\x00"] for k in keys}]
    return [*uniform, *mixed, *repeated][r::n]


def rotate(index: int, count: int, values: list) -> list:
    start = (index * 7) % len(values)
    return [values[(start + k) % len(values)] for k in range(count)]


@pytest.fixture
def worlds(settings, tmp_path):
    settings.DEBUG = True  # the local outbox pages open only in development
    settings.EMAIL_BACKEND = "clinic.mail.LocalOutboxBackend"
    settings.CLINIC_OUTBOX_DIR = tmp_path
    users = role_users()
    ours = patient_world(
        tmp_path,
        physician=users["physician"],
        given="Ottoline",
        family="Quernby",
        mrn="C90000017",
        email="oq@example.com",
    )
    theirs = patient_world(
        tmp_path, given="Other", family="Patient", mrn="C90000025", email="op@example.com"
    )
    return users, ours, theirs


def test_no_url_answers_a_hostile_request_with_a_500_or_a_silent_change(client, worlds):
    users, ours, theirs = worlds
    in_code = names_read_in_code()
    other_ids = tuple(str(theirs[k].pk) for k in ("patient", "today", "order", "allergy"))
    problems: dict[tuple, str] = {}
    posted_forms: set[tuple] = set()
    swept = 0
    for name in sorted(set(project_url_names())):
        if name == "procedures:patient_link":
            continue  # its own test below: no login, a token
        allowed = [who for who in WHO if who != ANON and may_open(name, who)]
        for r, who in enumerate(allowed):
            swept += 1
            sid = transaction.savepoint()
            cache.clear()
            client.force_login(users[who])
            walk = Walk(client, problems, f"{who} {name}")
            url = reverse(name, args=ours["args"].get(name, []))
            takes_post = RULES[name][who] == 405 or name in POST_TOO
            takes_get = RULES[name][who] != 405
            # Each role gets its share of the values; every value meets every page.
            n = len(allowed)
            page = None
            if takes_get:
                with reads_recorded() as read:
                    page = walk.send("get", url)
                start = table_checksums()  # the first opening may set things up
                own = sorted(read - NOT_INPUT)
                every = sorted(set(own) | set(GENERIC) | in_code)
                for data in bodies(every, r, n):
                    walk.send("get", url, data)
                # The htmx fragment of the page, where it has one.
                for data in bodies(every, r, n)[-1:]:
                    walk.send("get", url, data, headers=HTMX)
                for i, key in enumerate(own):
                    if i % n == r:  # each parameter by one role (in turn)
                        for value in rotate(i, SAMPLE, HOSTILE):
                            walk.send("get", url, {key: value})
                spoilt = changed(start, table_checksums())
                if spoilt:
                    walk.problem("get", url, {}, f"GET requests changed {spoilt}")
            if takes_post:
                with reads_recorded() as read:
                    walk.send("post", url, watch=True)
                if r == 0:
                    walk.send("post", url, watch=True)  # the second click of a double click
                own = sorted(read - NOT_INPUT)
                every = sorted(set(own) | set(GENERIC) | in_code)
                for data in bodies(every, r, n, other_ids):
                    walk.send("post", url, data, watch=True)
                for i, key in enumerate(own):
                    if i % n == r:
                        for value in rotate(i, SAMPLE, [*HOSTILE, *other_ids]):
                            walk.send("post", url, {key: value}, watch=True)
            # The page's own forms, as a browser would post them: twice unchanged (a
            # double click), then each field spoilt in turn.
            for action, fields in page_forms(page, url):
                shape = (action.split("?")[0], tuple(sorted({k for k, _ in fields})))
                if shape in posted_forms:
                    continue
                posted_forms.add(shape)
                walk.send("post", action, as_body(fields), watch=True)
                walk.send("post", action, as_body(fields), watch=True)
                for i, (key, _) in enumerate(fields[:FORM_FIELDS]):
                    spoilt = [(k, v) for k, v in fields if k != key]
                    value = HOSTILE[(i + len(posted_forms)) % len(HOSTILE)]
                    walk.send("post", action, as_body([*spoilt, (key, value)]), watch=True)
            spoilt_args = foreign_args(ours["args"].get(name, []), theirs["args"].get(name, []))
            for args in spoilt_args if r == 0 else []:
                try:
                    bad = reverse(name, args=args)
                except NoReverseMatch:
                    continue
                if takes_get:
                    walk.send("get", bad)
                if takes_post:
                    response = walk.send("post", bad, watch=True)
                    if response is not None and not refused(response):
                        walk.problem("post", bad, {}, f"{response.status_code}: not refused")
            transaction.savepoint_rollback(sid)
            client.logout()
    assert swept > 150
    assert len(posted_forms) > 40  # the pages' own forms were found and posted
    assert not problems, "\n".join(problems.values())


# Pages that take GET and POST (a form): RULES lists their GET answer.
POST_TOO = {
    "login",
    "password_change",
    "patients:list",
    "patients:create",
    "patients:update",
    "patients:clinical",
    "patients:merge",
    "procedures:appointment_book",
    "procedures:slot_finder",
    "procedures:appointment_reschedule",
    "procedures:waitlist",
    "procedures:result_log",
    "procedures:procedure_complete",
    "procedures:hours_detail",
    "procedures:labs:structured_result",
    "procedures:labs:unmatched_detail",
    "two_factor_setup",
    "two_factor_verify",
    "emergency_access",
    "account_security",
}


FORM_FIELDS = 6  # fields spoilt per form, in page order
# Forms every page carries that end the session or only switch the site shown.
NOT_POSTED = {"logout", "logout_everywhere", "session_keepalive", "procedures:site_switch"}


class FormReader(HTMLParser):
    """The POST forms of a page: action and the fields a browser would send."""

    def __init__(self):
        super().__init__()
        self.forms: list[tuple[str, list[tuple[str, str]]]] = []
        self.fields: list[tuple[str, str]] | None = None
        self.select: str | None = None
        self.options: list[tuple[str, bool]] = []
        self.textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method", "get").lower() == "post":
            self.fields = []
            self.forms.append((a.get("action", ""), self.fields))
        elif self.fields is None or (not a.get("name") and tag != "option"):
            return
        elif tag == "input" and a.get("type", "text") not in ("submit", "button", "file", "image"):
            if a.get("type") not in ("checkbox", "radio") or "checked" in a:
                self.fields.append((a["name"], a.get("value", "on" if "checked" in a else "")))
        elif tag == "button" and a.get("type", "submit") == "submit" and a.get("value"):
            self.fields.append((a["name"], a["value"]))
        elif tag == "select":
            self.select, self.options = a["name"], []
        elif tag == "option" and self.select:
            self.options.append((a.get("value", ""), "selected" in a))
        elif tag == "textarea":
            self.textarea = a["name"]
            self.fields.append((a["name"], ""))

    def handle_data(self, data):
        if self.textarea and self.fields:
            name, text = self.fields[-1]
            self.fields[-1] = (name, text + data)

    def handle_endtag(self, tag):
        if tag == "form":
            self.fields = None
        elif tag == "textarea":
            self.textarea = None
        elif tag == "select" and self.select and self.fields is not None:
            chosen = [v for v, on in self.options if on] or [v for v, _ in self.options[:1]]
            self.fields.extend((self.select, v) for v in chosen)
            self.select = None


def page_forms(response, url: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """The page's POST forms to our own URLs, but those that end the session."""
    if response is None or response.status_code != 200 or response.streaming:
        return []
    if not response.get("Content-Type", "").startswith("text/html"):
        return []
    reader = FormReader()
    reader.feed(response.content.decode("utf-8", "replace"))
    found = []
    for action, fields in reader.forms:
        action = html.unescape(action) or url
        if not action.startswith("/"):
            continue
        try:
            match = resolve(urlsplit(action).path)
        except Resolver404:
            continue
        if match.view_name not in NOT_POSTED:
            found.append((action, fields))
    return found


def as_body(fields: list[tuple[str, str]]) -> dict[str, list[str]]:
    body: dict[str, list[str]] = {}
    for key, value in fields:
        body.setdefault(key, []).append(value)
    return body


def foreign_args(ours: list, theirs: list) -> list[list]:
    """The URL's ids spoilt one at a time: missing, overflowing, or the other patient's
    record under this patient's URL (only the last id: the first is the parent)."""
    spoilt = []
    for i, value in enumerate(ours):
        if isinstance(value, int):
            for bad in (0, 2147483648, 99999999999999999999):
                spoilt.append([*ours[:i], bad, *ours[i + 1 :]])
        elif isinstance(value, str) and len(value) > 1:
            for bad in ("x" * 300, "%00", "ü日本"):
                spoilt.append([*ours[:i], bad, *ours[i + 1 :]])
    if len(ours) > 1 and isinstance(ours[-1], int) and theirs and ours[-1] != theirs[-1]:
        spoilt.append([*ours[:-1], theirs[-1]])
    return spoilt


# --- The patient-link pages -------------------------------------------------------------

GARBAGE_TOKENS = [
    "x",
    "not-a-valid-token",
    "x" * 5000,
    "%00",
    "\x00",
    "..",
    "eyJhIjo5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OX0:1abc:def",
    "ü日本😀",
]


def test_the_patient_link_pages_answer_any_hostile_request_without_a_500(client, worlds):
    _, ours, _ = worlds
    patient = ours["patient"]
    appointment = AppointmentFactory(patient=patient)  # in three days: every link is valid
    problems: dict[tuple, str] = {}
    walk = Walk(client, problems, "patient link")

    # Garbage, tampered, and other-purpose tokens: the friendly page, nothing changed.
    escort = link_token(appointment=appointment, purpose="escort")
    tampered = [escort[:-1] + ("A" if escort[-1] != "A" else "B"), escort + "x", escort[::-1]]
    for purpose in (*PURPOSES, "nope", "x" * 300):
        for token in [
            *GARBAGE_TOKENS,
            *tampered,
            link_token(appointment=appointment, purpose="attend"),
        ]:
            cache.clear()  # the rate limit would answer 429 before the token is read
            try:
                url = reverse("procedures:patient_link", args=[purpose, token])
            except NoReverseMatch:
                continue
            walk.send("get", url, {"date": "\x00", "next": "//evil.example/"})
            walk.send("post", url, {"date_of_birth": "\x00", "name": "x" * 10_000}, watch=True)

    dob = patient.date_of_birth
    for purpose in PURPOSES:
        cache.clear()
        client.logout()
        url = reverse(
            "procedures:patient_link",
            args=[purpose, link_token(appointment=appointment, purpose=purpose)],
        )
        for value in [*HOSTILE[:12], "31/02/1970", "1970-13-01", "00/00/0000"]:
            walk.send("get", url, {"date_of_birth": value, "page": value})
            cache.clear()  # the lockout after five wrong dates would answer first
            walk.send("post", url, {"date_of_birth": value}, watch=True)
        cache.clear()
        response = walk.send("post", url, {"date_of_birth": dob.strftime("%d/%m/%Y")})
        assert response is not None and response.status_code == 302, (
            purpose,
            response and response.content.decode().split("<main")[-1][:1500],
        )
        form_fields = {"name", "phone", "note"}
        for value in HOSTILE:
            walk.send("post", url, dict.fromkeys(form_fields, value), watch=True)
        for field in sorted(form_fields):
            for value in ("\x00", "x" * 10_000, ""):
                walk.send(
                    "post",
                    url,
                    {
                        "name": "Ann Escort",
                        "phone": "07700 900123",
                        "note": "Mondays",
                        field: value,
                    },
                    watch=True,
                )
    assert not problems, "\n".join(problems.values())


def test_a_patient_link_action_posted_twice_is_done_once(client, worlds):
    """A double click on a link's button: one use, one change, and a friendly page."""
    _, ours, _ = worlds
    appointment = AppointmentFactory(patient=ours["patient"])
    dob = ours["patient"].date_of_birth.strftime("%d/%m/%Y")
    valid = {"name": "Ann Escort", "phone": "07700 900123", "note": "Any Monday"}
    for purpose in ("attend", "escort", "reschedule", "unsubscribe"):
        url = reverse(
            "procedures:patient_link",
            args=[purpose, link_token(appointment=appointment, purpose=purpose)],
        )
        assert client.post(url, {"date_of_birth": dob}).status_code == 302
        assert "Thank you" in client.post(url, valid).content.decode() or purpose == "unsubscribe"
        before = table_checksums()

        again = client.post(url, valid)

        assert again.status_code == 200
        assert "This link cannot be used" in again.content.decode()
        assert changed(before, table_checksums()) == [], purpose
    assert PatientLinkUse.objects.filter(appointment=appointment).count() == 4
    assert CallTask.objects.filter(appointment=appointment).count() == 1
    assert Appointment.objects.get(pk=appointment.pk).escort_name == "Ann Escort"


# --- The triggers the walk found, one by one (each was a 500 or a silent change) -------


ACTS_ANYWAY = "procedures:appointment_confirm"  # the step is taken; only `next` is ignored


@pytest.mark.parametrize(
    ("name", "method", "data"),
    [
        # next= that is not a path: redirect() took it for a view name (NoReverseMatch).
        ("procedures:appointment_check_in", "post", {"next": "abc"}),
        (ACTS_ANYWAY, "post", {"next": "25:61"}),
        ("procedures:task_done", "post", {"next": "abc", "task": "1", "kind": "x"}),
        ("procedures:site_switch", "post", {"next": "0"}),
        # ids that str.isdigit() accepts but int() or PostgreSQL refuse.
        ("procedures:appointment_book", "get", {"patient": "²", "provider": "9" * 20}),
        ("procedures:calendar", "get", {"by": "room", "id": "²", "per_page": "²"}),
        ("procedures:slot_finder", "post", {"pages": "²", "patient": "9" * 20}),
        ("procedures:task_done", "post", {"task": "²"}),
        # NUL in a value looked up in a text column (PostgreSQL refuses it).
        ("procedures:appointment_book", "get", {"type": "a\x00b"}),
    ],
)
def test_a_hostile_parameter_gets_an_answer_not_a_500(client, worlds, name, method, data):
    users, ours, _ = worlds
    client.force_login(users["front_desk"])
    url = reverse(name, args=ours["args"].get(name, []))
    before = table_checksums()

    response = getattr(client, method)(url, data)

    assert response.status_code in (200, 302)
    if response.status_code == 302:
        assert response["Location"].startswith("/")
    if method == "post" and name not in ("procedures:appointment_check_in", ACTS_ANYWAY):
        assert changed(before, table_checksums()) == []


def test_a_login_name_longer_than_any_is_refused_on_the_form(client):
    response = client.post(reverse("login"), {"username": "x" * 10_000, "password": "x"})

    # Refused on the form (the page names no reason: a login page never says which).
    assert response.status_code == 200
    assert "did not match" in response.content.decode()
    assert response.context["form"].errors["username"]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("procedures:hours_detail", {"week": "9999-12-31"}),
        ("procedures:hours_detail", {"week": "0001-01-01"}),
    ],
)
def test_a_far_week_on_the_hours_page_is_a_400_with_a_message(client, worlds, name, data):
    users, ours, _ = worlds
    client.force_login(users["admin"])

    response = client.get(reverse(name, args=ours["args"][name]), data)

    assert response.status_code == 400
    assert "Choose a date between 1900 and 2100." in response.content.decode()


@pytest.mark.parametrize(
    ("name", "who", "data"),
    [
        (
            "procedures:hours_leave_add",
            "admin",
            {"leave-starts_on": "2026-01-05", "leave-ends_on": "9999-12-31"},
        ),
        ("procedures:slot_finder", "front_desk", {"date_from": "9999-12-31"}),
    ],
)
def test_a_far_date_on_a_form_is_refused_in_words(client, worlds, name, who, data):
    users, ours, _ = worlds
    client.force_login(users[who])
    before = table_checksums()

    response = client.post(reverse(name, args=ours["args"].get(name, [])), data, follow=True)

    assert "Choose a date between 1900 and 2100." in response.content.decode()
    assert changed(before, table_checksums()) == []


@pytest.mark.parametrize(
    ("candidate", "followed"),
    [
        ("/appointments/1/", True),
        ("http://testserver/appointments/1/prep/", True),  # the care gate's own
        ("abc", False),
        ("25:61", False),
        ("//evil.example/", False),
        ("http://evil.example/", False),
        ("/a\x00b", False),
        ("", False),
    ],
)
def test_next_is_followed_only_to_an_address_on_this_site(rf, candidate, followed):
    assert local_path(rf.get("/"), candidate) == (candidate if followed else "")
