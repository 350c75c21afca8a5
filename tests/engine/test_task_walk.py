"""task_walk's queries return what SpiffWorkflow's iterators return, task for task and in order.

Every diagram in the repository (the sample processes, the test fixtures, the benchmark diagrams) is
driven as far as a generic driver gets it (user tasks answered, service calls answered, due timers
fired), and after every step each query the fast walk answers is asked of both walks: every state mask
Spiff's states make, with and without `manual`, from the root and from each task in the tree.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from SpiffWorkflow.bpmn.util.subworkflow import BpmnBaseWorkflow
from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.util.task import TaskIterator, TaskState
from SpiffWorkflow.workflow import Workflow

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent

from runner.engine import ProcessRuntime, messages, parse_deployment, serialization
from runner.engine.runtime import ProcessError
from runner.engine import task_walk
from runner.engine.task_walk import walk
from runner.engine.timers import LanesWorkflow

ROOT = Path(__file__).parent.parent.parent
FOLDERS = sorted({path.parent for pattern in ("processes/*/*.bpmn", "tests/fixtures/*/*.bpmn", "bench/diagrams/*.bpmn")
                  for path in ROOT.glob(pattern)})
NOW = datetime(2026, 1, 5, 9, 0)
STATES = (TaskState.MAYBE, TaskState.LIKELY, TaskState.FUTURE, TaskState.WAITING, TaskState.READY,
          TaskState.STARTED, TaskState.COMPLETED, TaskState.ERROR, TaskState.CANCELLED)
MASKS = (*STATES, TaskState.READY | TaskState.WAITING, TaskState.READY | TaskState.WAITING | TaskState.STARTED,
         TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR, TaskState.PREDICTED_MASK,
         TaskState.DEFINITE_MASK, TaskState.NOT_FINISHED_MASK, TaskState.FINISHED_MASK, TaskState.ANY_MASK)
START = {"site": "NORTH", "business_key": "BK-1", "turns": 2, "voters": 2, "amount": 250, "reason": "overpayment",
         "patient_account": "PA-1", "cost_center": "CC-100", "category": "clinical_supplies", "payer": "ACME",
         "denial_code": "CO-45", "denied_amount": 300, "claim_id": "BK-1",
         "lines": [{"description": "Otoscope", "quantity": 2, "unit_price": 450},
                   {"description": "Gloves", "quantity": 10, "unit_price": 19}]}
ANSWER = {"approved": True, "decision": "approve", "answer": 1, "ok": True, "notes": "checked"}


def ids(tasks) -> list:
    return [task.id for task in tasks]


def same_walks(workflow) -> None:
    """Assert that the workflow's queries answer as SpiffWorkflow's iterator does, for every query the fast
    walk takes: each state mask, with and without `manual`, from the root and from every task; each spec
    name; and the waiting tasks the refresh after each completed task visits (Spiff's plain TaskIterator)."""
    assert isinstance(workflow, LanesWorkflow)
    for first in (None, *list(workflow.tasks.values())):
        for state in MASKS:
            for manual in (None, True, False):
                kwargs = {"state": state} if manual is None else {"state": state, "manual": manual}
                spiff = BpmnTaskIterator(first or workflow.task_tree, **kwargs)
                assert ids(workflow.get_tasks(first, **kwargs)) == ids(spiff), (first, TaskState.get_name(state), manual)
    for name in {task.task_spec.name for task in workflow.tasks.values()}:
        assert ids(workflow.get_tasks(spec_name=name)) == ids(BpmnTaskIterator(workflow.task_tree, spec_name=name))
    assert ids(workflow.get_tasks()) == ids(BpmnTaskIterator(workflow.task_tree))
    assert ids(walk(workflow.task_tree, TaskState.WAITING)) == ids(TaskIterator(workflow.task_tree, state=TaskState.WAITING))


def runtimes(folder: Path) -> list[ProcessRuntime]:
    """Each process of each BPMN file in `folder`, deployed with the folder's DMN and all forms."""
    shared = [*sorted(folder.glob("*.dmn")), *sorted(folder.glob("*.form")), *sorted((ROOT / "forms").glob("*.form"))]
    found = []
    for bpmn in sorted(folder.glob("*.bpmn")):
        parsed = parse_deployment({path.name: path.read_bytes() for path in (bpmn, *shared)})
        found.extend(ProcessRuntime(process, parsed) for process in parsed.processes.values())
    return found


def drive(rt: ProcessRuntime, steps: int = 25) -> tuple[int, int]:
    """Run an instance as far as generic answers take it, comparing the walks after every step;
    returns (steps compared without subprocesses, steps compared with subprocesses)."""
    message = _start_message(rt)
    try:
        workflow = rt.start(dict(START), message=None if message is None else (message, {}))
    except ProcessError:  # needs data the driver does not have
        return 0, 0
    plain = nested = 0
    for step in range(steps):
        same_walks(workflow)
        if workflow.subprocesses:
            nested += 1
        else:
            plain += 1
        if workflow.is_completed():
            break
        workflow = rt.load(rt.dump(workflow))  # as stored between steps: pruned
        try:
            _answer(rt, workflow, step)
        except (ProcessError, LookupError):  # the process failed, or waits for nothing the driver answers
            break
    return plain, nested


def _start_message(rt: ProcessRuntime) -> str | None:
    """The message a process that starts only with messages is started with (its first by name);
    None for a process with a none or timer start event."""
    plain = any(isinstance(spec, StartEvent) and not isinstance(spec.event_definition, MessageEventDefinition)
                for spec in rt.process.spec.task_specs.values())
    names = sorted(messages.start_messages(rt.process))
    return None if plain or not names else names[0]


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda folder: str(folder.relative_to(ROOT)))
def test_fast_walk_answers_as_spiffs_iterator(folder):
    plain = nested = 0
    for rt in runtimes(folder):
        counts = drive(rt)
        plain, nested = plain + counts[0], nested + counts[1]
    assert plain > 0, f"no workflow of {folder.name} was driven far enough to compare"


