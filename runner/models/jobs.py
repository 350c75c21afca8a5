"""Jobs (service calls, timers) that workers claim, and the incidents failed jobs open."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import db, utcnow


class Job(db.Model):
    """One unit of engine work due at `due_at`; the database is the source of truth for it."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_claimable", "state", "due_at"),
        UniqueConstraint("spiff_task_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # service | timer | start-timer
    state: Mapped[str] = mapped_column(String(20), default="ready")  # ready | failed
    instance_id: Mapped[str | None] = mapped_column(ForeignKey("process_instances.id"), index=True)
    definition_id: Mapped[int | None] = mapped_column(ForeignKey("process_definitions.id"))
    spiff_task_id: Mapped[str | None] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str | None] = mapped_column(String(200))
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=3)
    retry_cycle: Mapped[str | None] = mapped_column(String(200))
    schedule: Mapped[str | None] = mapped_column(String(200))  # start-timer: repetitions left, e.g. R2/PT3600S
    locked_by: Mapped[str | None] = mapped_column(String(120))
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Incident(db.Model):
    """A job that ran out of retries (or an unhandled BPMN error): waits for an admin."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[str] = mapped_column(String(20), default="open", index=True)  # open | resolved
    instance_id: Mapped[str | None] = mapped_column(ForeignKey("process_instances.id"), index=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    element_id: Mapped[str] = mapped_column(String(200))
    process_key: Mapped[str | None] = mapped_column(String(200))
    site: Mapped[str | None] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(40))  # failed-job | unhandled-error
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)  # ix_incidents_created_at (0006)
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(120))
