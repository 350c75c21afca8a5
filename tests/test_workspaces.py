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


# --- a workspace follows its process, whatever its deployments are called -------------------------------

RENAMED_TASK = ('name="Work the claim"', 'name="Work the routed claim"')


def fixture_files(**replace) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in FIXTURES.iterdir()}
    for filename, (old, new) in replace.items():
        text = files[filename].decode()
        assert old in text
        files[filename] = text.replace(old, new).encode()
    return files


def upload_version_2(client, name="claim routing, task renamed"):
    """An admin uploads a changed BPMN under another deployment name (the upload form's free text)."""
    response = upload(client, fixture_files(**{"claim_routing.bpmn": RENAMED_TASK}), name=name)
    assert response.status_code == 201, response.get_json()
    assert [(d["processKey"], d["version"]) for d in response.get_json()["processDefinitions"]] == [("claim_routing", 2)]
    return response.get_json()


def task_of(client, instance):
    [task] = client.get(f"/api/v1/tasks?instanceId={instance['id']}").get_json()
    return task["name"], task["candidateGroups"]


def west_row_draft(client, workspace="claim_routing"):
    dmn = client.get(f"/api/v1/workspaces/{workspace}/files/work_queue.dmn", headers=ANALYST).get_data(as_text=True)
    assert save(client, "work_queue.dmn", dmn.replace('<rule id="rule_default">', WEST_ROW + '<rule id="rule_default">'),
                workspace=workspace).status_code == 200


def test_the_workspace_opens_the_latest_version_of_its_process_whatever_the_deployment_was_called(client, deployed):
    v2 = upload_version_2(client)
    assert client.get("/api/v1/workspaces", headers=ANALYST).get_json() == ["claim_routing"], "one per process"
    workspace = client.get("/api/v1/workspaces/claim_routing", headers=ANALYST).get_json()
    assert workspace["name"] == "claim_routing" and workspace["deploymentId"] == v2["id"]
    bpmn = client.get("/api/v1/workspaces/claim_routing/files/claim_routing.bpmn", headers=ANALYST).get_data(as_text=True)
    assert RENAMED_TASK[1] in bpmn, "an edit starts from the latest deployed version"

    west_row_draft(client)
    published = client.post("/api/v1/workspaces/claim_routing/deploy", headers=ANALYST)
    assert published.status_code == 201, published.get_json()
    assert [(d["processKey"], d["version"]) for d in published.get_json()["processDefinitions"]] == [("claim_routing", 3)]
    assert task_of(client, start(client, "WEST")) == ("Work the routed claim", ["west_claims"]), \
        "version 3 keeps version 2's BPMN change and adds the DMN edit"
    assert client.get("/api/v1/workspaces", headers=ANALYST).get_json() == ["claim_routing"]


def test_deploy_refuses_a_draft_started_before_a_newer_version_was_deployed(client, deployed):
    west_row_draft(client)                       # started on version 1
    upload_version_2(client)                     # meanwhile an admin deploys version 2, by another route
    form = client.get("/api/v1/workspaces/claim_routing/files/claim_work.form", headers=ANALYST).get_data()
    assert client.put("/api/v1/workspaces/claim_routing/files/claim_work.form", data=form, headers=ANALYST,
                      content_type="application/json").status_code == 200   # saving more keeps its start

    workspace = client.get("/api/v1/workspaces/claim_routing", headers=ANALYST).get_json()
    assert workspace["deployedAfterDraft"] == [{"processKey": "claim_routing", "version": 2,
                                                "deploymentId": workspace["deploymentId"]}]
    refused = client.post("/api/v1/workspaces/claim_routing/deploy", headers=ANALYST)
    assert refused.status_code == 409, refused.get_json()
    assert refused.content_type == "application/problem+json"
    assert "claim_routing version 2 was deployed after your draft was started" in refused.get_json()["detail"]
    assert "review the changes" in refused.get_json()["detail"]
    assert len(client.get("/api/v1/process-definitions?processKey=claim_routing").get_json()) == 2, "nothing deployed"
    assert client.get("/api/v1/workspaces/claim_routing", headers=ANALYST).get_json()["hasDrafts"] is True, "drafts kept"

    # rebasing onto a version other than the latest (the one reviewed is not the newest any more) is refused
    [v1] = [d["id"] for d in client.get("/api/v1/deployments").get_json()
            if any(p["processKey"] == "claim_routing" and p["version"] == 1 for p in d["processDefinitions"])]
    stale = client.post("/api/v1/workspaces/claim_routing/drafts/rebase", headers=ANALYST, json={"onto": v1})
    assert stale.status_code == 409 and "Nothing was rebased" in stale.get_json()["detail"]
    assert client.post("/api/v1/workspaces/claim_routing/drafts/rebase", headers=ANALYST,
                       json={"onto": "latest"}).status_code == 422

    # having reviewed version 2, the analyst keeps the drafts on top of it, and deploys
    rebased = client.post("/api/v1/workspaces/claim_routing/drafts/rebase", headers=ANALYST,
                          json={"onto": workspace["deploymentId"]})
    assert rebased.status_code == 200 and rebased.get_json()["deployedAfterDraft"] == []
    published = client.post("/api/v1/workspaces/claim_routing/deploy", headers=ANALYST)
    assert published.status_code == 201, published.get_json()
    assert [d["version"] for d in published.get_json()["processDefinitions"]] == [3]
    assert task_of(client, start(client, "WEST")) == ("Work the routed claim", ["west_claims"])


def test_a_new_workspace_cannot_redeploy_a_process_it_was_not_started_from(client, deployed):
    for filename, content in fixture_files(**{"claim_routing.bpmn": RENAMED_TASK}).items():
        assert client.put(f"/api/v1/workspaces/claim_copy/files/{filename}", data=content, headers=ANALYST,
                          content_type="application/xml").status_code == 200
    assert client.get("/api/v1/workspaces", headers=ANALYST).get_json() == ["claim_copy", "claim_routing"]
    refused = client.post("/api/v1/workspaces/claim_copy/deploy", headers=ANALYST)
    assert refused.status_code == 409 and "claim_routing version 1" in refused.get_json()["detail"]
    assert len(client.get("/api/v1/process-definitions?processKey=claim_routing").get_json()) == 1
