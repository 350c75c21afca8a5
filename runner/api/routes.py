"""REST routes under /api/v1: deployments, process instances, tasks."""
from __future__ import annotations

from flask import jsonify, request

from ..services import Invalid, deployments, instances, tasks
from . import api
from .bodies import json_body
from .identity import current_principal
from .representations import audit_json, definition_json, deployment_json, instance_json, task_json


def _int_arg(name: str, default: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise Invalid(f"query parameter {name} must be a whole number", errors={name: "Must be a whole number"})
    return min(int(raw), maximum)


# --- deployments -------------------------------------------------------------

@api.post("/deployments")
def create_deployment():
    uploads = request.files.getlist("files") or list(request.files.values())
    if not uploads:
        raise Invalid("upload the BPMN, DMN and form files as multipart field 'files'")
    files = {}
    for upload in uploads:
        name = (upload.filename or "").rsplit("/", 1)[-1]
        if not name:
            raise Invalid("every uploaded file needs a file name")
        files[name] = upload.read()
    name = request.form.get("name") or sorted(files)[0].rsplit(".", 1)[0]
    result = deployments.deploy(files, name=name, actor=current_principal())
    body = deployment_json(result.deployment, result.definitions)
    body["created"] = result.created
    return jsonify(body), 201 if result.created else 200


@api.get("/deployments")
def list_deployments():
    return jsonify([deployment_json(d) for d in deployments.list_deployments()])


@api.get("/deployments/<int:deployment_id>")
def get_deployment(deployment_id: int):
    return jsonify(deployment_json(deployments.get_deployment(deployment_id)))


@api.get("/process-definitions")
def list_definitions():
    return jsonify([definition_json(d) for d in deployments.list_definitions(request.args.get("processKey"))])


# --- process instances -------------------------------------------------------

@api.post("/process-instances")
def start_instance():
    body = json_body()
    key = body.get("processKey")
    if not isinstance(key, str) or not key:
        raise Invalid("processKey is required", errors={"processKey": "Required"})
    instance, created = instances.start_instance(
        key, body.get("site"), body.get("variables"), actor=current_principal(),
        business_key=body.get("businessKey"), idempotency_key=request.headers.get("Idempotency-Key"))
    open_tasks = tasks.open_tasks(instance.id) if instance.state in ("running", "suspended") else []
    return jsonify(instance_json(instance, open_tasks)), 201 if created else 200


@api.get("/process-instances")
def search_instances():
    found = instances.search_instances(
        current_principal(), process_key=request.args.get("processKey"), site=request.args.get("site"),
        state=request.args.get("state"), business_key=request.args.get("businessKey"),
        limit=_int_arg("limit", 100, 1000), offset=_int_arg("offset", 0, 10**9))
    return jsonify([instance_json(i) for i in found])


@api.get("/process-instances/<instance_id>")
def get_instance(instance_id: str):
    instance = instances.get_instance(instance_id, current_principal())
    open_tasks = tasks.open_tasks(instance.id)
    return jsonify(instance_json(instance, open_tasks))


@api.get("/process-instances/<instance_id>/audit")
def instance_audit(instance_id: str):
    return jsonify([audit_json(e) for e in instances.instance_history(instance_id, current_principal())])


# --- tasks -------------------------------------------------------------------

@api.get("/tasks")
def list_tasks():
    filters = tasks.TaskFilter(
        site=request.args.get("site"), candidate_group=request.args.get("candidateGroup"),
        candidate_user=request.args.get("candidateUser"), assignee=request.args.get("assignee"),
        process_key=request.args.get("processKey"), state=request.args.get("state", "open") or None,
        instance_id=request.args.get("instanceId"),
        limit=_int_arg("limit", 100, 1000), offset=_int_arg("offset", 0, 10**9))
    return jsonify([task_json(t) for t in tasks.list_tasks(filters, current_principal())])


@api.get("/tasks/<task_id>")
def get_task(task_id: str):
    task = tasks.get_task(task_id, current_principal())
    return jsonify(task_json(task, tasks.task_form(task)))


@api.post("/tasks/<task_id>/claim")
def claim_task(task_id: str):
    assignee = json_body(required=False).get("assignee")
    return jsonify(task_json(tasks.claim_task(task_id, actor=current_principal(), assignee=assignee)))


@api.post("/tasks/<task_id>/unclaim")
def unclaim_task(task_id: str):
    return jsonify(task_json(tasks.unclaim_task(task_id, actor=current_principal())))


@api.post("/tasks/<task_id>/complete")
def complete_task(task_id: str):
    data = json_body().get("variables", {})
    task = tasks.complete_task(task_id, data, actor=current_principal())
    return jsonify({"task": task_json(task), "instance": instance_json(task.instance)})
