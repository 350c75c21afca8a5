"""task lists: a total worklist order, and the caller's task ids from indexes alone

Revision ID: 0011
Revises: 0010

- human_tasks (state, site, (due_at IS NULL), due_at, created_at, id) replaces the same index without
  the id: the id is the list's last order key, so tasks due and created at the same instant (the
  children of a parallel multi-instance task) keep their places between pages, and a site's open task
  ids come from the index without reading the rows;
- task_candidates (kind, value, task_id) replaces (kind, value): the ids of the tasks offered to a
  user or to their groups, read from the index alone;
- human_tasks (completed_by): the tasks a user completed, the third way a task is theirs.

A staff member's task list keeps a site's open tasks, walked in order, whose ids are among those
(bench/task_list.py, 100,000 open instances, the inbox of a staff member at two sites: p50 about 62 ms -> about
31 ms; the walk of a site where nothing is theirs reads only index entries, no row and no candidate lookup).
"""
from alembic import op
import sqlalchemy as sa

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

WORKLIST = ["state", "site", sa.text("(due_at IS NULL)"), "due_at", "created_at"]


def upgrade() -> None:
    op.drop_index("ix_human_tasks_worklist", table_name="human_tasks")
    op.create_index("ix_human_tasks_worklist", "human_tasks", WORKLIST + ["id"], unique=False)
    op.drop_index("ix_task_candidates_kind_value", table_name="task_candidates")
    op.create_index("ix_task_candidates_kind_value", "task_candidates", ["kind", "value", "task_id"], unique=False)
    op.create_index("ix_human_tasks_completed_by", "human_tasks", ["completed_by"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_human_tasks_completed_by", table_name="human_tasks")
    op.drop_index("ix_task_candidates_kind_value", table_name="task_candidates")
    op.create_index("ix_task_candidates_kind_value", "task_candidates", ["kind", "value"], unique=False)
    op.drop_index("ix_human_tasks_worklist", table_name="human_tasks")
    op.create_index("ix_human_tasks_worklist", "human_tasks", WORKLIST, unique=False)
