"""Admin messages page (/admin/messages): kept messages listed as pending, then as expired; delivered ones
link their instance; variables masked; staff are refused."""
from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from runner.services import deployments, instances, tasks
from runner.services.tasks import TaskFilter

from .conftest import SETUP, add_user, log_in

pytestmark = pytest.mark.sqlite_only

ADMIN, PASSWORD = "mia", "admin-password"
STAFF, STAFF_PASSWORD = "stan", "staff-password"
INVOICE = Path(__file__).resolve().parents[1] / "fixtures" / "messages" / "invoice_payment.bpmn"


@pytest.fixture(scope="module")
def people(live):
    add_user(live, ADMIN, PASSWORD, roles=["admin"])
    add_user(live, STAFF, STAFF_PASSWORD, roles=["staff"], sites=["NORTH"], groups=["billing_office"])
    live.call(deployments.deploy, {INVOICE.name: INVOICE.read_bytes()}, name="invoice_payment", actor=SETUP)


def send(page, key, **body):
    """POST /api/v1/messages on the live server, as the admin (HTTP Basic)."""
    auth = base64.b64encode(f"{ADMIN}:{PASSWORD}".encode()).decode()
    response = page.request.post("/api/v1/messages", data=body,
                                 headers={"Authorization": f"Basic {auth}", "Idempotency-Key": key})
    assert response.status in (200, 201, 202), response.text()
    return response.json()


def row(page, message_id):
    return page.locator(f"#message-list tr[data-message-id='{message_id}']")


def test_a_kept_message_is_listed_as_pending_then_as_expired(live, page, people, screenshots):
    log_in(page, ADMIN, PASSWORD)
    kept = send(page, "pay-WEB-1", name="payment_received", businessKey="WEB-1", ttlSeconds=1,
                correlationKeys={"payer_id": "P-9"}, site="NORTH",
                variables={"amount_paid": 75, "patient_ssn": "123-45-6789", "remit": {"card_number": "4111"}})
    assert kept["state"] == "pending"

    page.goto("/admin/messages")
    expect(page.locator("nav.lanes-nav a.active")).to_have_text("Messages")
    listed = row(page, kept["id"])
    expect(listed).to_have_attribute("data-state", "pending")
    expect(listed).to_contain_text("payment_received")
    expect(listed).to_contain_text("WEB-1")
    expect(listed).to_contain_text("P-9")
    expect(listed).to_contain_text("NORTH")
    expect(listed).to_contain_text(f"by {ADMIN}")
    expect(listed).to_contain_text("waiting for an instance")
    variables = listed.locator("pre.variables")
    expect(variables).to_contain_text('"amount_paid": 75')
    expect(variables).to_contain_text('"patient_ssn": "********"')
    expect(variables).to_contain_text('"card_number": "********"')
    assert "123-45-6789" not in page.content() and "4111" not in page.content()

    deadline = time.monotonic() + 10
    while True:
        page.reload()
        if row(page, kept["id"]).get_attribute("data-state") == "expired":
            break
        assert time.monotonic() < deadline, "the message was not listed as expired"
        time.sleep(0.3)
    expect(row(page, kept["id"]).locator(".state")).to_have_text("expired")
    page.screenshot(path=str(screenshots / "admin-messages-expired.png"), full_page=True)

    # filters: only pending ones (none now), then by name
    page.goto("/admin/messages")
    page.locator("input[name=state][value=expired]").uncheck()
    page.click("#message-filters button[type=submit]")
    expect(page.locator("#no-messages")).to_be_visible()
    page.goto("/admin/messages?state=expired&name=remittance_posted")
    expect(page.locator("#no-messages")).to_contain_text("named remittance_posted")
    page.goto("/admin/messages?state=expired&name=payment_received")
    expect(row(page, kept["id"])).to_be_visible()
    assert page.goto("/admin/messages?state=lost").status == 422


def test_a_delivered_message_links_its_instance(live, page, people):
    def waiting_invoice():
        instance, _ = instances.start_instance("invoice_payment", "NORTH", {"amount_due": 50}, actor=SETUP,
                                               business_key="WEB-2")
        [task] = tasks.list_tasks(TaskFilter(instance_id=instance.id), SETUP)
        tasks.complete_task(task.id, {}, actor=SETUP)
        return instance.id
    instance_id = live.call(waiting_invoice)
    log_in(page, ADMIN, PASSWORD)
    delivered = send(page, "pay-WEB-2", name="payment_received", businessKey="WEB-2", variables={"amount_paid": 50})
    assert (delivered["state"], delivered["instanceId"]) == ("delivered", instance_id)

    page.goto("/admin/messages")
    expect(row(page, delivered["id"])).to_have_count(0)            # by default: pending and expired only
    page.locator("input[name=state][value=delivered]").check()
    page.click("#message-filters button[type=submit]")
    listed = row(page, delivered["id"])
    expect(listed).to_have_attribute("data-state", "delivered")
    expect(listed.locator(".outcome")).to_contain_text("correlated")
    expect(listed.locator(".outcome")).to_contain_text("wait_payment")
    listed.locator(".outcome a").click()
    page.wait_for_url(f"**/admin/instances/{instance_id}")


def test_staff_may_not_see_the_messages_page(live, page, people):
    log_in(page, STAFF, STAFF_PASSWORD)
    assert page.goto("/admin/messages").status == 403
    assert page.goto("/tasks").status == 200
    expect(page.locator("nav.lanes-nav")).to_contain_text("My tasks")
    expect(page.locator("nav.lanes-nav")).not_to_contain_text("Messages")
