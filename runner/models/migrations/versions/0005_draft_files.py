"""analysts' draft files per workspace

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "draft_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace", sa.String(length=200), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_draft_files")),
        sa.UniqueConstraint("workspace", "filename", name=op.f("uq_draft_files_workspace")),
    )
    with op.batch_alter_table("draft_files") as batch_op:
        batch_op.create_index(batch_op.f("ix_draft_files_workspace"), ["workspace"], unique=False)


def downgrade() -> None:
    op.drop_table("draft_files")