def test_the_diagrams_reach_trees_with_and_without_subprocesses():
    counts = [drive(rt) for folder in FOLDERS for rt in runtimes(folder)]
    assert sum(plain for plain, _ in counts) >= 50
    assert sum(nested for _, nested in counts) >= 5  # those take Spiff's iterator: compared all the same


def test_both_walks_stop_1000_levels_deep(monkeypatch):
    """An unpruned loop grows deeper than SpiffWorkflow's iterator looks; the fast walk stops where it does."""
    monkeypatch.setattr(serialization, "prune_history", lambda workflow: 0)
    folder = ROOT / "tests" / "fixtures" / "step_cost"
    parsed = parse_deployment({"task_loop.bpmn": (folder / "task_loop.bpmn").read_bytes()})
    rt = ProcessRuntime(parsed.processes["task_loop"], parsed)
    workflow = rt.start({"turns": 400})
    for turn in range(400):
        ready = rt.ready_user_tasks(workflow, NOW)
        if not ready:  # the loop's task is past the horizon of both walks
            break
        rt.complete_user_task(workflow, ready[0].spiff_task_id, {"answer": turn})
    assert 200 < turn < 400  # (SpiffWorkflow then takes the instance for completed, too)
    assert max(len(list(_ancestors(t))) for t in workflow.tasks.values()) > 1000
    for state in MASKS:
        assert ids(workflow.get_tasks(state=state)) == ids(BpmnTaskIterator(workflow.task_tree, state=state))
    assert workflow.get_tasks(state=TaskState.READY) == []
    assert len(workflow.get_tasks(state=TaskState.COMPLETED)) >= 1000  # it did walk down to the horizon


def _ancestors(task):
    while task.parent is not None:
        task = task.parent
        yield task


class SpiffWalked(LanesWorkflow):
    """A LanesWorkflow that walks with SpiffWorkflow's own iterators: what the fast walk must match."""
    get_tasks_iterator = BpmnBaseWorkflow.get_tasks_iterator
    update_waiting_tasks = Workflow.update_waiting_tasks


def shape(workflow) -> list:
    """Every task's spec and state, subprocesses included, as Spiff's iterator lists them."""
    return [(task.task_spec.name, task.state) for task in BpmnTaskIterator(workflow.task_tree)]


def _outcome(action):
    try:
        action()
        return None
    except Exception as exc:  # both workflows must fail alike
        return type(exc).__name__


