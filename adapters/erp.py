"""ERP (general ledger, accounts receivable, cost centers, purchasing)."""
from __future__ import annotations

from collections.abc import Mapping

from .contract import BusinessError, ContractError, Field, Operation, operations
from .http import HttpAdapter
from .sandbox import SandboxAdapter

SYSTEM = "erp"

OPERATIONS = operations(
    Operation("post_journal_entry",
              [Field("entries", "array"), Field("memo", "string"), Field("site", "string")],
              [Field("journal_id", "string")],
              "Post a balanced journal entry; entries are objects {account, debit, credit}."),
    Operation("post_ar_payment",
              [Field("account", "string"), Field("amount", "number"), Field("reference", "string"),
               Field("site", "string")],
              [Field("payment_id", "string")],
              "Apply a received payment to an accounts-receivable account."),
    Operation("lookup_cost_center",
              [Field("cost_center", "string"), Field("site", "string")],
              [Field("cost_center", "string"), Field("name", "string"),
               Field("budget_remaining", "number"), Field("owner_group", "string")],
              "Name, remaining budget and owning group of a cost center."),
    Operation("create_purchase_order",
              [Field("requisition_id", "string"), Field("lines", "array"),
               Field("cost_center", "string"), Field("site", "string")],
              [Field("po_number", "string")],
              "Turn an approved requisition into a purchase order."),
)

# Sandbox cost centers: unknown ones raise BusinessError("UNKNOWN_COST_CENTER").
COST_CENTERS: Mapping[str, dict] = {
    "CC-100": {"name": "North Campus Operations", "budget_remaining": 50000.0,
               "owner_group": "north_procurement"},
    "CC-200": {"name": "Clinic Supplies", "budget_remaining": 1000.0,
               "owner_group": "clinic_procurement"},
    "CC-300": {"name": "Facilities Capital", "budget_remaining": 250000.0,
               "owner_group": "capital_committee"},
    "CC-400": {"name": "Pharmacy", "budget_remaining": 0.0, "owner_group": "pharmacy_procurement"},
}


def _cost_center(code: str) -> dict:
    try:
        return {"cost_center": code, **COST_CENTERS[code]}
    except KeyError:
        raise BusinessError("UNKNOWN_COST_CENTER", f"cost center {code} does not exist") from None


class ErpSandbox(SandboxAdapter):
    name = SYSTEM
    operations = OPERATIONS

    def _post_journal_entry(self, inputs, ref):
        if not inputs["entries"] or not all(isinstance(e, Mapping) and e.get("account")
                                            for e in inputs["entries"]):
            raise ContractError("post_journal_entry: entries must be objects with an account")
        return {"journal_id": ref("JE")}

    def _post_ar_payment(self, inputs, ref):
        return {"payment_id": ref("PAY")}

    def _lookup_cost_center(self, inputs, ref):
        return _cost_center(inputs["cost_center"])

    def _create_purchase_order(self, inputs, ref):
        _cost_center(inputs["cost_center"])
        return {"po_number": ref("PO")}


class ErpHttp(HttpAdapter):
    name = SYSTEM
    operations = OPERATIONS
