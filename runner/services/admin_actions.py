"""Admin actions on running instances that the other services do not offer: terminate.

One transaction each, audit row included. Terminating stops an instance for good: its open tasks
are cancelled, its jobs (service calls, timers) removed, its open incidents resolved; the workflow
state is kept as it was, for the record.
"""
from __future__ import annotations

from sqlalchemy import select

from ..models import HumanTask, Incident, db, utcnow
from . import audit, jobs
from .accounts import Principal
from .errors import Conflict, Forbidden, Invalid
from .instances import get_instance, sync_stage
from .transaction import transactional

ENDED = ("completed", "terminated")
MAX_REASON = 500


@transactional
def terminate_instance(instance_id: str, actor: Principal, reason: str = ""):
    """End a running instance now (admins only); returns the instance."""
    if not actor.is_admin:
        raise Forbidden("only an admin may terminate an instance")
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise Invalid(f"the reason is text of at most {MAX_REASON} characters",
                      errors={"reason": f"At most {MAX_REASON} characters"})
    instance = get_instance(instance_id, actor)
    if instance.state in ENDED:
        raise Conflict(f"instance {instance_id} is already {instance.state}")
    now = utcnow()
    cancelled = []
    for task in db.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                           HumanTask.state == "open")):
        task.state, task.completed_at = "cancelled", now
        cancelled.append(task.id)
    resolved = []
    for incident in db.session.scalars(select(Incident).where(Incident.instance_id == instance.id,
                                                              Incident.state == "open")):
        incident.state, incident.resolved_at, incident.resolved_by = "resolved", now, actor.username
        incident.job_id = None
        resolved.append(incident.id)
    db.session.flush()
    jobs.delete_instance_jobs(instance.id)
    activities = list(instance.activities or [])
    instance.state, instance.ended_at, instance.activities = "terminated", now, []
    sync_stage(instance, now)  # its last canonical stage ends here too
    audit.record("instance.terminated", actor, instance_id=instance.id, reason=reason.strip(),
                 activities=activities, cancelled_tasks=cancelled, resolved_incidents=resolved)
    db.session.flush()
    return instance
