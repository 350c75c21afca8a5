"""The OpenAPI 3.1 document of /api/v1, served at /api/v1/openapi.json.

Maintained by hand next to the routes: tests/security/test_openapi.py fails when a route under
/api/v1 is missing here (method + path) and validates the document with openapi-spec-validator.
"""
from __future__ import annotations

from flask import jsonify

from . import api

VERSION = "1.0.0"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _array(name: str) -> dict:
    return {"type": "array", "items": _ref(name)}


def _string(description: str = "", **extra) -> dict:
    return {"type": "string", **({"description": description} if description else {}), **extra}


NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
TIME = {"type": "string", "format": "date-time"}
JSON_OBJECT = {"type": "object", "additionalProperties": True}


def _ok(description: str, schema: dict, status: str = "200") -> dict:
    return {status: {"description": description, "content": {"application/json": {"schema": schema}}}}


PROBLEM_REASONS = {
    400: "Bad request", 401: "No credentials, or wrong, revoked or expired ones",
    403: "Visible, but not yours to act on", 404: "Does not exist (or is at a site you do not work at)",
    409: "Conflicts with the current state", 413: "Request body larger than the limit",
    422: "Validation failed: `errors` per field or `problems` per file and element",
}


def _problems(*statuses: int) -> dict:
    """The problem+json answers an operation can give, always including 401 (no or bad credentials)."""
    return {str(status): {"$ref": f"#/components/responses/Problem{status}"} for status in sorted({401, *statuses})}


def _param(name: str, where: str = "query", description: str = "", schema: dict | None = None) -> dict:
    return {"name": name, "in": where, "required": where == "path", "description": description,
            "schema": schema or {"type": "string"}}


PAGING = [_param("limit", schema={"type": "integer", "minimum": 0, "maximum": 1000, "default": 100}),
          _param("offset", schema={"type": "integer", "minimum": 0, "default": 0})]
JSON_BODY = "application/json"


def _json_request(schema: dict, required: bool = True) -> dict:
    return {"required": required, "content": {JSON_BODY: {"schema": schema}}}


SCHEMAS = {
    "Problem": {
        "type": "object", "description": "RFC 9457 problem details; `type` is stable per kind of error.",
        "required": ["type", "title", "status", "detail"],
        "properties": {"type": _string(format="uri"), "title": _string(), "status": {"type": "integer"},
                       "detail": _string(), "errors": {"type": "object", "additionalProperties": {"type": "string"}},
                       "problems": {"type": "array", "items": {"type": "object", "properties": {
                           "file": _string(), "element_id": NULLABLE_STRING, "message": _string()}}}},
    },
    "ProcessDefinition": {
        "type": "object", "required": ["id", "processKey", "version"],
        "properties": {"id": {"type": "integer"}, "processKey": _string(), "version": {"type": "integer"},
                       "name": _string(), "deploymentId": {"type": "integer"}, "createdAt": TIME},
    },
    "Deployment": {
        "type": "object", "required": ["id", "contentHash", "files", "processDefinitions"],
        "properties": {"id": {"type": "integer"}, "name": _string(), "contentHash": _string(),
                       "createdAt": TIME, "createdBy": _string(), "files": {"type": "array", "items": _string()},
                       "processDefinitions": _array("ProcessDefinition"),
                       "created": {"type": "boolean", "description": "false: identical content was deployed before"}},
    },
    "TaskSummary": {
        "type": "object", "properties": {"id": _string(), "name": _string(), "elementId": _string()},
    },
    "ProcessInstance": {
        "type": "object", "required": ["id", "processKey", "version", "site", "state"],
        "properties": {"id": _string(), "processKey": _string(), "version": {"type": "integer"},
                       "definitionId": {"type": "integer"}, "businessKey": NULLABLE_STRING, "site": _string(),
                       "state": _string(enum=["running", "suspended", "completed", "terminated"]), "endEvent": NULLABLE_STRING,
                       "currentActivities": {"type": "array", "items": _string()}, "variables": JSON_OBJECT,
                       "startedAt": TIME, "startedBy": _string(), "endedAt": NULLABLE_TIME,
                       "openTasks": _array("TaskSummary")},
    },
    "StartInstance": {
        "type": "object", "required": ["processKey", "site"],
        "properties": {"processKey": _string(), "site": _string("a site code such as NORTH", maxLength=40),
                       "businessKey": _string(maxLength=200),
                       "variables": {**JSON_OBJECT, "description": "at most 256 KiB of JSON"}},
    },
    "Task": {
        "type": "object", "required": ["id", "name", "instanceId", "site", "state"],
        "properties": {"id": _string(), "name": _string(), "elementId": _string(), "instanceId": _string(),
                       "processKey": _string(), "businessKey": NULLABLE_STRING, "site": _string(),
                       "state": _string(enum=["open", "completed", "cancelled"]), "assignee": NULLABLE_STRING,
                       "candidateGroups": {"type": "array", "items": _string()},
                       "candidateUsers": {"type": "array", "items": _string()}, "formRef": NULLABLE_STRING,
                       "dueAt": NULLABLE_TIME, "createdAt": TIME, "completedAt": NULLABLE_TIME,
                       "completedBy": NULLABLE_STRING,
                       "localVariables": {**JSON_OBJECT, "description": "the task's own variables, e.g. a "
                                          "multi-instance task's element variable"},
                       "form": {**JSON_OBJECT, "description": "the Camunda Form schema (GET /tasks/{id} only)"}},
    },
    "CompletedTask": {
        "type": "object", "properties": {"task": _ref("Task"), "instance": _ref("ProcessInstance")},
    },
    "AuditEvent": {
        "type": "object", "required": ["id", "at", "actor", "action"],
        "properties": {"id": {"type": "integer"}, "at": TIME, "actor": _string(), "action": _string(),
                       "instanceId": NULLABLE_STRING, "taskId": NULLABLE_STRING,
                       "deploymentId": {"type": ["integer", "null"]},
                       "details": {**JSON_OBJECT, "description": "secret-looking fields are masked"}},
    },
    "Incident": {
        "type": "object", "required": ["id", "state", "kind"],
        "properties": {"id": {"type": "integer"}, "state": _string(enum=["open", "resolved"]), "kind": _string(),
                       "instanceId": NULLABLE_STRING, "jobId": {"type": ["integer", "null"]},
                       "elementId": _string(), "processKey": NULLABLE_STRING, "site": NULLABLE_STRING,
                       "message": _string(), "createdAt": TIME, "resolvedAt": NULLABLE_TIME,
                       "resolvedBy": NULLABLE_STRING},
    },
    "Job": {
        "type": "object", "required": ["id", "kind", "state"],
        "properties": {"id": {"type": "integer"}, "kind": _string(), "state": _string(), "elementId": _string(),
                       "topic": NULLABLE_STRING, "dueAt": TIME, "attempts": {"type": "integer"},
                       "maxAttempts": {"type": "integer"}, "lockedBy": NULLABLE_STRING, "lockedUntil": NULLABLE_TIME,
                       "lastError": NULLABLE_STRING},
    },
}

