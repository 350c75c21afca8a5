"""Admin pages: deployments (versions, upload, diff), instances (search, detail, suspend / resume / terminate),
incidents (retry).

Every page here needs the admin role. They call the same services as the REST API.
"""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from ..services import (Conflict, Invalid, ServiceError, admin_actions, admin_bulk, deployments, incidents, instances,
                        jobs, process_views, tasks)
from . import web
from .auth import current_principal
from .pages_common import admin_required, query_filters

INSTANCE_FILTERS = ("process", "site", "state", "business_key", "version")
MAX_UPLOAD_FILES = deployments.MAX_FILES


# --- deployments ----------------------------------------------------------------------

def _deployments_page(problems: list | None = None, message: str | None = None, status: int = 200):
    return render_template("admin/deployments.html", versions=process_views.versions_by_process(),
                           deployments=deployments.list_deployments()[:50], problems=problems or [],
                           states=process_views.INSTANCE_STATES,
                           problem_message=message), status


@web.get("/admin/deployments")
@admin_required
def admin_deployments():
    return _deployments_page()


@web.post("/admin/deployments")
@admin_required
def admin_upload():
    uploads = [u for u in request.files.getlist("files") if u and u.filename]
    if not uploads:
        return _deployments_page(message="Choose the BPMN, DMN and form files to deploy.", status=422)
    if len(uploads) > MAX_UPLOAD_FILES:
        return _deployments_page(message=f"At most {MAX_UPLOAD_FILES} files per deployment.", status=422)
    files = {(u.filename or "").replace("\\", "/").rsplit("/", 1)[-1]: u.read() for u in uploads}
    name = request.form.get("name", "").strip()[:200] or sorted(files)[0].rsplit(".", 1)[0]
    try:
        result = deployments.deploy(files, name=name, actor=current_principal())
    except Invalid as exc:
        return _deployments_page(problems=exc.extra.get("problems"), message=exc.detail, status=422)
    versions = ", ".join(f"{d.process_key} v{d.version}" for d in result.definitions)
    if result.created:
        flash(f"Deployed {name}: {versions}.", "info")
    else:
        flash(f"Nothing new: these files are already deployed ({versions}).", "info")
    return redirect(url_for("web.admin_deployments"))


@web.get("/admin/deployments/<int:deployment_id>")
@admin_required
def admin_deployment(deployment_id: int):
    deployment = deployments.get_deployment(deployment_id)
    shown = request.args.get("file")
    shown_file = next((f for f in deployment.files if f.filename == shown), None)
    return render_template("admin/deployment.html", deployment=deployment, shown_file=shown_file)


@web.get("/admin/processes/<process_key>")
@admin_required
def admin_process(process_key: str):
    rows = process_views.process_versions(process_key)
    version = request.args.get("version", type=int) or rows[0].definition.version
    definition = process_views.get_definition(process_key, version)
    return render_template("admin/process.html", process_key=process_key, rows=rows, definition=definition,
                           diagram=process_views.definition_diagram(definition).as_json())


@web.get("/admin/processes/<process_key>/diff")
@admin_required
def admin_diff(process_key: str):
    rows = process_views.process_versions(process_key)
    newest = rows[0].definition.version
    new = request.args.get("to", type=int) or newest
    old = request.args.get("from", type=int) or max(1, new - 1)
    old_def = process_views.get_definition(process_key, old)
    new_def = process_views.get_definition(process_key, new)
    return render_template("admin/diff.html", process_key=process_key, rows=rows, old=old_def, new=new_def,
                           diffs=process_views.diff_versions(old_def, new_def))


# --- instances ---------------------------------------------------------------------------

@web.get("/admin/instances")
@admin_required
def admin_instances():
    principal = current_principal()
    filters = query_filters(request.args, *INSTANCE_FILTERS)
    version = filters.get("version")
    if version and filters.get("process") and version.isdigit():
        found = process_views.instances_of_version(principal, filters["process"], int(version),
                                                   state=filters.get("state"), site=filters.get("site"),
                                                   business_key=filters.get("business_key"))
    else:
        filters.pop("version", None)
        found = instances.search_instances(principal, process_key=filters.get("process"), site=filters.get("site"),
                                           state=filters.get("state"), business_key=filters.get("business_key"),
                                           limit=200)
    names_by_definition = {}
    for instance in found:
        if instance.definition_id not in names_by_definition:
            names_by_definition[instance.definition_id] = process_views.element_names(instance.definition)
    return render_template("admin/instances.html", found=found, filters=filters, names=names_by_definition,
                           processes=sorted(process_views.versions_by_process()),
                           states=process_views.INSTANCE_STATES)


@web.get("/admin/instances/<instance_id>")
@admin_required
def admin_instance(instance_id: str):
    principal = current_principal()
    instance = instances.get_instance(instance_id, principal)
    return render_template("admin/instance.html", instance=instance,
                           diagram=process_views.instance_diagram(instance).as_json(),
                           names=process_views.element_names(instance.definition),
                           open_tasks=tasks.open_tasks(instance.id),
                           history=instances.instance_history(instance.id, principal),
                           jobs=jobs.list_jobs(instance_id=instance.id),
                           incidents=process_views.instance_incidents(instance.id))


INSTANCE_ACTIONS = {
    # action: (service, message when done)
    "suspend": (admin_bulk.suspend_instance, "The instance is suspended: nothing moves it until it is resumed."),
    "resume": (admin_bulk.resume_instance, "The instance is resumed."),
    "terminate": (admin_actions.terminate_instance, "The instance was terminated."),
}


@web.post("/admin/instances/<instance_id>/<any(suspend, resume, terminate):action>")
@admin_required
def admin_instance_action(instance_id: str, action: str):
    service, done = INSTANCE_ACTIONS[action]
    try:
        service(instance_id, actor=current_principal(), reason=request.form.get("reason", "").strip())
    except (Conflict, Invalid) as exc:
        flash(exc.detail, "error")
    else:
        flash(done, "info")
    return redirect(url_for("web.admin_instance", instance_id=instance_id))


# --- incidents ---------------------------------------------------------------------------

@web.get("/admin/incidents")
@admin_required
def admin_incidents():
    filters = query_filters(request.args, "state", "process", "site")
    state = filters.get("state", "open")
    found = incidents.list_incidents(current_principal(), state=None if state == "all" else state,
                                     process_key=filters.get("process"), site=filters.get("site"), limit=500)
    names = process_views.element_names_of_instances({i.instance_id for i in found if i.instance_id})
    return render_template("admin/incidents.html", found=found, filters=filters, state=state, names=names)


@web.post("/admin/incidents/<int:incident_id>/retry")
@admin_required
def admin_retry(incident_id: int):
    try:
        incident = incidents.retry_incident(incident_id, actor=current_principal())
    except ServiceError as exc:
        if exc.status == 404:
            raise
        flash(exc.detail, "error")
    else:
        flash(f"Incident {incident.id} is retried: its job {incident.element_id} is due now.", "info")
    target = request.form.get("next", "")
    return redirect(target if target.startswith("/admin/") else url_for("web.admin_incidents"))
