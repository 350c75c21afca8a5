"""Timers fire when their job says so, not whenever the instance happens to move.

SpiffWorkflow fires every waiting timer whose time has passed each time it runs engine steps, so
completing a task or catching a message also fired overdue timers: without their job, their audit
row, and in no order (an SLA reminder could fire after the deadline that should have cancelled it).
In Lanes the jobs table is the source of truth for timers (DESIGN.md): a worker claims the timer
jobs that are due, earliest first, and each fires only its own timer (`due_timers`).
"""
from __future__ import annotations

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from .task_walk import FastTaskWalk


class LanesWorkflow(FastTaskWalk, BpmnWorkflow):
    """A BpmnWorkflow whose waiting timers are only looked at when named in `due_timers` (task ids)
    (and whose task queries and refresh of waiting tasks are task_walk's)."""

    due_timers: frozenset[str] = frozenset()

    def refresh_timers(self):
        for task in list(self.event_manager.tasks.values()):
            if (isinstance(task.task_spec.event_definition, (TimerEventDefinition, MultipleEventDefinition))
                    and str(task.id) in self.due_timers):
                task.task_spec._update(task)
