"""A step's cost must not grow with the instance's age: the stored state of a looping instance stays
bounded (finished history is pruned before saving), and pruning changes nothing an instance does.

Deterministic: these tests count stored tasks and bytes, they never time anything (bench/step_cost.py does).
"""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from runner.engine import ProcessRuntime, parse_deployment, serialization
from runner.models import ProcessInstance, db
from tests.accounts_fixtures import bearer, client, test_users  # noqa: F401  (client: admin by default)
from tests.helpers import upload

FIXTURES = Path(__file__).parent / "fixtures" / "step_cost"
ADMIN = bearer("admin")
NOW = datetime(2026, 1, 5, 9, 0)
SAME_AS_SPIFF = ("task_loop", "boundary_loop", "nudge_loop", "parallel_loop", "subprocess_loop",
                 "loop_in_subprocess", "multi_instance_loop")
LOOPS = (*SAME_AS_SPIFF, "inclusive_loop")


def runtime(key: str) -> ProcessRuntime:
    name = f"{key}.bpmn"
    parsed = parse_deployment({name: (FIXTURES / name).read_bytes()})
    return ProcessRuntime(parsed.processes[key], parsed)


def stored_tasks(state: str) -> int:
    """Tasks in a stored state, subprocesses included."""
    dct = json.loads(state)
    return len(dct["tasks"]) + sum(len(sub["tasks"]) for sub in dct["subprocesses"].values())


def observe(rt: ProcessRuntime, workflow) -> dict:
    """What an instance shows the outside world after a step."""
    return {
        "active": rt.active_elements(workflow),
        "ready": sorted(t.element_id for t in rt.ready_user_tasks(workflow, NOW)),
        "variables": json.loads(json.dumps(rt.variables(workflow), sort_keys=True, default=str)),
        "completed": workflow.is_completed(),
        "end": rt.end_event(workflow),
    }


def drive(key: str, turns: int, max_steps: int = 10_000) -> tuple[list[dict], list[int]]:
    """Run an instance as Lanes does, through a stored state between every step: let due timers fire
    (as the worker would), then complete one ready user task (alternating between several).
    Returns what was observed after each step and the stored task count after each step."""
    rt = runtime(key)
    state = rt.dump(rt.start({"turns": turns, "voters": 2, "site": "NORTH", "business_key": "BK-1"}))
    trace, sizes = [], []
    for step in range(max_steps):
        workflow = rt.load(state)
        rt.advance(workflow)
        state = rt.dump(workflow)
        workflow = rt.load(state)
        trace.append(observe(rt, workflow))
        sizes.append(stored_tasks(state))
        if workflow.is_completed():
            break
        ready = sorted(rt.ready_user_tasks(workflow, NOW), key=lambda t: t.element_id)
        assert ready, f"{key} is stuck at step {step}: {trace[-1]}"
        task = ready[step % len(ready)]
        rt.complete_user_task(workflow, task.spiff_task_id, {"answer": step})
        state = rt.dump(workflow)
    return trace, sizes


@pytest.mark.parametrize("key", SAME_AS_SPIFF)
def test_pruning_changes_nothing_an_instance_does(key, monkeypatch):
    pruned, _ = drive(key, turns=12)
    monkeypatch.setattr(serialization, "prune_history", lambda workflow: 0)
    kept_everything, _ = drive(key, turns=12)
    assert pruned == kept_everything
    assert pruned[-1]["completed"] and pruned[-1]["variables"]["turn"] == 12


def test_an_inclusive_join_in_a_loop_waits_for_this_turns_branches():
    """Unpruned, SpiffWorkflow counts the inputs an inclusive join got in earlier turns, so from the
    second turn on it fires before this turn's branches are done; pruned, every turn starts clean."""
    trace, _ = drive("inclusive_loop", turns=4)
    assert [(step["ready"], step["variables"].get("turn")) for step in trace if "join" not in step["active"]] == [
        (["check_a", "check_b"], 0),   # turn 0: both branches (0 is even) ...
        (["check_a"], 1),              # ... both completed: turn 1 takes only branch a
        (["check_a", "check_b"], 2),   # turn 2: both again
        (["check_a"], 3),
        ([], 4),
    ]
    waiting = [step["ready"] for step in trace if "join" in step["active"]]
    assert waiting == [["check_b"], ["check_a"]]  # one branch done, the join waits for the other
    assert (trace[-1]["completed"], trace[-1]["end"]) == (True, "done")


