"""Patient billing (patient accounts, adjustments, refunds)."""
from __future__ import annotations

from collections.abc import Mapping

from .contract import BusinessError, Field, Operation, operations
from .http import HttpAdapter
from .sandbox import SandboxAdapter

SYSTEM = "billing"

OPERATIONS = operations(
    Operation("get_patient_account",
              [Field("patient_account", "string")],
              [Field("patient_account", "string"), Field("credit_balance", "number"),
               Field("status", "string")],
              "Status ('open' or 'closed') and credit balance of a patient account."),
    Operation("post_adjustment",
              [Field("patient_account", "string"), Field("amount", "number"),
               Field("reason_code", "string")],
              [Field("adjustment_id", "string")],
              "Post an adjustment to a patient account."),
    Operation("issue_refund",
              [Field("patient_account", "string"), Field("amount", "number"),
               Field("method", "string")],
              [Field("refund_id", "string"), Field("status", "string")],
              "Refund a credit balance to the patient or payer."),
)

DEFAULT_CREDIT_BALANCE = 1800.0
# Sandbox credit balances; any other account has DEFAULT_CREDIT_BALANCE.
# Accounts starting "PA-CLOSED" are closed.
CREDIT_BALANCES: Mapping[str, float] = {
    "PA-1001": 1800.0,
    "PA-1002": 75.0,
    "PA-1003": 0.0,
    "PA-1004": 12500.0,
}


class BillingSandbox(SandboxAdapter):
    name = SYSTEM
    operations = OPERATIONS

    def _get_patient_account(self, inputs, ref):
        account = inputs["patient_account"]
        return {"patient_account": account,
                "credit_balance": CREDIT_BALANCES.get(account, DEFAULT_CREDIT_BALANCE),
                "status": "closed" if account.startswith("PA-CLOSED") else "open"}

    def _post_adjustment(self, inputs, ref):
        return {"adjustment_id": ref("ADJ")}

    def _issue_refund(self, inputs, ref):
        if inputs["amount"] <= 0:
            raise BusinessError("INVALID_AMOUNT", "refund amount must be positive")
        return {"refund_id": ref("RF"), "status": "issued"}


class BillingHttp(HttpAdapter):
    name = SYSTEM
    operations = OPERATIONS
