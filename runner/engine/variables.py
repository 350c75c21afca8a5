"""Changing an instance's process variables from outside the diagram (an admin's data correction)."""
from __future__ import annotations

from copy import deepcopy

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.task import TaskState

TOKENS = TaskState.READY | TaskState.WAITING | TaskState.STARTED


def set_variables(workflow: BpmnWorkflow, updates: dict, removals: list[str]) -> int:
    """Set `updates` and delete `removals` in the data of every task where a token is (ready, waiting
    or started: the data the instance carries on); returns how many tasks changed."""
    tasks = workflow.get_tasks(state=TOKENS)
    for task in tasks:
        task.data.update(deepcopy(updates))
        for name in removals:
            task.data.pop(name, None)
    return len(tasks)
