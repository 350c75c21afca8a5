"""Process metrics for the dashboard, the REST API and the Prometheus endpoint. Read-only.

Everything here is computed from the indexed tables (process_instances, human_tasks, incidents, jobs,
audit_events), never by deserializing a workflow. Rows are per process, version, site and step (the
user task's or job's element id), each a plain dict in the API's camelCase shape. A user task counts under
the version it is open under (its instance's: a moved instance takes its open tasks along) or ran under
(human_tasks.definition_id):

- queue aging (now): open human tasks by age (now - created_at): `lt1d` under 1 day, `1to3d` 1 day to
  under 3, `3to7d` 3 days to under 7, `gt7d` 7 days and more; with how many are overdue (due_at < now);
- cycle times (window): started_at -> ended_at of instances that completed in the window, per process,
  version and site; and per stage, created_at -> completed_at of user tasks completed in the window.
  `count`, `medianSeconds`, `p90Seconds`: percentiles with linear interpolation (PostgreSQL's
  percentile_cont; on SQLite, which has none, the durations are fetched through an index and the
  same formula runs in Python);
- canonical stages (window and now): per process, version, site and value of the `status` variable,
  entered_at -> left_at of the stage intervals (stage_intervals, derived at each save) that ended in
  the window, with the same statistics; and the instances (running or suspended) in each stage now,
  with the age of the oldest stay;
- SLA (now and window): open tasks past due_at; tasks completed in the window with a due date, and
  how many of them after it (`completedLate`);
- incidents and retries (window): jobs finished (audit job.completed, job.bpmn-error, timer.fired),
  incidents opened, retries scheduled (audit job.retry-scheduled); incidentRate = incidentsOpened /
  jobsFinished and retryRate = retriesScheduled / jobsFinished (null without finished jobs); and the
  incidents open now;
- throughput (window): instances completed and user tasks completed per day (UTC), every day listed.

The window is whole UTC days, `from` to `to` inclusive (default: the last 30 days, today included).
Who sees what: admins and analysts every site; anyone else only their own sites.
"""
from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import Float, and_, case, cast, extract, func, select, true

from ..models import (AuditEvent, HumanTask, Incident, Job, ProcessDefinition, ProcessInstance, StageInterval, db,
                      utcnow)
from . import deployments
from .accounts import Principal
from .errors import Invalid
from .process_views import INSTANCE_STATES

DEFAULT_WINDOW_DAYS = 30
MAX_WINDOW_DAYS = 366
BUCKETS = (("lt1d", 0, 1), ("1to3d", 1, 3), ("3to7d", 3, 7), ("gt7d", 7, None))  # (key, from days, to days)
BUCKET_LABELS = {"lt1d": "< 1 day", "1to3d": "1-3 days", "3to7d": "3-7 days", "gt7d": "> 7 days"}
JOB_FINISHED = ("job.completed", "job.bpmn-error", "timer.fired")
RETRY_SCHEDULED = "job.retry-scheduled"
PERCENTILES = (("medianSeconds", 0.5), ("p90Seconds", 0.9))
_TEXT = re.compile(r"^[^\x00-\x1f]{1,200}$")
_VERSION = re.compile(r"[0-9]{1,10}")


# --- what is asked: filters and the date window ------------------------------------------------

@dataclass(frozen=True)
class MetricsQuery:
    first_day: date              # the window, whole UTC days, both included
    last_day: date
    process_key: str | None = None
    site: str | None = None
    version: int | None = None

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time.min)

    @property
    def end(self) -> datetime:
        """Exclusive: midnight after the last day."""
        return datetime.combine(self.last_day + timedelta(days=1), time.min)

    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=n) for n in range((self.last_day - self.first_day).days + 1)]

    def export_filename(self) -> str:
        return f"lanes-metrics-{self.first_day.isoformat()}-{self.last_day.isoformat()}.csv"

    def as_json(self) -> dict:
        return {"processKey": self.process_key, "site": self.site, "version": self.version,
                "from": self.first_day.isoformat(), "to": self.last_day.isoformat()}


