"""What `make run` gives a new user: the demo users of the README see the sample processes' work.

The first run creates the demo users (runner/services/accounts.py DEMO_USERS) and deploys every
folder of processes/. Started as the README shows, each sample's first task at NORTH lands in a
demo user's task list, and not in the SOUTH user's.
"""
from __future__ import annotations

import base64

from adapters import build_registry
from runner.models import db
from runner.services import accounts
from runner.worker import Worker
from tests.helpers import PROCESSES, folder_files, upload


def basic(username: str) -> dict:
    raw = f"{username}:{accounts.demo_password(username)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def task_list(client, username):
    response = client.get("/api/v1/tasks", headers=basic(username))
    assert response.status_code == 200, response.get_json()
    return {(t["processKey"], t["elementId"]) for t in response.get_json()}


def test_the_demo_users_see_the_first_task_of_each_sample_process(app):
    with app.app_context():
        assert [name for name, _ in accounts.ensure_demo_users(documented=True)] == [
            "admin", "analyst", "alice", "carol", "bob", "dave"]
        worker = Worker(app, name="demo-worker", registry=build_registry(db.engine, env={}))
    client = app.test_client()
    for folder in sorted(p for p in PROCESSES.iterdir() if p.is_dir()):
        response = upload(client, folder_files(folder), headers=basic("analyst"))
        assert response.status_code == 201, response.get_json()

    refund = client.post("/api/v1/process-instances", headers=basic("alice"), json={
        "processKey": "patient_refund", "site": "NORTH", "businessKey": "PA-100",
        "variables": {"amount": 1800, "reason": "overpayment", "patient_account": "PA-100"}})
    assert refund.status_code == 201, refund.get_json()
    denial = client.post("/api/v1/messages", headers={**basic("alice"), "Idempotency-Key": "835-CLM-1"}, json={
        "name": "claim_denied", "businessKey": "CLM-1", "site": "NORTH",
        "variables": {"payer": "ACME", "denial_code": "CO-50", "denied_amount": 420, "patient_account": "PA-7"}})
    assert denial.status_code == 201, denial.get_json()
    requisition = client.post("/api/v1/process-instances", headers=basic("dave"), json={
        "processKey": "purchase_requisition", "site": "NORTH", "businessKey": "REQ-1",
        "variables": {"cost_center": "CC-100", "category": "clinical_supplies",
                      "lines": [{"description": "Infusion pump tubing, case", "quantity": 4, "unit_price": 300}]}})
    assert requisition.status_code == 201, requisition.get_json()
    worker.drain()  # eligibility and budget checks

    assert task_list(client, "alice") == {("patient_refund", "first_approval"), ("billing_exception", "work_denial")}
    assert task_list(client, "dave") == {("purchase_requisition", "approve_requisition")}
    assert task_list(client, "bob") == set()
