"""REST routes for admins: migrate instances between versions, suspend/resume, retry incidents in bulk
(each a dry run unless the body says "dryRun": false), and correct an instance's variables."""
from __future__ import annotations

from flask import jsonify

from ..services import Invalid, admin_bulk, instance_data, instance_migration, tasks
from . import api, openapi
from .bodies import json_body
from .identity import current_principal
from .representations import instance_json


def _dry_run(body: dict) -> bool:
    value = body.get("dryRun", True)
    if not isinstance(value, bool):
        raise Invalid("dryRun must be true or false", errors={"dryRun": "true or false"})
    return value


def _move_json(move) -> dict:
    return {"instanceId": move.instance_id, "businessKey": move.business_key, "site": move.site,
            "state": move.state, "activities": move.activities, "canMove": move.can_move, "moved": move.moved,
            "reasons": move.reasons, "activitiesAfter": move.activities_after}


def migration_report_json(report) -> dict:
    return {"processKey": report.process_key, "fromVersion": report.from_version, "toVersion": report.to_version,
            "dryRun": report.dry_run, "mapping": report.mapping, "suggestedMapping": report.suggested_mapping,
            "changedElements": report.changed_elements, "truncated": report.truncated,
            "summary": {"selected": len(report.instances), "canMove": len(report.can_move),
                        "cannotMove": len(report.cannot_move),
                        "moved": sum(1 for i in report.instances if i.moved)},
            "canMove": [_move_json(i) for i in report.can_move],
            "cannotMove": [_move_json(i) for i in report.cannot_move]}


def bulk_report_json(report) -> dict:
    items = [{"id": i.id, "ok": i.ok, "reason": i.reason, **i.details} for i in report.items]
    return {"action": report.action, "dryRun": report.dry_run, "truncated": report.truncated,
            "summary": {"selected": len(items), "ok": sum(1 for i in items if i["ok"]),
                        "notOk": sum(1 for i in items if not i["ok"])},
            "items": items}


@api.post("/admin/migrations")
def migrate_instances():
    body = json_body()
    report = instance_migration.migrate_instances(
        current_principal(), body.get("processKey"), body.get("fromVersion"), body.get("toVersion"),
        mapping=body.get("mapping"), site=body.get("site"), state=body.get("state"),
        instance_ids=body.get("instanceIds"), dry_run=_dry_run(body))
    return jsonify(migration_report_json(report))


def _instance_filters(body: dict) -> dict:
    return {"process_key": body.get("processKey"), "version": body.get("version"), "site": body.get("site"),
            "state": body.get("state"), "instance_ids": body.get("instanceIds"), "reason": body.get("reason"),
            "dry_run": _dry_run(body)}


@api.post("/admin/instances/suspend")
def bulk_suspend():
    return jsonify(bulk_report_json(admin_bulk.bulk_suspend(current_principal(), **_instance_filters(json_body()))))


@api.post("/admin/instances/resume")
def bulk_resume():
    return jsonify(bulk_report_json(admin_bulk.bulk_resume(current_principal(), **_instance_filters(json_body()))))


@api.post("/admin/incidents/retry")
def bulk_retry_incidents():
    body = json_body()
    report = admin_bulk.bulk_retry_incidents(
        current_principal(), process_key=body.get("processKey"), site=body.get("site"),
        element_id=body.get("elementId"), incident_ids=body.get("incidentIds"), dry_run=_dry_run(body))
    return jsonify(bulk_report_json(report))


@api.post("/process-instances/<instance_id>/suspend")
def suspend_instance(instance_id: str):
    reason = json_body(required=False).get("reason")
    instance = admin_bulk.suspend_instance(instance_id, current_principal(), reason)
    return jsonify(instance_json(instance, tasks.open_tasks(instance.id)))


@api.post("/process-instances/<instance_id>/resume")
def resume_instance(instance_id: str):
    reason = json_body(required=False).get("reason")
    instance = admin_bulk.resume_instance(instance_id, current_principal(), reason)
    return jsonify(instance_json(instance, tasks.open_tasks(instance.id)))


@api.patch("/process-instances/<instance_id>/variables")
def edit_variables(instance_id: str):
    body = json_body()
    edit = instance_data.edit_variables(instance_id, current_principal(), updates=body.get("variables"),
                                        removals=body.get("remove"), reason=body.get("reason"))
    return jsonify({"instance": instance_json(edit.instance, tasks.open_tasks(edit.instance.id)),
                    "changes": edit.changes})


# --- the OpenAPI document ------------------------------------------------------

_S, _ARR, _OBJ = openapi._string, {"type": "array", "items": {"type": "string"}}, openapi.JSON_OBJECT
_DRY = {"type": "boolean", "default": True, "description": "true (the default): only report; false: act"}
_INSTANCE_SELECTION = {"processKey": _S(), "version": {"type": "integer"}, "site": _S(), "state": _S(),
                       "instanceIds": _ARR, "reason": _S(maxLength=500), "dryRun": _DRY}
_MOVE = {"type": "object", "properties": {
    "instanceId": _S(), "businessKey": openapi.NULLABLE_STRING, "site": _S(), "state": _S(), "activities": _ARR,
    "canMove": {"type": "boolean"}, "moved": {"type": "boolean"}, "reasons": _ARR,
    "activitiesAfter": {"type": ["array", "null"], "items": {"type": "string"}}}}
