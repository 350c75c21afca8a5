"""Canonical-stage intervals (stage_intervals, process_instances.stage), derived in save_workflow from the
`status` process variable: when it first appears, changes, stops being a stage, and when the instance ends;
a save that leaves it unchanged touches no stage row; migration 0010 enters the instances running at the
upgrade in their current status."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from alembic import command
from sqlalchemy import event, inspect, select

from runner.models import AuditEvent, ProcessInstance, StageInterval, db, upgrade_database
from runner.models.migrate import alembic_config
from tests.accounts_fixtures import client, test_users  # noqa: F401  (client: admin by default)
from tests.helpers import crafted_versions, upload

LOOP = Path(__file__).parent / "fixtures" / "step_cost" / "task_loop.bpmn"
MESSAGES = Path(__file__).parent / "fixtures" / "messages" / "claim_denial.bpmn"


def stays(app, instance_id):
    with app.app_context():
        rows = db.session.scalars(select(StageInterval).where(StageInterval.instance_id == instance_id)
                                  .order_by(StageInterval.id)).all()
        instance = db.session.get(ProcessInstance, instance_id)
        return [(r.stage, r.entered_at, r.left_at) for r in rows], instance


def test_status_changes_open_and_close_intervals_and_the_end_closes_the_last(app, client):
    assert upload(client, {"task_loop.bpmn": LOOP.read_bytes()}).status_code == 201
    started = client.post("/api/v1/process-instances", json={
        "processKey": "task_loop", "site": "NORTH", "businessKey": "S-1", "variables": {"turns": 5}})
    assert started.status_code == 201, started.get_json()
    instance_id = started.get_json()["id"]
    assert stays(app, instance_id)[0] == []  # no status yet: no stage

    touched = []

    def watch(conn, cursor, statement, *_):
        if "stage_intervals" in statement:
            touched.append(statement.split()[0])

    def complete(**variables):
        [task] = client.get(f"/api/v1/tasks?instanceId={instance_id}").get_json()
        touched.clear()
        with app.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute", watch)
        try:
            done = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"variables": variables})
        finally:
            event.remove(engine, "before_cursor_execute", watch)
        assert done.status_code == 200, done.get_json()
        return list(touched)

    assert complete(status="drafted") == ["INSERT"]  # first appears: opens, nothing to close
    [(stage, entered, left)], instance = stays(app, instance_id)
    assert (stage, left, instance.stage) == ("drafted", None, "drafted")

    assert complete(status="drafted", note="unchanged") == []  # the same status: no stage query at all
    assert len(stays(app, instance_id)[0]) == 1

    assert complete(status=3) == ["UPDATE"]  # not a string: no stage; the open stay closes
    found, instance = stays(app, instance_id)
    assert found == [("drafted", entered, found[0][2])] and found[0][2] > entered and instance.stage is None

    assert complete(status="checked") == ["INSERT"]
    assert complete(status="checked") == ["UPDATE"]  # the fifth turn ends the instance: the end closes the stay
    found, instance = stays(app, instance_id)
    assert instance.state == "completed" and instance.stage is None
    assert [s for s, *_ in found] == ["drafted", "checked"]
    assert found[1][2] == instance.ended_at and found[1][1] < found[1][2]


def test_an_instance_that_starts_in_a_stage_stores_it_with_its_row(app, client):
    """The first save of a new instance sets its stage before its one INSERT (the row is not in the session
    afterwards, so a stage set later would be lost, and the next save would open a second stay)."""
    assert upload(client, {"task_loop.bpmn": LOOP.read_bytes()}).status_code == 201
    started = client.post("/api/v1/process-instances", json={
        "processKey": "task_loop", "site": "NORTH", "variables": {"turns": 2, "status": "received"}})
    assert started.status_code == 201, started.get_json()
    instance_id = started.get_json()["id"]
    [(stage, entered, left)], instance = stays(app, instance_id)
    assert (stage, left, instance.stage) == ("received", None, "received")

    [task] = client.get(f"/api/v1/tasks?instanceId={instance_id}").get_json()
    assert client.post(f"/api/v1/tasks/{task['id']}/complete", json={"variables": {"status": "received"}}
                       ).status_code == 200
    [(stage, _, left)], instance = stays(app, instance_id)  # the same stage: still the one stay
    assert (stage, left, instance.stage) == ("received", None, "received")


def test_an_instance_a_message_starts_in_a_stage_gets_its_stay_whatever_order_the_orm_writes_in(
        app, client, monkeypatch):
    """A message start adds the new instance to the session (through its message), so the first save flushes
    its row: its stay is added only after that. No relationship() orders the two INSERTs for the ORM, which
    would otherwise sort them by mapper name; here stage_intervals is made to sort first."""
    assert upload(client, {"claim_denial.bpmn": MESSAGES.read_bytes()}).status_code == 201
    monkeypatch.setattr(inspect(StageInterval), "_sort_key", "runner.models.a_stages.StageInterval")
    sent = client.post("/api/v1/messages", headers={"Idempotency-Key": "denied-1"}, json={
        "name": "claim_denied", "businessKey": "CLM-1", "site": "NORTH", "variables": {"status": "denied"}})
    assert sent.status_code == 201, sent.get_json()
    [(stage, _, left)], instance = stays(app, sent.get_json()["instanceId"])
    assert (stage, left, instance.stage) == ("denied", None, "denied")


def test_migration_0010_enters_running_instances_in_their_current_status(app, database_url):
    at = datetime(2024, 5, 1, 9)
    with app.app_context():
        definition = crafted_versions(("claims", 1))["claims", 1]
        for name, state, status in (("waiting", "running", "in_review"), ("paused", "suspended", "appeal_submitted"),
                                    ("quiet", "running", "classified"), ("number", "running", 7),
                                    ("blank", "running", ""), ("none", "running", None),
                                    ("done", "completed", "closed")):
            variables = {} if status is None else {"status": status}
            db.session.add(ProcessInstance(id=name, definition_id=definition.id, process_key="claims", site="NORTH",
                                           state=state, workflow_state="", started_by="test", started_at=at,
                                           variables=variables))
        db.session.flush()
        db.session.add_all([AuditEvent(action="instance.started", actor="t", instance_id="waiting", at=at),
                            AuditEvent(action="task.completed", actor="t", instance_id="waiting",
                                       at=datetime(2024, 5, 3, 12)),
                            AuditEvent(action="task.claimed", actor="t", instance_id="paused",
                                       at=datetime(2024, 5, 2))])
        db.session.commit()
        definition_id = definition.id
        db.session.remove()
        db.engine.dispose()
    command.downgrade(alembic_config(database_url), "0009")
    upgrade_database(database_url)
    with app.app_context():
        found = {(r.instance_id, r.stage, r.definition_id, r.site, r.process_key, r.entered_at, r.left_at)
                 for r in db.session.scalars(select(StageInterval))}
        assert found == {("waiting", "in_review", definition_id, "NORTH", "claims", datetime(2024, 5, 3, 12), None),
                         ("paused", "appeal_submitted", definition_id, "NORTH", "claims", datetime(2024, 5, 2), None),
                         ("quiet", "classified", definition_id, "NORTH", "claims", at, None)}  # no audit row: its start
        assert dict(db.session.execute(select(ProcessInstance.id, ProcessInstance.stage)).all()) == {
            "waiting": "in_review", "paused": "appeal_submitted", "quiet": "classified", "number": None,
            "blank": None, "none": None, "done": None}


def test_terminating_an_instance_closes_its_open_stay(app, client):
    assert upload(client, {"task_loop.bpmn": LOOP.read_bytes()}).status_code == 201
    instance_id = client.post("/api/v1/process-instances", json={
        "processKey": "task_loop", "site": "NORTH", "variables": {"turns": 5}}).get_json()["id"]
    [task] = client.get(f"/api/v1/tasks?instanceId={instance_id}").get_json()
    assert client.post(f"/api/v1/tasks/{task['id']}/complete", json={"variables": {"status": "drafted"}}
                       ).status_code == 200
    from runner.services import admin_actions, system_principal
    with app.app_context():
        admin_actions.terminate_instance(instance_id, system_principal("test"), reason="duplicate")
    [(stage, entered, left)], instance = stays(app, instance_id)
    assert (stage, instance.state, instance.stage) == ("drafted", "terminated", None)
    assert left == instance.ended_at and entered < left
