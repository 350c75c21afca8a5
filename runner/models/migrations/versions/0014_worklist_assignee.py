"""task lists on PostgreSQL: the worklist index carries each task's assignee

Revision ID: 0014
Revises: 0013

On PostgreSQL, human_tasks' worklist index (state, site, (due_at IS NULL), due_at, created_at, id) gets
INCLUDE (assignee). A Group tasks list reads a site's unclaimed tasks in that index's order: without the
assignee in it, PostgreSQL fetched every entry's row to test `assignee IS NULL`, through the whole range
of a site where none of the tasks is the user's (bench/task_list.py, 100,000 open tasks: the page 42 to
46 ms, 32 ms with it). SQLite has no INCLUDE and keeps the index as it is (its Group list is read
another way, worklists._sites_by_site). The index is rebuilt in the migration's transaction, which
holds human_tasks against writes while it builds.
"""
from alembic import op
import sqlalchemy as sa

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

WORKLIST = ["state", "site", sa.text("(due_at IS NULL)"), "due_at", "created_at", "id"]


def _rebuild(**options) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_human_tasks_worklist", table_name="human_tasks")
    op.create_index("ix_human_tasks_worklist", "human_tasks", WORKLIST, unique=False, **options)


def upgrade() -> None:
    _rebuild(postgresql_include=["assignee"])


def downgrade() -> None:
    _rebuild()
