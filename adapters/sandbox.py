"""The sandbox store and the base of every sandbox adapter.

Each system has one table recording the calls it accepted. The runner adds ``metadata``
to its Alembic migrations; nothing here creates tables. Each call is recorded in its own
short transaction: call adapters outside any transaction that holds a write lock on the
same database (SQLite would block).

A call whose (operation, idempotency key) already has an effect is a *replay*: it gets the
first call's outputs (the idempotency contract) and leaves no second effect, but it is
recorded too, so tests can tell "called once" from "called twice, deduplicated". A replay
is a row in the same table whose operation reads ``replay:<operation>:<n>`` (n = 1, 2, ...
per key), with the replaying call's inputs and the outputs it was given. ``effects()`` leaves
replay rows out; ``replays()`` lists them. (Same table, so no schema change.)
"""
from __future__ import annotations

import hashlib
import threading
from datetime import datetime, timezone

from sqlalchemy import (JSON, Column, DateTime, Engine, Integer, MetaData, String, Table,
                        UniqueConstraint, func, not_, select)
from sqlalchemy.exc import IntegrityError

from .base import Adapter
from .contract import BusinessError, ContractError, Operation, TransientError

SYSTEMS = ("erp", "billing", "claims", "notify")
REPLAY = "replay:"  # operation prefix of replay rows

metadata = MetaData()


