"""An ended instance keeps the path its tokens took, not its engine state: nothing resumes it, and its
variables, end event and audit trail are kept in their own columns and rows (serialization.dump_ended).
Through the API and the services, on SQLite and PostgreSQL.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.engine import serialization
from runner.models import ProcessInstance, db
from runner.services import Conflict, audit, deployments, instances, process_views, system_principal, tasks
from tests.accounts_fixtures import bearer, client, test_users  # noqa: F401  (client: admin by default)
from tests.helpers import upload
from tests.security.bpmn import script_process

ADMIN = system_principal("test-admin")
ADMIN_API = bearer("admin")
LOOP = Path(__file__).parent / "fixtures" / "step_cost" / "task_loop.bpmn"
LOOP_PATH = ["count", "done", "init", "merge", "more", "start", "work"]


def stored(app, instance_id: str) -> tuple[str, object]:
    """The instance's stored state and its version's runtime."""
    with app.app_context():
        instance = db.session.get(ProcessInstance, instance_id)
        return instance.workflow_state, deployments.runtime_for(instance.definition)


def test_a_straight_through_start_stores_its_path_only(app):
    with app.app_context():
        deployments.deploy({"calc.bpmn": script_process("calc_only", "total = amount * 2")}, name="calc", actor=ADMIN)
        instance, _ = instances.start_instance("calc_only", "NORTH", {"amount": 21}, actor=ADMIN, business_key="C-1")
        instance_id = instance.id
    state, runtime = stored(app, instance_id)
    assert json.loads(state) == {"format": serialization.ENDED_FORMAT, "passed": ["calc", "done", "start"]}
    with pytest.raises(serialization.EndedState) as ended:
        runtime.load(state)
    assert ended.value.passed == ["calc", "done", "start"]
    with app.app_context():
        instance = instances.get_instance(instance_id, ADMIN)
        assert (instance.state, instance.end_event, instance.variables["total"]) == ("completed", "done", 42)
        diagram = process_views.instance_diagram(instance)
        assert (diagram.current, diagram.completed) == ([], ["calc", "done", "start"])


def test_an_instance_that_ends_at_a_step_keeps_the_whole_path_pruned_turns_included(app, client):
    """A loop's earlier turns are pruned from the state while it runs (their elements remembered); the
    step that ends it stores the path of every turn, and the API shows the instance as it ended."""
    assert upload(client, {"task_loop.bpmn": LOOP.read_bytes()}).status_code == 201
    started = client.post("/api/v1/process-instances", headers=ADMIN_API, json={
        "processKey": "task_loop", "site": "NORTH", "businessKey": "LOOP-E", "variables": {"turns": 4}})
    assert started.status_code == 201, started.get_json()
    instance_id = started.get_json()["id"]
    for turn in range(4):
        state, runtime = stored(app, instance_id)
        assert json.loads(state)["format"] == serialization.STATE_FORMAT  # running: the engine state
        [task] = client.get(f"/api/v1/tasks?instanceId={instance_id}", headers=ADMIN_API).get_json()
        done = client.post(f"/api/v1/tasks/{task['id']}/complete", headers=ADMIN_API, json={"variables": {}})
        assert done.status_code == 200, done.get_json()
    running_path = runtime.path_taken(state)  # the full state before the last step, read the same way
    state, runtime = stored(app, instance_id)
    assert json.loads(state) == {"format": serialization.ENDED_FORMAT, "passed": LOOP_PATH}
    assert set(running_path) < set(LOOP_PATH)  # the last step passed `done`
    shown = client.get(f"/api/v1/process-instances/{instance_id}", headers=ADMIN_API).get_json()
    assert (shown["state"], shown["endEvent"], shown["variables"]["turn"]) == ("completed", "done", 4)
    assert shown["currentActivities"] == []
    with app.app_context():
        diagram = process_views.instance_diagram(instances.get_instance(instance_id, ADMIN))
        assert diagram.completed == LOOP_PATH


def test_an_instance_that_ended_with_its_engine_state_still_shows_its_path(app):
    """Instances that ended before ended states were kept small still have their whole engine state."""
    with app.app_context():
        deployments.deploy({"calc.bpmn": script_process("calc_old", "total = 1")}, name="calc", actor=ADMIN)
        instance, _ = instances.start_instance("calc_old", "NORTH", {}, actor=ADMIN)
        instance_id = instance.id
    with app.app_context():
        instance = db.session.get(ProcessInstance, instance_id)
        runtime = deployments.runtime_for(instance.definition)
        workflow = runtime.start({"site": "NORTH", "business_key": None})
        assert workflow.is_completed()
        instance.workflow_state = runtime.dump(workflow)  # as an older release stored it
        db.session.commit()
    with app.app_context():
        instance = instances.get_instance(instance_id, ADMIN)
        assert json.loads(instance.workflow_state)["format"] == serialization.STATE_FORMAT
        assert process_views.instance_diagram(instance).completed == ["calc", "done", "start"]


def test_a_step_that_ends_the_instance_with_too_much_data_is_refused_and_changes_nothing(app, client):
    """An ended instance's data is its variables: over the limit, the step is refused as a running one's is."""
    files = {"big.bpmn": script_process("big_end", "big = 'a' * 5_000_000", wait_first=True)}
    assert upload(client, files).status_code == 201
    started = client.post("/api/v1/process-instances", headers=ADMIN_API,
                          json={"processKey": "big_end", "site": "NORTH", "variables": {}})
    assert started.status_code == 201, started.get_json()
    instance_id = started.get_json()["id"]
    [task] = client.get(f"/api/v1/tasks?instanceId={instance_id}", headers=ADMIN_API).get_json()
    refused = client.post(f"/api/v1/tasks/{task['id']}/complete", headers=ADMIN_API, json={"variables": {}})
    assert refused.status_code == 422, refused.get_json()
    assert "MiB allowed" in refused.get_json()["detail"]
    shown = client.get(f"/api/v1/process-instances/{instance_id}", headers=ADMIN_API).get_json()
    assert (shown["state"], shown["currentActivities"]) == ("running", ["review"])
    state, _ = stored(app, instance_id)
    assert json.loads(state)["format"] == serialization.STATE_FORMAT


def test_completing_a_task_whose_instance_ended_meanwhile_is_a_conflict(app):
    """Another request can end the instance between this one reading the task (open) and its instance:
    an ended instance has no engine state to complete the task in, so the answer is 409, not a crash."""
    with app.app_context():
        deployments.deploy({"r.bpmn": script_process("race_end", "total = 1", wait_first=True)}, name="r", actor=ADMIN)
        instance, _ = instances.start_instance("race_end", "NORTH", {}, actor=ADMIN)
        [task] = tasks.open_tasks(instance.id)
        task_id = task.id
    read_open_task = tasks._open_task

    def another_request_ends_it_first(task_id, actor):
        task = read_open_task(task_id, actor)  # this request has read the task: open
        tasks._open_task = read_open_task
        with app.app_context():  # another request, with its own session, completes it and commits
            tasks.complete_task(task_id, {}, ADMIN)
        return task

    with app.app_context():
        tasks._open_task = another_request_ends_it_first
        try:
            with pytest.raises(Conflict, match="is completed; its tasks can no longer be completed"):
                tasks.complete_task(task_id, {}, ADMIN)
        finally:
            tasks._open_task = read_open_task
    with app.app_context():
        assert instances.get_instance(instance.id, ADMIN).state == "completed"
        assert [e.action for e in audit.history(instance.id)].count("task.completed") == 1
