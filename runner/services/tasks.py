"""Human tasks: list, claim, unclaim and complete (form data validated server-side).

Who may do what: an admin sees and acts on every task. Anyone else sees a task only if it is at
one of their sites AND it is theirs: offered to one of their groups, or to them as a candidate
user, or assigned to (or completed by) them. A task at another site does not exist for them
(NotFound); a task at their site that is not theirs is Forbidden, and so is acting on a task
claimed by someone else or claiming for someone else.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, exists, false, func, or_, select, union_all
from sqlalchemy.orm import selectinload

from ..engine import ProcessError
from ..engine.forms import Form, validate_submission
from ..engine.runtime import merge_data
from ..models import HumanTask, TaskCandidate, db, utcnow
from . import audit, deployments
from .accounts import Principal
from .errors import Conflict, Forbidden, Invalid, NotFound, ProcessFailure
from .instances import check_state_size, check_variables_size, save_workflow
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


def _offers(actor: Principal, state: str | None = None) -> tuple:
    """SQL conditions on task_candidates: a row that offers its task to one of `actor`'s groups, or to
    them by name; with `state`, a task in that state (_in_state)."""
    return (and_(TaskCandidate.kind == "group", TaskCandidate.value.in_(sorted(actor.groups)), *_in_state(state)),
            and_(TaskCandidate.kind == "user", TaskCandidate.value == actor.username, *_in_state(state)))


def _in_state(state: str | None) -> list:
    """SQL conditions on task_candidates: its task is in `state` as far as the row can tell (open or ended;
    none for any state). So a list of open tasks reads the open tasks' offers alone (migration 0017), not
    every task ever offered to a group."""
    return [] if state is None else [TaskCandidate.task_open == (state == "open")]


def _at_their_sites(actor: Principal):
    """SQL condition: tasks at `actor`'s sites (None: an admin's, every site)."""
    if actor.is_admin:
        return None
    return HumanTask.site.in_(sorted(actor.sites)) if actor.sites else false()


def _mine(actor: Principal):
    """SQL condition: tasks `actor` may see (None: all of them)."""
    sites = _at_their_sites(actor)
    if sites is None:
        return None
    offered = exists().where(TaskCandidate.task_id == HumanTask.id, or_(*_offers(actor)))
    return and_(sites, or_(HumanTask.assignee == actor.username, HumanTask.completed_by == actor.username, offered))


def _mine_by_id(actor: Principal, state: str | None = None):
    """_mine() without its sites, for a non-admin `actor` and tasks in `state` (None: any), as a condition
    on the task's id alone, so a walk of the worklist index (which holds the ids) reads no row: each id is
    tested against two sets read from indexes before the walk, the ids offered to them (task_candidates
    (kind, value, task_open, task_id)) and those assigned to or completed by them, both of tasks in
    `state` only: the sets of every task ever offered to their groups or completed by them grow with the
    history. Two INs joined by OR on purpose: PostgreSQL then hashes both and filters the index scan, where
    one IN of a union becomes a join driven by the candidates (every task of theirs looked up, then
    sorted)."""
    offered = union_all(*(select(TaskCandidate.task_id).where(offer) for offer in _offers(actor, state)))
    by_name = [HumanTask.assignee == actor.username]
    if state != "open":  # an open task has been completed by no one
        by_name.append(HumanTask.completed_by == actor.username)
    theirs = select(HumanTask.id).where(or_(*by_name), *([] if state is None else [HumanTask.state == state]))
    return or_(HumanTask.id.in_(offered), HumanTask.id.in_(theirs))


def is_mine(task: HumanTask, actor: Principal) -> bool:
    """The Python twin of _mine() for one task."""
    if actor.is_admin:
        return True
    return task.site in actor.sites and (
        actor.username in (task.assignee, task.completed_by) or actor.username in task.candidate_users
        or bool(actor.groups.intersection(task.candidate_groups)))


# ix_human_tasks_worklist (migration 0011); the id last makes the order total, so that tasks due and created
# at the same instant (multi-instance children) keep their places from one page to the next
WORKLIST_ORDER = (HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.created_at, HumanTask.id)
# a list read site by site merges one page per site (first_at_each_site); past this many sites it is read
# in one pass instead (site_by_site)
MAX_SITE_PAGES = 50


def list_tasks(filters: TaskFilter, actor: Principal) -> list[HumanTask]:
    """The tasks matching `filters` that `actor` may see."""
    conditions = []
    if filters.state:
        conditions.append(HumanTask.state == filters.state)
    if filters.assignee:
        conditions.append(HumanTask.assignee == filters.assignee)
    if filters.process_key:
        conditions.append(HumanTask.process_key == filters.process_key)
    if filters.instance_id:
        conditions.append(HumanTask.instance_id == filters.instance_id)
    for kind, value in (("group", filters.candidate_group), ("user", filters.candidate_user)):
        if value:
            conditions.append(HumanTask.id.in_(select(TaskCandidate.task_id).where(
                TaskCandidate.kind == kind, TaskCandidate.value == value, *_in_state(filters.state))))
    sites = _sites_to_read(filters, actor)
    if sites is None:
        if filters.site:
            conditions.append(HumanTask.site == filters.site)
        visible = _mine(actor)
        if visible is not None:
            conditions.append(visible)
    elif not sites:
        return []
    else:
        # a site where little is theirs costs a range of index entries, no row read and no candidate
        # lookup per task (_mine_by_id)
        theirs = [] if actor.is_admin else [_mine_by_id(actor, filters.state)]
        conditions = [first_at_each_site([*conditions, *theirs], sites, filters.limit + filters.offset)]
    # the candidates of the whole page in one query, not one per task when the list is rendered
    query = (select(HumanTask).where(*conditions).order_by(*WORKLIST_ORDER)
             .options(selectinload(HumanTask.candidates)))
    return list(db.session.scalars(query.limit(filters.limit).offset(filters.offset)))


def _sites_to_read(filters: TaskFilter, actor: Principal) -> list[str] | None:
    """The sites whose tasks list_tasks reads site by site: for a staff member the one asked for if it is
    theirs, else all of theirs; for an admin listing tasks in one state, the one asked for, else every site
    that has tasks in it (without a site, SQLite's planner read every task in the state and sorted them:
    56 ms for an admin's list of one group's tasks at 100,000 open). None for an admin's list of tasks in
    any state (no index order to walk; a staff member's is read site by site all the same), for one
    instance's few tasks (checked row by row by _mine()), and past MAX_SITE_PAGES sites (site_by_site)."""
    if filters.instance_id:
        return None
    if actor.is_admin:
        if not filters.state:
            return None
        sites = [filters.site] if filters.site else sites_with_tasks(filters.state)
    elif filters.site:
        return [filters.site] if filters.site in actor.sites else []
    else:
        sites = sorted(actor.sites)
    return site_by_site(sites)


def site_by_site(sites: list[str]) -> list[str] | None:
    """`sites`, to be read site by site (first_at_each_site), or None past MAX_SITE_PAGES of them: one
    pass then costs less than merging so many pages (and SQLite takes at most 500)."""
    return sites if len(sites) <= MAX_SITE_PAGES else None


def first_at_each_site(conditions: list, sites: list[str], window: int):
    """SQL condition: the task is among the first `window` in WORKLIST_ORDER matching `conditions` at one of
    `sites`. The ids of a site's tasks come in order from the worklist index and stop at the window; over
    several sites the index cannot give one order, so each site reads its own first ones in one statement
    and the caller's ORDER BY merges them: the first `window` overall are among those."""
    pages = [select(select(HumanTask.id).where(*conditions, HumanTask.site == site)
                    .order_by(*WORKLIST_ORDER).limit(window).subquery().c.id) for site in sites]
    return HumanTask.id.in_(union_all(*pages))


def sites_with_tasks(state: str) -> list[str]:
    """The sites that have tasks in `state`, in order: a loose scan of the worklist index, one seek per
    site (the next site after the last), where a DISTINCT would read every task's entry."""
    in_state = HumanTask.state == state
    found = select(func.min(HumanTask.site).label("site")).where(in_state).cte("sites", recursive=True)
    following = select(func.min(HumanTask.site)).where(in_state, HumanTask.site > found.c.site).scalar_subquery()
    found = found.union_all(select(following).where(found.c.site.is_not(None)))
    return list(db.session.scalars(select(found.c.site).where(found.c.site.is_not(None)).order_by(found.c.site)))


def get_task(task_id: str, actor: Principal) -> HumanTask:
    """A task `actor` may see: NotFound at another site, Forbidden at theirs if it is not theirs."""
    task = db.session.get(HumanTask, task_id)
    if task is None or not actor.sees_site(task.site):
        raise NotFound(f"task {task_id} does not exist")
    if not is_mine(task, actor):
        raise Forbidden(f"task {task_id} is not offered to you or your groups")
    return task


def open_tasks(instance_id: str) -> list[HumanTask]:
    """The open tasks of an instance the caller has already been allowed to see."""
    return list(db.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                           HumanTask.state == "open")
                                   .order_by(HumanTask.created_at)))


