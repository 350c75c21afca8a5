"""a draft remembers the deployment it was started from

Revision ID: 0008
Revises: 0007

draft_files.base_deployment_id: the deployment the workspace showed when its first draft was saved.
Deploying a workspace is refused (409) when a newer version of its processes was deployed after that,
by any route, so a stale draft never silently reverts someone else's version. Existing drafts get the
latest deployment named like their workspace: what the modeler showed them until now.
"""
from alembic import op
import sqlalchemy as sa

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("draft_files") as batch_op:
        batch_op.add_column(sa.Column("base_deployment_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_draft_files_base_deployment_id_deployments"), "deployments",
                                    ["base_deployment_id"], ["id"])
    op.execute("UPDATE draft_files SET base_deployment_id = "
               "(SELECT max(d.id) FROM deployments d WHERE d.name = draft_files.workspace)")


def downgrade() -> None:
    with op.batch_alter_table("draft_files") as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_draft_files_base_deployment_id_deployments"), type_="foreignkey")
        batch_op.drop_column("base_deployment_id")
