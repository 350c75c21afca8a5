"""Issue 10: inbound messages through POST /api/v1/messages, correlation, idempotency and kept messages."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

from adapters import build_registry
from runner.models import db
from runner.worker import Worker
from tests.accounts_fixtures import bearer, client, test_users  # noqa: F401  (client: admin by default)
from tests.helpers import upload

FIXTURES = Path(__file__).parent / "fixtures" / "messages"
ALICE = bearer("alice")  # staff at NORTH and WEST
SAM = bearer("sam")      # staff at SOUTH


def deploy(client, *names):
    response = upload(client, {name: (FIXTURES / name).read_bytes() for name in names})
    assert response.status_code == 201, response.get_json()


def start_invoice(client, business_key, amount_due=100, site="NORTH"):
    response = client.post("/api/v1/process-instances", json={
        "processKey": "invoice_payment", "site": site, "businessKey": business_key,
        "variables": {"amount_due": amount_due}})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def complete_only_task(client, instance_id, variables=None, headers=None):
    [task] = client.get(f"/api/v1/tasks?instanceId={instance_id}").get_json()
    response = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"variables": variables or {}},
                           headers=headers or {})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["instance"]


def send(client, key, name, headers=None, **fields):
    return client.post("/api/v1/messages", json={"name": name, **fields},
                       headers={"Idempotency-Key": key, **(headers or {})})


def instance(client, instance_id):
    return client.get(f"/api/v1/process-instances/{instance_id}").get_json()


def audit_actions(client, instance_id):
    return [e["action"] for e in client.get(f"/api/v1/process-instances/{instance_id}/audit").get_json()]


def test_the_same_payment_sent_twice_moves_the_instance_once(client):
    deploy(client, "invoice_payment.bpmn")
    started = start_invoice(client, "INV-1")
    waiting = complete_only_task(client, started["id"])
    assert waiting["currentActivities"] == ["wait_payment"]
    assert client.get(f"/api/v1/process-instances/{started['id']}/message-subscriptions").get_json()[0][
        "messageName"] == "payment_received"

    first = send(client, "pay-INV-1-0001", "payment_received", businessKey="INV-1",
                 variables={"amount_paid": 100, "payer": "ACME Health Plan"})
    assert first.status_code == 200, first.get_json()
    body = first.get_json()
    assert (body["state"], body["outcome"], body["duplicate"]) == ("delivered", "correlated", False)
    assert (body["instanceId"], body["elementIds"]) == (started["id"], ["wait_payment"])
    moved = instance(client, started["id"])
    assert moved["currentActivities"] == ["wait_remittance"]
    assert moved["variables"]["amount_paid"] == 100 and moved["variables"]["payer"] == "ACME Health Plan"

    again = send(client, "pay-INV-1-0001", "payment_received", businessKey="INV-1",
                 variables={"amount_paid": 100, "payer": "ACME Health Plan"})
    assert again.status_code == 200
    assert again.get_json()["duplicate"] is True
    assert {k: v for k, v in again.get_json().items() if k != "duplicate"} == \
           {k: v for k, v in body.items() if k != "duplicate"}
    assert instance(client, started["id"])["currentActivities"] == ["wait_remittance"]
    assert audit_actions(client, started["id"]).count("message.correlated") == 1

    reused = send(client, "pay-INV-1-0001", "payment_received", businessKey="INV-1", variables={"amount_paid": 5})
    assert reused.status_code == 409
    assert reused.headers["Content-Type"] == "application/problem+json"

    remitted = send(client, "remit-INV-1", "remittance_posted", businessKey="INV-1", variables={"remit_id": "R-77"})
    assert remitted.status_code == 200 and remitted.get_json()["elementIds"] == ["wait_remittance"]
    final = instance(client, started["id"])
    assert (final["state"], final["endEvent"]) == ("completed", "invoice_settled")
    [completed] = [e for e in client.get(f"/api/v1/process-instances/{started['id']}/audit").get_json()
                   if e["action"] == "instance.completed"]
    assert completed["actor"] == "admin"  # the sender of the message that completed it
    assert client.get(f"/api/v1/process-instances/{started['id']}/message-subscriptions").get_json() == []


def test_an_early_payment_is_kept_and_delivered_when_the_instance_starts_waiting(client):
    deploy(client, "invoice_payment.bpmn")
    early_bird = start_invoice(client, "INV-2", amount_due=250)
    other = start_invoice(client, "INV-3", amount_due=250)

    kept = send(client, "pay-INV-2", "payment_received", businessKey="INV-2", variables={"amount_paid": 100})
    assert kept.status_code == 202, kept.get_json()
    message = kept.get_json()
    assert (message["state"], message["outcome"], message["instanceId"]) == ("pending", None, None)
    expires = datetime.fromisoformat(message["expiresAt"].rstrip("Z"))
    received = datetime.fromisoformat(message["receivedAt"].rstrip("Z"))
    assert expires - received == timedelta(hours=24)
    assert [m["id"] for m in client.get("/api/v1/messages?state=pending").get_json()] == [message["id"]]

    # the other invoice starts waiting first: the message is not for it
    assert complete_only_task(client, other["id"])["currentActivities"] == ["wait_payment"]
    assert client.get(f"/api/v1/messages/{message['id']}").get_json()["state"] == "pending"

    # INV-2 starts waiting: the kept payment is delivered in the same request; 100 of 250 is partial
    after = complete_only_task(client, early_bird["id"], headers=ALICE)
    assert after["currentActivities"] == ["review_partial_payment"]
    assert after["variables"]["amount_paid"] == 100
    delivered = client.get(f"/api/v1/messages/{message['id']}").get_json()
    assert (delivered["state"], delivered["outcome"]) == ("delivered", "correlated")
    assert (delivered["instanceId"], delivered["elementIds"]) == (early_bird["id"], ["wait_payment"])
    trail = client.get(f"/api/v1/process-instances/{early_bird['id']}/audit").get_json()
    assert sorted((e["action"], e["actor"]) for e in trail if e["action"] in ("task.completed", "message.correlated")
                  ) == [("message.correlated", "admin"), ("task.completed", "alice")]  # the sender, the completer
    assert client.get("/api/v1/messages?state=pending").get_json() == []

    # a repeat of the early message now acknowledges the outcome it finally had
    repeat = send(client, "pay-INV-2", "payment_received", businessKey="INV-2", variables={"amount_paid": 100})
    assert repeat.status_code == 200 and repeat.get_json()["duplicate"] is True
    assert repeat.get_json()["instanceId"] == early_bird["id"]


def test_claim_denied_starts_an_instance_and_remittance_interrupts_it(client):
    deploy(client, "claim_denial.bpmn")
    no_site = send(client, "deny-CLM-1", "claim_denied", businessKey="CLM-1", variables={"denial_code": "CO-45"})
    assert no_site.status_code == 422 and "site" in no_site.get_json()["errors"]

    started = send(client, "deny-CLM-1", "claim_denied", businessKey="CLM-1", site="NORTH",
                   variables={"denial_code": "CO-45", "payer": "Medicare"})
    assert started.status_code == 201, started.get_json()
    body = started.get_json()
    assert (body["outcome"], body["elementIds"]) == ("started", ["claim_denied"])
    denial = instance(client, body["instanceId"])
    assert (denial["processKey"], denial["businessKey"], denial["site"]) == ("claim_denial", "CLM-1", "NORTH")
    assert denial["currentActivities"] == ["work_denial"]
    assert denial["variables"]["denial_code"] == "CO-45"
    assert "instance.started" in audit_actions(client, denial["id"])

    # the process cannot be started without its message
    plain = client.post("/api/v1/process-instances", json={"processKey": "claim_denial", "site": "NORTH"})
    assert plain.status_code == 422 and "POST /api/v1/messages" in plain.get_json()["detail"]

    paid = send(client, "remit-CLM-1", "remittance_posted", businessKey="CLM-1", variables={"remit_id": "R-1"})
    assert paid.status_code == 200, paid.get_json()
    assert paid.get_json()["elementIds"] == ["remittance_arrived"]
    final = instance(client, denial["id"])
    assert (final["state"], final["endEvent"]) == ("completed", "paid_after_all")
    assert client.get(f"/api/v1/tasks?instanceId={denial['id']}&state=cancelled").get_json()[0]["elementId"] == \
        "work_denial"


def test_unmatched_messages_expire_and_admins_list_them(client, monkeypatch):
    deploy(client, "invoice_payment.bpmn")
    monkeypatch.setenv("LANES_MESSAGE_TTL_SECONDS", "3600")
    kept = send(client, "pay-INV-8", "payment_received", businessKey="INV-8", variables={"amount_paid": 1})
    body = kept.get_json()
    received = datetime.fromisoformat(body["receivedAt"].rstrip("Z"))
    assert datetime.fromisoformat(body["expiresAt"].rstrip("Z")) - received == timedelta(hours=1)

    gone = send(client, "pay-INV-9", "payment_received", businessKey="INV-9", ttlSeconds=0,
                variables={"amount_paid": 100})
    assert gone.status_code == 202 and gone.get_json()["state"] == "expired"
    expired = client.get("/api/v1/messages?state=expired").get_json()
    assert [(m["idempotencyKey"], m["businessKey"]) for m in expired] == [("pay-INV-9", "INV-9")]
    assert client.get("/api/v1/messages?state=expired", headers=ALICE).status_code == 403
    assert client.get("/api/v1/messages?state=lost").status_code == 422

    late = start_invoice(client, "INV-9")
    assert complete_only_task(client, late["id"])["currentActivities"] == ["wait_payment"]
    assert client.get(f"/api/v1/messages/{gone.get_json()['id']}").get_json()["state"] == "expired"


def test_messages_need_a_key_and_one_target(client):
    deploy(client, "invoice_payment.bpmn")
    assert client.post("/api/v1/messages", json={"name": "payment_received"}).status_code == 422
    by_field = client.post("/api/v1/messages", json={"name": "payment_received", "idempotencyKey": "k-1",
                                                     "variables": {"site": "SOUTH"}})
    assert by_field.status_code == 422  # site is the instance's, not a variable

    first, second = start_invoice(client, "INV-20"), start_invoice(client, "INV-21")
    for started in (first, second):
        complete_only_task(client, started["id"])
    ambiguous = send(client, "pay-any", "payment_received", variables={"amount_paid": 100})
    assert ambiguous.status_code == 409
    assert sorted(ambiguous.get_json()["instanceIds"]) == sorted([first["id"], second["id"]])
    # nothing was kept under the key: the sender narrows the same message down and sends it again
    narrowed = send(client, "pay-any", "payment_received", correlationKeys={"business_key": "INV-21"},
                    variables={"amount_paid": 100})
    assert narrowed.status_code == 200, narrowed.get_json()
    assert narrowed.get_json()["instanceId"] == second["id"]
    assert instance(client, first["id"])["currentActivities"] == ["wait_payment"]


def test_a_sender_reaches_only_instances_at_its_sites(client):
    deploy(client, "invoice_payment.bpmn")
    north = start_invoice(client, "INV-30")
    complete_only_task(client, north["id"])
    foreign = send(client, "pay-INV-30-sam", "payment_received", headers=SAM, businessKey="INV-30",
                   variables={"amount_paid": 100})
    assert foreign.status_code == 202 and foreign.get_json()["state"] == "pending"
    assert instance(client, north["id"])["currentActivities"] == ["wait_payment"]
    own = send(client, "pay-INV-30-alice", "payment_received", headers=ALICE, businessKey="INV-30",
               variables={"amount_paid": 100})
    assert own.status_code == 200 and own.get_json()["instanceId"] == north["id"]
    assert client.get(f"/api/v1/messages/{foreign.get_json()['id']}", headers=ALICE).status_code == 404


def test_deploy_time_validation_names_the_message_element(client):
    text = (FIXTURES / "invoice_payment.bpmn").read_text()
    undefined = text.replace('messageRef="Message_payment_received"', 'messageRef="Message_missing"')
    response = upload(client, {"invoice_payment.bpmn": undefined.encode()})
    assert response.status_code == 422
    [problem] = response.get_json()["problems"]
    assert problem["element_id"] == "wait_payment" and "Message_missing" in problem["message"]

    throwing = text.replace("intermediateCatchEvent", "intermediateThrowEvent")
    response = upload(client, {"invoice_payment.bpmn": throwing.encode()})
    assert response.status_code == 422
    assert [p["element_id"] for p in response.get_json()["problems"]] == ["wait_payment"]


def test_concurrent_duplicates_and_races_lose_nothing_and_do_nothing_twice(app, client):
    """Eight senders of one payment at once: one effect. Payments racing instances that start
    waiting for them: every payment reaches its instance (kept, then delivered, or correlated)."""
    deploy(client, "invoice_payment.bpmn")
    started = start_invoice(client, "INV-40")
    complete_only_task(client, started["id"])

    def sender(_):
        own = app.test_client()  # a client of its own per thread (not `with`: that keeps its context pushed)
        return send(own, "pay-INV-40", "payment_received", headers=bearer("admin"), businessKey="INV-40",
                    variables={"amount_paid": 100})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(sender, range(8)))
    assert {a.status_code for a in answers} == {200}
    assert sorted(a.get_json()["duplicate"] for a in answers) == [False] + [True] * 7
    assert audit_actions(client, started["id"]).count("message.correlated") == 1
    assert instance(client, started["id"])["currentActivities"] == ["wait_remittance"]

    racing = [start_invoice(client, f"INV-{n}") for n in range(41, 47)]

    def complete_task(instance_id):
        own = app.test_client()
        own.environ_base["HTTP_AUTHORIZATION"] = bearer("admin")["Authorization"]
        return complete_only_task(own, instance_id)

    def pay(business_key):
        own = app.test_client()
        return send(own, f"pay-{business_key}", "payment_received", headers=bearer("admin"),
                    businessKey=business_key, variables={"amount_paid": 100})

    with ThreadPoolExecutor(12) as pool:
        futures = [pool.submit(complete_task, i["id"]) for i in racing]
        futures += [pool.submit(pay, i["businessKey"]) for i in racing]
        for future in futures:
            future.result()
    for raced in racing:
        assert instance(client, raced["id"])["currentActivities"] == ["wait_remittance"], raced["businessKey"]
    assert client.get("/api/v1/messages?state=pending").get_json() == []


def test_an_event_based_gateway_takes_the_payment_or_the_due_date(app, client):
    deploy(client, "statement_followup.bpmn")
    with app.app_context():
        worker = Worker(app, name="messages-test-worker", registry=build_registry(db.engine, env={}))

    def statement(business_key, grace_period):
        response = client.post("/api/v1/process-instances", json={
            "processKey": "statement_followup", "site": "NORTH", "businessKey": business_key,
            "variables": {"grace_period": grace_period}})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    paid = statement("STMT-1", "P30D")
    assert paid["currentActivities"] == ["payment_or_due_date"]
    [wait] = client.get(f"/api/v1/process-instances/{paid['id']}/message-subscriptions").get_json()
    assert (wait["messageName"], wait["elementId"], wait["kind"]) == ("remittance_posted", "payment_posted", "gateway")
    answer = send(client, "remit-STMT-1", "remittance_posted", businessKey="STMT-1", variables={"remit_id": "R-9"})
    assert answer.status_code == 200 and answer.get_json()["elementIds"] == ["payment_posted"]
    final = instance(client, paid["id"])
    assert (final["state"], final["endEvent"], final["variables"]["remit_id"]) == ("completed", "statement_settled", "R-9")
    assert client.get(f"/api/v1/process-instances/{paid['id']}/jobs").get_json() == []

    overdue = statement("STMT-2", "PT0.2S")
    [timer] = client.get(f"/api/v1/process-instances/{overdue['id']}/jobs").get_json()
    assert (timer["kind"], timer["elementId"]) == ("timer", "payment_or_due_date")
    time.sleep(0.3)
    worker.drain()
    final = instance(client, overdue["id"])
    assert (final["state"], final["endEvent"]) == ("completed", "sent_to_collections")
    late = send(client, "remit-STMT-2", "remittance_posted", businessKey="STMT-2", variables={"remit_id": "R-10"})
    assert late.status_code == 202  # nobody waits for it any more: kept, and it will expire


def test_a_new_instance_that_waits_for_a_kept_message_takes_it_in_its_start(client):
    """The start's first save stores the new instance and its wait; the wait takes the kept remittance and the
    instance is saved again in the same transaction, so the start answers, and stores, the completed instance."""
    deploy(client, "statement_followup.bpmn")
    kept = send(client, "remit-STMT-9", "remittance_posted", businessKey="STMT-9", variables={"remit_id": "R-1"})
    assert kept.status_code == 202 and kept.get_json()["state"] == "pending", kept.get_json()
    started = client.post("/api/v1/process-instances", json={
        "processKey": "statement_followup", "site": "NORTH", "businessKey": "STMT-9",
        "variables": {"grace_period": "P30D"}})
    assert started.status_code == 201, started.get_json()
    body = started.get_json()
    assert (body["state"], body["endEvent"], body["variables"]["remit_id"]) == ("completed", "statement_settled", "R-1")
    stored = instance(client, body["id"])
    assert (stored["state"], stored["endEvent"], stored["currentActivities"]) == ("completed", "statement_settled", [])
    assert client.get(f"/api/v1/process-instances/{body['id']}/jobs").get_json() == []  # the due-date timer went
    delivered = client.get(f"/api/v1/messages/{kept.get_json()['id']}").get_json()
    assert (delivered["state"], delivered["instanceId"]) == ("delivered", body["id"])
    assert audit_actions(client, body["id"])[-2:] == ["message.correlated", "instance.completed"]


def wait_until_expired(client, message_id, timeout=5.0):
    deadline = time.monotonic() + timeout
    while client.get(f"/api/v1/messages/{message_id}").get_json()["state"] != "expired":
        assert time.monotonic() < deadline, "the message did not expire"
        time.sleep(0.05)


def test_a_kept_message_is_delivered_if_an_instance_starts_waiting_before_it_expires(client):
    deploy(client, "invoice_payment.bpmn")
    started = start_invoice(client, "INV-60", amount_due=100)
    kept = send(client, "pay-INV-60", "payment_received", businessKey="INV-60", ttlSeconds=3,
                variables={"amount_paid": 100})
    assert kept.status_code == 202, kept.get_json()
    body = kept.get_json()
    assert body["state"] == "pending"  # kept: not expired on arrival
    received = datetime.fromisoformat(body["receivedAt"].rstrip("Z"))
    assert datetime.fromisoformat(body["expiresAt"].rstrip("Z")) - received == timedelta(seconds=3)
    assert [m["id"] for m in client.get("/api/v1/messages?state=pending").get_json()] == [body["id"]]

    # within the 3 seconds, the instance starts waiting: the kept payment is delivered in that request
    moved = complete_only_task(client, started["id"])
    delivered = client.get(f"/api/v1/messages/{body['id']}").get_json()
    assert delivered["state"] != "expired", "the task took longer than the message's 3 s to complete"
    assert (delivered["state"], delivered["outcome"], delivered["instanceId"]) == \
           ("delivered", "correlated", started["id"])
    assert delivered["deliveredAt"] < delivered["expiresAt"]
    assert moved["currentActivities"] == ["wait_remittance"] and moved["variables"]["amount_paid"] == 100

    # once delivered, it never turns into an expired one
    time.sleep(max(0.0, (datetime.fromisoformat(delivered["expiresAt"].rstrip("Z")) - datetime.now(timezone.utc).replace(tzinfo=None)).total_seconds()) + 0.2)
    assert client.get(f"/api/v1/messages/{body['id']}").get_json()["state"] == "delivered"
    assert client.get("/api/v1/messages?state=expired").get_json() == []


def test_a_kept_message_that_expired_is_not_delivered_when_an_instance_waits_later(client):
    deploy(client, "invoice_payment.bpmn")
    started = start_invoice(client, "INV-61", amount_due=100)
    kept = send(client, "pay-INV-61", "payment_received", businessKey="INV-61", ttlSeconds=1,
                variables={"amount_paid": 100})
    assert kept.status_code == 202 and kept.get_json()["state"] == "pending"
    message_id = kept.get_json()["id"]
    wait_until_expired(client, message_id)
    assert [m["id"] for m in client.get("/api/v1/messages?state=expired").get_json()] == [message_id]
    assert client.get("/api/v1/messages?state=pending").get_json() == []

    # the instance starts waiting after the message expired: it keeps waiting, the message stays expired
    waiting = complete_only_task(client, started["id"])
    assert waiting["currentActivities"] == ["wait_payment"] and "amount_paid" not in waiting["variables"]
    assert client.get(f"/api/v1/process-instances/{started['id']}/message-subscriptions").get_json()[0][
        "messageName"] == "payment_received"
    expired = client.get(f"/api/v1/messages/{message_id}").get_json()
    assert (expired["state"], expired["outcome"], expired["instanceId"]) == ("expired", None, None)
    assert [m["id"] for m in client.get("/api/v1/messages?state=expired").get_json()] == [message_id]
    assert "message.correlated" not in audit_actions(client, started["id"])

    # a fresh payment (a new key) still reaches it
    fresh = send(client, "pay-INV-61-again", "payment_received", businessKey="INV-61", variables={"amount_paid": 100})
    assert fresh.status_code == 200 and fresh.get_json()["instanceId"] == started["id"]
    assert instance(client, started["id"])["currentActivities"] == ["wait_remittance"]
