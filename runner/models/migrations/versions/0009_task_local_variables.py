"""a human task keeps its own variables

Revision ID: 0009
Revises: 0008

human_tasks.local_variables (JSON): the entries of the task's data that the instance's variables lack
or hold differently, stored when the task row is derived; in practice a multi-instance child's element
variable (camunda:elementVariable, e.g. `line`). Task lists, the task page and form validation read
it without deserializing the workflow. Rows of tasks opened before this revision stay NULL (shown as
no local variables) until their instance is next saved, which fills them in.
"""
from alembic import op
import sqlalchemy as sa

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("human_tasks", sa.Column("local_variables", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("human_tasks", "local_variables")  # SQLite 3.35+ drops a column in place