# the days a window may start and end on: far enough inside the calendar that the window's edges and its
# default start (a month before `to`) can be computed
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9999, 12, 30)


def _day(value: str, name: str) -> date:
    """An ISO date, or the UTC day of an ISO date-time, between FIRST_DAY and LAST_DAY."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
        else:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is not None:
                moment = moment.astimezone(timezone.utc)
            day = moment.date()
    except (ValueError, OverflowError):  # OverflowError: a date-time whose UTC day is outside the calendar
        raise Invalid(f"{name} must be an ISO date such as 2024-05-31", errors={name: "Must be an ISO date (YYYY-MM-DD)"})
    if not FIRST_DAY <= day <= LAST_DAY:
        raise Invalid(f"{name} must be a day from {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}",
                      errors={name: f"Must be from {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}"})
    return day


def parse_query(args: Mapping[str, Any], today: date | None = None) -> MetricsQuery:
    """The filters of a request (`processKey`, `site`, `version`, `from`, `to`); Invalid (422) names the bad one."""
    def text(name: str) -> str | None:
        value = args.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str) or not _TEXT.match(value):
            raise Invalid(f"{name} must be 1 to 200 printable characters", errors={name: "Not a valid value"})
        return value

    process_key, site, raw_version = text("processKey"), text("site"), text("version")
    version = None
    if raw_version is not None:
        if not _VERSION.fullmatch(raw_version) or not 0 < int(raw_version) < 2**31:  # not isdigit(): "²"
            raise Invalid("version must be a positive whole number", errors={"version": "Must be a positive integer"})
        version = int(raw_version)
    today = today or utcnow().date()
    raw_from, raw_to = text("from"), text("to")
    last = _day(raw_to, "to") if raw_to else today
    first = _day(raw_from, "from") if raw_from else last - timedelta(days=DEFAULT_WINDOW_DAYS - 1)
    if first > last:
        raise Invalid("from must not be after to", errors={"from": "Must not be after 'to'"})
    if (last - first).days + 1 > MAX_WINDOW_DAYS:
        raise Invalid(f"the window may span at most {MAX_WINDOW_DAYS} days",
                      errors={"from": f"At most {MAX_WINDOW_DAYS} days before 'to'"})
    return MetricsQuery(first, last, process_key, site, version)


# --- where the rows come from, and who may see them -----------------------------------------

def visible_sites(actor: Principal) -> list[str] | None:
    """None: every site (admins, analysts); otherwise the actor's sites (possibly none)."""
    return None if actor.is_analyst else sorted(actor.sites)


@dataclass(frozen=True)
class _Source:
    """A table joined to its instance's version, with the columns the filters apply to."""
    entity: Any
    joins: tuple           # (target, on clause, outer join?)
    process_key: Any
    site: Any

    def select(self, q: MetricsQuery, actor: Principal, *columns, versioned: bool = True):
        """SELECT `columns` with the filters and the actor's sites applied; `versioned=False` skips the
        join to the version when neither the columns nor the filters need it."""
        query = select(*columns).select_from(self.entity)
        for target, on, outer in self.joins if versioned or q.version is not None else ():
            query = query.join(target, on, isouter=outer)
        sites = visible_sites(actor)
        if sites is not None:
            query = query.where(self.site.in_(sites))
        if q.process_key:
            query = query.where(self.process_key == q.process_key)
        if q.site:
            query = query.where(self.site == q.site)
        if q.version is not None:
            query = query.where(ProcessDefinition.version == q.version)
        return query


