"""The Adapter base: validate inputs, invoke the implementation, validate outputs."""
from __future__ import annotations

from collections.abc import Mapping

from .contract import ContractError, Operation, validate_inputs, validate_outputs


class Adapter:
    """One external system. Subclasses set ``name`` and ``operations`` and implement ``_invoke``.

    Every call carries an idempotency key: the same (operation, key) twice must have one
    effect and return the same outputs, so the runner may retry freely.
    """

    name: str = ""
    operations: Mapping[str, Operation] = {}

    def operation(self, operation: str) -> Operation:
        try:
            return self.operations[operation]
        except KeyError:
            raise ContractError(f"{self.name}: unknown operation '{operation}'") from None

    def call(self, operation: str, inputs: Mapping, idempotency_key: str) -> dict:
        op = self.operation(operation)
        if not isinstance(idempotency_key, str) or not idempotency_key:
            raise ContractError(f"{self.name}.{operation}: an idempotency key is required")
        clean = validate_inputs(op, inputs)
        return validate_outputs(op, self._invoke(op, clean, idempotency_key))

    def _invoke(self, op: Operation, inputs: dict, idempotency_key: str) -> Mapping:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
