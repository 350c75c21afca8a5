"""Analysts' modeler pages: a workspace per process folder, its BPMN, DMN and form files in the bpmn.io editors.

- GET  /modeler                                   the workspaces (analysts and admins)
- GET  /modeler/<ws>?file=<f>                      one file in its editor (bpmn-js Modeler + Camunda 7 properties
                                                   panel, dmn-js, form-js FormEditor), with Save, Validate, Deploy
- POST /modeler/<ws>/files/<f>                     save the editor's content as a draft (JSON endpoint)
- POST /modeler/<ws>/validate                      the deploy-time problems of the workspace (JSON)
- POST /modeler/<ws>/deploy                        publish it as a new version; 422 with the problems (JSON)
- POST /modeler/<ws>/decisions/<key>/evaluate      "Try the rules" on the workspace's draft table (JSON)
- POST /modeler/<ws>/discard                       throw the drafts away (a plain form post)
- POST /modeler/<ws>/rebase                        keep the drafts on top of a version deployed since they were
                                                   started (a plain form post; until then Deploy answers 409)

A workspace is a process folder: the files of the deployment holding the latest version of its processes,
whatever that deployment was named; /modeler/<any of its process ids> redirects to its name.

The JSON endpoints are for the page's own script: they use the web session and the CSRF token (sent in the
X-CSRFToken header), not the API's tokens. Everything goes through services.workspaces / services.decisions,
which enforce the analyst role; a service error comes back as {title, detail, problems?, errors?}.
"""
from __future__ import annotations

import functools

from flask import abort, flash, jsonify, redirect, render_template, request, url_for

from ..services import ServiceError, decisions, workspaces
from . import web
from .auth import current_principal, login_required
from .pages_common import vendor

KINDS = ("bpmn", "dmn", "form")


def analyst_required(view):
    """Signed in (else the login page) and an analyst or admin (else 403)."""
    @functools.wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not current_principal().is_analyst:
            abort(403)
        return view(*args, **kwargs)
    return wrapper


