"""Issue 9: a timer job is cheap (one worker keeps up with a burst of timers falling due at once), and a
cycle timer's job is released between its firings."""
from __future__ import annotations

import time

from sqlalchemy import event

from runner.models import Job, db, utcnow
from tests.accounts_fixtures import client, test_users  # noqa: F401  (client: admin by default)
from tests.helpers import upload
from tests.test_jobs import FIXTURES, deploy, instance, sandbox_registry, start, worker  # noqa: F401


def statements_of(engine, action) -> list[str]:
    seen = []

    def record(_conn, _cursor, statement, *_):
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def fired(client, instance_id) -> list[dict]:
    return [e["details"] for e in client.get(f"/api/v1/process-instances/{instance_id}/audit").get_json()
            if e["action"] == "timer.fired"]


def test_a_burst_of_timer_jobs_costs_the_same_few_statements_each(client, worker, engine):
    """Each timer job reads its job, instance, version and deployment in one query and deletes the job
    of an instance that ended with one DELETE (no reading the rows first, no UPDATE of a job about to
    go); on SQLite one UPDATE claims a whole batch. The instance's own save is the rest."""
    bpmn = (FIXTURES / "wait_three_seconds.bpmn").read_bytes().replace(b"PT3S", b"PT0.2S")
    assert upload(client, {"wait.bpmn": bpmn}).status_code == 201
    one = [start(client, "wait_three_seconds")["id"]]
    time.sleep(0.3)
    few = statements_of(engine, worker.drain)
    five = [start(client, "wait_three_seconds")["id"] for _ in range(5)]
    time.sleep(0.3)
    many = statements_of(engine, worker.drain)
    for instance_id in one + five:
        assert instance(client, instance_id)["state"] == "completed"
        assert len(fired(client, instance_id)) == 1

    per_job, rest = divmod(len(many) - len(few), 4)
    assert rest == 0, "the statements of a timer job do not depend on how many are due with it"
    assert per_job <= 7, many
    run = [s for s in many if not s.startswith("SELECT jobs.id FROM jobs") and " jobs SET locked_by" not in s]
    assert sum(s.startswith("SELECT jobs.id, jobs.kind") for s in run) == 5  # one read of each job (and its instance)
    assert not [s for s in run if "FROM process_definitions" in s or "FROM deployments" in s]
    assert not [s for s in run if s.startswith("UPDATE jobs")]
    if engine.dialect.name == "sqlite":  # the batch of five, then the empty claim that ends the drain
        assert len([s for s in many if s.startswith("UPDATE jobs SET locked_by")]) == 2


def test_a_cycle_timer_fires_each_period_and_its_job_is_released_in_between(client, worker, engine):
    """R3/PT1S: the job of a cycle timer moves on to the next period after each firing (SpiffWorkflow
    fires the first time and then repeats three times) and is free to claim then; after the last, it goes."""
    deploy(client, "reminder_cycle.bpmn")
    started = start(client, "reminder_cycle")
    dues = []
    for turn in range(1, 6):
        with worker.app.app_context():
            left = [(j.due_at, j.locked_by, j.locked_until, j.state)
                    for j in db.session.query(Job).filter_by(instance_id=started["id"])]
            db.session.remove()
        if not left:
            break
        [(due, locked_by, locked_until, state)] = left
        assert (locked_by, locked_until, state) == (None, None, "ready")
        assert not dues or due > dues[-1]
        dues.append(due)
        time.sleep(max(0.0, (due - utcnow()).total_seconds()) + 0.05)  # due now, the next period (1 s) not yet
        worker.drain()
        assert [f["due_at"] for f in fired(client, started["id"])] == [d.isoformat() for d in dues]
    assert len(dues) == 4
    state = instance(client, started["id"])
    assert state["state"] == "running" and state["currentActivities"] == ["review"]
