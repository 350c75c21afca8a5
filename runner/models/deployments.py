"""Deployments, their immutable files, and the process definitions they version."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import db, utcnow


class Deployment(db.Model):
    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))

    files: Mapped[list["DeploymentFile"]] = relationship(
        back_populates="deployment", order_by="DeploymentFile.filename"
    )
    definitions: Mapped[list["ProcessDefinition"]] = relationship(back_populates="deployment")


class DeploymentFile(db.Model):
    __tablename__ = "deployment_files"
    __table_args__ = (UniqueConstraint("deployment_id", "filename"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(10))  # bpmn | dmn | form
    content: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))

    deployment: Mapped[Deployment] = relationship(back_populates="files")


class ProcessDefinition(db.Model):
    __tablename__ = "process_definitions"
    __table_args__ = (UniqueConstraint("process_key", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    process_key: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int]
    name: Mapped[str] = mapped_column(String(200))
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    deployment: Mapped[Deployment] = relationship(back_populates="definitions")
