"""The only code that changes state: one transaction per call, audit row included."""
from . import accounts, audit, decisions, deployments, incidents, instances, jobs, tasks, workspaces
from .accounts import Principal, system_principal
from .errors import Conflict, Forbidden, Invalid, NotFound, ProcessFailure, ServiceError, Unauthenticated

__all__ = [
    "Conflict", "Forbidden", "Invalid", "NotFound", "Principal", "ProcessFailure", "ServiceError", "Unauthenticated",
    "accounts", "audit", "decisions", "deployments", "incidents", "instances", "jobs", "system_principal", "tasks",
    "workspaces",
]
