"""Crafted metrics rows with known timestamps (tests/test_metrics.py, tests/web/test_dashboard.py).

March 2024 (the window 2024-03-01..2024-03-10) holds finished work with exact durations; open tasks,
open incidents, due jobs and the canonical stages instances are in now are aged from `now`. The expected
numbers are worked out in test_metrics.py.
"""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from runner.models import AuditEvent, HumanTask, Incident, Job, ProcessInstance, StageInterval, db
from tests.helpers import crafted_versions

WINDOW = {"from": "2024-03-01", "to": "2024-03-10"}
_ids = itertools.count(1)


def t(day: int, hour: float = 0, month: int = 3) -> datetime:
    return datetime(2024, month, day) + timedelta(hours=hour)


def add_crafted_rows(now: datetime) -> None:
    """Add the rows inside the current app context and commit them."""
    definitions = crafted_versions(("refund", 1), ("refund", 2), ("claims", 1))

    def instance(name, key, version, site, state, started, ended=None):
        row = ProcessInstance(id=name, definition_id=definitions[key, version].id, process_key=key, site=site,
                              state=state, workflow_state="", started_by="test", started_at=started, ended_at=ended)
        db.session.add(row)
        return row

    # completed in the window: refund v1 NORTH 1, 2, 3, 4.5 days; refund v1 SOUTH 6 hours; refund v2 NORTH 1 day
    instance("i1", "refund", 1, "NORTH", "completed", t(1), t(2))
    instance("i2", "refund", 1, "NORTH", "completed", t(1), t(3))
    instance("i3", "refund", 1, "NORTH", "completed", t(2), t(5))
    instance("i4", "refund", 1, "NORTH", "completed", t(4), t(8, 12))
    instance("i5", "refund", 1, "SOUTH", "completed", t(5), t(5, 6))
    instance("i6", "refund", 2, "NORTH", "completed", t(6), t(7))
    # not in the window: ended before it, at its exclusive end, or terminated
    instance("i7", "refund", 1, "NORTH", "completed", t(19, month=2), t(20, month=2))
    instance("i8", "refund", 1, "NORTH", "completed", t(9), t(11))
    instance("i9", "refund", 1, "NORTH", "terminated", t(4), t(5))
    # still going
    instance("i10", "refund", 1, "NORTH", "running", now - timedelta(days=11))
    instance("i11", "claims", 1, "SOUTH", "running", now - timedelta(days=2))
    instance("i12", "refund", 2, "NORTH", "suspended", now - timedelta(days=9))
    db.session.flush()

    def task(instance_id, element, state, created, completed=None, due=None, name=None):
        owner = db.session.get(ProcessInstance, instance_id)
        db.session.add(HumanTask(instance_id=instance_id, definition_id=owner.definition_id,
                                 spiff_task_id=f"spiff-{next(_ids)}", element_id=element,
                                 name=name or element.title(), process_key=owner.process_key, site=owner.site,
                                 state=state, created_at=created, completed_at=completed, due_at=due))

    # completed in the window
    task("i1", "review", "completed", t(1), t(1, 1), due=t(1, 2))       # 1 h, on time
    task("i2", "review", "completed", t(1), t(1, 3), due=t(1, 2))       # 3 h, late
    task("i3", "review", "completed", t(2), t(2, 2))                    # 2 h, no due date
    task("i1", "approve", "completed", t(1, 1), t(1, 23), due=t(1, 12))  # 22 h, late
    task("i5", "review", "completed", t(5), t(5, 5), due=t(6))          # 5 h, on time
    task("i4", "review", "cancelled", t(4), t(4, 1))                    # cancelled: never counted
    task("i7", "review", "completed", t(20, month=2), t(20, 1, month=2))  # before the window
    # open now
    task("i10", "review", "open", now - timedelta(hours=2), due=now + timedelta(days=1))
    task("i10", "review", "open", now - timedelta(days=2), due=now - timedelta(hours=1))
    task("i10", "review", "open", now - timedelta(days=5))
    task("i10", "review", "open", now - timedelta(days=10), due=now - timedelta(days=3))
    task("i11", "triage", "open", now - timedelta(days=1, hours=1))
    task("i12", "approve", "open", now - timedelta(days=8), due=now + timedelta(days=2))

    def event(action, instance_id, element, at):
        db.session.add(AuditEvent(action=action, actor="worker:w1", instance_id=instance_id, at=at,
                                  details={"element_id": element}))

    for instance_id in ("i1", "i2", "i3"):
        event("job.completed", instance_id, "pay", t(1, 5))
    event("job.bpmn-error", "i4", "pay", t(4))
    event("timer.fired", "i2", "wait", t(2))
    event("job.retry-scheduled", "i1", "pay", t(1, 4))
    event("job.retry-scheduled", "i2", "pay", t(1, 4.5))
    event("job.completed", "i7", "pay", t(20, month=2))                  # before the window
    event("task.completed", "i1", "review", t(1, 1))                    # not a job

    def incident(instance_id, element, state, created):
        owner = db.session.get(ProcessInstance, instance_id)
        db.session.add(Incident(instance_id=instance_id, element_id=element, process_key=owner.process_key,
                                site=owner.site, kind="failed-job", message="boom", state=state,
                                created_at=created))

    incident("i10", "pay", "open", t(3))
    incident("i3", "pay", "resolved", t(4))
    incident("i10", "pay", "open", t(1, month=2))                       # opened before the window, still open
    incident("i11", "fetch", "open", t(9))

    db.session.add_all([
        Job(kind="service", state="ready", instance_id="i10", spiff_task_id="j1", element_id="pay",
            due_at=now - timedelta(minutes=1)),
        Job(kind="timer", state="ready", instance_id="i10", spiff_task_id="j2", element_id="wait",
            due_at=now + timedelta(hours=1)),
        Job(kind="service", state="failed", instance_id="i11", spiff_task_id="j3", element_id="fetch",
            due_at=now - timedelta(days=1)),
    ])
    add_crafted_stages(now)
    db.session.commit()