def _effects_table(system: str) -> Table:
    name = f"sandbox_{system}"
    return Table(
        name, metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("operation", String(100), nullable=False),
        Column("idempotency_key", String(255), nullable=False),
        Column("inputs", JSON, nullable=False),
        Column("outputs", JSON, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        UniqueConstraint("operation", "idempotency_key", name=f"uq_{name}_operation_key"),
    )


TABLES: dict[str, Table] = {system: _effects_table(system) for system in SYSTEMS}


def _table(system: str) -> Table:
    try:
        return TABLES[system]
    except KeyError:
        raise KeyError(f"no sandbox table for system '{system}' (known: {', '.join(SYSTEMS)})") from None


def _replay_prefix(operation: str) -> str:
    return f"{REPLAY}{operation}:"


def effects(engine: Engine, system: str, operation: str | None = None) -> list[dict]:
    """The effects recorded for a system (optionally one operation), oldest first; no replays."""
    table = _table(system)
    query = select(table).where(not_(table.c.operation.startswith(REPLAY, autoescape=True))).order_by(table.c.id)
    if operation is not None:
        query = query.where(table.c.operation == operation)
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def replays(engine: Engine, system: str, operation: str | None = None, key: str | None = None) -> list[dict]:
    """The replayed calls of a system (optionally one operation and/or idempotency key), oldest first.

    Each: operation and idempotency_key as called, ``replay`` (1 for the key's first repeat, ...),
    the repeated call's inputs, the outputs it was answered with, created_at.
    """
    table = _table(system)
    prefix = _replay_prefix(operation) if operation is not None else REPLAY
    query = select(table).where(table.c.operation.startswith(prefix, autoescape=True)).order_by(table.c.id)
    if key is not None:
        query = query.where(table.c.idempotency_key == key)
    with engine.connect() as conn:
        rows = [dict(row._mapping) for row in conn.execute(query)]
    for row in rows:
        called, _, number = row["operation"][len(REPLAY):].rpartition(":")
        row["operation"], row["replay"] = called, int(number)
    return rows


class SandboxStore:
    """Idempotent record of one system's effects."""

    def __init__(self, engine: Engine, system: str):
        self.engine = engine
        self.table = _table(system)

    def lookup(self, operation: str, key: str) -> dict | None:
        t = self.table
        query = select(t.c.outputs).where(t.c.operation == operation, t.c.idempotency_key == key)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none()

    def record(self, operation: str, key: str, inputs: dict, outputs: dict) -> dict:
        """Store the effect; if another caller stored the same key first, this call is a replay: return theirs."""
        row = dict(operation=operation, idempotency_key=key, inputs=inputs, outputs=outputs,
                   created_at=datetime.now(timezone.utc))
        try:
            with self.engine.begin() as conn:
                conn.execute(self.table.insert().values(**row))
        except IntegrityError:
            stored = self.lookup(operation, key)
            if stored is None:
                raise
            return self.replay(operation, key, inputs, stored)
        return outputs

    def replay(self, operation: str, key: str, inputs: dict, outputs: dict, attempts: int = 100) -> dict:
        """Record a repeated call of a key that already has an effect; returns `outputs` (the first result)."""
        t, prefix = self.table, _replay_prefix(operation)
        numbered = select(func.count()).select_from(t).where(t.c.operation.startswith(prefix, autoescape=True),
                                                             t.c.idempotency_key == key)
        for _ in range(attempts):
            try:
                with self.engine.begin() as conn:
                    number = conn.execute(numbered).scalar_one() + 1
                    conn.execute(t.insert().values(operation=f"{prefix}{number}", idempotency_key=key,
                                                   inputs=inputs, outputs=outputs,
                                                   created_at=datetime.now(timezone.utc)))
                return outputs
            except IntegrityError:
                continue  # a concurrent replay of the same key took this number
        raise RuntimeError(f"could not record a replay of {operation} {key!r} in {attempts} attempts")


class _Failures:
    """Injected failures: the next N calls of an operation raise before any effect."""

    KINDS = ("transient", "business", "contract")

    def __init__(self):
        self._pending: dict[str, list] = {}
        self._lock = threading.Lock()

    def add(self, operation: str, times: int, kind: str, code: str):
        if kind not in self.KINDS:
            raise ValueError(f"kind must be one of {', '.join(self.KINDS)}, not {kind!r}")
        with self._lock:
            self._pending[operation] = [times, kind, code]

    def take(self, operation: str) -> tuple[str, str] | None:
        with self._lock:
            pending = self._pending.get(operation)
            if not pending:
                return None
            pending[0] -= 1
            if pending[0] <= 0:
                del self._pending[operation]
            return pending[1], pending[2]


class SandboxAdapter(Adapter):
    """Base of the sandbox implementations: deterministic rules, effects in the sandbox table.

    Subclasses implement ``_<operation>(inputs, ref)`` returning the outputs (or raising
    BusinessError); ``ref(prefix)`` makes an id that is stable for the idempotency key.
    A repeated key returns the stored outputs without running the rule again, and is
    recorded as a replay (see ``replays()``).
    """

    def __init__(self, engine: Engine):
        self._store = SandboxStore(engine, self.name)
        self._failures = _Failures()

    def fail_next(self, operation: str, times: int = 1, kind: str = "transient",
                  code: str = "SANDBOX_FAILURE") -> None:
        """Make the next ``times`` calls of ``operation`` fail (no effect recorded).

        kind: "transient" -> TransientError, "business" -> BusinessError(code),
        "contract" -> ContractError. Kept in memory on this adapter instance.
        """
        self.operation(operation)
        self._failures.add(operation, times, kind, code)

    def _invoke(self, op: Operation, inputs: dict, idempotency_key: str) -> dict:
        self._raise_injected(op.name)
        stored = self._store.lookup(op.name, idempotency_key)
        if stored is not None:
            return self._store.replay(op.name, idempotency_key, inputs, stored)
        handler = getattr(self, f"_{op.name}")
        outputs = handler(inputs, self._ref_maker(op.name, idempotency_key))
        return self._store.record(op.name, idempotency_key, inputs, outputs)

    def _raise_injected(self, operation: str) -> None:
        failure = self._failures.take(operation)
        if failure is None:
            return
        kind, code = failure
        where = f"{self.name}.{operation}"
        if kind == "transient":
            raise TransientError(f"{where}: sandbox unavailable (injected failure)")
        if kind == "business":
            raise BusinessError(code, f"{where}: injected business failure")
        raise ContractError(f"{where}: injected contract failure")

    def _ref_maker(self, operation: str, key: str):
        digest = hashlib.sha256(f"{self.name}\0{operation}\0{key}".encode()).hexdigest()[:10].upper()
        return lambda prefix: f"{prefix}-{digest}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(engine={self._store.engine.url!r})"