INSTANCE_ID = _param("instance_id", "path", "process instance id")
TASK_ID = _param("task_id", "path", "task id")

PATHS = {
    "/deployments": {
        "post": {
            "summary": "Deploy BPMN, DMN and form files (analysts and admins)", "operationId": "createDeployment",
            "tags": ["deployments"],
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["files"],
                "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                               "name": _string()}}}}},
            "responses": {**_ok("Identical content was deployed before", _ref("Deployment")),
                          **_ok("New process versions", _ref("Deployment"), "201"), **_problems(403, 413, 422)},
        },
        "get": {"summary": "List deployments", "operationId": "listDeployments", "tags": ["deployments"],
                "responses": {**_ok("Deployments, newest first", _array("Deployment")), **_problems()}},
    },
    "/deployments/{deployment_id}": {
        "get": {"summary": "A deployment", "operationId": "getDeployment", "tags": ["deployments"],
                "parameters": [_param("deployment_id", "path", schema={"type": "integer"})],
                "responses": {**_ok("The deployment", _ref("Deployment")), **_problems(404)}},
    },
    "/process-definitions": {
        "get": {"summary": "Deployed process versions", "operationId": "listProcessDefinitions",
                "tags": ["deployments"], "parameters": [_param("processKey")],
                "responses": {**_ok("Definitions by key and version", _array("ProcessDefinition")), **_problems()}},
    },
    "/process-instances": {
        "post": {
            "summary": "Start the latest version of a process at a site you work at",
            "operationId": "startProcessInstance", "tags": ["instances"],
            "parameters": [_param("Idempotency-Key", "header", "a repeat with the same key and body returns "
                                  "the first instance (200); the same key with another body is 409")],
            "requestBody": _json_request(_ref("StartInstance")),
            "responses": {**_ok("Replayed: the instance the first request started", _ref("ProcessInstance")),
                          **_ok("Started", _ref("ProcessInstance"), "201"), **_problems(403, 404, 409, 413, 422)},
        },
        "get": {"summary": "Search instances at your sites", "operationId": "searchProcessInstances",
                "tags": ["instances"],
                "parameters": [_param("processKey"), _param("site"), _param("state"), _param("businessKey"),
                               *PAGING],
                "responses": {**_ok("Instances, newest first", _array("ProcessInstance")), **_problems(422)}},
    },
    "/process-instances/{instance_id}": {
        "get": {"summary": "An instance: state, current activities, variables, version",
                "operationId": "getProcessInstance", "tags": ["instances"], "parameters": [INSTANCE_ID],
                "responses": {**_ok("The instance with its open tasks", _ref("ProcessInstance")), **_problems(404)}},
    },
    "/process-instances/{instance_id}/audit": {
        "get": {"summary": "Every state change of an instance", "operationId": "getProcessInstanceAudit",
                "tags": ["instances"], "parameters": [INSTANCE_ID],
                "responses": {**_ok("Audit events, oldest first", _array("AuditEvent")), **_problems(404)}},
    },
    "/process-instances/{instance_id}/jobs": {
        "get": {"summary": "The jobs (service calls, timers) of an instance", "operationId": "getProcessInstanceJobs",
                "tags": ["incidents"], "parameters": [INSTANCE_ID],
                "responses": {**_ok("Jobs", _array("Job")), **_problems(404)}},
    },
    "/tasks": {
        "get": {"summary": "Your task list: tasks at your sites offered to your groups or to you",
                "operationId": "listTasks", "tags": ["tasks"],
                "parameters": [_param("site"), _param("candidateGroup"), _param("candidateUser"),
                               _param("assignee"), _param("processKey"), _param("instanceId"),
                               _param("state", schema={"type": "string", "default": "open"}), *PAGING],
                "responses": {**_ok("Tasks, soonest due first", _array("Task")), **_problems(422)}},
    },
    "/tasks/{task_id}": {
        "get": {"summary": "A task with its form schema", "operationId": "getTask", "tags": ["tasks"],
                "parameters": [TASK_ID], "responses": {**_ok("The task", _ref("Task")), **_problems(403, 404)}},
    },
    "/tasks/{task_id}/claim": {
        "post": {"summary": "Claim a task (an admin may name another assignee)", "operationId": "claimTask",
                 "tags": ["tasks"], "parameters": [TASK_ID],
                 "requestBody": _json_request({"type": "object", "properties": {"assignee": _string()}}, False),
                 "responses": {**_ok("The claimed task", _ref("Task")), **_problems(403, 404, 409, 422)}},
    },
    "/tasks/{task_id}/unclaim": {
        "post": {"summary": "Give a claimed task back", "operationId": "unclaimTask", "tags": ["tasks"],
                 "parameters": [TASK_ID],
                 "responses": {**_ok("The task", _ref("Task")), **_problems(403, 404, 409)}},
    },
    "/tasks/{task_id}/complete": {
        "post": {"summary": "Complete a task with form data (validated against its form)",
                 "operationId": "completeTask", "tags": ["tasks"], "parameters": [TASK_ID],
                 "requestBody": _json_request({"type": "object", "properties": {"variables": JSON_OBJECT}}),
                 "responses": {**_ok("The completed task and its instance", _ref("CompletedTask")),
                               **_problems(403, 404, 409, 413, 422)}},
    },
    "/incidents": {
        "get": {"summary": "Incidents: jobs out of retries, unhandled BPMN errors", "operationId": "listIncidents",
                "tags": ["incidents"],
                "parameters": [_param("state", schema={"type": "string", "default": "open"}), _param("processKey"),
                               _param("site")],
                "responses": {**_ok("Incidents, newest first", _array("Incident")), **_problems()}},
    },
    "/incidents/{incident_id}": {
        "get": {"summary": "An incident", "operationId": "getIncident", "tags": ["incidents"],
                "parameters": [_param("incident_id", "path", schema={"type": "integer"})],
                "responses": {**_ok("The incident", _ref("Incident")), **_problems(404)}},
    },
    "/incidents/{incident_id}/retry": {
        "post": {"summary": "Retry the failed job with a fresh set of attempts", "operationId": "retryIncident",
                 "tags": ["incidents"], "parameters": [_param("incident_id", "path", schema={"type": "integer"})],
                 "responses": {**_ok("The resolved incident", _ref("Incident")), **_problems(403, 404, 409)}},
    },
    "/openapi.json": {
        "get": {"summary": "This document (no credentials needed)", "operationId": "getOpenApiDocument",
                "tags": ["meta"], "security": [],
                "responses": _ok("The OpenAPI document", {"type": "object"})},
    },
}


RESPONSES = {f"Problem{status}": {"description": reason, "content": {
    "application/problem+json": {"schema": _ref("Problem")}}} for status, reason in PROBLEM_REASONS.items()}


def document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Lanes API", "version": VERSION,
                 "description": "Deploy BPMN/DMN processes, start instances, work tasks. Errors are "
                                "application/problem+json with a stable `type`."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerToken": []}, {"basicAuth": []}],
        "paths": PATHS,
        "components": {
            "securitySchemes": {
                "bearerToken": {"type": "http", "scheme": "bearer",
                                "description": "an API token from `lanes token create` (shown once)"},
                "basicAuth": {"type": "http", "scheme": "basic", "description": "a Lanes user name and password"},
            },
            "schemas": SCHEMAS,
            "responses": RESPONSES,
        },
    }


@api.get("/openapi.json")
def openapi_document():
    return jsonify(document())
