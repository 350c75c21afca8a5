"""drop audit_events (at), which no query reads

Revision ID: 0016
Revises: 0015

Every query of the audit trail names the instance (ix_audit_events_instance_id: an instance's history,
the path its diagram shows) or the action with a time window (ix_audit_events_action_at, migration
0006: the metrics' jobs finished and retries scheduled); none reads the time alone. Every transaction
that changes anything writes audit rows, and each index is one more page it writes.
"""
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_audit_events_at", table_name="audit_events")


def downgrade() -> None:
    op.create_index("ix_audit_events_at", "audit_events", ["at"], unique=False)
