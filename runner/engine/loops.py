"""Multi-instance tasks, settled at parse time so that every process agrees on them.

SpiffWorkflow wires a multi-instance task to its children, and its Camunda flavour picks the
input collection, only when a loop first runs, and it does so on the *spec* object of the
process that runs it. Lanes parses each version once per process (web workers, job workers),
so a loop started in one process and continued in another would stall or append answers
instead of updating items. Doing both here makes the spec complete before any instance runs.
"""
from __future__ import annotations

from SpiffWorkflow.bpmn.specs.data_spec import TaskDataReference
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.camunda.specs.multiinstance_task import (ParallelMultiInstanceTask,
                                                            SequentialMultiInstanceTask)

from .problems import Problem


def prepare_loop_tasks(spec, filename: str) -> list[Problem]:
    problems: list[Problem] = []
    for task_spec in spec.task_specs.values():
        if not isinstance(task_spec, LoopTask):
            continue
        child = spec.task_specs.get(task_spec.task_spec)
        if child is not None and not child.completed_event.is_connected(task_spec.merge_child):
            child.completed_event.connect(task_spec.merge_child)
        if isinstance(task_spec, (SequentialMultiInstanceTask, ParallelMultiInstanceTask)):
            problems.extend(_settle_collection(task_spec, filename))
    return problems


def variable_name(text: str) -> str | None:
    """`lines` or `${lines}` name a variable; anything more complex does not."""
    value = (text or "").strip()
    if value.startswith(("${", "#{")) and value.endswith("}"):
        value = value[2:-1].strip()
    return value if value.isidentifier() else None


def _settle_collection(task_spec, filename: str) -> list[Problem]:
    element = getattr(task_spec, "bpmn_id", task_spec.name)
    for attribute, what in (("data_output", "camunda:collection"), ("output_item", "camunda:elementVariable")):
        reference = getattr(task_spec, attribute)
        if reference is None:
            continue
        name = variable_name(reference.bpmn_id)
        if name is None:
            return [Problem(filename, element, f"{what} '{reference.bpmn_id}' must name a variable, "
                                               f"e.g. lines or ${{lines}}")]
        setattr(task_spec, attribute, TaskDataReference(name))
    item = TaskDataReference(task_spec.output_item.bpmn_id) if task_spec.output_item is not None else None
    if task_spec.cardinality is None and task_spec.data_output is not None:
        task_spec.data_input = TaskDataReference(task_spec.data_output.bpmn_id)
        task_spec.input_item = item
    elif task_spec.cardinality is not None:
        task_spec.input_item = item
    return []
