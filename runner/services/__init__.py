"""The only code that changes state: one transaction per call, audit row included."""
from . import audit, deployments, incidents, instances, jobs, tasks
from .errors import Conflict, Forbidden, Invalid, NotFound, ProcessFailure, ServiceError

__all__ = ["Conflict", "Forbidden", "Invalid", "NotFound", "ProcessFailure", "ServiceError",
           "audit", "deployments", "incidents", "instances", "jobs", "tasks"]
