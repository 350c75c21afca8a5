"""The audit trail: one row per state change, written in the same transaction as the change."""
from __future__ import annotations

from sqlalchemy import select

from ..models import AuditEvent, db


def record(action: str, actor: str, *, instance_id=None, task_id=None, deployment_id=None, **details) -> AuditEvent:
    event = AuditEvent(action=action, actor=actor, instance_id=instance_id, task_id=task_id,
                       deployment_id=deployment_id, details=details)
    db.session.add(event)
    return event


def history(instance_id: str) -> list[AuditEvent]:
    return list(db.session.scalars(
        select(AuditEvent).where(AuditEvent.instance_id == instance_id).order_by(AuditEvent.id)))
