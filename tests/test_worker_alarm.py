"""The worker's APScheduler alarm (runner/worker.py `_set_alarm`) is what wakes it for a timer.

Elsewhere the tests run the worker with poll_seconds=0.05, so its fallback poll fires every timer
and the alarm is never needed. Here the poll is 30 s: a PT3S timer that fires within 6 s of the
instance's start can only have been fired by the alarm set for the job's due_at. The bound is
loose on purpose: it proves the mechanism; the timer-lateness goal is measured under bench/.
"""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from adapters import build_registry
from runner.models import db
from runner.worker import Worker
from tests.accounts_fixtures import bearer, client, test_users  # noqa: F401  (client: admin by default)
from tests.helpers import upload

FIXTURES = Path(__file__).parent / "fixtures" / "jobs"
ADMIN = bearer("admin")
POLL_SECONDS = 30.0
TIMER_SECONDS = 3.0
WITHIN_SECONDS = 6.0  # of the instance's start: far below the 30 s poll


def deploy(client, name):
    response = upload(client, {name: (FIXTURES / name).read_bytes()})
    assert response.status_code == 201, response.get_json()


def wait_for(predicate, until: float):
    """Poll `predicate` until it holds or time.monotonic() passes `until`; returns its last value."""
    while True:
        value = predicate()
        if value or time.monotonic() >= until:
            return value
        time.sleep(0.05)


@pytest.fixture
def slow_polling_worker(app):
    """A factory: start `Worker(poll_seconds=30)` in a thread; stopped at teardown."""
    started = []

    def start() -> Worker:
        with app.app_context():
            registry = build_registry(db.engine, env={})
        worker = Worker(app, name="alarm-worker", poll_seconds=POLL_SECONDS, registry=registry)
        thread = threading.Thread(target=worker.run_forever, daemon=True)
        thread.start()
        started.append((worker, thread))
        return worker

    yield start
    for worker, thread in started:
        worker.stop()
        thread.join(timeout=5)


def test_the_alarm_fires_a_timer_long_before_the_fallback_poll(app, client, slow_polling_worker):
    deploy(client, "wait_three_seconds.bpmn")
    began, now = time.monotonic(), datetime.now(timezone.utc)
    response = client.post("/api/v1/process-instances", headers=ADMIN,
                           json={"processKey": "wait_three_seconds", "site": "NORTH", "variables": {}})
    assert response.status_code == 201, response.get_json()
    instance_id = response.get_json()["id"]
    [job] = client.get(f"/api/v1/process-instances/{instance_id}/jobs").get_json()
    assert (job["kind"], job["elementId"]) == ("timer", "pause")
    due_at = datetime.fromisoformat(job["dueAt"].removesuffix("Z"))
    due_in = ((due_at if due_at.tzinfo else due_at.replace(tzinfo=timezone.utc)) - now).total_seconds()
    assert TIMER_SECONDS - 1 < due_in <= TIMER_SECONDS + 1, f"due in {due_in:.2f} s"

    # The job exists before the worker starts, so the worker's first alarm is set for its due_at
    # (a job made while the worker sleeps, by another process, waits for the poll: that is its purpose).
    slow_polling_worker()

    def state():
        return client.get(f"/api/v1/process-instances/{instance_id}").get_json()["state"]

    final = wait_for(lambda: state() == "completed", until=began + WITHIN_SECONDS)
    waited = time.monotonic() - began
    assert final, (f"the PT3S timer had not fired {waited:.1f} s after the start: with a {POLL_SECONDS:.0f} s "
                   f"poll only the worker's alarm at the job's due_at could have fired it in time")
    assert waited >= TIMER_SECONDS - 0.5, f"the timer fired after {waited:.2f} s, before it was due"
    [fired] = [e for e in client.get(f"/api/v1/process-instances/{instance_id}/audit").get_json()
               if e["action"] == "timer.fired"]
    assert fired["actor"] == "worker:alarm-worker"
    assert client.get(f"/api/v1/process-instances/{instance_id}/jobs").get_json() == []
