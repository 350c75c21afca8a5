"""Run one process version: start, restore, advance, read user tasks, complete them."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import ErrorEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (CycleTimerEventDefinition, TimeDateEventDefinition,
                                                              TimerEventDefinition)
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask as UserTaskMixin
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import TaskState

from . import dmn, expressions, messages
from .camunda import ElementConfig
from .definitions import ParsedDeployment, ParsedProcess, form_ref_of
from .duedates import resolve_due_date
from .serialization import EndedState, dump_ended, dump_state, load_state, path_taken
from .specs import ExternalTask
from .timers import LanesWorkflow


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


@dataclass
class PendingJob:
    """Work a worker must do later: call a service task's adapter, or fire a timer."""

    kind: str  # service | timer
    spiff_task_id: str
    element_id: str
    due_at: datetime
    topic: str | None = None
    retry_cycle: str | None = None


@dataclass
class ExternalCall:
    topic: str
    inputs: dict


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
    def start(self, variables: dict, message: tuple[str, dict] | None = None) -> BpmnWorkflow:
        """A new workflow run on to its first wait; `message` (name, variables) starts it at that
        message's start event, else the none/timer start events start it."""
        workflow = LanesWorkflow(self.process.spec, self.process.subprocess_specs, script_engine=self.script_engine)
        start = workflow.task_tree
        start.data.update(variables)
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(variables)
        start_event = None
        if message is not None:
            start_event = messages.start_messages(self.process).get(message[0])
            if start_event is None:
                raise ProcessError(f"no start event of {self.process.key} catches message '{message[0]}'")
        if not messages.keep_only_start(workflow, start_event):
            names = ", ".join(sorted(messages.start_messages(self.process)))
            raise ProcessError(f"{self.process.key} starts only with a message ({names}): "
                               f"send it with POST /api/v1/messages")
        if message is not None:
            messages.deliver(workflow, *message)
        self.advance(workflow)
        return workflow

    def load(self, state: str) -> BpmnWorkflow:
        workflow = load_state(state, self.process.spec, self.process.subprocess_specs)
        workflow.script_engine = self.script_engine
        return workflow

    @staticmethod
    def dump(workflow: BpmnWorkflow) -> str:
        return dump_state(workflow)

    @staticmethod
    def stored_state(workflow: BpmnWorkflow) -> str:
        """The state an instance keeps: the whole engine state while it runs, the path it took once it
        has ended (serialization.dump_ended): nothing resumes an ended instance."""
        return dump_ended(workflow) if workflow.is_completed() else dump_state(workflow)

    def path_taken(self, state: str) -> list[str]:
        """Element ids a token has passed through, from a stored state of either kind."""
        try:
            return path_taken(self.load(state))
        except EndedState as ended:
            return ended.passed

    def advance(self, workflow: BpmnWorkflow, fire_timer: str | None = None) -> None:
        """Run every engine task that is ready; stop at user tasks and waits. Waiting timers fire
        only when their job runs: `fire_timer` is the task id of the one whose job is due."""
        workflow.due_timers = frozenset(() if fire_timer is None else (fire_timer,))
        try:
            workflow.refresh_timers()
            workflow.due_timers = frozenset()  # once: do_engine_steps refreshes again, and a late cycle must not fire twice
            workflow.do_engine_steps()
        except SpiffWorkflowException as exc:
            raise self._process_error(exc) from None
        finally:
            workflow.due_timers = frozenset()

    def complete_user_task(self, workflow: BpmnWorkflow, spiff_task_id: str, data: dict) -> None:
        task = workflow.get_task_from_id(UUID(spiff_task_id))
        if task is None or task.state != TaskState.READY or not isinstance(task.task_spec, UserTaskMixin):
            raise ProcessError("task is not ready to be completed")
        # answers keyed `line.decision` arrive as {"line": {"decision": ...}}: merged into the task's `line`,
        # not replacing it (a multi-instance element variable keeps its other fields)
        task.data.update({key: merge_value(task.data.get(key, _ABSENT), value) for key, value in data.items()})
        try:
            task.run()
        except SpiffWorkflowException as exc:
            raise self._process_error(exc) from None
        self.advance(workflow)

    def _external_task(self, workflow: BpmnWorkflow, spiff_task_id: str):
        task = workflow.get_task_from_id(UUID(spiff_task_id))
        if task is None or task.state != TaskState.READY or not isinstance(task.task_spec, ExternalTask):
            raise ProcessError("service task is not waiting for its call")
        return task

    def external_call(self, workflow: BpmnWorkflow, spiff_task_id: str) -> ExternalCall:
        """The adapter operation and its inputs: only the explicitly mapped fields leave the instance."""
        task = self._external_task(workflow, spiff_task_id)
        config = self.element(task.task_spec.bpmn_id)
        inputs = {name: self._mapped(expr, task.data, config, name) for name, expr in config.inputs.items()}
        return ExternalCall(task.task_spec.topic, inputs)

    def complete_external_task(self, workflow: BpmnWorkflow, spiff_task_id: str, outputs: dict) -> None:
        """Store the mapped outputs, complete the service task and run on."""
        task = self._external_task(workflow, spiff_task_id)
        config = self.element(task.task_spec.bpmn_id)
        context = {**task.data, **outputs}
        for name, expr in config.outputs.items():
            task.data[name] = self._mapped(expr, context, config, name)
        try:
            task.run()
        except SpiffWorkflowException as exc:
            raise self._process_error(exc) from None
        self.advance(workflow)

    def throw_error(self, workflow: BpmnWorkflow, spiff_task_id: str, code: str, message: str = "") -> bool:
        """Raise BPMN error `code` at a service task; False when no boundary event catches it."""
        task = self._external_task(workflow, spiff_task_id)
        catcher = self._error_catcher(workflow, task, code)
        if catcher is None:
            return False
        task.data["error_code"], task.data["error_message"] = code, message
        definition = ErrorEventDefinition(catcher.name, code)
        workflow.top_workflow.catch(BpmnEvent(definition, payload=dict(task.data), target=task.workflow))
        self.advance(workflow)
        return True

    @staticmethod
    def _error_catcher(workflow, task, code):
        for waiting in workflow.top_workflow.event_manager.tasks.values():
            definition = getattr(waiting.task_spec, "event_definition", None)
            if (isinstance(definition, ErrorEventDefinition) and definition.code in (None, code)
                    and waiting.parent is not None and task in waiting.parent.children):
                return definition
        return None

    def _mapped(self, expr: str, context: dict, config: ElementConfig, name: str):
        """A camunda:inputParameter/outputParameter: `${expression}` or a literal string."""
        text = (expr or "").strip()
        if not text.startswith(("${", "#{")):
            return text
        try:
            return expressions.evaluate(text, context)
        except expressions.ExpressionError as exc:
            raise ProcessError(f"mapping '{name}' ({text}): {exc}", config.element_id) from None

    def pending_jobs(self, workflow: BpmnWorkflow, now: datetime) -> list[PendingJob]:
        jobs = []
        for task in workflow.get_tasks(state=TaskState.READY, manual=True):
            if isinstance(task.task_spec, ExternalTask):
                config = self.element(task.task_spec.bpmn_id)
                jobs.append(PendingJob("service", str(task.id), task.task_spec.bpmn_id, now,
                                       topic=task.task_spec.topic, retry_cycle=config.retry_cycle))
        for task in workflow.top_workflow.event_manager.tasks.values():
            definition = getattr(task.task_spec, "event_definition", None)
            if isinstance(definition, MultipleEventDefinition):  # an event-based gateway's timer branch
                definition = next((d for d in definition.event_definitions if isinstance(d, TimerEventDefinition)),
                                  None)
            if isinstance(definition, TimerEventDefinition) and task.state == TaskState.WAITING:
                due = _timer_due(task, definition)
                if due is not None:
                    jobs.append(PendingJob("timer", str(task.id), task.task_spec.bpmn_id, due))
        return jobs

    # --- reading state ---------------------------------------------------------
    def element(self, element_id: str) -> ElementConfig:
        return self.process.elements.get(element_id) or ElementConfig(element_id, "")

    def ready_user_tasks(self, workflow: BpmnWorkflow, now: datetime) -> list[UserTaskInfo]:
        tasks = []
        for task in workflow.get_tasks(state=TaskState.READY, manual=True):
            spec = task.task_spec
            if not isinstance(spec, UserTaskMixin):
                continue
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
        except (TypeError, ValueError, OverflowError):
            raise ProcessError(f"camunda:dueDate gave '{value}', which is not a duration or date",
                               config.element_id) from None

    def local_variables(self, workflow: BpmnWorkflow, spiff_task_ids) -> dict[str, dict]:
        """Each task's own variables, by task id: the entries of its data that are not in the instance's
        variables (`variables()`) or differ from them. For a multi-instance child this is its element
        variable (camunda:elementVariable, e.g. `line`); SpiffWorkflow keeps no loopCounter in task data.
        A task in a parallel branch also gets what its branch set differently from the instance's data."""
        process = self.variables(workflow)
        found = {}
        for task_id in spiff_task_ids:
            task = workflow.get_task_from_id(UUID(task_id))
            if task is None:
                continue
            found[task_id] = {key: value for key, value in task.data.items()
                              if key not in process or process[key] != value}
        return found

    @staticmethod
    def variables(workflow: BpmnWorkflow) -> dict:
        """The instance's current variables: the data of the latest completed task or the workflow's."""
        if workflow.is_completed():
            ends = [t for t in workflow.get_tasks(state=TaskState.COMPLETED) if isinstance(t.task_spec, EndEvent)]
            source = max(ends, key=lambda t: t.last_state_change).data if ends else workflow.data
            return {**source, **workflow.data}
        ready = workflow.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.STARTED)
        if ready:
            return dict(ready[0].data)
        return dict(workflow.last_task.data) if workflow.last_task else {}

    @staticmethod
    def active_elements(workflow: BpmnWorkflow) -> list[str]:
        tasks = workflow.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR)
        return sorted({t.task_spec.bpmn_id for t in tasks
                       if getattr(t.task_spec, "bpmn_id", None) and not isinstance(t.task_spec, BoundaryEvent)})

    @staticmethod
    def end_event(workflow: BpmnWorkflow) -> str | None:
        if not workflow.is_completed():
            return None
        ends = [t for t in workflow.get_tasks(state=TaskState.COMPLETED)
                if isinstance(t.task_spec, EndEvent) and t.workflow is workflow]
        return max(ends, key=lambda t: t.last_state_change).task_spec.bpmn_id if ends else None

    def _process_error(self, exc: SpiffWorkflowException) -> ProcessError:
        task = getattr(exc, "task", None)
        element_id = getattr(getattr(task, "task_spec", None), "bpmn_id", None)
        message = str(exc)
        notes = getattr(exc, "__notes__", None)
        if notes:
            message += " (" + "; ".join(notes) + ")"
        return ProcessError(message, element_id)


_ABSENT = object()


def merge_value(current, value):
    """`value` merged into `current`: dicts key by key, recursively, into a new dict (`current` is not
    changed); a list, a scalar, or a value with nothing to merge into replaces."""
    if not isinstance(value, dict) or not isinstance(current, dict):
        return value
    merged = dict(current)
    for key, item in value.items():
        merged[key] = merge_value(merged.get(key, _ABSENT), item)
    return merged


def merge_data(base: dict, updates: dict) -> dict:
    """A new dict: `base` with `updates` merged in (merge_value)."""
    return merge_value(dict(base), updates)


def _timer_due(task, definition) -> datetime | None:
    """When a waiting timer fires, as naive UTC; Spiff stores it on the task once it has looked."""
    value = task._get_internal_data("event_value")
    if value is None:
        return None
    if isinstance(definition, CycleTimerEventDefinition):
        due = datetime.fromisoformat(value["next"])
    elif isinstance(definition, TimeDateEventDefinition):
        due = TimerEventDefinition.parse_time_or_duration(value)
    else:
        due = TimerEventDefinition.get_datetime(value)
    return due.astimezone(timezone.utc).replace(tzinfo=None)
