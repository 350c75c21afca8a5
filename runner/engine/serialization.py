"""Workflow state to JSON and back, without the spec: specs come from the version's parsed files.

Before a state is stored, the finished history that can no longer matter is pruned (see
`prune_history`): SpiffWorkflow keeps every completed task in its tree, so without pruning an
instance that loops grows with every turn and so does the cost of each step (DESIGN.md: a step's
cost must not grow with the instance's age).

An instance that has ended can never move again, so it keeps no engine state at all, only the path
its tokens took (`dump_ended`), as Camunda keeps no runtime state of a finished instance: its
variables, end event and audit trail are columns and rows of their own. Loading it raises `EndedState`,
which carries that path.
"""
from __future__ import annotations

import json
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.serializer.default.event_definition import MessageEventDefinitionConverter
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
from SpiffWorkflow.camunda.specs.event_definitions import MessageEventDefinition as CamundaMessageEventDefinition
from SpiffWorkflow.util.task import TaskState

from .timers import LanesWorkflow

STATE_FORMAT = "lanes-1"
ENDED_FORMAT = "lanes-ended-1"


class EndedState(ValueError):
    """The stored state is an ended instance's (`dump_ended`): no workflow to load; `passed` is its path."""

    def __init__(self, passed: list[str]):
        self.passed = passed
        super().__init__("the instance has ended: only the path it took is kept, not its engine state")


