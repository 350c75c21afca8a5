"""Process instances and the human-task rows derived from them."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, event, inspect, text, true, update
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from .base import db, new_id, utcnow
from .deployments import ProcessDefinition


class ProcessInstance(db.Model):
    __tablename__ = "process_instances"
    __table_args__ = (
        # metrics (migration 0006): cycle times and completions per day, instances by state, from the index alone
        Index("ix_process_instances_ended", "state", "ended_at", "process_key", "site", "definition_id", "started_at"),
        Index("ix_process_instances_state_key_site", "state", "process_key", "site"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(200), index=True)
    business_key: Mapped[str | None] = mapped_column(String(200), index=True)
    site: Mapped[str] = mapped_column(String(40), index=True)
    # running | completed | terminated; found by the two indexes above, which it leads (migration 0015)
    state: Mapped[str] = mapped_column(String(20))
    end_event: Mapped[str | None] = mapped_column(String(200))
    variables: Mapped[dict] = mapped_column(JSON, default=dict)
    activities: Mapped[list] = mapped_column(JSON, default=list)  # element ids where tokens wait
    workflow_state: Mapped[str] = mapped_column(Text)
    lock_version: Mapped[int] = mapped_column(default=1)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_by: Mapped[str] = mapped_column(String(120))
    ended_at: Mapped[datetime | None]
    # the canonical stage (its `status` variable) the instance is in now: its open stage interval's (migration 0010)
    stage: Mapped[str | None] = mapped_column(String(200))

    definition: Mapped[ProcessDefinition] = relationship()
    tasks: Mapped[list["HumanTask"]] = relationship(back_populates="instance")

    __mapper_args__ = {"version_id_col": lock_version}

    def knows_version(self, version: int) -> None:
        """Remember the number of the version this instance runs (its starter just read it), so that
        showing it (`version`) costs no SELECT of its definition."""
        self._known_version = (self.definition_id, version)

    @property
    def version(self) -> int:
        """The number of the process version this instance runs."""
        known = self.__dict__.get("_known_version")
        if known is not None and known[0] == self.definition_id:
            return known[1]
        return self.definition.version


class HumanTask(db.Model):
    __tablename__ = "human_tasks"
    __table_args__ = (
        # task lists: open tasks at a site in due order (nulls last), read in index order (migration 0007),
        # the id last: a total order, and the ids without reading the rows (migration 0011)
        Index("ix_human_tasks_worklist", "state", "site", text("(due_at IS NULL)"), "due_at", "created_at", "id",
              postgresql_include=["assignee"]),  # a Group list's unclaimed test from the index (migration 0014)
        Index("ix_human_tasks_completed", "state", "completed_at"),  # metrics (migration 0006)
        # a user's open tasks at their sites ("my tasks"); the unclaimed ones are not in it (migration 0012)
        Index("ix_human_tasks_assigned", "assignee", "state", "site", sqlite_where=text("assignee IS NOT NULL"),
              postgresql_where=text("assignee IS NOT NULL")),
        # the metrics' open work per step (queue aging, SLA) from the index alone, in the order they group it
        # (migration 0013); not led by (state, site), which made SQLite's planner take it for the task lists
        Index("ix_human_tasks_open_steps", "state", "process_key", "definition_id", "site", "element_id", "created_at",
              "due_at", "name"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instances.id"), index=True)
    # the version the task is open under (its instance's) or ran under, so the metrics group tasks by version
    # without joining the instances (migration 0013); an instance moved to another version takes its open
    # tasks along (instance_migration). A copy, not a foreign key: the instance's own key keeps it honest
    definition_id: Mapped[int | None]
    spiff_task_id: Mapped[str] = mapped_column(String(36), unique=True)
    element_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    process_key: Mapped[str] = mapped_column(String(200), index=True)
    business_key: Mapped[str | None] = mapped_column(String(200))
    site: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(20), default="open")  # open | completed | cancelled
    assignee: Mapped[str | None] = mapped_column(String(120))
    form_ref: Mapped[str | None] = mapped_column(String(200))
    due_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    completed_by: Mapped[str | None] = mapped_column(String(120), index=True)  # task lists (migration 0011)
    # the task's own variables (migration 0009): what its data holds apart from the instance's variables,
    # e.g. a multi-instance child's element variable; {} when none, None for rows older than 0009
    local_variables: Mapped[dict | None] = mapped_column(JSON)

    instance: Mapped[ProcessInstance] = relationship(back_populates="tasks")
    candidates: Mapped[list["TaskCandidate"]] = relationship(
        back_populates="task", cascade="all, delete-orphan"
    )

    @property
    def candidate_groups(self) -> list[str]:
        return [c.value for c in self.candidates if c.kind == "group"]

    @property
    def candidate_users(self) -> list[str]:
        return [c.value for c in self.candidates if c.kind == "user"]


class TaskCandidate(db.Model):
    """One candidate group or user of a human task: indexed, so task lists filter in SQL."""

    __tablename__ = "task_candidates"
    # the ids of the tasks offered to a user or group, open or ended, from the index alone (task_id: migration
    # 0011; task_open: 0017, so that the open tasks' are a range of their own however many have ended)
    __table_args__ = (Index("ix_task_candidates_offers", "kind", "value", "task_open", "task_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("human_tasks.id"), index=True)
    kind: Mapped[str] = mapped_column(String(5))  # group | user
    value: Mapped[str] = mapped_column(String(120))
    # whether its task is open: set false by the flush that ends the task (_close_offers_of_ended_tasks)
    task_open: Mapped[bool] = mapped_column(default=True, server_default=true())

    task: Mapped[HumanTask] = relationship(back_populates="candidates")


@event.listens_for(Session, "after_flush")
def _close_offers_of_ended_tasks(session: Session, _context) -> None:
    """A task leaves "open" once (completed, or cancelled by its instance or an admin), and never comes back:
    whatever ended it, its candidate rows say so in the same transaction, with one UPDATE after the flush
    that wrote it (so rows this flush inserted are among them). Written by an UPDATE statement of its own
    instead, a task's state would have to close its offers there too; nothing in Lanes does that."""
    # each task this flush wrote with a state but open: set now, whether or not what it was had been loaded
    # (after a commit it is expired, and setting it then keeps no old value to compare with)
    ended = [task.id for task in (*session.new, *session.dirty) if isinstance(task, HumanTask)
             and task.state not in ("open", None) and inspect(task).attrs.state.history.has_changes()]
    if ended:
        session.connection().execute(update(TaskCandidate).where(TaskCandidate.task_id.in_(ended))
                                     .values(task_open=False))
