"""`get_tasks` for the calls the engine makes most: the same tasks, in the same order, walked faster.

SpiffWorkflow finds tasks with a general iterator (BpmnTaskIterator): a filter object and a method
call per task, a copied list of children per node, and a check for a subprocess at every task. Running
engine steps lists the ready tasks again after every pass and walks the waiting ones after every task
that completes, and the runner lists tasks again to derive an instance's variables, open elements and
user tasks: on the straight-through start, about a third of the engine's time (profiled,
bench/bare_spiff.py). With this walk the Lanes engine runs that start in 0.83 to 0.94 of bare
SpiffWorkflow's time, from 1.06 to 1.09.

`FastTaskWalk` walks the tree with a plain stack (`walk`) for the queries that filter by state,
`manual` and spec name only, in a workflow with no subprocess, and for the refresh of waiting tasks
after every task that completes; every other query (a lane, an end spec, a filter object, a workflow
with subprocesses, a task of another workflow to start from) goes to SpiffWorkflow's iterator, and so
does the rest of a walk during which a subprocess begins. For the ones it answers it returns what that
iterator returns: depth first, children in order, a task's children looked at only when its state is
at least the lowest state the filter can match (SpiffWorkflow's `min_state`: predicted tasks follow
definite ones, definite ones follow finished ones) and it is fewer than 1,000 levels deep.
`tests/engine/test_task_walk.py` checks that against the iterator on every diagram in the repository.
"""
from __future__ import annotations

from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.util.task import TaskState

MAX_DEPTH = 1000  # SpiffWorkflow's TaskIterator default
_FAST_FILTERS = frozenset({"state", "manual", "spec_name"})


def _lowest_state(state: int) -> int:
    """The lowest state of a task whose children can match `state` (TaskIterator's min_state)."""
    if state & TaskState.PREDICTED_MASK:
        return TaskState.MAYBE
    if state & TaskState.DEFINITE_MASK:
        return TaskState.FUTURE
    return TaskState.COMPLETED


def walk(first_task, state: int = TaskState.ANY_MASK, manual: bool | None = None, spec_name: str | None = None,
         subprocesses: dict | None = None):
    """The tasks under `first_task` (itself included) that match, lazily and in SpiffWorkflow's
    TaskIterator order. Like it, a task's children are looked up when the task is reached and before it
    is handed out, and a task is matched when reached: what the caller does to a task it is given is
    seen by the rest of the walk as the iterator would see it.

    Subprocesses are not entered. Given the top workflow's `subprocesses` (as BpmnTaskIterator looks them
    up), a walk during which one begins (the caller ran the task before a subprocess) hands the rest of
    the walk to BpmnTaskIterator, which enters it: its list of tasks to visit and its depth are the walk's."""
    lowest = _lowest_state(state)  # here, not in the generator: a bad state fails when asked, as Spiff's does
    return _walk(first_task, state, manual, spec_name, lowest, subprocesses)


def _walk(first_task, state, manual, spec_name, lowest, subprocesses):
    tasks = first_task.workflow.tasks
    stack = [(first_task, 0)]
    # children pushed in a plain loop: extend() of a generator cost more for a task's one or two
    push, pop = stack.append, stack.pop
    while stack:
        if subprocesses:
            iterator = BpmnTaskIterator(first_task, state=state, manual=manual, spec_name=spec_name)
            iterator.task_list = [task for task, _ in reversed(stack)]
            iterator.depth = stack[-1][1]
            yield from iterator
            return
        task, depth = pop()
        children = task._children
        if children and task._state >= lowest and depth < MAX_DEPTH:
            below = depth + 1
            for child in reversed(children):
                push((tasks.get(child), below))
        if (task._state & state and (manual is None or task.task_spec.manual == manual)
                and (spec_name is None or task.task_spec.name == spec_name)):
            yield task


class FastTaskWalk:
    """Mixin for a BpmnWorkflow: its task queries by state, `manual` and spec name, and its refresh of
    waiting tasks, without SpiffWorkflow's iterator."""

    def get_tasks_iterator(self, first_task=None, **kwargs):
        # SpiffWorkflow's BpmnTaskIterator enters subprocesses; without any, it walks as TaskIterator does
        if (self.subprocesses or not _FAST_FILTERS.issuperset(kwargs)
                or (first_task is not None and first_task.workflow is not self)):
            return super().get_tasks_iterator(first_task, **kwargs)
        return walk(first_task or self.task_tree, subprocesses=self.subprocesses, **kwargs)

    def update_waiting_tasks(self):
        # SpiffWorkflow's own uses the plain TaskIterator, which never enters subprocesses
        for task in walk(self.task_tree, TaskState.WAITING):
            task.task_spec._update(task)
