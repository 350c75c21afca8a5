"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-25 05:39:55.860337
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=120), nullable=False),
    sa.Column('action', sa.String(length=60), nullable=False),
    sa.Column('instance_id', sa.String(length=32), nullable=True),
    sa.Column('task_id', sa.String(length=32), nullable=True),
    sa.Column('deployment_id', sa.Integer(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_instance_id'), ['instance_id'], unique=False)

    op.create_table('deployments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=120), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deployments')),
    sa.UniqueConstraint('content_hash', name=op.f('uq_deployments_content_hash'))
    )
    op.create_table('idempotency_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=60), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('resource_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_keys')),
    sa.UniqueConstraint('scope', 'key', name=op.f('uq_idempotency_keys_scope'))
    )
    op.create_table('deployment_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('deployment_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['deployment_id'], ['deployments.id'], name=op.f('fk_deployment_files_deployment_id_deployments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deployment_files')),
    sa.UniqueConstraint('deployment_id', 'filename', name=op.f('uq_deployment_files_deployment_id'))
    )
    with op.batch_alter_table('deployment_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deployment_files_deployment_id'), ['deployment_id'], unique=False)

    op.create_table('process_definitions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('process_key', sa.String(length=200), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('deployment_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['deployment_id'], ['deployments.id'], name=op.f('fk_process_definitions_deployment_id_deployments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_process_definitions')),
    sa.UniqueConstraint('process_key', 'version', name=op.f('uq_process_definitions_process_key'))
    )
    with op.batch_alter_table('process_definitions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_process_definitions_deployment_id'), ['deployment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_process_definitions_process_key'), ['process_key'], unique=False)

    op.create_table('process_instances',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('definition_id', sa.Integer(), nullable=False),
    sa.Column('process_key', sa.String(length=200), nullable=False),
    sa.Column('business_key', sa.String(length=200), nullable=True),
    sa.Column('site', sa.String(length=40), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('end_event', sa.String(length=200), nullable=True),
    sa.Column('variables', sa.JSON(), nullable=False),
    sa.Column('activities', sa.JSON(), nullable=False),
    sa.Column('workflow_state', sa.Text(), nullable=False),
    sa.Column('lock_version', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('started_by', sa.String(length=120), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['definition_id'], ['process_definitions.id'], name=op.f('fk_process_instances_definition_id_process_definitions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_process_instances'))
    )
    with op.batch_alter_table('process_instances', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_process_instances_business_key'), ['business_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_process_instances_definition_id'), ['definition_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_process_instances_process_key'), ['process_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_process_instances_site'), ['site'], unique=False)
        batch_op.create_index(batch_op.f('ix_process_instances_state'), ['state'], unique=False)

    op.create_table('human_tasks',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('instance_id', sa.String(length=32), nullable=False),
    sa.Column('spiff_task_id', sa.String(length=36), nullable=False),
    sa.Column('element_id', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('process_key', sa.String(length=200), nullable=False),
    sa.Column('business_key', sa.String(length=200), nullable=True),
    sa.Column('site', sa.String(length=40), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('assignee', sa.String(length=120), nullable=True),
    sa.Column('form_ref', sa.String(length=200), nullable=True),
    sa.Column('due_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('completed_at', sa.DateTime(), nullable=True),
    sa.Column('completed_by', sa.String(length=120), nullable=True),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instances.id'], name=op.f('fk_human_tasks_instance_id_process_instances')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_human_tasks')),
    sa.UniqueConstraint('spiff_task_id', name=op.f('uq_human_tasks_spiff_task_id'))
    )
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_human_tasks_assignee'), ['assignee'], unique=False)
        batch_op.create_index(batch_op.f('ix_human_tasks_due_at'), ['due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_human_tasks_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index('ix_human_tasks_open_site', ['state', 'site'], unique=False)
        batch_op.create_index(batch_op.f('ix_human_tasks_process_key'), ['process_key'], unique=False)

    op.create_table('task_candidates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=5), nullable=False),
    sa.Column('value', sa.String(length=120), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['human_tasks.id'], name=op.f('fk_task_candidates_task_id_human_tasks')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_candidates'))
    )
    with op.batch_alter_table('task_candidates', schema=None) as batch_op:
        batch_op.create_index('ix_task_candidates_kind_value', ['kind', 'value'], unique=False)
        batch_op.create_index(batch_op.f('ix_task_candidates_task_id'), ['task_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('task_candidates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_candidates_task_id'))
        batch_op.drop_index('ix_task_candidates_kind_value')

    op.drop_table('task_candidates')
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_human_tasks_process_key'))
        batch_op.drop_index('ix_human_tasks_open_site')
        batch_op.drop_index(batch_op.f('ix_human_tasks_instance_id'))
        batch_op.drop_index(batch_op.f('ix_human_tasks_due_at'))
        batch_op.drop_index(batch_op.f('ix_human_tasks_assignee'))

    op.drop_table('human_tasks')
    with op.batch_alter_table('process_instances', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_process_instances_state'))
        batch_op.drop_index(batch_op.f('ix_process_instances_site'))
        batch_op.drop_index(batch_op.f('ix_process_instances_process_key'))
        batch_op.drop_index(batch_op.f('ix_process_instances_definition_id'))
        batch_op.drop_index(batch_op.f('ix_process_instances_business_key'))

    op.drop_table('process_instances')
    with op.batch_alter_table('process_definitions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_process_definitions_process_key'))
        batch_op.drop_index(batch_op.f('ix_process_definitions_deployment_id'))

    op.drop_table('process_definitions')
    with op.batch_alter_table('deployment_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deployment_files_deployment_id'))

    op.drop_table('deployment_files')
    op.drop_table('idempotency_keys')
    op.drop_table('deployments')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_instance_id'))
        batch_op.drop_index(batch_op.f('ix_audit_events_at'))
        batch_op.drop_index(batch_op.f('ix_audit_events_action'))

    op.drop_table('audit_events')
