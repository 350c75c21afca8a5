"""task lists read open tasks in due order from one index

Revision ID: 0007
Revises: 0006

human_tasks (state, site, (due_at IS NULL), due_at, created_at) replaces (state, site): a task list is
`state = 'open' AND site IN (...)` ordered by due date with undated tasks last, so the first page comes
straight from the index instead of sorting every open task of the caller's sites (100,000 open
instances: about 50 ms -> about 10 ms, bench/task_list.py).
"""
from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_human_tasks_worklist", "human_tasks",
                    ["state", "site", sa.text("(due_at IS NULL)"), "due_at", "created_at"], unique=False)
    op.drop_index("ix_human_tasks_open_site", table_name="human_tasks")


def downgrade() -> None:
    op.create_index("ix_human_tasks_open_site", "human_tasks", ["state", "site"], unique=False)
    op.drop_index("ix_human_tasks_worklist", table_name="human_tasks")