def task_form(task: HumanTask) -> Form | None:
    if not task.form_ref:
        return None
    parsed = deployments.parsed_deployment(task.instance.definition.deployment)
    return parsed.forms.get(task.form_ref)


def task_variables(task: HumanTask) -> dict:
    """What the task sees: the instance's variables overlaid with the task's own (local_variables, e.g. a
    multi-instance child's element variable `line`). The context its form is shown and validated in."""
    return {**(task.instance.variables or {}), **(task.local_variables or {})}


def task_form_data(task: HumanTask, submitted: dict | None = None) -> dict:
    """The data a task's form is drawn with: task_variables() with `submitted` (a refused submission
    shown again) merged in as completion would merge it, so `line.comment` keeps `line.description`."""
    return merge_data(task_variables(task), submitted or {})


def _open_task(task_id: str, actor: Principal) -> HumanTask:
    task = get_task(task_id, actor)
    if task.state != "open":
        raise Conflict(f"task {task_id} is {task.state}")
    return task


def _check_not_someone_elses(task: HumanTask, actor: Principal) -> None:
    if task.assignee and task.assignee != actor.username and not actor.is_admin:
        raise Forbidden(f"task {task.id} is claimed by {task.assignee}")


@transactional
def claim_task(task_id: str, actor: Principal, assignee: str | None = None) -> HumanTask:
    """Claim a task for `actor` (or, for an admin, assign it to `assignee`)."""
    task = _open_task(task_id, actor)
    user = assignee or actor.username
    if not isinstance(user, str) or len(user) > 120:
        raise Invalid("assignee must be a user name", errors={"assignee": "Must be a user name"})
    if user != actor.username and not actor.is_admin:
        raise Forbidden("only an admin may assign a task to someone else")
    if task.assignee and task.assignee != user:
        raise Conflict(f"task is already claimed by {task.assignee}")
    task.assignee = user
    audit.record("task.claimed", actor, instance_id=task.instance_id, task_id=task.id, assignee=user)
    return task


