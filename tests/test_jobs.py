"""Issue 3: service tasks, retries, incidents, BPMN errors and timers run as jobs by a worker."""
from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from adapters import build_registry, sandbox
from runner.models import db
from runner.worker import Worker
from tests.accounts_fixtures import bearer, client, test_users  # noqa: F401  (client: admin by default)
from tests.helpers import upload

FIXTURES = Path(__file__).parent / "fixtures" / "jobs"
ADMIN = bearer("admin")


def deploy(client, *names):
    files = {name: (FIXTURES / name).read_bytes() for name in names}
    response = upload(client, files)
    assert response.status_code == 201, response.get_json()


def start(client, key, **variables):
    response = client.post("/api/v1/process-instances", headers=ADMIN, json={
        "processKey": key, "site": "NORTH", "businessKey": "BK-1", "variables": variables})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def instance(client, instance_id):
    return client.get(f"/api/v1/process-instances/{instance_id}").get_json()


def audit_actions(client, instance_id):
    return [e["action"] for e in client.get(f"/api/v1/process-instances/{instance_id}/audit").get_json()]


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


@pytest.fixture
def sandbox_registry(engine):
    return build_registry(engine, env={})


@pytest.fixture
def worker(app, sandbox_registry):
    return Worker(app, name="test-worker", poll_seconds=0.05, registry=sandbox_registry)


@pytest.fixture
def running_worker(worker):
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    thread.start()
    yield worker
    worker.stop()
    thread.join(timeout=5)


class Billing:
    """A real HTTP billing system on 127.0.0.1 that fails on demand and records its effects."""

    def __init__(self):
        self.fail_with = []          # statuses to answer before succeeding, consumed in order
        self.always_fail = False
        self.retry_after = None      # seconds, sent as Retry-After with the failures
        self.calls = []              # (idempotency key, body)
        self.effects = {}            # idempotency key -> refund

        billing = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = self.headers["Idempotency-Key"]
                billing.calls.append((key, body, self.headers["Authorization"]))
                if billing.always_fail or billing.fail_with:
                    status = billing.fail_with.pop(0) if billing.fail_with else 503
                    self.send_response(status)
                    if billing.retry_after is not None:
                        self.send_header("Retry-After", str(billing.retry_after))
                    self.end_headers()
                    return
                refund = billing.effects.setdefault(key, {"refund_id": f"RF-{len(billing.effects) + 1}",
                                                          "status": "issued"})
                payload = json.dumps(refund).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def billing():
    server = Billing()
    yield server
    server.server.shutdown()


@pytest.fixture
def http_worker(app, engine, billing):
    registry = build_registry(engine, env={"LANES_ADAPTER_BILLING_URL": billing.url,
                                           "LANES_ADAPTER_BILLING_TOKEN": "s3cret-token"})
    return Worker(app, name="http-worker", poll_seconds=0.05, registry=registry)


def drain_until(worker, predicate, timeout=10.0):
    def step():
        worker.drain()
        return predicate()
    return wait_for(step, timeout)


def test_service_task_calls_the_adapter_with_only_the_mapped_fields(client, worker, engine):
    deploy(client, "refund_payout.bpmn")
    started = start(client, "refund_payout", patient_account="PA-1001", amount=120.5, ssn="123-45-6789")
    assert started["currentActivities"] == ["issue_refund"]
    [job] = client.get(f"/api/v1/process-instances/{started['id']}/jobs").get_json()
    assert (job["kind"], job["topic"], job["maxAttempts"]) == ("service", "billing.issue_refund", 3)

    worker.drain()
    final = instance(client, started["id"])
    assert (final["state"], final["endEvent"]) == ("completed", "refunded")
    [effect] = sandbox.effects(engine, "billing", "issue_refund")
    assert effect["inputs"] == {"patient_account": "PA-1001", "amount": 120.5, "method": "check"}
    assert final["variables"]["refund_id"] == effect["outputs"]["refund_id"]
    assert "job.completed" in audit_actions(client, started["id"])
    assert client.get(f"/api/v1/process-instances/{started['id']}/jobs").get_json() == []


