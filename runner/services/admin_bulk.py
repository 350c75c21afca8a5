"""Suspend and resume instances, and retry incidents, one at a time or in bulk with a dry run first.

A suspended instance keeps its state, tasks, jobs and message waits, but nothing moves it: workers
do not claim its jobs (their due dates stay), its tasks cannot be completed, and messages for it are
kept as pending until it is resumed (resuming delivers them). Bulk actions report, per item, whether
it can be (dry run) or was acted on and why not; each item is its own transaction.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from ..models import Incident, Job, ProcessDefinition, ProcessInstance, db
from . import audit, incidents, messages
from .accounts import Principal
from .errors import Conflict, Forbidden, Invalid, ServiceError
from .instances import get_instance
from .transaction import transactional

MAX_ITEMS = 10_000
MAX_REASON = 500


@dataclass
class BulkItem:
    id: str
    ok: bool                      # dry run: would be acted on; real run: was acted on
    reason: str | None = None     # why not, or a note
    details: dict = field(default_factory=dict)


@dataclass
class BulkReport:
    action: str
    dry_run: bool
    items: list[BulkItem]
    truncated: bool = False


def _require_admin(actor: Principal, what: str) -> None:
    if not actor.is_admin:
        raise Forbidden(f"only an admin may {what}")


def _reason(reason) -> str:
    if reason is None:
        return ""
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise Invalid(f"reason is text of at most {MAX_REASON} characters", errors={"reason": "Too long"})
    return reason.strip()


# --- one instance ---------------------------------------------------------------------

def _change_state(instance_id, actor, reason, action: str, done: str, before: str, after: str) -> ProcessInstance:
    _require_admin(actor, f"{action} instances")
    reason = _reason(reason)
    instance = get_instance(instance_id, actor)
    if instance.state != before:
        raise Conflict(f"instance {instance_id} is {instance.state}; only {before} instances can be {done}")
    instance.state = after
    audit.record(f"instance.{done}", actor, instance_id=instance.id, reason=reason,
                 activities=list(instance.activities or []))
    db.session.flush()
    return instance


@transactional
def suspend_instance(instance_id: str, actor: Principal, reason: str | None = None) -> ProcessInstance:
    return _change_state(instance_id, actor, reason, "suspend", "suspended", "running", "suspended")


@transactional
def resume_instance(instance_id: str, actor: Principal, reason: str | None = None) -> ProcessInstance:
    instance = _change_state(instance_id, actor, reason, "resume", "resumed", "suspended", "running")
    messages.deliver_pending_for(instance)  # messages kept while it was suspended
    return instance


# --- in bulk ---------------------------------------------------------------------------

def select_instance_ids(query, *, site=None, state=None, instance_ids=None, limit: int = MAX_ITEMS
                        ) -> tuple[list[str], bool]:
    """The ids `query` (a select of ProcessInstance.id) finds with the common filters, oldest first,
    at most `limit` of them; and whether there were more."""
    if state is not None:
        if not isinstance(state, str):
            raise Invalid("state must be an instance state", errors={"state": "An instance state"})
        query = query.where(ProcessInstance.state == state)
    if site:
        query = query.where(ProcessInstance.site == site)
    if instance_ids is not None:
        if not isinstance(instance_ids, list) or not all(isinstance(i, str) for i in instance_ids):
            raise Invalid("instanceIds must be a list of instance ids", errors={"instanceIds": "A list of ids"})
        query = query.where(ProcessInstance.id.in_(instance_ids))
    ids = list(db.session.scalars(query.order_by(ProcessInstance.started_at, ProcessInstance.id).limit(limit + 1)))
    db.session.rollback()
    return ids[:limit], len(ids) > limit


def _instance_ids(process_key, version, site, state, instance_ids) -> tuple[list[str], bool]:
    if not process_key and not instance_ids:
        raise Invalid("say which instances: processKey (with optional version, site, state) or instanceIds",
                      errors={"processKey": "processKey or instanceIds is required"})
    query = select(ProcessInstance.id)
    if process_key:
        query = query.where(ProcessInstance.process_key == process_key)
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, int):
            raise Invalid("version must be a version number", errors={"version": "A version number"})
        query = query.join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id).where(
            ProcessDefinition.version == version)
    return select_instance_ids(query, site=site, state=state, instance_ids=instance_ids)


def _bulk_state_change(action: str, required_state: str, act, actor: Principal, *, process_key=None, version=None,
                       site=None, state=None, instance_ids=None, reason=None, dry_run=True) -> BulkReport:
    _require_admin(actor, f"{action} instances")
    reason = _reason(reason)
    ids, truncated = _instance_ids(process_key, version, site, state, instance_ids)
    report = BulkReport(action, dry_run, [], truncated)
    for instance_id in ids:
        instance = db.session.get(ProcessInstance, instance_id)
        details = {"processKey": instance.process_key, "site": instance.site, "state": instance.state}
        if instance.state != required_state:
            item = BulkItem(instance_id, False, f"the instance is {instance.state}", details)
        elif dry_run:
            item = BulkItem(instance_id, True, None, details)
        else:
            try:
                act(instance_id, actor, reason)
                item = BulkItem(instance_id, True, None, details)
            except ServiceError as exc:
                item = BulkItem(instance_id, False, exc.detail, details)
        db.session.rollback()
        report.items.append(item)
    return report


def bulk_suspend(actor: Principal, **filters) -> BulkReport:
    """Suspend the selected running instances (dry run unless dry_run=False)."""
    return _bulk_state_change("suspend", "running", suspend_instance, actor, **filters)


def bulk_resume(actor: Principal, **filters) -> BulkReport:
    """Resume the selected suspended instances (dry run unless dry_run=False)."""
    return _bulk_state_change("resume", "suspended", resume_instance, actor, **filters)


def bulk_retry_incidents(actor: Principal, *, process_key=None, site=None, element_id=None, incident_ids=None,
                         dry_run=True) -> BulkReport:
    """Retry the selected open incidents: their jobs get fresh attempts, due now."""
    _require_admin(actor, "retry incidents")
    query = select(Incident).where(Incident.state == "open").order_by(Incident.created_at, Incident.id)
    if process_key:
        query = query.where(Incident.process_key == process_key)
    if site:
        query = query.where(Incident.site == site)
    if element_id:
        query = query.where(Incident.element_id == element_id)
    if incident_ids is not None:
        if not isinstance(incident_ids, list) or not all(isinstance(i, int) and not isinstance(i, bool)
                                                         for i in incident_ids):
            raise Invalid("incidentIds must be a list of incident ids", errors={"incidentIds": "A list of numbers"})
        query = query.where(Incident.id.in_(incident_ids))
    found = list(db.session.scalars(query.limit(MAX_ITEMS + 1)))
    report = BulkReport("retry-incidents", dry_run, [], len(found) > MAX_ITEMS)
    plans = []
    for incident in found[:MAX_ITEMS]:
        details = {"instanceId": incident.instance_id, "elementId": incident.element_id,
                   "processKey": incident.process_key, "site": incident.site, "kind": incident.kind}
        job = db.session.get(Job, incident.job_id) if incident.job_id else None
        instance = db.session.get(ProcessInstance, incident.instance_id) if incident.instance_id else None
        if job is None:
            plans.append(BulkItem(str(incident.id), False, "its job no longer exists; the instance has moved on", details))
            continue
        note = "the instance is suspended: the job runs once it is resumed" if (
            instance is not None and instance.state == "suspended") else None
        plans.append(BulkItem(str(incident.id), True, note, details))
    db.session.rollback()
    for item in plans:
        if item.ok and not dry_run:
            try:
                incidents.retry_incident(int(item.id), actor=actor)
            except ServiceError as exc:
                item.ok, item.reason = False, exc.detail
        report.items.append(item)
    return report
