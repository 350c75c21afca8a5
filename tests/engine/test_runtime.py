"""The engine across processes: what one process starts, another (with its own parse) continues."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from runner.engine import ProcessRuntime, parse_deployment

VOTE = (Path(__file__).parent.parent / "fixtures" / "jobs" / "board_vote.bpmn").read_bytes()


def runtime() -> ProcessRuntime:
    """A fresh parse, as a separate worker or web process would have."""
    parsed = parse_deployment({"board_vote.bpmn": VOTE})
    return ProcessRuntime(parsed.processes["board_vote"], parsed)


def test_multi_instance_children_started_elsewhere_are_merged_back():
    starter = runtime()
    state = starter.dump(starter.start({"voters": 3}))
    for _ in range(3):
        other = runtime()
        workflow = other.load(state)
        [first, *_] = other.ready_user_tasks(workflow, datetime(2026, 1, 1))
        other.complete_user_task(workflow, first.spiff_task_id, {"ok": True})
        state = other.dump(workflow)
    final = runtime().load(state)
    assert final.is_completed()
    assert ProcessRuntime.end_event(final) == "counted"


def test_stored_states_name_a_plain_bpmn_workflow():
    """Readable by a release that does not know LanesWorkflow (a rolling deploy, a rollback)."""
    import json

    from runner.engine.serialization import dump_state
    from runner.engine.timers import LanesWorkflow
    from runner.engine import parse_deployment
    from tests.security.bpmn import user_task_process
    parsed = parse_deployment({"p.bpmn": user_task_process("p")})
    process = parsed.processes["p"]
    workflow = LanesWorkflow(process.spec, process.subprocess_specs)
    assert json.loads(dump_state(workflow))["typename"] == "BpmnWorkflow"
