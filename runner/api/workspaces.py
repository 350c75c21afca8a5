"""REST routes for analysts: workspaces (drafts, validate, deploy) and trying decisions."""
from __future__ import annotations

from flask import Response, jsonify, request

from ..services import Invalid, decisions, workspaces
from . import api, openapi
from .bodies import json_body
from .identity import current_principal
from .representations import deployment_json

MEDIA_TYPES = {"bpmn": "application/xml", "dmn": "application/xml", "form": "application/json"}


def _workspace_json(ws: workspaces.Workspace) -> dict:
    return {"name": ws.name, "processKeys": ws.process_keys,
            "deploymentId": ws.deployment.id if ws.deployment else None,
            "files": [{"filename": f.filename, "kind": f.kind, "draft": f.draft} for f in ws.files],
            "hasDrafts": ws.has_drafts, "draftBaseDeploymentId": ws.base_deployment_id,
            "deployedAfterDraft": [n.to_dict() for n in ws.deployed_after_draft]}


def _current(name: str) -> dict:
    return _workspace_json(workspaces.get_workspace(name, current_principal()))


@api.get("/workspaces")
def list_workspaces():
    return jsonify(workspaces.list_workspaces(current_principal()))


@api.get("/workspaces/<name>")
def get_workspace(name: str):
    return jsonify(_current(name))


@api.get("/workspaces/<name>/files/<filename>")
def get_workspace_file(name: str, filename: str):
    for file in workspaces.workspace_files(name, current_principal()):
        if file.filename == filename:
            return Response(file.content, mimetype=MEDIA_TYPES.get(file.kind, "application/octet-stream"),
                            headers={"X-Lanes-Draft": "true" if file.draft else "false"})
    from ..services import NotFound
    raise NotFound(f"workspace '{name}' has no file '{filename}'")


@api.put("/workspaces/<name>/files/<filename>")
def save_workspace_file(name: str, filename: str):
    workspaces.save_draft(name, filename, request.get_data(), current_principal())
    return jsonify(_current(name))


@api.delete("/workspaces/<name>/drafts")
def discard_workspace_drafts(name: str):
    return jsonify({"discarded": workspaces.discard_drafts(name, current_principal())})


@api.post("/workspaces/<name>/drafts/rebase")
def rebase_workspace_drafts(name: str):
    onto = json_body(required=False).get("onto")
    if onto is not None and (isinstance(onto, bool) or not isinstance(onto, int)):
        raise Invalid("onto must be the id of the deployment you reviewed", errors={"onto": "A deployment id"})
    workspaces.rebase_drafts(name, current_principal(), onto=onto)
    return jsonify(_current(name))


@api.post("/workspaces/<name>/validate")
def validate_workspace(name: str):
    problems = workspaces.validate_workspace(name, current_principal())
    return jsonify({"valid": not problems, "problems": problems})


@api.post("/workspaces/<name>/deploy")
def deploy_workspace(name: str):
    result = workspaces.deploy_workspace(name, current_principal())
    body = deployment_json(result.deployment, result.definitions)
    body["created"] = result.created
    body["workspace"] = workspaces.workspace_of(result.deployment)
    return jsonify(body), 201 if result.created else 200


@api.post("/decisions/<key>/evaluate")
def evaluate_decision(key: str):
    body = json_body()
    workspace = body.get("workspace")
    return jsonify(decisions.evaluate_decision(key, body.get("variables", {}), current_principal(),
                                               workspace=workspace if isinstance(workspace, str) else None))


# --- OpenAPI ---------------------------------------------------------------------

_S = openapi._string
_NAME = openapi._param("name", "path", "the workspace: a process folder, named by a process id of its first "
                       "deployment (any of its process ids finds it), or a never-deployed workspace's own name")
