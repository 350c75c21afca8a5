"""Incidents: jobs that ran out of retries or hit an unhandled BPMN error, and their admin retry."""
from __future__ import annotations

from sqlalchemy import select

from ..models import Incident, Job, db, utcnow
from . import audit
from .accounts import Principal
from .errors import Conflict, Forbidden, NotFound
from .transaction import transactional


def _admin_only(actor: Principal) -> None:
    if not actor.is_admin:
        raise Forbidden("incidents are for admins")


def list_incidents(actor: Principal, state: str | None = "open", process_key: str | None = None,
                   site: str | None = None, limit: int = 100, offset: int = 0) -> list[Incident]:
    _admin_only(actor)
    query = select(Incident).order_by(Incident.created_at.desc(), Incident.id.desc())
    if state:
        query = query.where(Incident.state == state)
    if process_key:
        query = query.where(Incident.process_key == process_key)
    if site:
        query = query.where(Incident.site == site)
    return list(db.session.scalars(query.limit(limit).offset(offset)))


def get_incident(incident_id: int, actor: Principal) -> Incident:
    _admin_only(actor)
    incident = db.session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"incident {incident_id} does not exist")
    return incident


@transactional
def retry_incident(incident_id: int, actor: Principal) -> Incident:
    """Give the failed job a fresh set of attempts, due now; the incident is resolved by the retry."""
    incident = get_incident(incident_id, actor)
    if incident.state != "open":
        raise Conflict(f"incident {incident_id} is already {incident.state}")
    job = db.session.get(Job, incident.job_id) if incident.job_id else None
    if job is None:
        raise Conflict("the incident's job no longer exists; the instance has moved on")
    job.state = "ready"
    job.attempts = 0
    job.due_at = utcnow()
    job.locked_by = job.locked_until = None
    incident.state = "resolved"
    incident.resolved_at = utcnow()
    incident.resolved_by = actor.username
    audit.record("incident.retried", actor, instance_id=incident.instance_id, element_id=incident.element_id,
                 incident_id=incident.id)
    return incident