@pytest.mark.parametrize("key", LOOPS)
def test_stored_state_stays_bounded_however_long_the_loop(key):
    _, sizes = drive(key, turns=1000, max_steps=150)
    early, late = sizes[10:30], sizes[-20:]
    assert max(late) <= max(early), f"{key}: stored tasks grew from {early} to {late}"


def test_without_pruning_the_state_grows_with_every_turn(monkeypatch):
    """The check above would catch growth: it is what SpiffWorkflow does on its own."""
    monkeypatch.setattr(serialization, "prune_history", lambda workflow: 0)
    _, sizes = drive("task_loop", turns=1000, max_steps=60)
    assert sizes[-1] > sizes[10] + 150


def test_pruned_elements_are_remembered_for_the_path_taken():
    rt = runtime("boundary_loop")
    workflow = rt.start({"turns": 5})
    for _ in range(3):
        rt.advance(workflow)
        [task] = [t for t in rt.ready_user_tasks(workflow, NOW)]
        rt.complete_user_task(workflow, task.spiff_task_id, {})
        workflow = rt.load(rt.dump(workflow))
    assert {"start", "init", "merge", "work", "count", "more", "nudge", "note", "noted"} <= \
        serialization.passed_elements(workflow)


def test_subprocesses_of_pruned_turns_are_dropped_and_their_elements_remembered():
    rt = runtime("subprocess_loop")
    workflow = rt.start({"turns": 5})
    for _ in range(3):
        [task] = rt.ready_user_tasks(workflow, NOW)
        rt.complete_user_task(workflow, task.spiff_task_id, {})
        workflow = rt.load(rt.dump(workflow))
    assert len(workflow.subprocesses) == 1  # this turn's
    assert {"handle", "handle_start", "inner", "handle_end"} <= serialization.passed_elements(workflow)


def test_a_long_loop_through_the_api_keeps_its_stored_state_small_and_ends_right(app, client):
    files = {"task_loop.bpmn": (FIXTURES / "task_loop.bpmn").read_bytes()}
    assert upload(client, files).status_code == 201
    started = client.post("/api/v1/process-instances", headers=ADMIN, json={
        "processKey": "task_loop", "site": "NORTH", "businessKey": "LOOP-1", "variables": {"turns": 120}})
    assert started.status_code == 201, started.get_json()
    instance_id = started.get_json()["id"]
    sizes = []
    for turn in range(120):
        [task] = client.get(f"/api/v1/tasks?instanceId={instance_id}", headers=ADMIN).get_json()
        done = client.post(f"/api/v1/tasks/{task['id']}/complete", headers=ADMIN,
                           json={"variables": {"note": "same every turn"}})
        assert done.status_code == 200, done.get_json()
        with app.app_context():
            sizes.append(len(db.session.get(ProcessInstance, instance_id).workflow_state))
    final = client.get(f"/api/v1/process-instances/{instance_id}", headers=ADMIN).get_json()
    assert (final["state"], final["endEvent"], final["variables"]["turn"]) == ("completed", "done", 120)
    running = sizes[:-1]  # the last step completes the instance
    assert max(running[-20:]) <= max(running[5:25]) + 16, running  # a few more digits in `turn`, no more
    actions = [e["action"] for e in client.get(f"/api/v1/process-instances/{instance_id}/audit",
                                               headers=ADMIN).get_json()]
    assert actions.count("task.completed") == 120 and actions[-1] == "instance.completed"



def test_a_loop_of_300_turns_ends_where_it_should():
    """Unpruned, SpiffWorkflow only looks 1,000 tasks deep (TaskIterator's max_depth): a loop of
    four tasks a turn went blind after about 250 turns and the instance passed for completed,
    with no end event."""
    trace, sizes = drive("task_loop", turns=300)
    assert len(trace) == 301
    assert (trace[-1]["completed"], trace[-1]["end"], trace[-1]["variables"]["turn"]) == (True, "done", 300)
    assert max(sizes) <= sizes[5]
