"""Lanes' persistent state: SQLAlchemy models; schema changes go through Alembic (see migrate.py)."""
from .accounts import ApiToken, User, UserMembership
from .audit import AuditEvent, IdempotencyKey
from .base import db, new_id, utcnow
from .drafts import DraftFile
from .deployments import Deployment, DeploymentFile, ProcessDefinition
from .instances import HumanTask, ProcessInstance, TaskCandidate
from .jobs import Incident, Job
from .messages import InboundMessage, MessageSubscription
from .migrate import upgrade_database
from .stages import StageInterval

__all__ = [
    "ApiToken", "AuditEvent", "Deployment", "DeploymentFile", "DraftFile", "HumanTask", "IdempotencyKey",
    "InboundMessage", "Incident", "Job", "MessageSubscription", "ProcessDefinition", "ProcessInstance",
    "StageInterval", "TaskCandidate", "User", "UserMembership", "db", "new_id", "upgrade_database", "utcnow",
]
