"""Analysts' drafts: edited files of a workspace (a process folder) that are not deployed yet.

`base_deployment_id` is the deployment the workspace showed when its first draft was saved (None for a
workspace that was never deployed): deploying the drafts is refused once a newer version of its processes
is deployed, until the analyst has reviewed it and rebased the drafts (services.workspaces).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import db, utcnow


class DraftFile(db.Model):
    __tablename__ = "draft_files"
    __table_args__ = (UniqueConstraint("workspace", "filename"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace: Mapped[str] = mapped_column(String(200), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(120))
    base_deployment_id: Mapped[int | None] = mapped_column(ForeignKey("deployments.id"), nullable=True)
