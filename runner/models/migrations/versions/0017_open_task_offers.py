"""task lists: the offers of open tasks are a range of their own in the candidates' index

Revision ID: 0017
Revises: 0016

task_candidates keeps the candidates of every task, ended ones included (a completed task still shows
whom it was offered to). A staff member's lists test each open task against the set of task ids offered
to their groups, read from ix_task_candidates_kind_value (kind, value, task_id): every task ever offered
to those groups, so the lists slowed down as history piled up. task_open (true while the task is open, set
false in the flush that ends it) goes into the index before task_id, so the open tasks' offers are one
range per group, however many have ended (and the lists no longer read every task the user completed).
bench/task_list.py, 100,000 open tasks and 400,000 completed (one in twenty by the user), p50 before -> after:
SQLite: Group tasks page 92 -> 32 ms, inbox 203 -> 22 ms, My tasks 37 -> 12 ms;
PostgreSQL: Group tasks page 238 -> 42 ms, inbox 145 -> 26 ms, site + group 174 -> 31 ms, My tasks 47 -> 17 ms.
"""
from alembic import op
import sqlalchemy as sa

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


CANDIDATES = sa.table("task_candidates", sa.column("task_id"), sa.column("task_open"))
TASKS = sa.table("human_tasks", sa.column("id"), sa.column("state"))


def upgrade() -> None:
    op.add_column("task_candidates", sa.Column("task_open", sa.Boolean(), nullable=False, server_default=sa.true()))
    ended = sa.select(TASKS.c.id).where(TASKS.c.state != "open")
    op.execute(CANDIDATES.update().where(CANDIDATES.c.task_id.in_(ended)).values(task_open=False))
    op.drop_index("ix_task_candidates_kind_value", table_name="task_candidates")
    op.create_index("ix_task_candidates_offers", "task_candidates", ["kind", "value", "task_open", "task_id"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_task_candidates_offers", table_name="task_candidates")
    op.create_index("ix_task_candidates_kind_value", "task_candidates", ["kind", "value", "task_id"], unique=False)
    op.drop_column("task_candidates", "task_open")
