"""metrics: a human task names its version, and the open work per step comes from one index

Revision ID: 0013
Revises: 0012

human_tasks.definition_id: the version a task is open under (its instance's; an instance moved to another
version takes its open tasks along) or ran under. The metrics grouped tasks by version through a join to
their instances, one row lookup per task: the dashboard's queue aging read every open task's instance
(bench/task_list.py, 100,000 open tasks: 144 ms of a staff member's 189 ms dashboard).
human_tasks (state, process_key, definition_id, site, element_id, created_at, due_at, name) then answers
the open work per step (queue aging, SLA) from the index alone, in the order they group it. Led by (state,
site) instead, SQLite's planner took it for the Group tasks page and sorted every open task at the user's
sites (27 -> 85 ms at 100,000 open tasks).

Existing rows take their instance's version, except the ended tasks of an instance moved since: they
take the version it was moved from at the first move after they ended (the `from_version` of its
instance.migrated audit row). And stays in a canonical stage that an instance's end left open (only a
database that ran revision 0010 before terminations closed them has any) are closed at that end: the
metrics now count every open stay as an instance in its stage.
"""
from alembic import op
import sqlalchemy as sa

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

OPEN_STEPS = ["state", "process_key", "definition_id", "site", "element_id", "created_at", "due_at", "name"]
FROM_VERSION = {"sqlite": "CAST(json_extract(a.details, '$.from_version') AS INTEGER)",
                "postgresql": "CAST(a.details->>'from_version' AS INTEGER)"}


def upgrade() -> None:
    op.add_column("human_tasks", sa.Column("definition_id", sa.Integer(), nullable=True))
    op.execute("UPDATE human_tasks SET definition_id = "
               "(SELECT p.definition_id FROM process_instances p WHERE p.id = human_tasks.instance_id)")
    from_version = FROM_VERSION.get(op.get_bind().dialect.name)
    if from_version is not None:
        ran_under = ("SELECT d.id FROM audit_events a JOIN process_definitions d "
                     f"ON d.process_key = human_tasks.process_key AND d.version = {from_version} "
                     "WHERE a.instance_id = human_tasks.instance_id AND a.action = 'instance.migrated' "
                     "AND a.at >= human_tasks.completed_at ORDER BY a.at, a.id LIMIT 1")
        op.execute(f"UPDATE human_tasks SET definition_id = COALESCE(({ran_under}), definition_id) "
                   "WHERE state <> 'open' AND completed_at IS NOT NULL")
    op.execute("UPDATE stage_intervals SET left_at = "
               "(SELECT p.ended_at FROM process_instances p WHERE p.id = stage_intervals.instance_id) "
               "WHERE left_at IS NULL AND EXISTS (SELECT 1 FROM process_instances p WHERE "
               "p.id = stage_intervals.instance_id AND p.state IN ('completed', 'terminated') "
               "AND p.ended_at IS NOT NULL)")
    op.create_index("ix_human_tasks_open_steps", "human_tasks", OPEN_STEPS, unique=False)


def downgrade() -> None:
    op.drop_index("ix_human_tasks_open_steps", table_name="human_tasks")
    op.drop_column("human_tasks", "definition_id")  # SQLite 3.35+ drops a column in place
