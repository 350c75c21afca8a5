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
from sqlalchemy.orm import selectinload

from ..models import HumanTask, TaskCandidate, db, utcnow
from . import deployments
from .accounts import Principal
from .tasks import (WORKLIST_ORDER, _at_their_sites, _mine_by_id, _offers, first_at_each_site, site_by_site,
                    sites_with_tasks)

MY, GROUP = "mine", "group"
SLA_STATES = ("overdue", "due-today", "on-track")
PAGE_ROWS = 100  # a page of a work list
COUNT_CAP = 500  # the navigation counts a list's tasks up to this many, then says "500+"


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


def _list_query(which: str, actor: Principal, by_id: bool = False):
    """The list's tasks: open, and for MY assigned to the user, for GROUP unclaimed and offered to them
    (tasks._offers); a staff member's at their sites only. That is tasks._mine() with the part of it the
    list already requires left out: no per-task lookup of the candidates, which every query here would
    otherwise make for each task it reads."""
    query = select(HumanTask).where(HumanTask.state == "open")
    if which not in (MY, GROUP):
        raise ValueError(f"unknown work list {which!r}")
    sites = _at_their_sites(actor)
    if sites is not None:
        query = query.where(sites)
    if which == MY:
        return query.where(HumanTask.assignee == actor.username)
    query = query.where(HumanTask.assignee.is_(None))
    if actor.is_admin:
        return query
    if by_id:  # read site by site: tasks._mine_by_id, which PostgreSQL tests against hashed sets as it walks
        # the index (an unclaimed open task is theirs only by an offer); one IN became a join probing the
        # candidates for every task at a site where none was offered to them
        return query.where(_mine_by_id(actor, "open"))
    return query.where(HumanTask.id.in_(select(TaskCandidate.task_id).where(or_(*_offers(actor, "open")))))


def work_list(which: str, actor: Principal, process_key: str | None = None, site: str | None = None,
              sla: str | None = None, limit: int = PAGE_ROWS, offset: int = 0) -> list[WorkItem]:
    """`which` is MY or GROUP; the earliest due first, tasks without a due date last (WORKLIST_ORDER,
    a total order: pages by `offset` hold each task once)."""
    sites = _sites_by_site(which, actor, site)
    query = _list_query(which, actor, by_id=sites is not None)
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
    if sites is not None:
        if not sites:
            return []
        query = select(HumanTask).where(first_at_each_site([query.whereclause], sites, limit + offset))
    # the candidates of the whole list in one query (the page shows whom each task is offered to)
    query = (query.order_by(*WORKLIST_ORDER).limit(limit).offset(offset)
             .options(selectinload(HumanTask.candidates)))
    return [WorkItem(task, sla_state(task.due_at, now)) for task in db.session.scalars(query)]


def _sites_by_site(which: str, actor: Principal, site: str | None) -> list[str] | None:
    """The sites whose first tasks a Group list reads site by site and merges (tasks.first_at_each_site, as
    tasks.list_tasks does); None: one pass. Measured at 100,000 open tasks (bench/task_list.py):
    - an admin's: in one pass SQLite read and sorted every open task (the page: 50 ms, 27 to 29 ms so);
    - a staff member's on PostgreSQL: one pass read every open task at their sites, then sorted (the page:
      53 ms, 42 to 46 ms so, with _mine_by_id's hashed sets; one IN made PostgreSQL probe the candidates
      for each task at a site where none is theirs). On SQLite one pass stays: it reads those in the
      worklist index, where walking each site's range reads every row for its assignee, which the index
      lacks (27 ms against 48 ms).
    A staff member's sites are also in the list's own condition, so a site not theirs gives nothing."""
    if which != GROUP:
        return None
    if actor.is_admin:
        return site_by_site([site] if site else sites_with_tasks("open"))
    if db.engine.dialect.name != "postgresql":
        return None
    return site_by_site([site] if site else sorted(actor.sites))


def list_facets(actor: Principal) -> dict[str, list[str]]:
    """The choices of the work lists' filter menus: the deployed processes, and the user's sites (an admin's:
    the sites with open tasks). Not only the values the list holds now: finding those read every task in
    it (118 ms at 100,000 open tasks, on every page), and a choice the list has no task of shows it empty."""
    processes = deployments.process_keys()
    if not actor.is_admin:
        return {"processes": processes, "sites": sorted(actor.sites)}
    return {"processes": processes, "sites": sites_with_tasks("open")}


def counts(actor: Principal) -> dict[str, int | str]:
    """How many tasks each list holds (for the navigation, on every page), up to COUNT_CAP, then
    "500+": an exact count would read every task offered to the user's groups each time."""
    result = {}
    for which in (MY, GROUP):
        capped = _list_query(which, actor).with_only_columns(HumanTask.id).limit(COUNT_CAP + 1).subquery()
        found = db.session.scalar(select(func.count()).select_from(capped)) or 0
        result[which] = f"{COUNT_CAP}+" if found > COUNT_CAP else found
    return result
