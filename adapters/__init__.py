"""Adapters: one module per external system, each a contract + a sandbox + an HTTP implementation.

Adapters know nothing of the runner. The runner's job worker calls them by topic
("<system>.<operation>") through a Registry; ``contracts()`` serves deploy-time validation.
The sandbox tables live on ``metadata`` (add it to the runner's Alembic migrations).
"""
from .base import Adapter
from .billing import BillingHttp, BillingSandbox
from .claims import ClaimsHttp, ClaimsSandbox
from .contract import (TYPES, AdapterError, BusinessError, ContractError, Field, Operation,
                       TransientError, validate_inputs, validate_outputs)
from .erp import ErpHttp, ErpSandbox
from .http import HttpAdapter
from .notify import NotifyHttp, NotifySandbox
from .registry import (SYSTEMS, Contracts, Registry, System, UnknownTopicError, build_registry,
                       contracts, split_topic)
from .sandbox import SandboxAdapter, effects, metadata

__all__ = [
    "Adapter", "AdapterError", "BillingHttp", "BillingSandbox", "BusinessError", "ClaimsHttp",
    "ClaimsSandbox", "ContractError", "Contracts", "ErpHttp", "ErpSandbox", "Field", "HttpAdapter",
    "NotifyHttp", "NotifySandbox", "Operation", "Registry", "SYSTEMS", "SandboxAdapter", "System",
    "TYPES", "TransientError", "UnknownTopicError", "build_registry", "contracts", "effects",
    "metadata", "split_topic", "validate_inputs", "validate_outputs",
]
