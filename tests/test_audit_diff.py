"""Issue 10: an admin's correction of an instance's variables is audited with before/after, sensitive masked."""
from __future__ import annotations

import json
from pathlib import Path

from tests.accounts_fixtures import bearer, client, test_users  # noqa: F401  (client: admin by default)
from tests.helpers import upload

FIXTURES = Path(__file__).parent / "fixtures" / "messages"
SSN, NEW_SSN = "123-45-6789", "987-65-4321"


def start(client, monkeypatch):
    monkeypatch.setenv("LANES_SENSITIVE_FIELDS", "payer_member_id, Diagnosis_Code")
    assert upload(client, {"invoice_payment.bpmn": (FIXTURES / "invoice_payment.bpmn").read_bytes()}).status_code == 201
    response = client.post("/api/v1/process-instances", json={
        "processKey": "invoice_payment", "site": "NORTH", "businessKey": "INV-500",
        "variables": {"amount_due": 100, "patient_ssn": SSN, "payer_member_id": "M-1", "note": "call back",
                      "patient": {"name": "Ann Lee", "dob": "1970-01-01"}}})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def edits(client, instance_id):
    return [e for e in client.get(f"/api/v1/process-instances/{instance_id}/audit").get_json()
            if e["action"] == "instance.variables-changed"]


def test_admin_edit_is_audited_with_a_diff_and_sensitive_values_masked(client, monkeypatch):
    instance_id = start(client, monkeypatch)
    response = client.patch(f"/api/v1/process-instances/{instance_id}/variables", json={
        "variables": {"amount_due": 60, "patient_ssn": NEW_SSN, "payer_member_id": "M-2",
                      "patient": {"name": "Ann Leigh", "dob": "1970-01-02"}, "diagnosis_code": "Z00.0"},
        "remove": ["note"], "reason": "intake typo, ticket 4711"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["instance"]["variables"]["amount_due"] == 60
    assert body["instance"]["variables"]["patient_ssn"] == NEW_SSN and "note" not in body["instance"]["variables"]

    [entry] = edits(client, instance_id)
    assert entry["actor"] == "admin" and entry["details"]["reason"] == "intake typo, ticket 4711"
    changes = {c["variable"]: c for c in entry["details"]["changes"]}
    assert changes["amount_due"] == {"variable": "amount_due", "change": "changed", "before": 100, "after": 60,
                                     "masked": False}
    assert changes["patient_ssn"] == {"variable": "patient_ssn", "change": "changed", "before": "********",
                                      "after": "********", "masked": True}
    assert changes["payer_member_id"]["masked"] is True                    # LANES_SENSITIVE_FIELDS
    assert changes["diagnosis_code"] == {"variable": "diagnosis_code", "change": "added", "after": "********",
                                         "masked": True}
    assert changes["patient"]["before"] == {"name": "Ann Lee", "dob": "********"}
    assert changes["patient"]["after"] == {"name": "Ann Leigh", "dob": "********"}
    assert changes["note"] == {"variable": "note", "change": "removed", "before": "call back", "masked": False}
    assert set(changes) == {"amount_due", "patient_ssn", "payer_member_id", "diagnosis_code", "patient", "note"}
    trail = json.dumps(client.get(f"/api/v1/process-instances/{instance_id}/audit").get_json())
    for secret in (SSN, NEW_SSN, "M-1", "M-2", "1970-01-01", "1970-01-02", "Z00.0"):
        assert secret not in trail

    # the corrected amount is what the process decides on: 60 paid of 60 due is paid in full
    [task] = client.get(f"/api/v1/tasks?instanceId={instance_id}").get_json()
    assert client.post(f"/api/v1/tasks/{task['id']}/complete", json={"variables": {}}).status_code == 200
    paid = client.post("/api/v1/messages", headers={"Idempotency-Key": "pay-INV-500"},
                       json={"name": "payment_received", "businessKey": "INV-500", "variables": {"amount_paid": 60}})
    assert paid.status_code == 200
    assert client.get(f"/api/v1/process-instances/{instance_id}").get_json()["currentActivities"] == ["wait_remittance"]


def test_an_edit_that_changes_nothing_writes_no_audit_row(client, monkeypatch):
    instance_id = start(client, monkeypatch)
    response = client.patch(f"/api/v1/process-instances/{instance_id}/variables",
                            json={"variables": {"amount_due": 100}, "reason": "double-checked"})
    assert response.status_code == 200 and response.get_json()["changes"] == []
    assert edits(client, instance_id) == []


def test_only_admins_edit_with_a_reason_and_never_site_or_history(client, monkeypatch):
    instance_id = start(client, monkeypatch)
    url = f"/api/v1/process-instances/{instance_id}/variables"
    assert client.patch(url, headers=bearer("alice"), json={"variables": {"amount_due": 1},
                                                            "reason": "x"}).status_code == 403
    assert client.patch(url, json={"variables": {"amount_due": 1}}).status_code == 422
    assert client.patch(url, json={"variables": {"site": "SOUTH"}, "reason": "move"}).status_code == 422
    assert client.patch(url, json={"reason": "nothing"}).status_code == 422
    suspended = client.post(f"/api/v1/process-instances/{instance_id}/suspend", json={"reason": "hold"})
    assert suspended.status_code == 200 and suspended.get_json()["state"] == "suspended"
    assert client.patch(url, json={"variables": {"amount_due": 5}, "reason": "while on hold"}).status_code == 200
    assert edits(client, instance_id)[0]["details"]["changes"][0]["after"] == 5

    client.post(f"/api/v1/process-instances/{instance_id}/resume")
    [task] = client.get(f"/api/v1/tasks?instanceId={instance_id}").get_json()
    client.post(f"/api/v1/tasks/{task['id']}/complete", json={"variables": {}})
    for key, name in (("pay", "payment_received"), ("remit", "remittance_posted")):
        client.post("/api/v1/messages", headers={"Idempotency-Key": f"{key}-INV-500"},
                    json={"name": name, "businessKey": "INV-500", "variables": {"amount_paid": 5}})
    assert client.get(f"/api/v1/process-instances/{instance_id}").get_json()["state"] == "completed"
    history = client.patch(url, json={"variables": {"amount_due": 6}, "reason": "too late"})
    assert history.status_code == 409 and "history" in history.get_json()["detail"]
