"""JSON shapes of Lanes' resources in the REST API (camelCase, like Camunda's)."""
from __future__ import annotations

from datetime import datetime


def _time(value: datetime | None) -> str | None:
    return value.isoformat() + "Z" if value else None


def definition_json(d) -> dict:
    return {"id": d.id, "processKey": d.process_key, "version": d.version, "name": d.name,
            "deploymentId": d.deployment_id, "createdAt": _time(d.created_at)}


def deployment_json(dep, definitions=None) -> dict:
    return {"id": dep.id, "name": dep.name, "contentHash": dep.content_hash, "createdAt": _time(dep.created_at),
            "createdBy": dep.created_by, "files": [f.filename for f in dep.files],
            "processDefinitions": [definition_json(d) for d in (definitions or dep.definitions)]}


def instance_json(inst, tasks=None) -> dict:
    body = {"id": inst.id, "processKey": inst.process_key, "version": inst.version,
            "definitionId": inst.definition_id, "businessKey": inst.business_key, "site": inst.site,
            "state": inst.state, "endEvent": inst.end_event, "currentActivities": inst.activities or [],
            "variables": inst.variables, "startedAt": _time(inst.started_at), "startedBy": inst.started_by,
            "endedAt": _time(inst.ended_at)}
    if tasks is not None:
        body["openTasks"] = [{"id": t.id, "name": t.name, "elementId": t.element_id} for t in tasks]
    return body


def task_json(task, form=None) -> dict:
    body = {"id": task.id, "name": task.name, "elementId": task.element_id, "instanceId": task.instance_id,
            "processKey": task.process_key, "businessKey": task.business_key, "site": task.site,
            "state": task.state, "assignee": task.assignee, "candidateGroups": task.candidate_groups,
            "candidateUsers": task.candidate_users, "formRef": task.form_ref, "dueAt": _time(task.due_at),
            "createdAt": _time(task.created_at), "completedAt": _time(task.completed_at),
            "completedBy": task.completed_by, "localVariables": task.local_variables or {}}
    if form is not None:
        body["form"] = form.schema
    return body


def audit_json(event) -> dict:
    return {"id": event.id, "at": _time(event.at), "actor": event.actor, "action": event.action,
            "instanceId": event.instance_id, "taskId": event.task_id, "deploymentId": event.deployment_id,
            "details": event.details}


def incident_json(incident) -> dict:
    return {"id": incident.id, "state": incident.state, "kind": incident.kind, "instanceId": incident.instance_id,
            "jobId": incident.job_id, "elementId": incident.element_id, "processKey": incident.process_key,
            "site": incident.site, "message": incident.message, "createdAt": _time(incident.created_at),
            "resolvedAt": _time(incident.resolved_at), "resolvedBy": incident.resolved_by}


def job_json(job) -> dict:
    return {"id": job.id, "kind": job.kind, "state": job.state, "elementId": job.element_id, "topic": job.topic,
            "dueAt": _time(job.due_at), "attempts": job.attempts, "maxAttempts": job.max_attempts,
            "lockedBy": job.locked_by, "lockedUntil": _time(job.locked_until), "lastError": job.last_error}
