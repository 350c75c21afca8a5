"""canonical-stage intervals per instance

Revision ID: 0010
Revises: 0009

- process_instances.stage: the canonical stage (the `status` process variable, a non-empty string) the
  instance is in now, so a save compares the new status with it without a query;
- stage_intervals (instance_id, process_key, definition_id, site, stage, entered_at, left_at): one row per
  stay in a stage, left_at null while the instance is in it; indexed by (left_at, process_key, site,
  stage, definition_id, entered_at) for the metrics (intervals ended in a window, durations from the
  index alone; left_at IS NULL for the stages instances are in now) and by (instance_id, left_at) for
  the save that closes an instance's open interval.

Running and suspended instances whose `status` is a non-empty string enter that stage here, at the time
of their latest audit row (else their start): the status was set at that time or before, so their first
interval is, if anything, too short. Ended instances get no intervals.
"""
from alembic import op
import sqlalchemy as sa

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

STATUS = {
    "sqlite": ("substr(json_extract(variables, '$.status'), 1, 200)",
               "json_type(variables, '$.status') = 'text' AND json_extract(variables, '$.status') <> ''"),
    "postgresql": ("left(variables->>'status', 200)",
                   "json_typeof(variables->'status') = 'string' AND variables->>'status' <> ''"),
}


def upgrade() -> None:
    op.add_column("process_instances", sa.Column("stage", sa.String(length=200), nullable=True))
    op.create_table(
        "stage_intervals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.String(length=32), nullable=False),
        sa.Column("process_key", sa.String(length=200), nullable=False),
        sa.Column("definition_id", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(length=40), nullable=False),
        sa.Column("stage", sa.String(length=200), nullable=False),
        sa.Column("entered_at", sa.DateTime(), nullable=False),
        sa.Column("left_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instances.id"],
                                name=op.f("fk_stage_intervals_instance_id_process_instances")),
        sa.ForeignKeyConstraint(["definition_id"], ["process_definitions.id"],
                                name=op.f("fk_stage_intervals_definition_id_process_definitions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stage_intervals")),
    )
    op.create_index("ix_stage_intervals_left", "stage_intervals",
                    ["left_at", "process_key", "site", "stage", "definition_id", "entered_at"], unique=False)
    op.create_index("ix_stage_intervals_instance", "stage_intervals", ["instance_id", "left_at"], unique=False)

    dialect = op.get_bind().dialect.name
    if dialect not in STATUS:
        return
    value, is_stage = STATUS[dialect]
    op.execute(f"UPDATE process_instances SET stage = {value} "
               f"WHERE state IN ('running', 'suspended') AND {is_stage}")
    op.execute("INSERT INTO stage_intervals (instance_id, process_key, definition_id, site, stage, entered_at) "
               "SELECT p.id, p.process_key, p.definition_id, p.site, p.stage, "
               "COALESCE((SELECT max(a.at) FROM audit_events a WHERE a.instance_id = p.id), p.started_at) "
               "FROM process_instances p WHERE p.stage IS NOT NULL")


def downgrade() -> None:
    op.drop_index("ix_stage_intervals_instance", table_name="stage_intervals")
    op.drop_index("ix_stage_intervals_left", table_name="stage_intervals")
    op.drop_table("stage_intervals")
    op.drop_column("process_instances", "stage")  # SQLite 3.35+ drops a column in place
