"""Human tasks: list, claim, unclaim and complete (form data validated server-side)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from ..engine import ProcessError
from ..engine.forms import Form, validate_submission
from ..models import HumanTask, TaskCandidate, db, utcnow
from . import audit, deployments
from .errors import Conflict, Invalid, NotFound, ProcessFailure
from .instances import save_workflow
from .transaction import transactional


@dataclass
class TaskFilter:
    site: str | None = None
    candidate_group: str | None = None
    candidate_user: str | None = None
    assignee: str | None = None
    process_key: str | None = None
    state: str | None = "open"
    instance_id: str | None = None
    limit: int = 100
    offset: int = 0


def list_tasks(filters: TaskFilter) -> list[HumanTask]:
    query = select(HumanTask).order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.created_at)
    if filters.state:
        query = query.where(HumanTask.state == filters.state)
    if filters.site:
        query = query.where(HumanTask.site == filters.site)
    if filters.assignee:
        query = query.where(HumanTask.assignee == filters.assignee)
    if filters.process_key:
        query = query.where(HumanTask.process_key == filters.process_key)
    if filters.instance_id:
        query = query.where(HumanTask.instance_id == filters.instance_id)
    for kind, value in (("group", filters.candidate_group), ("user", filters.candidate_user)):
        if value:
            query = query.where(HumanTask.id.in_(
                select(TaskCandidate.task_id).where(TaskCandidate.kind == kind, TaskCandidate.value == value)))
    return list(db.session.scalars(query.limit(filters.limit).offset(filters.offset)))


def get_task(task_id: str) -> HumanTask:
    task = db.session.get(HumanTask, task_id)
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    return task


def task_form(task: HumanTask) -> Form | None:
    if not task.form_ref:
        return None
    parsed = deployments.parsed_deployment(task.instance.definition.deployment)
    return parsed.forms.get(task.form_ref)


def _open_task(task_id: str) -> HumanTask:
    task = get_task(task_id)
    if task.state != "open":
        raise Conflict(f"task {task_id} is {task.state}")
    return task


@transactional
def claim_task(task_id: str, user: str, actor: str) -> HumanTask:
    task = _open_task(task_id)
    if not user:
        raise Invalid("a claim needs the user who takes the task", errors={"assignee": "Required"})
    if task.assignee and task.assignee != user:
        raise Conflict(f"task is already claimed by {task.assignee}")
    task.assignee = user
    audit.record("task.claimed", actor, instance_id=task.instance_id, task_id=task.id, assignee=user)
    return task


@transactional
def unclaim_task(task_id: str, actor: str) -> HumanTask:
    task = _open_task(task_id)
    previous, task.assignee = task.assignee, None
    audit.record("task.unclaimed", actor, instance_id=task.instance_id, task_id=task.id, previous=previous)
    return task


@transactional
def complete_task(task_id: str, data: dict, actor: str) -> HumanTask:
    """Validate `data` against the task's form, then complete the task and advance the instance."""
    task = _open_task(task_id)
    if task.assignee and task.assignee != actor:
        raise Conflict(f"task is claimed by {task.assignee}")
    if not isinstance(data, dict):
        raise Invalid("form data must be a JSON object")
    instance = task.instance
    form = task_form(task)
    if form is not None:
        data, errors = validate_submission(form, data, instance.variables)
        if errors:
            raise Invalid("the form data is not valid", errors=errors)
    runtime = deployments.runtime_for(instance.definition)
    workflow = runtime.load(instance.workflow_state)
    try:
        runtime.complete_user_task(workflow, task.spiff_task_id, data)
    except ProcessError as exc:
        raise ProcessFailure(f"the process failed at {exc.element_id or task.element_id}: {exc}",
                             elementId=exc.element_id) from None
    task.state = "completed"
    task.completed_at = utcnow()
    task.completed_by = actor
    save_workflow(instance, runtime, workflow)
    audit.record("task.completed", actor, instance_id=instance.id, task_id=task.id,
                 element_id=task.element_id, fields=sorted(data))
    if instance.state == "completed":
        audit.record("instance.completed", actor, instance_id=instance.id, end_event=instance.end_event)
    return task
