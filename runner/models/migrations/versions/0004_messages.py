"""inbound messages and message subscriptions

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.String(length=32), nullable=False),
        sa.Column("message_name", sa.String(length=200), nullable=False),
        sa.Column("business_key", sa.String(length=200), nullable=True),
        sa.Column("process_key", sa.String(length=200), nullable=False),
        sa.Column("site", sa.String(length=40), nullable=False),
        sa.Column("element_id", sa.String(length=200), nullable=False),
        sa.Column("spiff_task_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instances.id"],
                                name=op.f("fk_message_subscriptions_instance_id_process_instances")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_subscriptions")),
        sa.UniqueConstraint("instance_id", "spiff_task_id", name=op.f("uq_message_subscriptions_instance_id")),
    )
    with op.batch_alter_table("message_subscriptions") as batch_op:
        batch_op.create_index("ix_message_subscriptions_name_key", ["message_name", "business_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_message_subscriptions_instance_id"), ["instance_id"], unique=False)

    op.create_table(
        "inbound_messages",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("business_key", sa.String(length=200), nullable=True),
        sa.Column("correlation_keys", sa.JSON(), nullable=False),
        sa.Column("process_key", sa.String(length=200), nullable=True),
        sa.Column("site", sa.String(length=40), nullable=True),
        sa.Column("allowed_sites", sa.JSON(), nullable=True),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("instance_id", sa.String(length=32), nullable=True),
        sa.Column("element_ids", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("received_by", sa.String(length=120), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instances.id"],
                                name=op.f("fk_inbound_messages_instance_id_process_instances")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_messages")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_inbound_messages_idempotency_key")),
    )
    with op.batch_alter_table("inbound_messages") as batch_op:
        batch_op.create_index("ix_inbound_messages_pending", ["state", "name"], unique=False)
        batch_op.create_index(batch_op.f("ix_inbound_messages_instance_id"), ["instance_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_inbound_messages_received_at"), ["received_at"], unique=False)


def downgrade() -> None:
    op.drop_table("inbound_messages")
    op.drop_table("message_subscriptions")