def test_two_503s_are_retried_and_the_refund_is_issued_once(client, http_worker, billing):
    deploy(client, "refund_payout.bpmn")
    billing.fail_with = [503, 503]
    started = start(client, "refund_payout", patient_account="PA-1001", amount=80)

    drain_until(http_worker, lambda: instance(client, started["id"])["state"] == "completed")
    assert len(billing.calls) == 3
    assert len({key for key, _, _ in billing.calls}) == 1, "every attempt carries the same idempotency key"
    assert all(auth == "Bearer s3cret-token" for _, _, auth in billing.calls)
    assert len(billing.effects) == 1
    actions = audit_actions(client, started["id"])
    assert actions.count("job.retry-scheduled") == 2 and actions.count("job.completed") == 1
    assert "s3cret-token" not in json.dumps(client.get(f"/api/v1/process-instances/{started['id']}/audit").get_json())


def test_a_503_with_retry_after_waits_as_long_as_the_remote_asked(client, http_worker, billing):
    deploy(client, "refund_payout.bpmn")  # its retry cycle waits 0.2 s
    billing.fail_with, billing.retry_after = [503], 120
    started = start(client, "refund_payout", patient_account="PA-1001", amount=80)
    http_worker.drain()
    [job] = client.get(f"/api/v1/process-instances/{started['id']}/jobs").get_json()
    [scheduled] = [e for e in client.get(f"/api/v1/process-instances/{started['id']}/audit").get_json()
                   if e["action"] == "job.retry-scheduled"]
    waits = datetime.fromisoformat(job["dueAt"].rstrip("Z")) - datetime.fromisoformat(scheduled["at"].rstrip("Z"))
    assert timedelta(seconds=119) < waits <= timedelta(seconds=121)
    assert (job["attempts"], len(billing.calls)) == (1, 1)


def test_exhausted_retries_open_an_incident_that_an_admin_retry_resolves(client, http_worker, billing):
    deploy(client, "refund_payout.bpmn")
    billing.always_fail = True
    started = start(client, "refund_payout", patient_account="PA-1001", amount=80)

    incidents = drain_until(http_worker, lambda: client.get("/api/v1/incidents").get_json())
    assert len(billing.calls) == 3
    [incident] = incidents
    assert (incident["instanceId"], incident["elementId"], incident["kind"]) == (started["id"], "issue_refund", "failed-job")
    assert "503" in incident["message"] or "Transient" in incident["message"]
    assert instance(client, started["id"])["currentActivities"] == ["issue_refund"]
    [job] = client.get(f"/api/v1/process-instances/{started['id']}/jobs").get_json()
    assert (job["state"], job["attempts"]) == ("failed", 3)

    billing.always_fail = False
    retried = client.post(f"/api/v1/incidents/{incident['id']}/retry", headers=ADMIN)
    assert retried.status_code == 200 and retried.get_json()["state"] == "resolved"
    assert client.post(f"/api/v1/incidents/{incident['id']}/retry", headers=ADMIN).status_code == 409
    drain_until(http_worker, lambda: instance(client, started["id"])["state"] == "completed")
    assert len(billing.effects) == 1
    assert client.get("/api/v1/incidents").get_json() == []
    assert "incident.retried" in audit_actions(client, started["id"])


def test_a_job_that_crashes_the_worker_step_uses_up_its_retries_into_an_incident(client, worker, engine):
    """Not an adapter failure: the instance's stored state cannot be loaded. Each crash is an attempt."""
    from sqlalchemy import text
    deploy(client, "refund_payout.bpmn")
    started = start(client, "refund_payout", patient_account="PA-1", amount=10)
    with engine.begin() as connection:
        connection.execute(text("UPDATE process_instances SET workflow_state = '{\"broken' WHERE id = :id"),
                           {"id": started["id"]})

    def incidents():
        worker.run_once()
        return client.get("/api/v1/incidents?processKey=refund_payout").get_json()

    [incident] = wait_for(incidents)  # R3/PT0.2S: three attempts, then the incident
    assert incident["kind"] == "failed-job" and "the job crashed: JSONDecodeError" in incident["message"]
    [job] = client.get(f"/api/v1/process-instances/{started['id']}/jobs").get_json()
    assert (job["state"], job["attempts"]) == ("failed", 3)
    assert audit_actions(client, started["id"]).count("job.retry-scheduled") == 2
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM sandbox_billing")).scalar() == 0


