"""Run one process version: start, restore, advance, read user tasks, complete them."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask as UserTaskMixin
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import TaskState

from . import dmn, expressions
from .camunda import ElementConfig
from .definitions import ParsedDeployment, ParsedProcess, form_ref_of
from .duedates import resolve_due_date
from .serialization import dump_state, load_state


class ProcessError(Exception):
    """The engine could not run an element; `element_id` names it."""

    def __init__(self, message: str, element_id: str | None = None):
        self.element_id = element_id
        super().__init__(message)


@dataclass
class UserTaskInfo:
    spiff_task_id: str
    element_id: str
    name: str
    candidate_groups: list[str]
    candidate_users: list[str]
    assignee: str | None
    form_ref: str | None
    due_at: datetime | None


class LanesScriptEngine(PythonScriptEngine):
    """The restricted evaluator as SpiffWorkflow's script engine, plus the decisions of one deployment."""

    def __init__(self, decisions: dict[str, dmn.Decision]):
        super().__init__(environment=expressions.RestrictedEnvironment())
        self.decisions = decisions

    def validate(self, expression):
        expressions.check(expression)

    def run_decision(self, task, spec) -> None:
        decision = self.decisions[spec.decision_ref]
        result = dmn.evaluate(decision, task.data)
        value = dmn.map_result(result, spec.map_decision_result)
        task.data[spec.result_variable or spec.decision_ref] = value


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


class ProcessRuntime:
    """Binds one parsed process version to the engine calls the services need."""

    def __init__(self, process: ParsedProcess, deployment: ParsedDeployment):
        self.process = process
        self.deployment = deployment
        self.script_engine = LanesScriptEngine(deployment.decisions)

    # --- lifecycle -----------------------------------------------------------
    def start(self, variables: dict) -> BpmnWorkflow:
        workflow = BpmnWorkflow(self.process.spec, self.process.subprocess_specs, script_engine=self.script_engine)
        start = workflow.task_tree
        start.data.update(variables)
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(variables)
        self.advance(workflow)
        return workflow

    def load(self, state: str) -> BpmnWorkflow:
        workflow = load_state(state, self.process.spec, self.process.subprocess_specs)
        workflow.script_engine = self.script_engine
        return workflow

    @staticmethod
    def dump(workflow: BpmnWorkflow) -> str:
        return dump_state(workflow)

    def advance(self, workflow: BpmnWorkflow) -> None:
        """Run every engine task that is ready; stop at user tasks and waits."""
        try:
            workflow.refresh_timers()
            workflow.do_engine_steps()
        except SpiffWorkflowException as exc:
            raise self._process_error(exc) from None

    def complete_user_task(self, workflow: BpmnWorkflow, spiff_task_id: str, data: dict) -> None:
        task = workflow.get_task_from_id(UUID(spiff_task_id))
        if task is None or task.state != TaskState.READY or not isinstance(task.task_spec, UserTaskMixin):
            raise ProcessError("task is not ready to be completed")
        task.data.update(data)
        try:
            task.run()
        except SpiffWorkflowException as exc:
            raise self._process_error(exc) from None
        self.advance(workflow)

    # --- reading state ---------------------------------------------------------
    def element(self, element_id: str) -> ElementConfig:
        return self.process.elements.get(element_id) or ElementConfig(element_id, "")

    def ready_user_tasks(self, workflow: BpmnWorkflow, now: datetime) -> list[UserTaskInfo]:
        tasks = []
        for task in workflow.get_tasks(state=TaskState.READY, manual=True):
            spec = task.task_spec
            config = self.element(spec.bpmn_id)
            tasks.append(UserTaskInfo(
                spiff_task_id=str(task.id),
                element_id=spec.bpmn_id,
                name=spec.bpmn_name or spec.bpmn_id,
                candidate_groups=_split(self._attribute(task, config, "candidateGroups")),
                candidate_users=_split(self._attribute(task, config, "candidateUsers")),
                assignee=self._attribute(task, config, "assignee") or None,
                form_ref=form_ref_of(config),
                due_at=self._due_at(task, config, now),
            ))
        return tasks

    def _attribute(self, task, config: ElementConfig, name: str):
        """A camunda attribute's value; `${...}` is evaluated against the task's data."""
        raw = config.get(name)
        if not raw or not raw.strip().startswith(("${", "#{")):
            return raw
        try:
            value = expressions.evaluate(raw, task.data)
        except expressions.ExpressionError as exc:
            raise ProcessError(f"camunda:{name} '{raw}': {exc}", config.element_id) from None
        if isinstance(value, (list, tuple)):
            return ",".join(str(v) for v in value)
        return "" if value is None else value

    def _due_at(self, task, config: ElementConfig, now: datetime) -> datetime | None:
        value = self._attribute(task, config, "dueDate")
        if not value:
            return None
        try:
            return resolve_due_date(value, now)
        except (TypeError, ValueError):
            raise ProcessError(f"camunda:dueDate gave '{value}', which is not a duration or date",
                               config.element_id) from None

    @staticmethod
    def variables(workflow: BpmnWorkflow) -> dict:
        """The instance's current variables: the data of the latest completed task or the workflow's."""
        if workflow.is_completed():
            ends = [t for t in workflow.get_tasks(state=TaskState.COMPLETED) if isinstance(t.task_spec, EndEvent)]
            source = ends[-1].data if ends else workflow.data
            return {**source, **workflow.data}
        ready = workflow.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.STARTED)
        if ready:
            return dict(ready[0].data)
        return dict(workflow.last_task.data) if workflow.last_task else {}

    @staticmethod
    def active_elements(workflow: BpmnWorkflow) -> list[str]:
        tasks = workflow.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR)
        return sorted({t.task_spec.bpmn_id for t in tasks if getattr(t.task_spec, "bpmn_id", None)})

    @staticmethod
    def end_event(workflow: BpmnWorkflow) -> str | None:
        if not workflow.is_completed():
            return None
        ends = [t for t in workflow.get_tasks(state=TaskState.COMPLETED)
                if isinstance(t.task_spec, EndEvent) and t.workflow is workflow]
        return ends[-1].task_spec.bpmn_id if ends else None

    def _process_error(self, exc: SpiffWorkflowException) -> ProcessError:
        task = getattr(exc, "task", None)
        element_id = getattr(getattr(task, "task_spec", None), "bpmn_id", None)
        message = str(exc)
        notes = getattr(exc, "__notes__", None)
        if notes:
            message += " (" + "; ".join(notes) + ")"
        return ProcessError(message, element_id)
