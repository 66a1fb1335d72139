"""Browser tests: Playwright drives Debian's Chromium against pytest-django's live_server.

`playwright install` cannot download browsers here, so the session fixture
`browser_type_launch_args` points Playwright at the system Chromium (see
/work/shared/RECIPES.md). Every test in this folder is marked `browser`.
"""

import os
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe

PASSWORD = "correct-horse-battery"
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa"]},
    "resultTypes": ["violations"],
}


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.browser)


def ensure_role_groups() -> None:
    from django.contrib.auth.models import Group

    from clinic import roles

    for name in roles.ALL_ROLES:
        Group.objects.get_or_create(name=name)


@pytest.fixture(autouse=True)
def _remember_db_blocker(request, django_db_blocker):
    request.node.clinic_db_blocker = django_db_blocker


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """Put the role groups back after a transactional test's flush.

    live_server needs `transaction=True`, whose teardown empties every table,
    including the groups that the data migration clinic/0002_roles created. The
    transactional tests that run after these ones (tests/integration) expect them.
    """
    try:
        return (yield)
    finally:
        blocker = getattr(item, "clinic_db_blocker", None)
        # After the session's last test the test database is already gone.
        if blocker is not None and nextitem is not None:
            with blocker.unblock():
                ensure_role_groups()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args, chromium_path):
    return {**browser_type_launch_args, "executable_path": chromium_path, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    # Reduced motion turns off Bootstrap's transitions, so axe never measures the
    # contrast of a colour halfway through a fade.
    return {
        **browser_context_args,
        "viewport": {"width": 1440, "height": 900},
        "locale": "en-GB",
        "reduced_motion": "reduce",
    }


@pytest.fixture
def page(page):
    """pytest-playwright's page, failing in seconds (not 30) when an element never shows.

    `expect` waits as long as actions do (its own default is 5 s): on a 2-core CI
    machine a page rendered by the live server while the suite runs can take longer.
    """
    from playwright.sync_api import expect

    page.set_default_timeout(10_000)
    page.set_default_navigation_timeout(15_000)
    expect.set_options(timeout=10_000)
    return page


@pytest.fixture(scope="session")
def axe() -> Axe:
    return Axe()


@pytest.fixture
def check_a11y(axe):
    """Run axe-core (WCAG 2 A and AA rules) on the page as it is now; fail listing each
    violated rule with the selectors of the offending elements."""

    def check(page, what: str = "") -> None:
        # Stylesheets must have loaded, or axe measures half-styled colours.
        page.wait_for_load_state("load")
        violations = axe.run(page, options=AXE_OPTIONS).response["violations"]
        if violations:
            lines = [f"axe found {len(violations)} WCAG 2 A/AA violation(s) on {what or page.url}:"]
            for v in violations:
                lines.append(f"  {v['id']} ({v['impact']}): {v['help']}")
                for node in v["nodes"]:
                    target = " ".join(map(str, node["target"]))
                    why = " ".join(node.get("failureSummary", "").split())
                    lines.append(f"    {target}: {why[:200]}")
            pytest.fail("\n".join(lines), pytrace=False)

    return check


@pytest.fixture
def screenshot():
    """Save a full-page screenshot into docs/screenshots when CLINIC_SCREENSHOTS=1."""
    enabled = os.environ.get("CLINIC_SCREENSHOTS") == "1"

    def save(page, name: str) -> None:
        if enabled:
            SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT_DIR / f"{name}.png"), full_page=True)

    return save


@pytest.fixture
def demo_clinic(transactional_db):
    """The demo clinic (staff, catalog, rooms, patients, appointments).

    The role groups come from a data migration; an earlier transactional test's
    flush removes them, so make sure they exist first.
    """
    from procedures.devtools.demo import seed_demo

    ensure_role_groups()
    seed_demo(password=PASSWORD)


def demo_today_cleared(day) -> None:
    """A test that builds its own day: the demo's two visits on `day` (Grace Mensah,
    checked in; Daniel Kowalski, to check in: `seed_demo`) go, with their emails and
    calls, so they neither clash with its rooms nor count on its board."""
    from procedures.messaging.models import CallTask, Reminder
    from procedures.scheduling.models import Appointment

    visits = [
        a.pk
        for a in Appointment.objects.filter(patient__family_name__in=["Mensah", "Kowalski"])
        if a.start_at.astimezone(a.site_tz).date() == day
    ]
    CallTask.objects.filter(appointment__in=visits).delete()
    Reminder.objects.filter(appointment__in=visits).delete()
    Appointment.objects.filter(pk__in=visits).delete()
