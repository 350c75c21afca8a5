"""Topics ("erp.post_journal_entry") -> adapter operations, and building the registry from env."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Engine

from . import billing, claims, erp, notify
from .base import Adapter
from .contract import Operation
from .http import DEFAULT_TIMEOUT, HttpAdapter
from .sandbox import SandboxAdapter


class UnknownTopicError(KeyError):
    """A topic that names no known system operation."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def split_topic(topic: str) -> tuple[str, str]:
    system, dot, operation = topic.partition(".") if isinstance(topic, str) else ("", "", "")
    if not (system and dot and operation):
        raise UnknownTopicError(f"topic {topic!r} is not of the form '<system>.<operation>'")
    return system, operation


class Contracts:
    """Topic lookup over each system's operations; needs no engine (deploy-time validation)."""

    def __init__(self, systems: Mapping[str, Mapping[str, Operation]] | None = None):
        self._systems: dict[str, Mapping[str, Operation]] = dict(systems or {})

    def systems(self) -> list[str]:
        return sorted(self._systems)

    def operation(self, topic: str) -> Operation:
        system, operation = split_topic(topic)
        if system not in self._systems:
            raise UnknownTopicError(
                f"topic {topic!r}: unknown system '{system}' (known: {', '.join(self.systems()) or 'none'})")
        ops = self._systems[system]
        if operation not in ops:
            raise UnknownTopicError(
                f"topic {topic!r}: system '{system}' has no operation '{operation}' "
                f"(known: {', '.join(sorted(ops))})")
        return ops[operation]

    def topics(self) -> list[str]:
        return sorted(f"{system}.{op}" for system, ops in self._systems.items() for op in ops)

    def __contains__(self, topic: object) -> bool:
        try:
            self.operation(topic)  # type: ignore[arg-type]
        except KeyError:
            return False
        return True


class Registry(Contracts):
    """The adapters the job worker calls, by topic."""

    def __init__(self, adapters: list[Adapter] | tuple[Adapter, ...] = ()):
        super().__init__()
        self._adapters: dict[str, Adapter] = {}
        for adapter in adapters:
            self.register(adapter)

    def register(self, adapter: Adapter) -> Adapter:
        if not adapter.name:
            raise ValueError(f"{adapter!r} has no name")
        if adapter.name in self._adapters:
            raise ValueError(f"an adapter for '{adapter.name}' is already registered")
        self._adapters[adapter.name] = adapter
        self._systems[adapter.name] = adapter.operations
        return adapter

    def adapter(self, system: str) -> Adapter:
        try:
            return self._adapters[system]
        except KeyError:
            raise UnknownTopicError(f"no adapter registered for system '{system}'") from None

    def resolve(self, topic: str) -> tuple[Adapter, Operation]:
        operation = self.operation(topic)
        return self._adapters[split_topic(topic)[0]], operation

    def call(self, topic: str, inputs: Mapping, idempotency_key: str) -> dict:
        adapter, operation = self.resolve(topic)
        return adapter.call(operation.name, inputs, idempotency_key)

    def __repr__(self) -> str:
        return f"Registry({', '.join(repr(a) for a in self._adapters.values())})"


@dataclass(frozen=True)
class System:
    name: str
    operations: Mapping[str, Operation]
    sandbox: type[SandboxAdapter]
    http: type[HttpAdapter]


SYSTEMS: tuple[System, ...] = (
    System(erp.SYSTEM, erp.OPERATIONS, erp.ErpSandbox, erp.ErpHttp),
    System(billing.SYSTEM, billing.OPERATIONS, billing.BillingSandbox, billing.BillingHttp),
    System(claims.SYSTEM, claims.OPERATIONS, claims.ClaimsSandbox, claims.ClaimsHttp),
    System(notify.SYSTEM, notify.OPERATIONS, notify.NotifySandbox, notify.NotifyHttp),
)


def contracts() -> Contracts:
    """Every system's operations by topic, without adapters or a database."""
    return Contracts({s.name: s.operations for s in SYSTEMS})


def env_prefix(system: str) -> str:
    return f"LANES_ADAPTER_{system.upper()}_"


def build_registry(engine: Engine | None, env: Mapping[str, str] = os.environ) -> Registry:
    """Per system: HTTP if LANES_ADAPTER_<SYSTEM>_URL is set (with ..._TOKEN, optional
    ..._TIMEOUT in seconds), otherwise the sandbox recording into ``engine``."""
    registry = Registry()
    for system in SYSTEMS:
        prefix = env_prefix(system.name)
        url = env.get(prefix + "URL", "").strip()
        if url:
            token = env.get(prefix + "TOKEN", "")
            if not token:
                raise ValueError(f"{prefix}URL is set but {prefix}TOKEN is not")
            timeout_text = env.get(prefix + "TIMEOUT", "").strip()
            try:
                timeout = float(timeout_text) if timeout_text else DEFAULT_TIMEOUT
            except ValueError:
                raise ValueError(f"{prefix}TIMEOUT must be a number of seconds") from None
            registry.register(system.http(url, token, timeout=timeout))
        else:
            if engine is None:
                raise ValueError(f"'{system.name}' uses the sandbox ({prefix}URL unset) but no engine was given")
            registry.register(system.sandbox(engine))
    return registry
