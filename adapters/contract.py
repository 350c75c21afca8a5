"""The adapter contract: operations, their fields, the error kinds, and validation.

Validation messages name the operation and field and the expected/actual *type*,
never the value: values are patient and payment data and end up in incidents and logs.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

TYPES = ("string", "number", "integer", "boolean", "object", "array")


class AdapterError(Exception):
    """Base of every error an adapter raises."""


class BusinessError(AdapterError):
    """A business outcome the process can route on; becomes a BPMN error with ``code``."""

    def __init__(self, code: str, message: str = ""):
        self.code = code
        self.message = message or code
        super().__init__(f"{code}: {self.message}" if message else code)


class TransientError(AdapterError):
    """Worth retrying with the same idempotency key: timeouts, 5xx, connection refused."""

    def __init__(self, message: str, retry_after: float | None = None):
        self.retry_after = retry_after  # seconds, when the remote said so (Retry-After)
        super().__init__(message)


class ContractError(AdapterError):
    """Inputs or outputs that break the contract, or a request the remote rejects. Not retryable."""


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    required: bool = True

    def __post_init__(self):
        if self.type not in TYPES:
            raise ValueError(f"field {self.name!r}: unknown type {self.type!r} (one of {', '.join(TYPES)})")


@dataclass(frozen=True)
class Operation:
    name: str
    inputs: tuple[Field, ...] = ()
    outputs: tuple[Field, ...] = ()
    description: str = ""

    def __post_init__(self):
        # Accept lists; store tuples so an Operation is immutable and hashable.
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))

    def input(self, name: str) -> Field | None:
        return next((f for f in self.inputs if f.name == name), None)

    def output(self, name: str) -> Field | None:
        return next((f for f in self.outputs if f.name == name), None)


def operations(*ops: Operation) -> dict[str, Operation]:
    """A name -> Operation table, as an adapter's ``operations`` attribute."""
    return {op.name: op for op in ops}


def type_matches(type_: str, value: object) -> bool:
    if type_ == "string":
        return isinstance(value, str)
    if type_ == "boolean":
        return isinstance(value, bool)
    if type_ == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_ == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if type_ == "object":
        return isinstance(value, Mapping)
    if type_ == "array":
        return isinstance(value, (list, tuple))
    return False


def _json_type(value: object) -> str:
    for type_ in ("boolean", "integer", "number", "string", "object", "array"):
        if type_matches(type_, value):
            return type_
    return "null" if value is None else type(value).__name__


def _validate(op: Operation, fields: tuple[Field, ...], values: Mapping, side: str) -> dict:
    if not isinstance(values, Mapping):
        raise ContractError(f"{op.name}: {side} must be an object, got {_json_type(values)}")
    clean: dict = {}
    for f in fields:
        value = values.get(f.name)
        if value is None:
            if f.required:
                raise ContractError(f"{op.name}: {side[:-1]} '{f.name}' is required")
            if f.name in values:
                clean[f.name] = None
            continue
        if not type_matches(f.type, value):
            raise ContractError(
                f"{op.name}: {side[:-1]} '{f.name}' must be {f.type}, got {_json_type(value)}")
        clean[f.name] = value
    return clean


def validate_inputs(op: Operation, inputs: Mapping) -> dict:
    """Declared input fields only, type-checked; ContractError naming the field otherwise."""
    return _validate(op, op.inputs, inputs, "inputs")


def validate_outputs(op: Operation, outputs: Mapping) -> dict:
    """Declared output fields only, type-checked; ContractError naming the field otherwise."""
    return _validate(op, op.outputs, outputs, "outputs")
