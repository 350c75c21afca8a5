"""Issue 5 (API half): workspaces keep drafts, validate like a deployment, deploy new versions; try the rules."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.accounts_fixtures import bearer, client, test_users  # noqa: F401
from tests.helpers import upload

FIXTURES = Path(__file__).parent / "fixtures" / "workspace"
ANALYST, ALICE = bearer("analyst"), bearer("alice")
WEST_ROW = ('<rule id="rule_west"><inputEntry id="r3_site"><text>"WEST"</text></inputEntry>'
            '<outputEntry id="r3_out"><text>"west_claims"</text></outputEntry></rule>\n      ')


@pytest.fixture
def deployed(client):
    files = {p.name: p.read_bytes() for p in FIXTURES.iterdir()}
    response = upload(client, files, name="claim_routing")
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def start(client, site):
    response = client.post("/api/v1/process-instances", json={
        "processKey": "claim_routing", "site": site, "variables": {"amount": 50}})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def groups_of(client, instance):
    [task] = client.get(f"/api/v1/tasks?instanceId={instance['id']}").get_json()
    return task["candidateGroups"]


def save(client, filename, content, workspace="claim_routing"):
    return client.put(f"/api/v1/workspaces/{workspace}/files/{filename}", data=content, headers=ANALYST,
                      content_type="application/xml")


def test_a_draft_row_is_tried_validated_and_deployed_without_touching_running_instances(client, deployed):
    old = start(client, "WEST")
    assert groups_of(client, old) == ["central_claims"]

    workspace = client.get("/api/v1/workspaces/claim_routing", headers=ANALYST).get_json()
    assert {f["filename"] for f in workspace["files"]} == {"claim_routing.bpmn", "work_queue.dmn", "claim_work.form"}
    assert workspace["hasDrafts"] is False
    dmn = client.get("/api/v1/workspaces/claim_routing/files/work_queue.dmn", headers=ANALYST).get_data(as_text=True)
    edited = dmn.replace('<rule id="rule_default">', WEST_ROW + '<rule id="rule_default">')
    saved = save(client, "work_queue.dmn", edited)
    assert saved.status_code == 200 and saved.get_json()["hasDrafts"] is True

    tried = client.post("/api/v1/decisions/work_queue/evaluate", headers=ANALYST,
                        json={"variables": {"site": "WEST"}, "workspace": "claim_routing"}).get_json()
    assert tried["matchingRows"] == [2, 3] and tried["selectedRows"] == [2]
    assert tried["result"] == {"queue": "west_claims"}
    deployed_table = client.post("/api/v1/decisions/work_queue/evaluate", headers=ANALYST,
                                 json={"variables": {"site": "WEST"}}).get_json()
    assert deployed_table["result"] == {"queue": "central_claims"}, "a draft changes nothing deployed"
    assert groups_of(client, start(client, "WEST")) == ["central_claims"], "nor what new instances run"

    assert client.post("/api/v1/workspaces/claim_routing/validate", headers=ANALYST).get_json() == \
        {"valid": True, "problems": []}
    published = client.post("/api/v1/workspaces/claim_routing/deploy", headers=ANALYST)
    assert published.status_code == 201
    assert [(d["processKey"], d["version"]) for d in published.get_json()["processDefinitions"]] == [("claim_routing", 2)]
    assert client.get("/api/v1/workspaces/claim_routing", headers=ANALYST).get_json()["hasDrafts"] is False

    new = start(client, "WEST")
    assert (new["version"], groups_of(client, new)) == (2, ["west_claims"])
    assert groups_of(client, old) == ["central_claims"]
    assert client.get(f"/api/v1/process-instances/{old['id']}").get_json()["version"] == 1


def test_a_broken_draft_lists_each_problem_by_element_and_cannot_be_deployed(client, deployed):
    bpmn = (FIXTURES / "claim_routing.bpmn").read_text()
    bpmn = bpmn.replace("${amount &gt; 10000}", "${amount &gt;&gt; }").replace('camunda:formRef="claim_work"',
                                                                             'camunda:formRef="claim_wrok"')
    assert save(client, "claim_routing.bpmn", bpmn.encode()).status_code == 200
    report = client.post("/api/v1/workspaces/claim_routing/validate", headers=ANALYST).get_json()
    assert report["valid"] is False
    by_element = {p["element_id"]: p["message"] for p in report["problems"]}
    assert "condition" in by_element["urgent"] and "claim_wrok" in by_element["work_claim"]

    refused = client.post("/api/v1/workspaces/claim_routing/deploy", headers=ANALYST)
    assert refused.status_code == 422
    assert {p["element_id"] for p in refused.get_json()["problems"]} >= {"urgent", "work_claim"}
    assert len(client.get("/api/v1/process-definitions?processKey=claim_routing").get_json()) == 1

    assert client.delete("/api/v1/workspaces/claim_routing/drafts", headers=ANALYST).get_json() == {"discarded": 1}
    assert client.post("/api/v1/workspaces/claim_routing/validate", headers=ANALYST).get_json()["valid"] is True


def test_workspaces_and_trying_rules_are_for_analysts(client, deployed):
    assert client.get("/api/v1/workspaces", headers=ALICE).status_code == 403
    assert save(client, "work_queue.dmn", b"<x/>").status_code == 200
    assert client.put("/api/v1/workspaces/claim_routing/files/work_queue.dmn", data=b"<x/>",
                      headers=ALICE).status_code == 403
    assert client.post("/api/v1/decisions/work_queue/evaluate", headers=ALICE,
                       json={"variables": {"site": "NORTH"}}).status_code == 403
    assert client.get("/api/v1/workspaces", headers=ANALYST).get_json() == ["claim_routing"]


@pytest.mark.parametrize("filename, content, status", [
    ("../../etc/passwd.bpmn", b"<x/>", 404),
    ("notes.txt", b"hello", 422),
    ("work_queue.dmn", "caf\xe9".encode("latin-1"), 422),
])
def test_bad_draft_files_are_refused(client, deployed, filename, content, status):
    assert save(client, filename, content).status_code == status


def test_trying_rules_with_bad_input_says_why(client, deployed):
    missing = client.post("/api/v1/decisions/no_such/evaluate", headers=ANALYST, json={"variables": {}})
    assert missing.status_code == 404
    bad = client.post("/api/v1/decisions/work_queue/evaluate", headers=ANALYST, json={"variables": [1]})
    assert bad.status_code == 422