def test_business_error_is_routed_by_the_error_boundary_event(client, worker, engine):
    deploy(client, "refund_payout.bpmn")
    started = start(client, "refund_payout", patient_account="PA-1001", amount=0)
    worker.drain()
    after = instance(client, started["id"])
    assert after["currentActivities"] == ["fix_amount"]
    assert after["variables"]["error_code"] == "INVALID_AMOUNT"
    [task] = client.get(f"/api/v1/tasks?instanceId={started['id']}").get_json()
    assert task["candidateGroups"] == ["billing_office"]
    assert sandbox.effects(engine, "billing", "issue_refund") == []
    assert client.get("/api/v1/incidents").get_json() == []
    assert "job.bpmn-error" in audit_actions(client, started["id"])


def test_business_error_nobody_catches_opens_an_incident(client, worker, sandbox_registry):
    deploy(client, "wait_then_post.bpmn")
    sandbox_registry.adapter("erp").fail_next("post_ar_payment", kind="business", code="PERIOD_CLOSED")
    started = start(client, "wait_then_post", account="AR-1", amount=10)
    [timer] = client.get(f"/api/v1/process-instances/{started['id']}/jobs").get_json()
    assert timer["kind"] == "timer"
    incidents = drain_until(worker, lambda: client.get("/api/v1/incidents").get_json())
    assert incidents[0]["kind"] == "unhandled-error" and "PERIOD_CLOSED" in incidents[0]["message"]


def test_sla_timer_escalates_without_cancelling_the_user_task(client, running_worker, engine):
    deploy(client, "sla_escalation.bpmn")
    started = start(client, "sla_escalation", hard_deadline="PT1H")
    timers = [j for j in client.get(f"/api/v1/process-instances/{started['id']}/jobs").get_json()]
    assert sorted(j["elementId"] for j in timers) == ["hard_deadline", "sla_breached"]

    # the e-mail's effect is written during the notify job, before the worker saves the instance: wait until
    # only the hard deadline is left, or completing the task races that save (409, as it should)
    wait_for(lambda: [j["elementId"] for j in client.get(f"/api/v1/process-instances/{started['id']}/jobs")
                      .get_json()] == ["hard_deadline"])
    [email] = sandbox.effects(engine, "notify", "send_email")
    assert email["inputs"]["body"] == "Claim BK-1 is overdue"
    [task] = client.get(f"/api/v1/tasks?instanceId={started['id']}").get_json()
    assert task["elementId"] == "review" and task["state"] == "open"

    done = client.post(f"/api/v1/tasks/{task['id']}/complete", headers=ADMIN, json={"variables": {}})
    assert done.status_code == 200, done.get_json()
    final = wait_for(lambda: (i := instance(client, started["id"]))["state"] == "completed" and i)
    assert final["endEvent"] == "done"
    assert client.get(f"/api/v1/process-instances/{started['id']}/jobs").get_json() == []
    assert "timer.fired" in audit_actions(client, started["id"])


def timers_fired(client, instance_id):
    return [e["details"]["element_id"] for e in client.get(f"/api/v1/process-instances/{instance_id}/audit").get_json()
            if e["action"] == "timer.fired"]


def test_overdue_timers_fire_in_due_order_each_by_its_own_job(client, worker, engine):
    """Both timers are overdue when the worker gets to them: the deadline (due first) fires and cancels
    the review, and with it the SLA reminder, which must not fire after it."""
    deploy(client, "sla_escalation.bpmn")
    started = start(client, "sla_escalation", hard_deadline="PT0.3S")
    time.sleep(0.8)  # the worker is down: both due times pass
    worker.drain()
    final = instance(client, started["id"])
    assert (final["state"], final["endEvent"]) == ("completed", "expired")
    assert timers_fired(client, started["id"]) == ["hard_deadline"]
    assert sandbox.effects(engine, "notify", "send_email") == []
    assert client.get(f"/api/v1/process-instances/{started['id']}/jobs").get_json() == []


