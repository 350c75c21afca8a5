"""work lists: the tasks assigned to a user, from a partial index of assigned tasks

Revision ID: 0012
Revises: 0011

human_tasks (assignee, state, site) WHERE assignee IS NOT NULL replaces human_tasks (assignee). "My tasks"
and its count in the navigation of every page ask for a user's open tasks at their sites: the old index
held a NULL entry for every unclaimed task, so the planner took the worklist index instead and read every
open task at the user's sites (bench/task_list.py, 100,000 open tasks: 32 ms for a user with none, now
0.1 ms). Partial, so that the unclaimed tasks (assignee IS NULL: the group lists) keep the worklist index
and its order.
"""
from alembic import op
import sqlalchemy as sa

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

ASSIGNED = sa.text("assignee IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_human_tasks_assignee", table_name="human_tasks")
    op.create_index("ix_human_tasks_assigned", "human_tasks", ["assignee", "state", "site"], unique=False,
                    sqlite_where=ASSIGNED, postgresql_where=ASSIGNED)


def downgrade() -> None:
    op.drop_index("ix_human_tasks_assigned", table_name="human_tasks")
    op.create_index("ix_human_tasks_assignee", "human_tasks", ["assignee"], unique=False)
