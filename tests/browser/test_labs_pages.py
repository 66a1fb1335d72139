"""Lab interface pages in a real browser, axe-core on each: the unmatched results
worklist (reject needs a reason; attach), the order page with imported findings,
the cytogenetics result form (an ISCN slip explained), and failed order messages."""

import pytest
from playwright.sync_api import Page, expect

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_labs_pages(page: Page, live_server, demo_clinic, check_a11y, screenshot, settings):
    from procedures.catalog.models import ProcedureType, TestType
    from procedures.catalog.resources import Provider, Room
    from procedures.labs import inbound
    from procedures.labs.inbound import lab_message_receive
    from procedures.labs.models import LabOrderMessage
    from procedures.labs.setup import lab_configure
    from procedures.labs.tests.conftest import oru
    from procedures.results.models import TestOrder
    from procedures.tests.factories import AppointmentFactory, TestOrderFactory

    inbound._labs.clear()
    inbound._interface_user = None
    settings.CLINIC_CARE_RELATIONSHIP = "conftest.treats_everyone"
    lab, _token = lab_configure(
        name="Genetics lab",
        protocol="hl7v2-oml",
        application="GENLAB",
        facility="GEN",
        host="127.0.0.1",
        port=9,
        tests=["cytogenetics=CYTO:cytogenetics"],
    )

    def visit():  # demo rooms and physicians; cancelled, so it holds no slot
        return AppointmentFactory(
            status="cancelled",
            room=Room.objects.first(),
            provider=Provider.objects.first(),
            procedure_type=ProcedureType.objects.first(),
        )

    order = TestOrderFactory(
        appointment=visit(),
        test_type=TestType.objects.get(code="cytogenetics"),
        status=TestOrder.Status.SENT,
    )
    other = TestOrderFactory(
        appointment=visit(),
        test_type=TestType.objects.get(code="cytogenetics"),
        status=TestOrder.Status.SENT,
    )
    lab_message_receive(raw=oru(order, placer="777777").encode())  # parked: unknown order
    LabOrderMessage.objects.create(
        order=other,
        lab=lab,
        control_id="O-1",
        status="failed",
        ack_code="AR",
        last_error="AR unknown test code",
    )
    base = live_server.url
    log_in(page, base, "physician")

    page.goto(f"{base}/results/")
    page.get_by_role("link", name="Unmatched lab results").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Unmatched lab results")
    expect(page.get_by_role("cell", name="no order with placer number 777777")).to_be_visible()
    check_a11y(page, "the unmatched results worklist")
    screenshot(page, "labs-unmatched")
    page.get_by_role("link", name="Match or reject").click()
    check_a11y(page, "an unmatched result")
    page.get_by_role("button", name="Reject").click()
    expect(page.get_by_role("alert")).to_contain_text("Not rejected")
    check_a11y(page, "an unmatched result with an error")
    page.get_by_label("Order number").fill(str(order.pk))
    page.get_by_role("button", name="Attach").click()
    expect(page.get_by_text("Result attached to the order.")).to_be_visible()
    expect(page.get_by_text("No unmatched results.")).to_be_visible()

    page.goto(f"{base}/results/{order.pk}/")
    expect(page.get_by_text("46,XX[20]", exact=True)).to_be_visible()
    check_a11y(page, "the order page with imported findings")
    screenshot(page, "labs-order-findings")

    page.goto(f"{base}/results/{other.pk}/")
    page.get_by_role("link", name="Log a result with the form for this test").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Log a result")
    check_a11y(page, "the cytogenetics result form")
    page.get_by_label("Karyotype (ISCN)").fill("46 XY")
    page.get_by_label("Report").fill("Normal male karyotype.")
    page.get_by_label("Interpretation").select_option("normal")
    page.get_by_role("button", name="Log result").click()
    expect(page.get_by_text("is not an ISCN karyotype").first).to_be_visible()
    check_a11y(page, "the cytogenetics result form with an error")
    page.get_by_label("Karyotype (ISCN)").fill("46,XY[20]")
    page.get_by_role("button", name="Log result").click()
    expect(page.get_by_text("Result logged.")).to_be_visible()
    expect(page.get_by_text("46,XY[20]", exact=True)).to_be_visible()

    page.goto(f"{base}/labs/order-messages/")
    expect(page.get_by_role("cell", name="AR AR unknown test code")).to_be_visible()
    check_a11y(page, "order messages to labs")
    screenshot(page, "labs-order-messages")