def add_crafted_stages(now: datetime) -> None:
    """Canonical-stage intervals (stays in a `status` value) of the crafted instances."""
    def stay(instance_id, stage, entered, left=None):
        owner = db.session.get(ProcessInstance, instance_id)
        db.session.add(StageInterval(instance_id=instance_id, process_key=owner.process_key, site=owner.site,
                                     definition_id=owner.definition_id, stage=stage, entered_at=entered, left_at=left))
        if left is None:
            owner.stage = stage

    # refund v1 NORTH, left in the window: submitted 2, 4, 3, 6, 1 h; approved 22, 20, 21, 66, 107 h
    stay("i1", "submitted", t(1), t(1, 2))
    stay("i1", "approved", t(1, 2), t(2))
    stay("i2", "submitted", t(1), t(1, 4))
    stay("i2", "approved", t(1, 4), t(2))
    stay("i2", "submitted", t(2), t(2, 3))       # back to submitted: a second stay
    stay("i2", "approved", t(2, 3), t(3))
    stay("i3", "submitted", t(2), t(2, 6))
    stay("i3", "approved", t(2, 6), t(5))
    stay("i4", "submitted", t(4), t(4, 1))
    stay("i4", "approved", t(4, 1), t(8, 12))
    stay("i5", "submitted", t(5), t(5, 6))       # refund v1 SOUTH: 6 h
    stay("i6", "submitted", t(6), t(7))          # refund v2 NORTH: 1 day
    # not in the window: left before it, at its exclusive end; not a stage's time: ended by the termination
    # of the instance (which closes its stay at its ended_at)
    stay("i7", "submitted", t(19, month=2), t(20, month=2))
    stay("i8", "submitted", t(9), t(11))
    stay("i9", "submitted", t(4), t(5))
    # in a stage now: running i10 for 3 days, running i11 for 2, suspended i12 for 9
    stay("i10", "submitted", now - timedelta(days=3))
    stay("i11", "received", now - timedelta(days=2))
    stay("i12", "approved", now - timedelta(days=9))
