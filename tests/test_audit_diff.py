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


# --- fields marked sensitive in a form (form-js custom property sensitive = "true") ---------------

def _field(key, label, sensitive=False, **extra):
    field = {"label": label, "type": "textfield", "id": f"Field_{key}", "key": key, **extra}
    if sensitive:
        field["properties"] = {"sensitive": "true"}   # what the form-js editor's "Custom properties" writes
    return field


INTAKE_FORM = {
    "id": "invoice_intake", "type": "default", "schemaVersion": 16,
    "exporter": {"name": "form-js", "version": "1.7.0"},
    "components": [
        _field("plan_number", "Insurance plan number", sensitive=True),
        _field("note", "Note"),
        {"type": "group", "id": "Group_guarantor", "path": "guarantor", "label": "Guarantor",
         "components": [_field("name", "Name"), _field("employer_ref", "Employer reference", sensitive=True)]},
        {"type": "dynamiclist", "id": "List_payers", "path": "payers", "label": "Payers",
         "components": [_field("payer", "Payer"), _field("member_ref", "Member reference", sensitive=True)]},
    ],
}


def intake_files(with_form=True):
    bpmn = (FIXTURES / "invoice_payment.bpmn").read_text()
    if with_form:
        bpmn = bpmn.replace('<bpmn:userTask id="prepare_invoice" name="Prepare invoice"',
                            '<bpmn:userTask id="prepare_invoice" name="Prepare invoice" '
                            'camunda:formRef="invoice_intake" camunda:formRefBinding="latest"')
        assert 'camunda:formRef="invoice_intake"' in bpmn
        return {"invoice_payment.bpmn": bpmn.encode(), "invoice_intake.form": json.dumps(INTAKE_FORM).encode()}
    return {"invoice_payment.bpmn": bpmn.encode()}


def start_intake(client, business_key):
    response = client.post("/api/v1/process-instances", json={
        "processKey": "invoice_payment", "site": "NORTH", "businessKey": business_key,
        "variables": {"amount_due": 100, "plan_number": "PLAN-111", "note": "first call",
                      "guarantor": {"name": "Bo Lee", "employer_ref": "EMP-1"},
                      "payers": [{"payer": "ACME", "member_ref": "MR-1"}]}})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def correct(client, instance_id):
    response = client.patch(f"/api/v1/process-instances/{instance_id}/variables", json={
        "variables": {"plan_number": "PLAN-222", "note": "second call",
                      "guarantor": {"name": "Bo Leigh", "employer_ref": "EMP-2"},
                      "payers": [{"payer": "ACME Health", "member_ref": "MR-2"}]},
        "reason": "caller corrected the plan"})
    assert response.status_code == 200, response.get_json()
    [entry] = edits(client, instance_id)
    return {c["variable"]: c for c in entry["details"]["changes"]}


def test_a_form_field_marked_sensitive_is_masked_in_the_audit_of_a_correction(client, monkeypatch):
    monkeypatch.delenv("LANES_SENSITIVE_FIELDS", raising=False)
    assert upload(client, intake_files()).status_code == 201
    instance_id = start_intake(client, "INV-700")
    changes = correct(client, instance_id)

    assert changes["plan_number"] == {"variable": "plan_number", "change": "changed", "before": "********",
                                      "after": "********", "masked": True}
    assert changes["note"] == {"variable": "note", "change": "changed", "before": "first call",
                               "after": "second call", "masked": False}
    assert changes["guarantor"]["before"] == {"name": "Bo Lee", "employer_ref": "********"}
    assert changes["guarantor"]["after"] == {"name": "Bo Leigh", "employer_ref": "********"}
    assert changes["payers"]["before"] == [{"payer": "ACME", "member_ref": "********"}]
    assert changes["payers"]["after"] == [{"payer": "ACME Health", "member_ref": "********"}]
    trail = json.dumps(client.get(f"/api/v1/process-instances/{instance_id}/audit").get_json())
    for secret in ("PLAN-111", "PLAN-222", "EMP-1", "EMP-2", "MR-1", "MR-2"):
        assert secret not in trail
    # the instance itself keeps the real values: only the audit is masked
    variables = client.get(f"/api/v1/process-instances/{instance_id}").get_json()["variables"]
    assert variables["plan_number"] == "PLAN-222" and variables["payers"][0]["member_ref"] == "MR-2"


def test_the_marking_belongs_to_the_deployment_that_holds_the_form(client, monkeypatch):
    """Version 1 has no form: its instances' plan_number is not sensitive; version 2's form marks it.
    The heuristics and LANES_SENSITIVE_FIELDS apply to both."""
    monkeypatch.setenv("LANES_SENSITIVE_FIELDS", "note")
    assert upload(client, intake_files(with_form=False)).status_code == 201
    old = start_intake(client, "INV-701")
    assert upload(client, intake_files()).status_code == 201
    new = start_intake(client, "INV-702")

    old_changes, new_changes = correct(client, old), correct(client, new)
    assert (old_changes["plan_number"]["before"], old_changes["plan_number"]["after"]) == ("PLAN-111", "PLAN-222")
    assert old_changes["guarantor"]["after"] == {"name": "Bo Leigh", "employer_ref": "EMP-2"}
    assert (new_changes["plan_number"]["before"], new_changes["plan_number"]["after"]) == ("********", "********")
    for changes in (old_changes, new_changes):
        assert changes["note"]["masked"] is True and changes["note"]["after"] == "********"   # the setting


def test_forms_read_the_sensitive_marking():
    from runner.engine.forms import load_form
    schema = json.loads(json.dumps(INTAKE_FORM))
    schema["components"].append(_field("ref_a", "A", properties={"sensitive": "false"}))
    schema["components"].append(_field("ref_b", "B", properties={"sensitive": True, "hint": "x"}))
    schema["components"].append(_field("ref_c", "C", properties={"Sensitive": " TRUE "}))
    schema["components"].append(_field("ref_d", "D", properties="sensitive"))
    form = load_form(json.dumps(schema), "invoice_intake.form")
    assert form.sensitive_keys() == {"plan_number", "guarantor.employer_ref", "payers.member_ref", "ref_b", "ref_c"}
    assert not form.field("note").sensitive and form.field("plan_number").sensitive
