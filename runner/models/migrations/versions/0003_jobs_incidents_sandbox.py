"""jobs, incidents, and the adapters' sandbox tables

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SANDBOX_SYSTEMS = ("erp", "billing", "claims", "notify")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("instance_id", sa.String(length=32), nullable=True),
        sa.Column("definition_id", sa.Integer(), nullable=True),
        sa.Column("spiff_task_id", sa.String(length=36), nullable=True),
        sa.Column("element_id", sa.String(length=200), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=True),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("retry_cycle", sa.String(length=200), nullable=True),
        sa.Column("schedule", sa.String(length=200), nullable=True),
        sa.Column("locked_by", sa.String(length=120), nullable=True),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["definition_id"], ["process_definitions.id"],
                                name=op.f("fk_jobs_definition_id_process_definitions")),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instances.id"],
                                name=op.f("fk_jobs_instance_id_process_instances")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("spiff_task_id", "kind", name=op.f("uq_jobs_spiff_task_id")),
    )
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.create_index("ix_jobs_claimable", ["state", "due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_jobs_instance_id"), ["instance_id"], unique=False)

    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("instance_id", sa.String(length=32), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("element_id", sa.String(length=200), nullable=False),
        sa.Column("process_key", sa.String(length=200), nullable=True),
        sa.Column("site", sa.String(length=40), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("resolved_by", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instances.id"],
                                name=op.f("fk_incidents_instance_id_process_instances")),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_incidents_job_id_jobs"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    with op.batch_alter_table("incidents") as batch_op:
        batch_op.create_index(batch_op.f("ix_incidents_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_incidents_instance_id"), ["instance_id"], unique=False)

    for system in SANDBOX_SYSTEMS:
        op.create_table(
            f"sandbox_{system}",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("operation", sa.String(length=100), nullable=False),
            sa.Column("idempotency_key", sa.String(length=255), nullable=False),
            sa.Column("inputs", sa.JSON(), nullable=False),
            sa.Column("outputs", sa.JSON(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.UniqueConstraint("operation", "idempotency_key", name=f"uq_sandbox_{system}_operation_key"),
        )


def downgrade() -> None:
    for system in SANDBOX_SYSTEMS:
        op.drop_table(f"sandbox_{system}")
    op.drop_table("incidents")
    op.drop_table("jobs")