def test_interrupting_timer_cancels_the_user_task(client, running_worker):
    deploy(client, "sla_escalation.bpmn")
    started = start(client, "sla_escalation", hard_deadline="PT0.3S")
    final = wait_for(lambda: (i := instance(client, started["id"]))["state"] == "completed" and i)
    assert final["endEvent"] == "expired"
    assert client.get(f"/api/v1/tasks?instanceId={started['id']}").get_json() == []
    cancelled = client.get(f"/api/v1/tasks?instanceId={started['id']}&state=cancelled").get_json()
    assert [t["elementId"] for t in cancelled] == ["review"]


def test_intermediate_timer_waits_then_the_process_goes_on(client, running_worker, engine):
    deploy(client, "wait_then_post.bpmn")
    started = start(client, "wait_then_post", account="AR-7", amount=42)
    assert started["currentActivities"] == ["cool_off"]
    final = wait_for(lambda: (i := instance(client, started["id"]))["state"] == "completed" and i, timeout=15)
    assert final["endEvent"] == "posted"
    [payment] = sandbox.effects(engine, "erp", "post_ar_payment")
    assert payment["inputs"] == {"account": "AR-7", "amount": 42, "reference": "BK-1", "site": "NORTH"}
    fired = [e for e in client.get(f"/api/v1/process-instances/{started['id']}/audit").get_json()
             if e["action"] == "timer.fired"]
    assert len(fired) == 1 and fired[0]["details"]["late_seconds"] >= 0


@pytest.mark.parametrize("change, element, words", [
    (('camunda:topic="billing.issue_refund"', 'camunda:topic="billing.print_money"'), "issue_refund", "print_money"),
    (('<camunda:inputParameter name="amount">${amount}</camunda:inputParameter>', ""), "issue_refund", "needs input 'amount'"),
    (("R3/PT0.2S", "three times"), "issue_refund", "failedJobRetryTimeCycle"),
    (('camunda:type="external" ', ""), "issue_refund", 'camunda:type="external"'),
])
def test_bad_service_task_configuration_is_a_deploy_error(client, change, element, words):
    bpmn = (FIXTURES / "refund_payout.bpmn").read_text().replace(*change)
    response = upload(client, {"refund_payout.bpmn": bpmn.encode()})
    assert response.status_code == 422
    problems = response.get_json()["problems"]
    assert any(p["element_id"] == element and words in p["message"] for p in problems), problems


@pytest.mark.parametrize("duration", ["soon", "P99999999999D"])  # the second: more than a timedelta holds
def test_bad_timer_is_a_deploy_error(client, duration):
    bpmn = (FIXTURES / "wait_then_post.bpmn").read_text().replace("<bpmn:timeDuration>PT1S",
                                                                   f"<bpmn:timeDuration>{duration}")
    response = upload(client, {"wait_then_post.bpmn": bpmn.encode()})
    assert response.status_code == 422
    [problem] = response.get_json()["problems"]
    assert problem["element_id"] == "cool_off" and duration in problem["message"]


def test_timer_start_event_starts_one_instance_per_cycle(client, running_worker):
    deploy(client, "nightly_reconciliation.bpmn")
    started = wait_for(lambda: len(found := client.get(
        "/api/v1/process-instances?processKey=nightly_reconciliation").get_json()) >= 2 and found)
    time.sleep(0.6)  # R2: no third instance follows
    started = client.get("/api/v1/process-instances?processKey=nightly_reconciliation").get_json()
    assert len(started) == 2
    assert {(i["site"], i["state"], i["endEvent"]) for i in started} == {("NORTH", "completed", "done")}
    assert all(i["variables"]["reconciled"] is True for i in started)


