"""Payer claims (status, appeals)."""
from __future__ import annotations

from .contract import BusinessError, Field, Operation, operations
from .http import HttpAdapter
from .sandbox import SandboxAdapter

SYSTEM = "claims"

OPERATIONS = operations(
    Operation("submit_appeal",
              [Field("claim_id", "string"), Field("reason", "string"),
               Field("documents", "array", required=False)],
              [Field("appeal_id", "string"), Field("status", "string")],
              "Appeal a denied claim; the payer may refuse it (BusinessError APPEAL_DENIED)."),
    Operation("get_claim_status",
              [Field("claim_id", "string")],
              [Field("claim_id", "string"), Field("status", "string"),
               Field("denial_reason", "string", required=False)],
              "Claim status ('paid' or 'denied'); denial_reason is null unless denied."),
)

# Sandbox rule: claim ids starting with this prefix are denied and their appeals refused.
DENIED_PREFIX = "DENY"
DENIAL_REASON = "CO-50: not deemed a medical necessity by the payer"


class ClaimsSandbox(SandboxAdapter):
    name = SYSTEM
    operations = OPERATIONS

    def _submit_appeal(self, inputs, ref):
        if inputs["claim_id"].startswith(DENIED_PREFIX):
            raise BusinessError("APPEAL_DENIED", f"appeal of claim {inputs['claim_id']} refused by the payer")
        return {"appeal_id": ref("AP"), "status": "submitted"}

    def _get_claim_status(self, inputs, ref):
        denied = inputs["claim_id"].startswith(DENIED_PREFIX)
        return {"claim_id": inputs["claim_id"],
                "status": "denied" if denied else "paid",
                "denial_reason": DENIAL_REASON if denied else None}


class ClaimsHttp(HttpAdapter):
    name = SYSTEM
    operations = OPERATIONS
