"""Accounts, access rules and hostile input: every test here runs with the test users of
tests/accounts_fixtures.py; `client` is the admin unless a request passes its own credentials."""
import pytest

from tests.accounts_fixtures import anonymous, client, test_users  # noqa: F401
from tests.helpers import upload

from .bpmn import user_task_process


@pytest.fixture
def start_routed(client):
    """Deploy `routed` (one user task offered to the group named by variable `group`, no form) and
    return start(site, group, as_=None) -> (instance id, task id), as the admin unless told."""
    response = upload(client, {"routed.bpmn": user_task_process("routed", candidateGroups="${group}")})
    assert response.status_code == 201, response.get_json()

    def start(site: str, group: str, headers: dict | None = None):
        started = client.post("/api/v1/process-instances", headers=headers or {},
                              json={"processKey": "routed", "site": site, "variables": {"group": group}})
        assert started.status_code == 201, started.get_json()
        body = started.get_json()
        [task] = body["openTasks"]
        return body["id"], task["id"]
    return start
