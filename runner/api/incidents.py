"""REST routes for incidents and jobs: what failed, and the admin retry."""
from __future__ import annotations

from flask import jsonify, request

from ..services import incidents, instances, jobs
from . import api
from .identity import current_principal
from .representations import incident_json, job_json


@api.get("/incidents")
def list_incidents():
    state = request.args.get("state", "open") or None
    found = incidents.list_incidents(current_principal(), state=state, process_key=request.args.get("processKey"),
                                     site=request.args.get("site"))
    return jsonify([incident_json(i) for i in found])


@api.get("/incidents/<int:incident_id>")
def get_incident(incident_id: int):
    return jsonify(incident_json(incidents.get_incident(incident_id, current_principal())))


@api.post("/incidents/<int:incident_id>/retry")
def retry_incident(incident_id: int):
    return jsonify(incident_json(incidents.retry_incident(incident_id, actor=current_principal())))


@api.get("/process-instances/<instance_id>/jobs")
def instance_jobs(instance_id: str):
    instance = instances.get_instance(instance_id, current_principal())  # 404 unless visible
    return jsonify([job_json(j) for j in jobs.list_jobs(instance_id=instance.id)])
