"""indexes for the metrics (cycle times, throughput, SLA, incident and retry rates)

Revision ID: 0006
Revises: 0005

(state first: SQLite, without statistics, prefers an index that serves both the equality and the range)
- process_instances (state, ended_at, process_key, site, definition_id, started_at): cycle times and
  instances completed per day in a date window, read from the index alone;
- process_instances (state, process_key, site): instances by state (Prometheus) from the index alone;
- human_tasks (state, completed_at): stage durations, late completions and tasks completed per day;
- audit_events (action, at): jobs finished and retries scheduled in a window;
- incidents (created_at): incidents opened in a window.
"""
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEXES = (
    ("process_instances", "ix_process_instances_ended",
     ["state", "ended_at", "process_key", "site", "definition_id", "started_at"]),
    ("process_instances", "ix_process_instances_state_key_site", ["state", "process_key", "site"]),
    ("human_tasks", "ix_human_tasks_completed", ["state", "completed_at"]),
    ("audit_events", "ix_audit_events_action_at", ["action", "at"]),
    ("incidents", "ix_incidents_created_at", ["created_at"]),
)


def upgrade() -> None:
    for table, name, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for table, name, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