_FILE = openapi._param("filename", "path", "a .bpmn, .dmn or .form file of the workspace")
_ANALYST = openapi._problems(403, 404)
openapi.SCHEMAS.update({
    "Workspace": {"type": "object", "required": ["name", "files"], "properties": {
        "name": _S(), "processKeys": {"type": "array", "items": _S()},
        "deploymentId": {"type": ["integer", "null"],
                         "description": "the deployment holding the latest version of its processes"},
        "hasDrafts": {"type": "boolean"},
        "draftBaseDeploymentId": {"type": ["integer", "null"],
                                  "description": "the deployment the drafts were started from"},
        "deployedAfterDraft": {
            "type": "array", "description": "versions deployed after the drafts were started: deploying is "
                                            "refused (409) until the drafts are rebased or discarded",
            "items": {"type": "object", "properties": {
                "processKey": _S(), "version": {"type": "integer"}, "deploymentId": {"type": "integer"}}}},
        "files": {"type": "array", "items": {"type": "object", "properties": {
            "filename": _S(), "kind": _S(enum=["bpmn", "dmn", "form"]), "draft": {"type": "boolean"}}}}}},
    "Validation": {"type": "object", "properties": {"valid": {"type": "boolean"}, "problems": {
        "type": "array", "items": {"type": "object", "properties": {
            "file": _S(), "element_id": openapi.NULLABLE_STRING, "message": _S()}}}}},
    "DecisionEvaluation": {"type": "object", "properties": {
        "decisionId": _S(), "name": _S(), "hitPolicy": _S(),
        "inputs": {"type": "array", "items": openapi.JSON_OBJECT},
        "matchingRows": {"type": "array", "items": {"type": "integer"}},
        "selectedRows": {"type": "array", "items": {"type": "integer"}},
        "selectedRuleIds": {"type": "array", "items": _S()},
        "outputs": {"type": "array", "items": openapi.JSON_OBJECT}, "result": {}}},
})
openapi.PATHS.update({
    "/workspaces": {"get": {
        "summary": "Workspaces (analysts)", "operationId": "listWorkspaces", "tags": ["workspaces"],
        "responses": {**openapi._ok("Workspace names", {"type": "array", "items": _S()}), **openapi._problems(403)}}},
    "/workspaces/{name}": {"get": {
        "summary": "A workspace's files: deployed, or the saved draft", "operationId": "getWorkspace",
        "tags": ["workspaces"], "parameters": [_NAME],
        "responses": {**openapi._ok("The workspace", openapi._ref("Workspace")), **_ANALYST}}},
    "/workspaces/{name}/files/{filename}": {
        "get": {"summary": "One file's content (draft if there is one)", "operationId": "getWorkspaceFile",
                "tags": ["workspaces"], "parameters": [_NAME, _FILE],
                "responses": {"200": {"description": "The file (XML or form JSON)"}, **_ANALYST}},
        "put": {"summary": "Save a draft of one file (the request body is the file)", "operationId": "saveDraft",
                "tags": ["workspaces"], "parameters": [_NAME, _FILE],
                "requestBody": {"required": True, "content": {"application/xml": {"schema": _S()},
                                                              "application/json": {"schema": openapi.JSON_OBJECT}}},
                "responses": {**openapi._ok("The workspace", openapi._ref("Workspace")),
                              **openapi._problems(403, 413, 422)}}},
    "/workspaces/{name}/drafts": {"delete": {
        "summary": "Discard the workspace's drafts", "operationId": "discardDrafts", "tags": ["workspaces"],
        "parameters": [_NAME],
        "responses": {**openapi._ok("How many drafts were discarded", openapi.JSON_OBJECT), **_ANALYST}}},
    "/workspaces/{name}/drafts/rebase": {"post": {
        "summary": "Keep the drafts on top of the latest deployed version (after reviewing it)",
        "operationId": "rebaseDrafts", "tags": ["workspaces"], "parameters": [_NAME],
        "requestBody": openapi._json_request({"type": "object", "properties": {
            "onto": {"type": "integer", "description": "the deployment you reviewed (deployedAfterDraft's "
                     "deploymentId): 409 if another was deployed since"}}}, required=False),
        "responses": {**openapi._ok("The workspace", openapi._ref("Workspace")), **_ANALYST,
                      **openapi._problems(409, 422)}}},
    "/workspaces/{name}/validate": {"post": {
        "summary": "Run deploy-time validation on the workspace", "operationId": "validateWorkspace",
        "tags": ["workspaces"], "parameters": [_NAME],
        "responses": {**openapi._ok("Problems per file and element", openapi._ref("Validation")), **_ANALYST}}},
    "/workspaces/{name}/deploy": {"post": {
        "summary": "Deploy the workspace as a new version", "operationId": "deployWorkspace",
        "tags": ["workspaces"], "parameters": [_NAME],
        "responses": {**openapi._ok("The deployment", openapi._ref("Deployment"), "201"),
                      **openapi._ok("Identical content was deployed before", openapi._ref("Deployment")),
                      **openapi._problems(403, 404, 409, 422)}}},
    "/decisions/{key}/evaluate": {"post": {
        "summary": "Try a decision table: which rows match these inputs", "operationId": "evaluateDecision",
        "tags": ["decisions"], "parameters": [openapi._param("key", "path", "the decision id")],
        "requestBody": openapi._json_request({"type": "object", "properties": {
            "variables": openapi.JSON_OBJECT,
            "workspace": _S("evaluate the workspace's draft instead of the deployed table")}}),
        "responses": {**openapi._ok("Matching and selected rows, outputs, result", openapi._ref("DecisionEvaluation")),
                      **openapi._problems(403, 404, 422)}}},
})