_DEFINITION = (ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
INSTANCES = _Source(ProcessInstance, ((*_DEFINITION, False),), ProcessInstance.process_key, ProcessInstance.site)
# an outer join: a task row without its version (none should be) still counts, under no version
TASKS = _Source(HumanTask, ((ProcessDefinition, ProcessDefinition.id == HumanTask.definition_id, True),),
                HumanTask.process_key, HumanTask.site)
INCIDENTS = _Source(Incident, ((ProcessInstance, ProcessInstance.id == Incident.instance_id, True), (*_DEFINITION, True)),
                    Incident.process_key, Incident.site)
AUDIT = _Source(AuditEvent, ((ProcessInstance, ProcessInstance.id == AuditEvent.instance_id, False),
                             (*_DEFINITION, False)), ProcessInstance.process_key, ProcessInstance.site)
STAGES = _Source(StageInterval, ((ProcessDefinition, ProcessDefinition.id == StageInterval.definition_id, False),),
                 StageInterval.process_key, StageInterval.site)
AUDIT_ELEMENT = AuditEvent.details["element_id"].as_string()


def _count_if(condition):
    return func.sum(case((condition, 1), else_=0))


def _postgresql() -> bool:
    return db.engine.dialect.name == "postgresql"


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def percentile(ordered: list[float], fraction: float) -> float | None:
    """percentile_cont: linear interpolation between the two nearest ranks of sorted values."""
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _key_json(names: tuple[str, ...], key: tuple) -> dict:
    return dict(zip(names, key))


def _duration_stats(source: _Source, q: MetricsQuery, actor: Principal, keys: list, start, end, conditions: list,
                    label=None) -> dict[tuple, dict]:
    """{group key: {count, medianSeconds, p90Seconds[, name]}} of end - start over the rows matching `conditions`."""
    versioned = any(k is ProcessDefinition.version for k in keys)
    if _postgresql():
        seconds = cast(extract("epoch", end - start), Float)
        columns = [func.count(), *(func.percentile_cont(f).within_group(seconds) for _, f in PERCENTILES)]
        if label is not None:
            columns.append(func.max(label))
        query = source.select(q, actor, *keys, *columns, versioned=versioned).where(*conditions)
        if keys:
            query = query.group_by(*keys)
        result = {}
        for row in db.session.execute(query):
            key, values = tuple(row[:len(keys)]), row[len(keys):]
            if values[0] == 0:
                continue
            stats = {"count": values[0], **{name: _seconds(v) for (name, _), v in zip(PERCENTILES, values[1:])}}
            if label is not None:
                stats["name"] = values[-1]
            result[key] = stats
        return result
    # SQLite has no percentile function: fetch the durations (the window's index finds the rows; julianday()
    # computes them in SQL, to about a millisecond) and interpolate here
    seconds = (func.julianday(end) - func.julianday(start)) * 86400.0
    columns = [seconds] + ([label] if label is not None else [])
    durations: dict[tuple, list[float]] = {}
    labels: dict[tuple, str] = {}
    for row in db.session.execute(source.select(q, actor, *keys, *columns, versioned=versioned).where(*conditions)):
        key = tuple(row[:len(keys)])
        durations.setdefault(key, []).append(row[len(keys)])
        if label is not None:
            labels[key] = max(labels.get(key, ""), row[-1] or "")
    result = {}
    for key, values in durations.items():
        values.sort()
        stats = {"count": len(values), **{name: _seconds(percentile(values, f)) for name, f in PERCENTILES}}
        if label is not None:
            stats["name"] = labels[key]
        result[key] = stats
    return result


STEP_KEYS = ("processKey", "version", "site", "elementId")
PROCESS_KEYS = ("processKey", "version", "site")
_TASK_STEP = [HumanTask.process_key, ProcessDefinition.version, HumanTask.site, HumanTask.element_id]


STAGE_KEYS = ("processKey", "version", "site", "stage")
_STAGE = [StageInterval.process_key, ProcessDefinition.version, StageInterval.site, StageInterval.stage]
# a stay that the instance's termination ended (terminate closes it at the instance's ended_at): not a
# time the stage took, so left out of its durations, as terminated instances are of cycle times
_CUT_SHORT_BY_TERMINATION = (select(ProcessInstance.id)
                             .where(ProcessInstance.id == StageInterval.instance_id,
                                    ProcessInstance.state == "terminated",
                                    ProcessInstance.ended_at == StageInterval.left_at).exists())


def _sorted(rows: list[dict], keys: tuple[str, ...] = STEP_KEYS) -> list[dict]:
    return sorted(rows, key=lambda r: tuple("" if r.get(k) is None else str(r.get(k)).zfill(10) if k == "version"
                                            else str(r.get(k)) for k in keys))


# --- the reports -----------------------------------------------------------------------------

@dataclass(frozen=True)
class _OpenStep:
    """The open tasks of one process, version, site and step now: what queue aging and the SLA's open part
    both count, from one pass over the open tasks (at 100,000 of them, each pass took about 190 ms)."""
    key: tuple
    name: str | None
    count: int
    buckets: dict[str, int]
    with_due: int
    overdue: int
    oldest: datetime


def _open_steps(q: MetricsQuery, actor: Principal, now: datetime) -> list[_OpenStep]:
    bucket_columns = []
    for _, low, high in BUCKETS:
        condition = HumanTask.created_at <= now - timedelta(days=low) if low else true()
        if high is not None:
            condition = and_(condition, HumanTask.created_at > now - timedelta(days=high))
        bucket_columns.append(_count_if(condition))
    # grouped by the version's id, from ix_human_tasks_open_steps alone; the version's number joined to the
    # groups afterwards (grouping by the number itself would join every task to its version first)
    step = [HumanTask.process_key, HumanTask.definition_id, HumanTask.site, HumanTask.element_id]
    groups = (TASKS.select(q, actor, *step, func.max(HumanTask.name).label("name"), func.count().label("open"),
                           *bucket_columns, _count_if(HumanTask.due_at.is_not(None)), _count_if(HumanTask.due_at < now),
                           func.min(HumanTask.created_at), versioned=False)
              .where(HumanTask.state == "open").group_by(*step).subquery())
    columns = list(groups.c)
    query = (select(columns[0], ProcessDefinition.version, *columns[2:])
             .join_from(groups, ProcessDefinition, ProcessDefinition.id == groups.c.definition_id, isouter=True))
    steps = []
    for row in db.session.execute(query):
        key, name, count, *buckets, with_due, overdue, oldest = tuple(row[:4]), *row[4:]
        steps.append(_OpenStep(key, name, count, {b[0]: int(n) for b, n in zip(BUCKETS, buckets)},
                               int(with_due), int(overdue), oldest))
    return steps


def queue_aging(q: MetricsQuery, actor: Principal, now: datetime | None = None,
                open_steps: list[_OpenStep] | None = None) -> dict:
    """Open human tasks now, per process, version, site and step, by age bucket."""
    now = now or utcnow()
    rows = [{**_key_json(STEP_KEYS, step.key), "name": step.name, "open": step.count, "buckets": step.buckets,
             "overdue": step.overdue, "oldestAgeSeconds": _seconds((now - step.oldest).total_seconds())}
            for step in (open_steps if open_steps is not None else _open_steps(q, actor, now))]
    rows = _sorted(rows)
    totals = {"open": sum(r["open"] for r in rows), "overdue": sum(r["overdue"] for r in rows),
              "buckets": {b: sum(r["buckets"][b] for r in rows) for b, _, _ in BUCKETS}}
    return {"filters": q.as_json(), "asOf": _time(now), "bucketLabels": BUCKET_LABELS, "totals": totals, "rows": rows}


def _completed_instances(q: MetricsQuery):
    return [ProcessInstance.state == "completed", ProcessInstance.ended_at >= q.start, ProcessInstance.ended_at < q.end]


def _completed_tasks(q: MetricsQuery):
    return [HumanTask.completed_at >= q.start, HumanTask.completed_at < q.end, HumanTask.state == "completed"]


def canonical_stages(q: MetricsQuery, actor: Principal, now: datetime | None = None) -> list[dict]:
    """Per process, version (the one the instance ran when it entered), site and canonical stage (the
    `status` variable): the stays that ended in the window, other than by a termination (`count`,
    `medianSeconds`, `p90Seconds` of entered_at -> left_at), and the running or suspended instances in that stage now (`inStageNow`,
    `oldestAgeSeconds` = now - the earliest entered_at of them)."""
    now = now or utcnow()
    ended = _duration_stats(STAGES, q, actor, _STAGE, StageInterval.entered_at, StageInterval.left_at,
                            [StageInterval.left_at >= q.start, StageInterval.left_at < q.end,
                             ~_CUT_SHORT_BY_TERMINATION])
    rows = {key: {**_key_json(STAGE_KEYS, key), **stats, "inStageNow": 0, "oldestAgeSeconds": None}
            for key, stats in ended.items()}
    # a stay is open exactly while its instance is running or suspended in that stage: the instance's end and
    # its termination close it (instances.sync_stage), so the open stays are counted from their index alone
    open_query = (STAGES.select(q, actor, *_STAGE, func.count(), func.min(StageInterval.entered_at))
                  .where(StageInterval.left_at.is_(None)).group_by(*_STAGE))
    for *key, count, oldest in db.session.execute(open_query):
        found = rows.setdefault(tuple(key), {**_key_json(STAGE_KEYS, tuple(key)), "count": 0, "medianSeconds": None,
                                             "p90Seconds": None})
        found["inStageNow"], found["oldestAgeSeconds"] = count, _seconds((now - oldest).total_seconds())
    return _sorted(list(rows.values()), STAGE_KEYS)


def cycle_times(q: MetricsQuery, actor: Principal, now: datetime | None = None) -> dict:
    """Start-to-end durations of instances completed in the window, created-to-completed of their
    user tasks (stages), and entered-to-left of their canonical stages (canonicalStages, with the
    instances in each now), with median and 90th percentile in seconds."""
    process_keys = [ProcessInstance.process_key, ProcessDefinition.version, ProcessInstance.site]
    instances = _duration_stats(INSTANCES, q, actor, process_keys, ProcessInstance.started_at,
                                ProcessInstance.ended_at, _completed_instances(q))
    overall = _duration_stats(INSTANCES, q, actor, [], ProcessInstance.started_at, ProcessInstance.ended_at,
                              _completed_instances(q)).get((), {"count": 0, "medianSeconds": None, "p90Seconds": None})
    stages = _duration_stats(TASKS, q, actor, _TASK_STEP, HumanTask.created_at, HumanTask.completed_at,
                             _completed_tasks(q), label=HumanTask.name)
    return {"filters": q.as_json(), "overall": overall,
            "instances": _sorted([{**_key_json(PROCESS_KEYS, k), **v} for k, v in instances.items()]),
            "stages": _sorted([{**_key_json(STEP_KEYS, k), **v} for k, v in stages.items()]),
            "canonicalStages": canonical_stages(q, actor, now)}


def sla(q: MetricsQuery, actor: Principal, now: datetime | None = None,
        open_steps: list[_OpenStep] | None = None) -> dict:
    """Open tasks past their due date now; tasks completed in the window after their due date."""
    now = now or utcnow()
    merged: dict[tuple, dict] = {}

    def row(key, name):
        found = merged.setdefault(key, {**_key_json(STEP_KEYS, key), "name": name, "openWithDue": 0, "openOverdue": 0,
                                        "completed": 0, "completedWithDue": 0, "completedLate": 0})
        found["name"] = max(found["name"] or "", name or "")
        return found

    for step in open_steps if open_steps is not None else _open_steps(q, actor, now):
        if step.with_due:
            found = row(step.key, step.name)
            found["openWithDue"], found["openOverdue"] = step.with_due, step.overdue
    done_query = (TASKS.select(q, actor, *_TASK_STEP, func.max(HumanTask.name), func.count(),
                               _count_if(HumanTask.due_at.is_not(None)), _count_if(HumanTask.completed_at > HumanTask.due_at))
                  .where(*_completed_tasks(q)).group_by(*_TASK_STEP))
    for *key, name, count, with_due, late in db.session.execute(done_query):
        found = row(tuple(key), name)
        found["completed"], found["completedWithDue"], found["completedLate"] = count, int(with_due), int(late)
    rows = _sorted(list(merged.values()))
    for r in rows:
        r["lateRate"] = _rate(r["completedLate"], r["completedWithDue"])
    totals = {name: sum(r[name] for r in rows)
              for name in ("openWithDue", "openOverdue", "completed", "completedWithDue", "completedLate")}
    totals["lateRate"] = _rate(totals["completedLate"], totals["completedWithDue"])
    return {"filters": q.as_json(), "asOf": _time(now), "totals": totals, "rows": rows}


INCIDENT_COUNTS = ("jobsFinished", "retriesScheduled", "incidentsOpened", "openIncidents")


def incidents(q: MetricsQuery, actor: Principal) -> dict:
    """Jobs finished, retries scheduled and incidents opened in the window (with their rates), and
    the incidents open now, per process, version, site and element."""
    merged: dict[tuple, dict] = {}
    audit_keys = [ProcessInstance.process_key, ProcessDefinition.version, ProcessInstance.site, AUDIT_ELEMENT]
    in_window = [AuditEvent.at >= q.start, AuditEvent.at < q.end]
    incident_keys = [Incident.process_key, ProcessDefinition.version, Incident.site, Incident.element_id]
    queries = {
        "jobsFinished": AUDIT.select(q, actor, *audit_keys, func.count()).where(AuditEvent.action.in_(JOB_FINISHED), *in_window),
        "retriesScheduled": AUDIT.select(q, actor, *audit_keys, func.count()).where(AuditEvent.action == RETRY_SCHEDULED,
                                                                                   *in_window),
        "incidentsOpened": INCIDENTS.select(q, actor, *incident_keys, func.count()).where(Incident.created_at >= q.start,
                                                                                         Incident.created_at < q.end),
        "openIncidents": INCIDENTS.select(q, actor, *incident_keys, func.count()).where(Incident.state == "open"),
    }
    for name, query in queries.items():
        keys = audit_keys if name in ("jobsFinished", "retriesScheduled") else incident_keys
        for *key, count in db.session.execute(query.group_by(*keys)):
            found = merged.setdefault(tuple(key), {**_key_json(STEP_KEYS, tuple(key)), **dict.fromkeys(INCIDENT_COUNTS, 0)})
            found[name] = count
    rows = _sorted(list(merged.values()))
    totals = {name: sum(r[name] for r in rows) for name in INCIDENT_COUNTS}
    for r in (*rows, totals):
        r["incidentRate"] = _rate(r["incidentsOpened"], r["jobsFinished"])
        r["retryRate"] = _rate(r["retriesScheduled"], r["jobsFinished"])
    return {"filters": q.as_json(), "totals": totals, "rows": rows}


def _per_day(source: _Source, q: MetricsQuery, actor: Principal, column, conditions: list) -> dict[str, int]:
    day = func.date(column)
    query = source.select(q, actor, day, func.count(), versioned=False).where(*conditions).group_by(day)
    return {str(value)[:10]: count for value, count in db.session.execute(query)}


def throughput(q: MetricsQuery, actor: Principal) -> dict:
    """Instances completed and user tasks completed per UTC day of the window (days without any: 0)."""
    instances = _per_day(INSTANCES, q, actor, ProcessInstance.ended_at, _completed_instances(q))
    tasks = _per_day(TASKS, q, actor, HumanTask.completed_at, _completed_tasks(q))
    days = [{"date": d.isoformat(), "instancesCompleted": instances.get(d.isoformat(), 0),
             "tasksCompleted": tasks.get(d.isoformat(), 0)} for d in q.days()]
    return {"filters": q.as_json(), "days": days,
            "totals": {"instancesCompleted": sum(instances.values()), "tasksCompleted": sum(tasks.values())}}


def instance_states(q: MetricsQuery, actor: Principal) -> dict[str, int]:
    """How many instances are in each state now (the window does not apply)."""
    query = (INSTANCES.select(q, actor, ProcessInstance.state, func.count(), versioned=False)
             .group_by(ProcessInstance.state))
    return dict(db.session.execute(query).all())


@dataclass
class Report:
    """Every metric for one query: what the dashboard shows and the summary and breakdown are built from."""
    query: MetricsQuery
    queue: dict
    cycles: dict
    sla: dict
    incidents: dict
    throughput: dict
    states: dict[str, int]


def report(q: MetricsQuery, actor: Principal, now: datetime | None = None) -> Report:
    now = now or utcnow()
    open_steps = _open_steps(q, actor, now)  # one pass over the open tasks for both reports that count them
    return Report(q, queue_aging(q, actor, now, open_steps), cycle_times(q, actor, now), sla(q, actor, now, open_steps),
                  incidents(q, actor), throughput(q, actor), instance_states(q, actor))


def summary(q: MetricsQuery, actor: Principal, now: datetime | None = None, built: Report | None = None) -> dict:
    """The headline numbers of every report for the same filters."""
    r = built or report(q, actor, now)
    return {
        "filters": q.as_json(), "asOf": r.queue["asOf"],
        "instances": {"byState": dict.fromkeys(INSTANCE_STATES, 0) | r.states, "completed": r.throughput["totals"]["instancesCompleted"]},
        "cycleTime": r.cycles["overall"],
        "tasks": {"open": r.queue["totals"]["open"], "overdue": r.queue["totals"]["overdue"],
                  "agingBuckets": r.queue["totals"]["buckets"], "completed": r.throughput["totals"]["tasksCompleted"],
                  "completedWithDue": r.sla["totals"]["completedWithDue"],
                  "completedLate": r.sla["totals"]["completedLate"], "lateRate": r.sla["totals"]["lateRate"]},
        "jobs": r.incidents["totals"],
    }


BREAKDOWN_COLUMNS = (
    ("process_key", "processKey"), ("version", "version"), ("site", "site"), ("step", "elementId"),
    ("step_name", "name"),
    ("open_tasks", "open"), ("open_lt_1d", "lt1d"), ("open_1_3d", "1to3d"), ("open_3_7d", "3to7d"),
    ("open_gt_7d", "gt7d"), ("open_overdue", "overdue"), ("open_oldest_age_seconds", "oldestAgeSeconds"),
    ("tasks_completed", "completed"), ("tasks_completed_with_due", "completedWithDue"),
    ("tasks_completed_late", "completedLate"), ("late_rate", "lateRate"), ("stage_median_seconds", "stageMedianSeconds"),
    ("stage_p90_seconds", "stageP90Seconds"),
    ("jobs_finished", "jobsFinished"), ("retries_scheduled", "retriesScheduled"),
    ("incidents_opened", "incidentsOpened"), ("open_incidents", "openIncidents"),
    ("incident_rate", "incidentRate"), ("retry_rate", "retryRate"),
    ("instances_completed", "instancesCompleted"), ("cycle_median_seconds", "cycleMedianSeconds"),
    ("cycle_p90_seconds", "cycleP90Seconds"),
)


def breakdown(q: MetricsQuery, actor: Principal, now: datetime | None = None, built: Report | None = None) -> list[dict]:
    """One row per process, version, site and step (elementId) with every metric that applies to it;
    a row with elementId null holds the whole process's numbers (instances completed, cycle time)."""
    r = built or report(q, actor, now)
    rows: dict[tuple, dict] = {}

    def row(source: dict, step: bool = True) -> dict:
        key = tuple(source.get(k) for k in STEP_KEYS) if step else (*(source[k] for k in PROCESS_KEYS), None)
        return rows.setdefault(key, {**_key_json(STEP_KEYS, key), "name": None})

    for item in r.queue["rows"]:
        found = row(item)
        found.update({"name": item["name"], "open": item["open"], "overdue": item["overdue"],
                      "oldestAgeSeconds": item["oldestAgeSeconds"], **item["buckets"]})
    for item in r.sla["rows"]:
        found = row(item)
        found.update({k: item[k] for k in ("completed", "completedWithDue", "completedLate", "lateRate")})
        found["name"] = found["name"] or item["name"]
    for item in r.cycles["stages"]:
        found = row(item)
        found.update({"stageMedianSeconds": item["medianSeconds"], "stageP90Seconds": item["p90Seconds"]})
    for item in r.incidents["rows"]:
        found = row(item)
        found.update({k: item[k] for k in (*INCIDENT_COUNTS, "incidentRate", "retryRate")})
    for item in r.cycles["instances"]:
        found = row(item, step=False)
        found.update({"instancesCompleted": item["count"], "cycleMedianSeconds": item["medianSeconds"],
                      "cycleP90Seconds": item["p90Seconds"]})
    counts = {"open", "overdue", "lt1d", "1to3d", "3to7d", "gt7d", "completed", "completedWithDue", "completedLate",
              *INCIDENT_COUNTS, "instancesCompleted"}
    result = []
    for found in rows.values():
        result.append({field: found.get(field, 0 if field in counts else None) for _, field in BREAKDOWN_COLUMNS})
    return _sorted(result)


def breakdown_csv(rows: list[dict]) -> str:
    """The breakdown as CSV (RFC 4180, a header row of snake_case names); empty cells for no value."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([column for column, _ in BREAKDOWN_COLUMNS])
    for item in rows:
        writer.writerow(["" if item[field] is None else _csv_safe(item[field]) for _, field in BREAKDOWN_COLUMNS])
    return out.getvalue()


def _csv_safe(value):
    """Text cells that a spreadsheet would run as a formula get a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def facets(actor: Principal) -> dict[str, list]:
    """The process keys, versions and sites the actor's metrics can be filtered by (for the dashboard)."""
    processes = deployments.process_keys()
    versions = list(db.session.scalars(select(ProcessDefinition.version).distinct().order_by(ProcessDefinition.version)))
    sites = visible_sites(actor)
    if sites is None:
        sites = list(db.session.scalars(select(ProcessInstance.site).distinct().order_by(ProcessInstance.site)))
    return {"processes": processes, "versions": versions, "sites": sites}


def _time(value: datetime | None) -> str | None:
    return value.isoformat() + "Z" if value else None


# --- for the Prometheus endpoint: the state now, all sites -------------------------------------

@dataclass
class Gauges:
    open_tasks: list[tuple[str, str, int, int, float]]   # process_key, site, open, overdue, oldest age (s)
    open_incidents: list[tuple[str, str, int]]           # process_key, site, open incidents
    instances: list[tuple[str, str, str, int]]           # process_key, site, state, count
    jobs: list[tuple[str, int, int, float]]              # kind, due now, failed, oldest due (s overdue)


def gauges(now: datetime | None = None) -> Gauges:
    """Current counts for monitoring, over every site (the endpoint guards who may read them)."""
    now = now or utcnow()
    open_tasks = [(key, site, count, int(overdue), (now - oldest).total_seconds())
                  for key, site, count, overdue, oldest in db.session.execute(
                      select(HumanTask.process_key, HumanTask.site, func.count(), _count_if(HumanTask.due_at < now),
                             func.min(HumanTask.created_at))
                      .where(HumanTask.state == "open").group_by(HumanTask.process_key, HumanTask.site))]
    open_incidents = [(key or "", site or "", count) for key, site, count in db.session.execute(
        select(Incident.process_key, Incident.site, func.count()).where(Incident.state == "open")
        .group_by(Incident.process_key, Incident.site))]
    counted = {(key, site, state): count for key, site, state, count in db.session.execute(
        select(ProcessInstance.process_key, ProcessInstance.site, ProcessInstance.state, func.count())
        .group_by(ProcessInstance.state, ProcessInstance.process_key, ProcessInstance.site))}
    # every state of each process and site that has instances, 0 included: a series that vanishes when its
    # count drops to 0 would leave an alert on it without data instead of false
    instances = [(key, site, state, counted.get((key, site, state), 0))
                 for key, site in {(key, site) for key, site, _ in counted} for state in INSTANCE_STATES]
    due = (Job.state == "ready") & (Job.due_at <= now)
    jobs = [(kind, int(due_now), int(failed), (now - oldest).total_seconds() if oldest else 0.0)
            for kind, due_now, failed, oldest in db.session.execute(
                select(Job.kind, _count_if(due), _count_if(Job.state == "failed"),
                       func.min(case((due, Job.due_at), else_=None))).group_by(Job.kind))]
    db.session.rollback()  # read-only: end the snapshot's transaction
    return Gauges(sorted(open_tasks), sorted(open_incidents), sorted(instances), sorted(jobs))