def test_a_new_version_takes_over_the_start_schedule(client, app):
    deploy(client, "nightly_reconciliation.bpmn")
    bpmn = (FIXTURES / "nightly_reconciliation.bpmn").read_text().replace("R2/PT0.3S", "R/P1D")
    assert upload(client, {"nightly_reconciliation.bpmn": bpmn.encode()}).status_code == 201
    with app.app_context():
        from runner.models import Job
        schedules = [(j.definition_id, j.schedule) for j in db.session.query(Job).filter_by(kind="start-timer")]
    assert len(schedules) == 1 and schedules[0][1] == "R/PT86400S"


def test_a_start_timer_whose_start_fails_opens_an_incident_of_its_process_and_site(client, worker):
    bpmn = (FIXTURES / "nightly_reconciliation.bpmn").read_text().replace("reconciled = True", "reconciled = 1 / 0")
    assert upload(client, {"nightly_reconciliation.bpmn": bpmn.encode()}).status_code == 201

    def incidents():
        worker.drain()
        return client.get("/api/v1/incidents").get_json()
    [incident] = wait_for(incidents)
    assert (incident["processKey"], incident["site"], incident["instanceId"], incident["elementId"]) == (
        "nightly_reconciliation", "NORTH", None, "every_cycle")
    assert "timer start of nightly_reconciliation failed" in incident["message"]
    # so the metrics count it for its process and site
    [row] = client.get("/api/v1/metrics/incidents", query_string={"processKey": "nightly_reconciliation"}
                       ).get_json()["rows"]
    assert (row["processKey"], row["site"], row["openIncidents"]) == ("nightly_reconciliation", "NORTH", 1)


def test_timer_start_event_needs_a_literal_schedule(client):
    bpmn = (FIXTURES / "nightly_reconciliation.bpmn").read_text().replace("R2/PT0.3S", "every night")
    response = upload(client, {"nightly_reconciliation.bpmn": bpmn.encode()})
    assert response.status_code == 422
    problems = response.get_json()["problems"]
    assert any(p["element_id"] == "every_cycle" and "every night" in p["message"] for p in problems), problems


def test_incidents_and_jobs_follow_the_access_rules(client, http_worker, billing, test_users):
    deploy(client, "refund_payout.bpmn")
    billing.always_fail = True
    started = start(client, "refund_payout", patient_account="PA-1001", amount=80)
    [incident] = drain_until(http_worker, lambda: client.get("/api/v1/incidents").get_json())
    alice, sam = bearer("alice"), bearer("sam")
    assert client.get("/api/v1/incidents", headers=alice).status_code == 403
    assert client.post(f"/api/v1/incidents/{incident['id']}/retry", headers=alice).status_code == 403
    assert client.get(f"/api/v1/process-instances/{started['id']}/jobs", headers=alice).status_code == 200
    assert client.get(f"/api/v1/process-instances/{started['id']}/jobs", headers=sam).status_code == 404


def test_a_crashed_timer_job_keeps_its_due_time_and_is_held_back_instead(client, app):
    """A timer's due time is what it is (for a start timer, its firing's key and schedule): a crash
    holds the job back for the retry wait rather than moving its due time."""
    from runner.models import Job, utcnow
    from runner.services import jobs as job_service
    deploy(client, "sla_escalation.bpmn")
    started = start(client, "sla_escalation", hard_deadline="PT1H")
    time.sleep(0.6)  # the SLA timer (PT0.5S) is due
    with app.app_context():
        claimed = job_service.claim_jobs("crash-test", limit=10)
        [job] = [db.session.get(Job, i) for i in claimed]
        due = job.due_at
        assert job.element_id == "sla_breached"
        assert job_service.record_crash(job.id, "crash-test", RuntimeError("boom")) == "retry"
        db.session.expire_all()
        job = db.session.get(Job, job.id)
        assert (job.due_at, job.attempts, job.locked_by) == (due, 1, None)
        assert job.locked_until > utcnow() + timedelta(seconds=50)  # R3/PT1M: the next attempt in a minute
        assert job_service.claim_jobs("crash-test", limit=10) == []
    assert instance(client, started["id"])["state"] == "running"