def json_errors(view):
    """A service error as JSON with its status, so the page's script can show it."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except ServiceError as exc:
            body = {"title": exc.title, "detail": exc.detail, "status": exc.status}
            body.update({k: v for k, v in exc.extra.items()
                         if k in ("problems", "errors", "elementId", "deployedAfter")})
            return jsonify(body), exc.status
    return wrapper


def _file_rows(files) -> list[dict]:
    order = {kind: index for index, kind in enumerate(KINDS)}
    return [{"filename": f.filename, "kind": f.kind, "draft": f.draft}
            for f in sorted(files, key=lambda f: (order.get(f.kind, 9), f.filename))]


def _workspace_state(name: str) -> dict:
    ws = workspaces.get_workspace(name, current_principal())
    return {"workspace": ws.name, "files": _file_rows(ws.files), "hasDrafts": ws.has_drafts,
            "deployedAfterDraft": [n.to_dict() for n in ws.deployed_after_draft]}


@web.get("/modeler")
@analyst_required
def modeler_workspaces():
    principal = current_principal()
    rows = []
    for name in workspaces.list_workspaces(principal):
        ws = workspaces.get_workspace(name, principal)
        rows.append({"name": ws.name, "files": _file_rows(ws.files), "drafts": sum(f.draft for f in ws.files),
                     "deployment": ws.deployment, "stale": ws.deployed_after_draft})
    return render_template("modeler/workspaces.html", rows=rows)


@web.get("/modeler/<workspace>")
@analyst_required
def modeler_workspace(workspace: str):
    ws = workspaces.get_workspace(workspace, current_principal())
    if ws.name != workspace:    # found by another of its process ids
        query = {k: v for k, v in request.args.items() if k != "workspace"}
        return redirect(url_for("web.modeler_workspace", workspace=ws.name, **query))
    files = ws.files
    rows = _file_rows(files)
    wanted = request.args.get("file") or next((r["filename"] for r in rows if r["kind"] == "bpmn"), rows[0]["filename"])
    current = next((f for f in files if f.filename == wanted), None)
    if current is None:
        abort(404)
    editor = {
        "workspace": workspace,
        "filename": current.filename,
        "kind": current.kind,
        "draft": current.draft,
        "content": current.content.decode("utf-8", errors="replace"),
        "select": request.args.get("select") or None,
        "validate": request.args.get("validate") == "1",
        "urls": {
            "save": url_for("web.modeler_save", workspace=workspace, filename=current.filename),
            "validate": url_for("web.modeler_validate", workspace=workspace),
            "deploy": url_for("web.modeler_deploy", workspace=workspace),
            "evaluate": url_for("web.modeler_evaluate", workspace=workspace, key="__KEY__"),
            "file": url_for("web.modeler_workspace", workspace=workspace),
            "camundaModdle": vendor("camunda-bpmn-moddle/camunda.json"),
        },
    }
    return render_template("modeler/editor.html", workspace=workspace, files=rows, current=current,
                           editor=editor, deployment=ws.deployment, stale=ws.deployed_after_draft)


@web.post("/modeler/<workspace>/files/<filename>")
@analyst_required
@json_errors
def modeler_save(workspace: str, filename: str):
    workspaces.save_draft(workspace, filename, request.get_data(), current_principal())
    return jsonify({"saved": filename, **_workspace_state(workspace)})


@web.post("/modeler/<workspace>/validate")
@analyst_required
@json_errors
def modeler_validate(workspace: str):
    problems = workspaces.validate_workspace(workspace, current_principal())
    return jsonify({"valid": not problems, "problems": problems})


@web.post("/modeler/<workspace>/deploy")
@analyst_required
@json_errors
def modeler_deploy(workspace: str):
    result = workspaces.deploy_workspace(workspace, current_principal())
    versions = [{"processKey": d.process_key, "version": d.version} for d in result.definitions]
    name = workspaces.workspace_of(result.deployment)   # a new workspace is known by its process id from now on
    return jsonify({"created": result.created, "deploymentId": result.deployment.id, "versions": versions,
                    "url": url_for("web.modeler_workspace", workspace=name), **_workspace_state(name)}), \
        201 if result.created else 200


@web.post("/modeler/<workspace>/decisions/<key>/evaluate")
@analyst_required
@json_errors
def modeler_evaluate(workspace: str, key: str):
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify({"title": "Bad request", "detail": "send a JSON object {variables: {...}}", "status": 400}), 400
    return jsonify(decisions.evaluate_decision(key, body.get("variables", {}), current_principal(),
                                               workspace=workspace))


@web.post("/modeler/<workspace>/discard")
@analyst_required
def modeler_discard(workspace: str):
    principal = current_principal()
    try:
        removed = workspaces.discard_drafts(workspace, principal)
    except ServiceError as exc:
        flash(exc.detail, "error")
    else:
        flash(f"Discarded {removed} draft file{'s' if removed != 1 else ''}: the workspace is as deployed.", "info")
    if workspaces.latest_deployment(workspace) is None:   # it had drafts only: nothing is left of it
        return redirect(url_for("web.modeler_workspaces"))
    return _back_to(workspace, request.form.get("file", ""))


def _back_to(workspace: str, target: str):
    if target not in {f.filename for f in workspaces.workspace_files(workspace, current_principal())}:
        target = ""   # a new file that only existed as a draft
    return redirect(url_for("web.modeler_workspace", workspace=workspace, **({"file": target} if target else {})))


@web.post("/modeler/<workspace>/rebase")
@analyst_required
def modeler_rebase(workspace: str):
    principal = current_principal()
    try:
        workspaces.rebase_drafts(workspace, principal, onto=request.form.get("onto", type=int))
        ws = workspaces.get_workspace(workspace, principal)
    except ServiceError as exc:
        flash(exc.detail, "error")
    else:
        versions = ", ".join(f"{d.process_key} v{d.version}" for d in ws.deployment.definitions)
        flash(f"Your drafts are now on top of {versions}: check them against it, then deploy.", "info")
    return _back_to(workspace, request.form.get("file", ""))