@transactional
def unclaim_task(task_id: str, actor: Principal) -> HumanTask:
    task = _open_task(task_id, actor)
    _check_not_someone_elses(task, actor)
    previous, task.assignee = task.assignee, None
    audit.record("task.unclaimed", actor, instance_id=task.instance_id, task_id=task.id, previous=previous)
    return task


@transactional
def complete_task(task_id: str, data: dict, actor: Principal) -> HumanTask:
    """Validate `data` against the task's form, then complete the task and advance the instance."""
    task = _open_task(task_id, actor)
    _check_not_someone_elses(task, actor)
    if not isinstance(data, dict):
        raise Invalid("form data must be a JSON object")
    check_variables_size(data, "form data")
    instance = task.instance
    if instance.state == "suspended":
        raise Conflict(f"instance {instance.id} is suspended; its tasks can be completed once an admin resumes it")
    if instance.state != "running":  # it ended between reading the task and its instance (another request)
        raise Conflict(f"instance {instance.id} is {instance.state}; its tasks can no longer be completed")
    form = task_form(task)
    if form is not None:
        data, errors = validate_submission(form, data, task_variables(task))
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
    task.completed_by = actor.username
    audit.record("task.completed", actor, instance_id=instance.id, task_id=task.id,
                 element_id=task.element_id, fields=sorted(data))
    save_workflow(instance, runtime, workflow, actor)
    check_state_size(instance)
    return task
