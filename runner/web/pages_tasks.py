"""Staff pages: "My tasks", "Group tasks", and a task's page with its form and diagram.

The task page renders the task's Camunda Form with the form-js viewer and the process diagram
with bpmn-js (current step marked). Completing posts the form data to services.tasks.complete_task,
the same service the API uses; when the server refuses the data, the page comes back with the
submitted input and each field's error (status 422), so nothing typed is lost.
"""
from __future__ import annotations

import json

from flask import flash, redirect, render_template, request, url_for

from ..services import Conflict, Forbidden, Invalid, ServiceError, process_views, tasks, worklists
from . import web
from .auth import current_principal, login_required
from .pages_common import query_filters

LIST_FILTERS = ("process", "site", "sla")
LIST_TITLES = {worklists.MY: "My tasks", worklists.GROUP: "Group tasks"}
MAX_FORM_BYTES = 256 * 1024
MAX_PAGE = 10_000


def _work_list(which: str):
    principal = current_principal()
    filters = query_filters(request.args, *LIST_FILTERS)
    page = min(max(request.args.get("page", 1, type=int), 1), MAX_PAGE)  # not a number: the first page
    size = worklists.PAGE_ROWS
    items = worklists.work_list(which, principal, process_key=filters.get("process"), site=filters.get("site"),
                                sla=filters.get("sla") if filters.get("sla") in worklists.SLA_STATES else None,
                                limit=size + 1, offset=(page - 1) * size)  # one more: is there a next page?
    return render_template("tasks/list.html", which=which, title=LIST_TITLES[which], items=items[:size],
                           filters=filters, facets=worklists.list_facets(principal),
                           sla_states=worklists.SLA_STATES, page=page, first_row=(page - 1) * size + 1,
                           more=len(items) > size)


@web.get("/tasks")
@login_required
def my_tasks():
    return _work_list(worklists.MY)


@web.get("/tasks/group")
@login_required
def group_tasks():
    return _work_list(worklists.GROUP)


def _field_errors(form, errors: dict[str, str]) -> tuple[dict, list[dict]]:
    """Server errors by field key -> (form-js errors by component id, a list for the summary)."""
    by_id, summary = {}, []
    for key, message in errors.items():
        field = form.field(key) if form is not None else None
        if field is not None and field.id:
            by_id[field.id] = [message]
        summary.append({"key": key, "label": (field.label if field is not None else None) or key or "Form",
                        "message": message})
    return by_id, summary


def render_task(task_id: str, submitted: dict | None = None, errors: dict | None = None,
                status: int = 200):
    principal = current_principal()
    task = tasks.get_task(task_id, principal)
    form = tasks.task_form(task)
    mine = task.assignee == principal.username
    can_complete = task.state == "open" and mine
    form_errors, summary = _field_errors(form, errors or {})
    data = tasks.task_form_data(task, submitted)  # the task's own variables (its `line`) included
    form_config = None
    if form is not None:
        form_config = {"schema": form.schema, "data": data, "errors": form_errors, "readOnly": not can_complete}
    diagram = process_views.definition_diagram(task.instance.definition)
    diagram.current = [task.element_id] if task.state == "open" else []
    return render_template("tasks/task.html", task=task, instance=task.instance, form=form,
                           form_config=form_config, diagram=diagram.as_json(), mine=mine,
                           can_complete=can_complete, error_summary=summary,
                           sla=worklists.sla_state(task.due_at) if task.state == "open" else None), status


@web.get("/tasks/<task_id>")
@login_required
def task_page(task_id: str):
    return render_task(task_id)


def _back(task_id: str, default: str):
    target = request.form.get("next", "")
    allowed = {url_for("web.my_tasks"), url_for("web.group_tasks"), url_for("web.task_page", task_id=task_id)}
    return redirect(target if target.split("?")[0] in allowed else default)


def _task_action(task_id: str, action, message: str, done, refused: str):
    """Claim or unclaim: on success flash `message` (with the task's name) and go to `done(task_id)`;
    a Conflict or Forbidden is a message on the page the user came from (else `refused`)."""
    try:
        task = action(task_id, actor=current_principal())
    except (Conflict, Forbidden) as exc:
        flash(exc.detail, "error")
        return _back(task_id, refused)
    flash(message.format(name=task.name), "info")
    return done(task_id)


@web.post("/tasks/<task_id>/claim")
@login_required
def claim_task(task_id: str):
    return _task_action(task_id, tasks.claim_task, "You claimed \u201c{name}\u201d.",
                        lambda tid: redirect(url_for("web.task_page", task_id=tid)), url_for("web.group_tasks"))


@web.post("/tasks/<task_id>/unclaim")
@login_required
def unclaim_task(task_id: str):
    return _task_action(task_id, tasks.unclaim_task, "\u201c{name}\u201d is back in the group's tasks.",
                        lambda tid: _back(tid, url_for("web.group_tasks")),
                        url_for("web.task_page", task_id=task_id))


def _submitted_data() -> dict:
    """The form-js data the page posted (a JSON object in the field `data`)."""
    raw = request.form.get("data", "") or "{}"
    if len(raw) > MAX_FORM_BYTES:
        raise Invalid("the form data is too large", errors={"": "The form data is too large"})
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise Invalid("the form data could not be read", errors={"": "The form data could not be read"})
    return data


@web.post("/tasks/<task_id>/complete")
@login_required
def complete_task(task_id: str):
    """Complete with the posted data; if refused, the page again with that data and why (never lost)."""
    data = None
    try:
        data = _submitted_data()
        task = tasks.complete_task(task_id, data, actor=current_principal())
    except Invalid as exc:
        return render_task(task_id, submitted=data, errors=exc.extra.get("errors") or {"": exc.detail}, status=422)
    except ServiceError as exc:   # claimed by someone else, changed meanwhile, the process failed, ...
        if exc.status == 404:
            raise
        return render_task(task_id, submitted=data, errors={"": exc.detail}, status=exc.status)
    flash(f"\u201c{task.name}\u201d is done.", "info")
    return redirect(url_for("web.my_tasks"))
