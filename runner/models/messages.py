"""Inbound messages (events other systems send) and the message subscriptions derived from instances."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import db, new_id, utcnow
from .instances import ProcessInstance


class MessageSubscription(db.Model):
    """One task of a running instance that waits for a message; derived in the instance's save."""

    __tablename__ = "message_subscriptions"
    __table_args__ = (
        UniqueConstraint("instance_id", "spiff_task_id"),
        Index("ix_message_subscriptions_name_key", "message_name", "business_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instances.id"), index=True)
    message_name: Mapped[str] = mapped_column(String(200))
    business_key: Mapped[str | None] = mapped_column(String(200))
    process_key: Mapped[str] = mapped_column(String(200))
    site: Mapped[str] = mapped_column(String(40))
    element_id: Mapped[str] = mapped_column(String(200))
    spiff_task_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(20))  # start | catch | receive | boundary
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    instance: Mapped[ProcessInstance] = relationship()


class InboundMessage(db.Model):
    """A message sent to POST /messages, remembered under its idempotency key with what it did.

    state: pending (no instance waited; kept until `expires_at`), delivered (started or moved an
    instance), failed (a later delivery made the process fail; see `last_error`). A pending message
    past `expires_at` is expired: it is never delivered and admins list it.
    """

    __tablename__ = "inbound_messages"
    __table_args__ = (Index("ix_inbound_messages_pending", "state", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    business_key: Mapped[str | None] = mapped_column(String(200))
    correlation_keys: Mapped[dict] = mapped_column(JSON, default=dict)
    process_key: Mapped[str | None] = mapped_column(String(200))
    site: Mapped[str | None] = mapped_column(String(40))
    allowed_sites: Mapped[list | None] = mapped_column(JSON)  # the sender's sites; None: any (an admin)
    variables: Mapped[dict] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    outcome: Mapped[str | None] = mapped_column(String(20))  # started | correlated
    instance_id: Mapped[str | None] = mapped_column(ForeignKey("process_instances.id"), index=True)
    element_ids: Mapped[list] = mapped_column(JSON, default=list)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    received_by: Mapped[str] = mapped_column(String(120))
    expires_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)

    # the instance it went to: a relationship, so a flush inserts a new instance before this row points at it
    instance: Mapped[ProcessInstance | None] = relationship()