openapi.SCHEMAS.update({
    "MigrationRequest": {
        "type": "object", "required": ["processKey", "fromVersion", "toVersion"],
        "properties": {"processKey": _S(), "fromVersion": {"type": "integer"}, "toVersion": {"type": "integer"},
                       "mapping": {"type": "object", "additionalProperties": {"type": "string"},
                                   "description": "old element id -> new element id (renamed activities)"},
                       "site": _S(), "state": _S("default: running and suspended instances"),
                       "instanceIds": _ARR, "dryRun": _DRY},
    },
    "MigrationReport": {
        "type": "object",
        "properties": {"processKey": _S(), "fromVersion": {"type": "integer"}, "toVersion": {"type": "integer"},
                       "dryRun": {"type": "boolean"}, "mapping": _OBJ,
                       "suggestedMapping": {**_OBJ, "description": "renames SpiffWorkflow's diff guesses; "
                                                                   "never applied unless sent as mapping"},
                       "changedElements": _OBJ, "truncated": {"type": "boolean"}, "summary": _OBJ,
                       "canMove": {"type": "array", "items": _MOVE}, "cannotMove": {"type": "array", "items": _MOVE}},
    },
    "BulkInstances": {"type": "object", "properties": _INSTANCE_SELECTION},
    "BulkIncidents": {"type": "object", "properties": {
        "processKey": _S(), "site": _S(), "elementId": _S(), "incidentIds": {"type": "array", "items": {"type": "integer"}},
        "dryRun": _DRY}},
    "BulkReport": {"type": "object", "properties": {
        "action": _S(), "dryRun": {"type": "boolean"}, "truncated": {"type": "boolean"}, "summary": _OBJ,
        "items": {"type": "array", "items": {"type": "object", "properties": {
            "id": _S(), "ok": {"type": "boolean"}, "reason": openapi.NULLABLE_STRING}}}}},
    "VariableEdit": {
        "type": "object", "required": ["reason"],
        "properties": {"variables": {**_OBJ, "description": "variables to set"}, "remove": _ARR,
                       "reason": _S("why: it goes into the audit trail", maxLength=500)}},
    "VariableEditResult": {"type": "object", "properties": {
        "instance": openapi._ref("ProcessInstance"),
        "changes": {"type": "array", "items": {"type": "object", "properties": {
            "variable": _S(), "change": _S(enum=["added", "changed", "removed"]), "before": {}, "after": {},
            "masked": {"type": "boolean", "description": "a sensitive variable: its values are not shown"}}}}}},
})
_INSTANCE_ID = openapi.INSTANCE_ID
_REASON = openapi._json_request({"type": "object", "properties": {"reason": _S(maxLength=500)}}, False)


def _bulk_operation(summary: str, operation_id: str, schema: str, tag: str = "admin") -> dict:
    return {"post": {"summary": summary, "operationId": operation_id, "tags": [tag],
                     "requestBody": openapi._json_request(openapi._ref(schema)),
                     "responses": {**openapi._ok("What can be (dry run) or was done, and why not",
                                                 openapi._ref("BulkReport")), **openapi._problems(403, 422)}}}


openapi.PATHS.update({
    "/admin/migrations": {"post": {
        "summary": "Migrate instances of one version to another (admins; dry run first)",
        "operationId": "migrateInstances", "tags": ["admin"],
        "requestBody": openapi._json_request(openapi._ref("MigrationRequest")),
        "responses": {**openapi._ok("Which instances can (or did) move and why the others cannot",
                                    openapi._ref("MigrationReport")), **openapi._problems(403, 404, 422)}}},
    "/admin/instances/suspend": _bulk_operation("Suspend running instances (admins; dry run first)",
                                                "bulkSuspendInstances", "BulkInstances"),
    "/admin/instances/resume": _bulk_operation("Resume suspended instances (admins; dry run first)",
                                               "bulkResumeInstances", "BulkInstances"),
    "/admin/incidents/retry": _bulk_operation("Retry open incidents (admins; dry run first)",
                                              "bulkRetryIncidents", "BulkIncidents"),
    "/process-instances/{instance_id}/suspend": {"post": {
        "summary": "Suspend an instance: its jobs are not run and its tasks cannot be completed (admins)",
        "operationId": "suspendProcessInstance", "tags": ["admin"], "parameters": [_INSTANCE_ID],
        "requestBody": _REASON,
        "responses": {**openapi._ok("The suspended instance", openapi._ref("ProcessInstance")),
                      **openapi._problems(403, 404, 409)}}},
    "/process-instances/{instance_id}/resume": {"post": {
        "summary": "Resume a suspended instance; messages kept meanwhile are delivered (admins)",
        "operationId": "resumeProcessInstance", "tags": ["admin"], "parameters": [_INSTANCE_ID],
        "requestBody": _REASON,
        "responses": {**openapi._ok("The running instance", openapi._ref("ProcessInstance")),
                      **openapi._problems(403, 404, 409)}}},
    "/process-instances/{instance_id}/variables": {"patch": {
        "summary": "Correct an instance's variables (admins); audited with before/after, sensitive values masked",
        "operationId": "editProcessInstanceVariables", "tags": ["admin"], "parameters": [_INSTANCE_ID],
        "requestBody": openapi._json_request(openapi._ref("VariableEdit")),
        "responses": {**openapi._ok("The instance and the changes made", openapi._ref("VariableEditResult")),
                      **openapi._problems(403, 404, 409, 422)}}},
})
