"""metrics: a human task names its version, and the open work per step comes from one index

Revision ID: 0013
Revises: 0012

human_tasks.definition_id: the version a task is open under (its instance's; an instance moved to another
version takes its open tasks along) or ran under. The metrics grouped tasks by version through a join to
their instances, one row lookup per task: the dashboard's queue aging read every open task's instance
(bench/task_list.py, 100,000 open tasks: 144 ms of a staff member's 189 ms dashboard).
human_tasks (state, site, process_key, definition_id, element_id, created_at, due_at, name) then answers
the open work per step (queue aging, SLA) from the index alone.

Existing rows take their instance's version now: the version an ended task of a moved instance ran
under is not recorded anywhere a migration could read it.
"""
from alembic import op
import sqlalchemy as sa

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

OPEN_STEPS = ["state", "site", "process_key", "definition_id", "element_id", "created_at", "due_at", "name"]


def upgrade() -> None:
    op.add_column("human_tasks", sa.Column("definition_id", sa.Integer(), nullable=True))
    op.execute("UPDATE human_tasks SET definition_id = "
               "(SELECT p.definition_id FROM process_instances p WHERE p.id = human_tasks.instance_id)")
    op.create_index("ix_human_tasks_open_steps", "human_tasks", OPEN_STEPS, unique=False)


def downgrade() -> None:
    op.drop_index("ix_human_tasks_open_steps", table_name="human_tasks")
    op.drop_column("human_tasks", "definition_id")  # SQLite 3.35+ drops a column in place
