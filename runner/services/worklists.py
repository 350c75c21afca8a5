"""Staff work lists: "my tasks" and "group tasks", with their SLA state. Read-only.

Both lists only ever hold tasks the user may see (tasks.py decides: their sites, their groups or
their name), so a group membership never reveals another site's work.
- my tasks: open tasks assigned to the user;
- group tasks: open, unclaimed tasks offered to one of the user's groups or to the user by name
  (for an admin: every unclaimed open task).

SLA state of a task with a due date, in UTC (the database's clock):
overdue (due before now), due-today (later today), on-track (a later day); None without a due date.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select

from ..models import HumanTask, TaskCandidate, db, utcnow
from .accounts import Principal
from .tasks import WORKLIST_ORDER, _mine, _offers

MY, GROUP = "mine", "group"
SLA_STATES = ("overdue", "due-today", "on-track")
MAX_ROWS = 500


@dataclass
class WorkItem:
    task: HumanTask
    sla: str | None


def sla_state(due_at: datetime | None, now: datetime | None = None) -> str | None:
    if due_at is None:
        return None
    now = now or utcnow()
    if due_at < now:
        return "overdue"
    if due_at.date() == now.date():
        return "due-today"
    return "on-track"


def _list_query(which: str, actor: Principal):
    query = select(HumanTask).where(HumanTask.state == "open")
    visible = _mine(actor)
    if visible is not None:
        query = query.where(visible)
    if which == MY:
        return query.where(HumanTask.assignee == actor.username)
    if which != GROUP:
        raise ValueError(f"unknown work list {which!r}")
    query = query.where(HumanTask.assignee.is_(None))
    if actor.is_admin:
        return query
    offered = select(TaskCandidate.task_id).where(or_(*_offers(actor)))
    return query.where(HumanTask.id.in_(offered))


def work_list(which: str, actor: Principal, process_key: str | None = None, site: str | None = None,
              sla: str | None = None, limit: int = MAX_ROWS) -> list[WorkItem]:
    """`which` is MY or GROUP; the earliest due first, tasks without a due date last."""
    query = _list_query(which, actor)
    if process_key:
        query = query.where(HumanTask.process_key == process_key)
    if site:
        query = query.where(HumanTask.site == site)
    now = utcnow()
    if sla == "overdue":
        query = query.where(HumanTask.due_at < now)
    elif sla in ("due-today", "on-track"):
        end_of_today = datetime.combine(now.date(), datetime.max.time())
        query = query.where(HumanTask.due_at >= now)
        query = query.where(HumanTask.due_at <= end_of_today if sla == "due-today" else HumanTask.due_at > end_of_today)
    query = query.order_by(*WORKLIST_ORDER).limit(limit)
    return [WorkItem(task, sla_state(task.due_at, now)) for task in db.session.scalars(query)]


def list_facets(which: str, actor: Principal) -> dict[str, list[str]]:
    """The process keys and sites present in a work list (for its filter menus)."""
    visible = _list_query(which, actor).subquery()
    processes = db.session.scalars(select(visible.c.process_key).distinct().order_by(visible.c.process_key))
    sites = db.session.scalars(select(visible.c.site).distinct().order_by(visible.c.site))
    return {"processes": list(processes), "sites": list(sites)}


def counts(actor: Principal) -> dict[str, int]:
    """How many tasks each list holds (for the navigation)."""
    result = {}
    for which in (MY, GROUP):
        inner = _list_query(which, actor).subquery()
        result[which] = db.session.scalar(select(func.count()).select_from(inner)) or 0
    return result
