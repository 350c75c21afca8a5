"""Issue 10: suspend and resume instances, and retry incidents, one by one or in bulk after a dry run."""
from __future__ import annotations

from pathlib import Path

import pytest

from adapters import build_registry
from runner.models import db
from runner.services import jobs
from runner.worker import Worker
from tests.accounts_fixtures import bearer, client, test_users  # noqa: F401  (client: admin by default)
from tests.helpers import upload

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def registry(app):
    with app.app_context():
        return build_registry(db.engine, env={})


@pytest.fixture
def worker(app, registry):
    return Worker(app, name="bulk-test-worker", poll_seconds=0.05, registry=registry)


def deploy(client, path):
    assert upload(client, {path.name: path.read_bytes()}).status_code == 201


def start(client, key, business_key, **variables):
    response = client.post("/api/v1/process-instances", json={
        "processKey": key, "site": "NORTH", "businessKey": business_key, "variables": variables})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def get(client, instance_id):
    return client.get(f"/api/v1/process-instances/{instance_id}").get_json()


def test_a_suspended_instance_does_not_move_until_it_is_resumed(client, worker):
    deploy(client, FIXTURES / "jobs" / "refund_payout.bpmn")
    deploy(client, FIXTURES / "messages" / "invoice_payment.bpmn")
    payout = start(client, "refund_payout", "PAY-1", patient_account="PA-1001", amount=20)
    invoice = start(client, "invoice_payment", "INV-1", amount_due=50)
    for instance_id in (payout, invoice):
        response = client.post(f"/api/v1/process-instances/{instance_id}/suspend", json={"reason": "billing audit"})
        assert response.status_code == 200 and response.get_json()["state"] == "suspended"
    assert client.post(f"/api/v1/process-instances/{payout}/suspend").status_code == 409
    assert client.post(f"/api/v1/process-instances/{payout}/resume", headers=bearer("alice")).status_code == 403

    worker.drain()  # the payout's billing call is due, but its instance is suspended
    assert get(client, payout)["currentActivities"] == ["issue_refund"]
    [task] = client.get(f"/api/v1/tasks?instanceId={invoice}").get_json()
    refused = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"variables": {}})
    assert refused.status_code == 409 and "suspended" in refused.get_json()["detail"]

    assert client.post(f"/api/v1/process-instances/{payout}/resume", json={}).get_json()["state"] == "running"
    worker.drain()
    assert get(client, payout)["state"] == "completed"
    actions = [e["action"] for e in client.get(f"/api/v1/process-instances/{payout}/audit").get_json()]
    assert actions.index("instance.suspended") < actions.index("instance.resumed") < actions.index("job.completed")

    # a message for a suspended instance is kept, and delivered when the instance is resumed
    client.post(f"/api/v1/process-instances/{invoice}/resume")
    assert client.post(f"/api/v1/tasks/{task['id']}/complete", json={"variables": {}}).status_code == 200
    client.post(f"/api/v1/process-instances/{invoice}/suspend")
    kept = client.post("/api/v1/messages", headers={"Idempotency-Key": "pay-INV-1"},
                       json={"name": "payment_received", "businessKey": "INV-1", "variables": {"amount_paid": 50}})
    assert kept.status_code == 202
    assert get(client, invoice)["currentActivities"] == ["wait_payment"]
    assert client.post(f"/api/v1/process-instances/{invoice}/resume").status_code == 200
    assert get(client, invoice)["currentActivities"] == ["wait_remittance"]
    assert client.get(f"/api/v1/messages/{kept.get_json()['id']}").get_json()["state"] == "delivered"


def test_bulk_suspend_and_resume_report_first_then_act(client):
    deploy(client, FIXTURES / "messages" / "invoice_payment.bpmn")
    ids = [start(client, "invoice_payment", f"INV-{n}", amount_due=10) for n in range(5)]
    client.post(f"/api/v1/process-instances/{ids[0]}/suspend")

    dry = client.post("/api/v1/admin/instances/suspend", json={"processKey": "invoice_payment", "reason": "audit"})
    assert dry.status_code == 200, dry.get_json()
    report = dry.get_json()
    assert report["dryRun"] is True and report["summary"] == {"selected": 5, "ok": 4, "notOk": 1}
    assert [i["reason"] for i in report["items"] if not i["ok"]] == ["the instance is suspended"]
    assert [get(client, i)["state"] for i in ids] == ["suspended"] + ["running"] * 4

    done = client.post("/api/v1/admin/instances/suspend", json={"processKey": "invoice_payment", "dryRun": False})
    assert done.get_json()["summary"]["ok"] == 4
    assert {get(client, i)["state"] for i in ids} == {"suspended"}

    resumed = client.post("/api/v1/admin/instances/resume", json={"instanceIds": ids[:2], "dryRun": False})
    assert resumed.get_json()["summary"] == {"selected": 2, "ok": 2, "notOk": 0}
    assert [get(client, i)["state"] for i in ids] == ["running"] * 2 + ["suspended"] * 3
    assert client.post("/api/v1/admin/instances/resume", json={}).status_code == 422
    assert client.post("/api/v1/admin/instances/resume", headers=bearer("alice"),
                       json={"processKey": "invoice_payment"}).status_code == 403


def test_bulk_retry_of_incidents_after_a_dry_run(client, worker, registry):
    deploy(client, FIXTURES / "jobs" / "refund_payout.bpmn")
    registry.adapter("billing").fail_next("issue_refund", times=3, kind="business", code="ACCOUNT_LOCKED")
    ids = [start(client, "refund_payout", f"PAY-{n}", patient_account=f"PA-{n}", amount=10) for n in range(3)]
    worker.drain()
    incidents = client.get("/api/v1/incidents").get_json()
    assert len(incidents) == 3 and {i["kind"] for i in incidents} == {"unhandled-error"}

    dry = client.post("/api/v1/admin/incidents/retry", json={"processKey": "refund_payout"}).get_json()
    assert dry["dryRun"] is True and dry["summary"] == {"selected": 3, "ok": 3, "notOk": 0}
    assert len(client.get("/api/v1/incidents").get_json()) == 3

    done = client.post("/api/v1/admin/incidents/retry", json={"processKey": "refund_payout", "dryRun": False})
    assert done.get_json()["summary"]["ok"] == 3
    assert client.get("/api/v1/incidents").get_json() == []
    worker.drain()  # the account is unlocked now
    assert {get(client, i)["state"] for i in ids} == {"completed"}
    retried = [e for e in client.get(f"/api/v1/process-instances/{ids[0]}/audit").get_json()
               if e["action"] == "incident.retried"]
    assert retried and retried[0]["actor"] == "admin"


def test_a_job_claimed_just_before_the_suspension_waits_for_the_resume(app, client, worker, registry):
    deploy(client, FIXTURES / "jobs" / "refund_payout.bpmn")
    payout = start(client, "refund_payout", "PAY-7", patient_account="PA-1001", amount=20)
    with app.app_context():
        [job_id] = jobs.claim_jobs("slow-worker", limit=5)
    client.post(f"/api/v1/process-instances/{payout}/suspend")
    with app.app_context():
        assert jobs.run_job(job_id, "slow-worker", registry) == "suspended"
    [job] = client.get(f"/api/v1/process-instances/{payout}/jobs").get_json()
    assert (job["lockedBy"], job["attempts"]) == (None, 0)
    assert get(client, payout)["currentActivities"] == ["issue_refund"]
    client.post(f"/api/v1/process-instances/{payout}/resume")
    worker.drain()
    assert get(client, payout)["state"] == "completed"
