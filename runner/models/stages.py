"""Canonical-stage intervals: how long each instance stayed in each value of its `status` variable.

Derived by services/instances.save_workflow in the instance save's transaction, so the metrics never
deserialize a workflow. An instance is in a stage while its `status` process variable holds a non-empty
string (the sample processes keep their canonical state there, see processes/*/README.md); the stage
it is in now is also on process_instances.stage, so a save whose status did not change costs no query.
When the status changes, the open interval closes (left_at = the save's time) and the new one opens;
when the instance completes, the open interval closes at ended_at and none opens. A status set and
replaced within one step (no wait between) is never seen and takes no time.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import db

MAX_STAGE = 200


class StageInterval(db.Model):
    __tablename__ = "stage_intervals"
    __table_args__ = (
        # metrics (migration 0010): intervals that ended in a window, per process/site/stage/version,
        # durations from the index alone; and (left_at IS NULL) the stages instances are in now
        Index("ix_stage_intervals_left", "left_at", "process_key", "site", "stage", "definition_id", "entered_at"),
        # a save closes its instance's open interval
        Index("ix_stage_intervals_instance", "instance_id", "left_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instances.id"))
    process_key: Mapped[str] = mapped_column(String(200))
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"))  # the version it entered under
    site: Mapped[str] = mapped_column(String(40))
    stage: Mapped[str] = mapped_column(String(MAX_STAGE))
    entered_at: Mapped[datetime]
    left_at: Mapped[datetime | None]  # null: the instance is in this stage now (running or suspended)
