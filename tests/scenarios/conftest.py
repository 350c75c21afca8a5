"""Scenario fixtures: the sample processes run end to end through the REST API.

Every scenario deploys a folder of processes/ as `make run` does (BPMN + DMN + the forms it references),
starts instances over HTTP, lets site staff (users with a site and their work-queue groups, each with an
API token) claim and complete their tasks, and drains the job worker in-process with the sandbox adapters,
so adapter effects can be read back from the sandbox tables.
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from adapters import build_registry, sandbox
from runner.worker import Worker
from tests.accounts_fixtures import add_test_users, bearer, client, test_users  # noqa: F401  (client: admin)
from tests.helpers import PROCESSES, folder_files, upload

# name: (roles, sites, groups) -- the groups are the candidate groups the site-rule tables route to
SITE_STAFF = {
    # billing exceptions
    "nadia": (["staff"], ["NORTH"], ["north_clinical_appeals", "north_denials"]),
    "nick": (["staff"], ["NORTH"], ["north_revenue_integrity"]),
    "sofia": (["staff"], ["SOUTH"], ["south_denials", "south_government_payers"]),
    "sid": (["staff"], ["SOUTH"], ["south_finance"]),
    "cleo": (["staff"], ["CLINIC-12"], ["clinic12_frontdesk", "ambulatory_billing"]),
    # patient refunds
    "fran": (["staff"], ["NORTH"], ["north_finance"]),
    "carl": (["staff"], ["NORTH", "SOUTH", "EAST", "CLINIC-12"], ["refund_controllers"]),
    # purchase requisitions
    "nate": (["staff"], ["NORTH"], ["north_supply_chain"]),
    "vera": (["staff"], ["NORTH"], ["north_value_analysis"]),
    "olga": (["staff"], ["CLINIC-12"], ["clinic_procurement", "ambulatory_operations"]),
    "finn": (["staff"], ["CLINIC-12"], ["ambulatory_finance"]),
    "pete": (["staff"], ["EAST"], ["pharmacy_procurement"]),
}


@pytest.fixture
def site_staff(app, test_users):
    add_test_users(app, SITE_STAFF)
    return SITE_STAFF


@pytest.fixture
def worker(app, engine):
    return Worker(app, name="scenario-worker", poll_seconds=0.05, registry=build_registry(engine, env={}))


@dataclass
class Scenario:
    """A process folder deployed and driven over HTTP; `client` acts as the admin unless a user is named."""

    client: object
    worker: Worker
    engine: object

    def deploy(self, process: str, change=None) -> dict:
        files = folder_files(PROCESSES / process)
        if change is not None:
            files = change(files)
        response = upload(self.client, files)
        assert response.status_code in (200, 201), response.get_json()
        return response.get_json()

    def start(self, key: str, site: str, business_key: str, **variables) -> dict:
        response = self.client.post("/api/v1/process-instances", json={
            "processKey": key, "site": site, "businessKey": business_key, "variables": variables})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def instance(self, instance_id: str) -> dict:
        response = self.client.get(f"/api/v1/process-instances/{instance_id}")
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def drain(self, instance_id: str) -> dict:
        """Run every due job (service tasks) and return the instance as the API shows it."""
        self.worker.drain()
        return self.instance(instance_id)

    def task(self, instance_id: str, user: str) -> dict:
        """The one open task of the instance in `user`'s task list."""
        response = self.client.get(f"/api/v1/tasks?instanceId={instance_id}", headers=bearer(user))
        assert response.status_code == 200, response.get_json()
        tasks = response.get_json()
        assert len(tasks) == 1, f"{user} sees {[t['elementId'] for t in tasks]}"
        return tasks[0]

    def sees_no_task(self, instance_id: str, user: str) -> None:
        tasks = self.client.get(f"/api/v1/tasks?instanceId={instance_id}", headers=bearer(user)).get_json()
        assert tasks == [], f"{user} should not see {[t['elementId'] for t in tasks]}"

    def work(self, instance_id: str, user: str, element_id: str, **variables) -> dict:
        """`user` claims the instance's open task (which must be `element_id`), completes it with
        `variables` (validated against its form), then the worker runs what follows."""
        task = self.task(instance_id, user)
        assert task["elementId"] == element_id, task
        claimed = self.client.post(f"/api/v1/tasks/{task['id']}/claim", headers=bearer(user), json={})
        assert claimed.status_code == 200, claimed.get_json()
        done = self.client.post(f"/api/v1/tasks/{task['id']}/complete", headers=bearer(user),
                                json={"variables": variables})
        assert done.status_code == 200, done.get_json()
        return self.drain(instance_id)

    def effects(self, system: str, operation: str) -> list[dict]:
        return sandbox.effects(self.engine, system, operation)


@pytest.fixture
def scenario(client, worker, engine, site_staff) -> Scenario:
    return Scenario(client, worker, engine)