def lockstep(rt: ProcessRuntime, steps: int = 25) -> int:
    """Drive a fast-walking and a Spiff-walking workflow of `rt`'s process side by side: at each step
    run each ready engine task as the walk hands it out (so a task run mid-walk changes the rest of the
    walk, a subprocess starting included), run engine steps (which refresh the waiting tasks after every
    task), then answer the same user task or job in both. Returns the steps compared."""
    pair = [cls(rt.process.spec, rt.process.subprocess_specs, script_engine=rt.script_engine)
            for cls in (LanesWorkflow, SpiffWalked)]
    message = _start_message(rt)
    for workflow in pair:  # as ProcessRuntime.start does
        workflow.task_tree.data.update(START)
        messages.keep_only_start(workflow, None if message is None else messages.start_messages(rt.process)[message])
        if message is not None:
            messages.deliver(workflow, message, {})
    for step in range(steps):
        handed_out = [[], []]

        def run_as_handed_out(workflow, seen):
            for task in workflow.get_tasks_iterator(state=TaskState.READY):
                seen.append(task.task_spec.name)
                if not task.task_spec.manual:
                    task.run()
        outcomes = [_outcome(lambda: run_as_handed_out(wf, seen)) for wf, seen in zip(pair, handed_out)]
        assert handed_out[0] == handed_out[1] and outcomes[0] == outcomes[1]
        outcomes = [_outcome(lambda: rt.advance(wf)) for wf in pair]
        assert outcomes[0] == outcomes[1] and shape(pair[0]) == shape(pair[1]), f"step {step}"
        if outcomes[0] or pair[0].is_completed():
            return step + 1
        outcomes = [_outcome(lambda: _answer(rt, wf, step)) for wf in pair]
        assert outcomes[0] == outcomes[1] and shape(pair[0]) == shape(pair[1]), f"step {step}"
        if outcomes[0]:
            return step + 1
    return steps


def _answer(rt: ProcessRuntime, workflow, step: int) -> None:
    """Complete a ready user task, else answer a job (a service call with no outputs, a due timer),
    chosen by element id so that two workflows of one process are answered alike; LookupError when
    there is nothing to answer."""
    ready = sorted(rt.ready_user_tasks(workflow, NOW), key=lambda t: t.element_id)
    if ready:
        rt.complete_user_task(workflow, ready[step % len(ready)].spiff_task_id, {**ANSWER, "answer": step})
        return
    jobs = sorted(rt.pending_jobs(workflow, NOW), key=lambda job: (job.kind, job.element_id))
    if not jobs:
        raise LookupError("nothing to answer")
    if jobs[0].kind == "service":
        rt.complete_external_task(workflow, jobs[0].spiff_task_id, {})
    else:
        rt.advance(workflow, fire_timer=jobs[0].spiff_task_id)


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda folder: str(folder.relative_to(ROOT)))
def test_a_walk_whose_tasks_run_as_they_are_handed_out_goes_on_as_spiffs(folder):
    assert sum(lockstep(rt) for rt in runtimes(folder)) > 0


def test_a_subprocess_that_begins_during_a_walk_is_entered(monkeypatch):
    handed_over = []

    class Counted(BpmnTaskIterator):
        def __init__(self, *args, **kwargs):
            handed_over.append(args[0])
            super().__init__(*args, **kwargs)
    monkeypatch.setattr(task_walk, "BpmnTaskIterator", Counted)
    folder = ROOT / "tests" / "fixtures" / "step_cost"
    [rt] = [rt for rt in runtimes(folder) if rt.process.key == "subprocess_loop"]
    assert lockstep(rt) > 2
    assert handed_over  # the walk handed over to Spiff's iterator when the subprocess began


def test_a_task_of_another_workflow_is_walked_from_by_spiffs_iterator():
    folder = ROOT / "tests" / "fixtures" / "step_cost"
    [rt] = [rt for rt in runtimes(folder) if rt.process.key == "subprocess_loop"]
    with_subprocess = rt.start(dict(START))
    assert with_subprocess.subprocesses
    plain = LanesWorkflow(rt.process.spec, rt.process.subprocess_specs, script_engine=rt.script_engine)
    assert not plain.subprocesses
    assert ids(plain.get_tasks(with_subprocess.task_tree)) == ids(BpmnTaskIterator(with_subprocess.task_tree))


def test_a_bad_state_fails_when_the_walk_is_asked_for():
    workflow = LanesWorkflow(*next(iter((rt.process.spec, rt.process.subprocess_specs)
                                         for rt in runtimes(ROOT / "bench" / "diagrams"))))
    with pytest.raises(TypeError):
        workflow.get_tasks_iterator(state=None)
