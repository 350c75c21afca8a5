"""drop the two indexes that a longer index already leads with

Revision ID: 0015
Revises: 0014

process_instances (state) is the first column of ix_process_instances_state_key_site and of
ix_process_instances_ended, and audit_events (action) the first of ix_audit_events_action_at (migration
0006): every query the short index served, the long one serves as well, and every write kept both. A
start writes one instance row and its audit rows, every step updates the instance and adds audit rows.
"""
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_process_instances_state", table_name="process_instances")
    op.drop_index("ix_audit_events_action", table_name="audit_events")


def downgrade() -> None:
    op.create_index("ix_audit_events_action", "audit_events", ["action"], unique=False)
    op.create_index("ix_process_instances_state", "process_instances", ["state"], unique=False)