class StateOnlyWorkflowConverter(BpmnWorkflowConverter):
    """BpmnWorkflow converter that leaves the (immutable, per-version) specs out."""

    def to_dict(self, workflow):
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct, spec=None, subprocess_specs=None):
        workflow = LanesWorkflow(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


_config = dict(CAMUNDA_CONFIG)
_config[BpmnWorkflow] = StateOnlyWorkflowConverter
_config[LanesWorkflow] = StateOnlyWorkflowConverter
# Lanes' message events use the plain BPMN message definition (engine/messages.py), and an event-based
# gateway keeps the events it caught in its task's internal data: convert that class, not Camunda's
_config.pop(CamundaMessageEventDefinition, None)
_config[MessageEventDefinition] = MessageEventDefinitionConverter
_registry = BpmnWorkflowSerializer.configure(_config)
# stored as a plain BpmnWorkflow, so a state stays readable by a release that does not know LanesWorkflow
# (a rolling deploy, a rollback); from_dict builds a LanesWorkflow whatever the name says
_registry.typenames[LanesWorkflow] = _registry.typenames[BpmnWorkflow]
_serializer = BpmnWorkflowSerializer(_registry)


# --- pruning the finished history ---------------------------------------------------------

DEAD = TaskState.COMPLETED | TaskState.CANCELLED
PASSED_KEY = "lanes.passed_elements"  # on each workflow's root task: element ids of pruned completed tasks


def prune_history(workflow: BpmnWorkflow) -> int:
    """Drop the completed and cancelled tasks nothing can reach any more; returns how many went.

    In each (sub)workflow that is still running, the tasks that can matter are kept: every task not
    yet finished (ready, waiting, started, predicted, failed) and the last completed one (its data is
    the instance's variables and a subprocess's result). Their lowest common ancestor becomes the
    root's only child; everything above it, and beside the path to it, is finished history. Splits a
    join still needs stay below that ancestor: a split with an unfinished branch is an ancestor of
    every unfinished task under it, and a branch that ended leaves a waiting join behind. A task's
    data lives on the task itself, so no kept task's data changes. Subprocesses whose task went are
    dropped with it. The element ids of pruned completed tasks are kept (a set, bounded by the
    diagram) for views that mark the path taken: see `passed_elements`.
    """
    if workflow.completed:
        return 0
    removed = _prune_one(workflow)
    for task_id in list(workflow.subprocesses):
        subprocess = workflow.subprocesses.get(task_id)  # None when its parent task was just pruned
        if subprocess is not None and not subprocess.completed:
            removed += _prune_one(subprocess)
    return removed


def path_taken(workflow: BpmnWorkflow) -> list[str]:
    """Element ids a token has passed through: completed tasks still in the tree (subprocesses included)
    and those pruned from it (`passed_elements`), sorted."""
    done = {task.task_spec.bpmn_id for task in workflow.get_tasks(state=TaskState.COMPLETED)
            if getattr(task.task_spec, "bpmn_id", None)}
    return sorted(done | passed_elements(workflow))


def passed_elements(workflow: BpmnWorkflow) -> set[str]:
    """Element ids of completed tasks that pruning removed from `workflow` and its subprocesses."""
    passed = set(workflow.task_tree.internal_data.get(PASSED_KEY, ()))
    for subprocess in workflow.subprocesses.values():
        passed.update(subprocess.task_tree.internal_data.get(PASSED_KEY, ()))
    return passed


def _prune_one(workflow) -> int:
    root = workflow.task_tree
    keep = [task for task in workflow.tasks.values() if not task.has_state(DEAD)]
    if not keep:
        return 0
    if workflow.last_task is not None and workflow.last_task.id in workflow.tasks:
        keep.append(workflow.last_task)
    cut = _common_ancestor(keep)
    if cut is None or cut is root or cut._parent == root.id:
        return 0
    kept = {task.id for task in _subtree(cut)}
    kept.add(root.id)
    gone = [task for task_id, task in workflow.tasks.items() if task_id not in kept]
    _remember(root, gone)
    events = workflow.top_workflow.event_manager
    for task in gone:
        del workflow.tasks[task.id]
        events.remove_task(task)
    root._children = [cut.id]
    cut._parent = root.id
    _drop_orphan_subprocesses(workflow.top_workflow)
    return len(gone)


def _common_ancestor(tasks):
    """The deepest task that is `tasks`' common ancestor (or one of them)."""
    path = []
    node = tasks[0]
    while node is not None:
        path.append(node)
        node = node.parent
    path.reverse()  # root first
    depth_of = {node.id: depth for depth, node in enumerate(path)}
    deepest = len(path) - 1
    for task in tasks[1:]:
        node = task
        while node is not None and node.id not in depth_of:
            node = node.parent
        if node is None:
            return None
        deepest = min(deepest, depth_of[node.id])
    return path[deepest]


def _subtree(task):
    stack = [task]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(node.children)


def _drop_orphan_subprocesses(top: BpmnWorkflow) -> None:
    """Forget subprocesses whose task is no longer in any workflow's tree (their passed elements
    are remembered on the top workflow's root)."""
    while True:
        present = set(top.tasks)
        for subprocess in top.subprocesses.values():
            present.update(subprocess.tasks)
        orphans = [task_id for task_id in top.subprocesses if task_id not in present]
        if not orphans:
            return
        for task_id in orphans:
            subprocess = top.subprocesses.pop(task_id)
            _remember(top.task_tree, subprocess.tasks.values())
            _remember(top.task_tree, (), subprocess.task_tree.internal_data.get(PASSED_KEY, ()))


def _remember(root, tasks, elements=()) -> None:
    """Add the element ids of the completed `tasks` (and `elements`) to `root`'s passed elements."""
    passed = set(root.internal_data.get(PASSED_KEY, ()))
    passed.update(elements)
    passed.update(task.task_spec.bpmn_id for task in tasks
                  if task.has_state(TaskState.COMPLETED) and getattr(task.task_spec, "bpmn_id", None))
    if passed:
        root.internal_data[PASSED_KEY] = sorted(passed)


def dump_state(workflow: BpmnWorkflow) -> str:
    """The workflow's state as JSON, after pruning its finished history in place (`prune_history`)."""
    prune_history(workflow)
    _registry._encoder_mode = True  # let the JSON encoder convert data lazily, as Spiff's own serializer does
    try:
        dct = _serializer.to_dict(workflow)
        dct["format"] = STATE_FORMAT
        return json.dumps(dct, cls=_serializer._encoder_cls, separators=(",", ":"))
    finally:
        _registry._encoder_mode = False


def dump_ended(workflow: BpmnWorkflow) -> str:
    """What an ended instance keeps of its engine state: the path its tokens took (`path_taken`)."""
    return json.dumps({"format": ENDED_FORMAT, "passed": path_taken(workflow)}, separators=(",", ":"))


def load_state(text: str, spec, subprocess_specs: dict) -> BpmnWorkflow:
    """The workflow stored by `dump_state`; EndedState for an ended instance's (`dump_ended`)."""
    dct = json.loads(text, cls=_serializer.json_decoder_cls)
    state_format = dct.pop("format", None)
    if state_format == ENDED_FORMAT:
        raise EndedState(list(dct.get("passed", ())))
    if state_format != STATE_FORMAT:
        raise ValueError("unknown workflow state format")
    return _serializer.from_dict(dct, spec=spec, subprocess_specs=subprocess_specs)
