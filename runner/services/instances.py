"""Process instances: start, read, and save workflow state with its derived task rows.

An admin sees every instance; anyone else only the instances at their sites (another site's
instance does not exist for them), and starts instances only at their sites.
"""
from __future__ import annotations

import hashlib
import json
import re

from sqlalchemy import insert, inspect, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached

from ..engine import ProcessError, ProcessRuntime
from ..models import (HumanTask, IdempotencyKey, ProcessDefinition, ProcessInstance, StageInterval, TaskCandidate, db,
                      new_id, utcnow)
from ..models.stages import MAX_STAGE
from . import audit, deployments, jobs, messages
from .accounts import Principal
from .errors import Conflict, Forbidden, Invalid, NotFound, ProcessFailure
from .transaction import keep_loaded, transactional

SITE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
MAX_VARIABLES_BYTES = 256 * 1024      # what one request may pass in
MAX_STATE_BYTES = 4 * 1024 * 1024     # what an instance may grow to (a script can build large values)
RESERVED = {"site", "business_key"}


def _check_start_input(site, business_key, variables) -> None:
    if not isinstance(site, str) or not SITE.match(site):
        raise Invalid("site must be a site code of letters, digits, '-' or '_' (at most 40)",
                      errors={"site": "Must be a site code such as NORTH or CLINIC-12"})
    if business_key is not None and (not isinstance(business_key, str) or len(business_key) > 200
                                     or "\x00" in business_key):
        raise Invalid("businessKey must be a string of at most 200 characters",
                      errors={"businessKey": "Must be a string of at most 200 characters"})
    if not isinstance(variables, dict):
        raise Invalid("variables must be a JSON object", errors={"variables": "Must be an object"})
    clash = RESERVED & set(variables)
    if clash:
        raise Invalid(f"variables may not set {', '.join(sorted(clash))}; pass them as fields of the request")
    check_variables_size(variables)


def check_variables_size(variables: dict, what: str = "variables") -> None:
    if len(json.dumps(variables, default=str)) > MAX_VARIABLES_BYTES:
        raise Invalid(f"{what} are larger than {MAX_VARIABLES_BYTES // 1024} KiB")


def check_state_size(instance: ProcessInstance) -> None:
    """Refuse a step after which the instance's data is larger than MAX_STATE_BYTES: its stored engine state
    while it runs; once it has completed, which keeps only the path it took, its variables."""
    size = len(instance.workflow_state)
    if instance.state == "completed":
        size = max(size, len(json.dumps(instance.variables)))
    if size > MAX_STATE_BYTES:
        raise ProcessFailure(f"the instance's data would grow to {size // 1024:,} KiB, "
                             f"more than the {MAX_STATE_BYTES // (1024 * 1024)} MiB allowed; nothing was saved")


def _request_hash(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


@transactional
def start_instance(process_key: str, site: str, variables: dict | None, actor: Principal,
                   business_key: str | None = None, idempotency_key: str | None = None
                   ) -> tuple[ProcessInstance, bool]:
    """Start the latest version of `process_key`; returns (instance, created)."""
    variables = {} if variables is None else variables
    _check_start_input(site, business_key, variables)
    if not actor.sees_site(site):
        raise Forbidden(f"you may not start instances at site {site}")
    if idempotency_key is not None and not (0 < len(idempotency_key) <= 200 and "\x00" not in idempotency_key):
        raise Invalid("Idempotency-Key must be 1 to 200 characters", errors={"Idempotency-Key": "At most 200 characters"})
    if idempotency_key is not None:
        request_hash = _request_hash(process_key, site, business_key, variables)
        replay = _replayed(idempotency_key, request_hash)
        if replay is not None:
            return replay, False

    definition = deployments.latest_version(process_key)
    runtime = deployments.runtime_for(definition)
    start_vars = {**variables, "site": site, "business_key": business_key}
    try:
        workflow = runtime.start(start_vars)
    except ProcessError as exc:
        raise ProcessFailure(f"the process failed at {exc.element_id or 'start'}: {exc}",
                             elementId=exc.element_id) from None
    instance = new_instance(definition, site=site, business_key=business_key, actor=actor)
    save_workflow(instance, runtime, workflow, actor)
    check_state_size(instance)
    if idempotency_key is not None:
        db.session.add(IdempotencyKey(scope="start-instance", key=idempotency_key,
                                      request_hash=request_hash, resource_id=instance.id))
    try:
        db.session.flush()
    except IntegrityError:
        raise Conflict("a request with this Idempotency-Key is being processed; retry shortly") from None
    keep_loaded(instance)  # the caller shows it: no SELECT of the row just inserted
    return instance, True


def new_instance(definition: ProcessDefinition | deployments.LatestVersion, *, site: str, business_key: str | None,
                 actor: Principal, **started_details) -> ProcessInstance:
    """A new instance of `definition`, audited as `instance.started` (with `started_details`);
    it has no row until save_workflow stores it with its first state."""
    instance = ProcessInstance(id=new_id(), definition_id=definition.id, process_key=definition.process_key,
                               business_key=business_key, site=site, started_by=actor.username, state="running")
    instance.knows_version(definition.version)
    audit.record("instance.started", actor, instance_id=instance.id, process_key=definition.process_key,
                 version=definition.version, site=site, business_key=business_key, **started_details)
    return instance


def _replayed(key: str, request_hash: str) -> ProcessInstance | None:
    stored = db.session.scalar(select(IdempotencyKey).where(IdempotencyKey.scope == "start-instance",
                                                            IdempotencyKey.key == key))
    if stored is None:
        return None
    if stored.request_hash != request_hash:
        raise Conflict("this Idempotency-Key was already used for a different request")
    return db.session.get(ProcessInstance, stored.resource_id)


def save_workflow(instance: ProcessInstance, runtime: ProcessRuntime, workflow, actor=None) -> None:
    """Store the workflow state and derive the instance columns and human-task rows from it.

    A new instance (no row yet) is added here, its row inserted with its first state before the
    rows that refer to it, none of which exist yet. `actor` (a Principal or a name) is who
    moved the instance; it is recorded if this save completes it."""
    now = utcnow()
    if inspect(instance).detached:  # inserted by _insert earlier in this transaction: its changes are flushed
        db.session.add(instance)
    fresh = _is_new(instance)
    instance.workflow_state = runtime.stored_state(workflow)  # an ended instance keeps only its path
    instance.variables = _json_safe(runtime.variables(workflow))
    instance.activities = runtime.active_elements(workflow)
    if workflow.is_completed() and instance.state != "completed":
        instance.state = "completed"
        instance.end_event = runtime.end_event(workflow)
        instance.ended_at = now
        audit.record("instance.completed", actor or "engine", instance_id=instance.id, end_event=instance.end_event)
    stage_before = instance.stage
    instance.stage = _stage_of(instance)  # before a new instance's INSERT, which stores it
    if fresh:  # one INSERT with the state; the task, job, stage and subscription rows refer to it
        if inspect(instance).transient:
            _insert(instance)
        else:
            db.session.flush()  # already in the session: added along with a row that refers to it
    _sync_stage_intervals(instance, stage_before, now)
    _sync_tasks(instance, runtime, workflow, now, fresh)
    jobs.sync_jobs(instance, runtime, workflow, now, fresh)
    messages.sync_subscriptions(instance, runtime, workflow, now, fresh)  # last: may deliver a kept message and save again


def _stage_of(instance: ProcessInstance) -> str | None:
    """The instance's canonical stage: its `status` variable while that is a non-empty string and the
    instance has not ended."""
    status = instance.variables.get("status") if instance.state in ("running", "suspended") else None
    return status[:MAX_STAGE] if isinstance(status, str) and status else None


def sync_stage(instance: ProcessInstance, now) -> None:
    """Keep the instance's canonical-stage intervals (stage_intervals) and stage column in step with its
    `status` variable (_stage_of), for an instance that has its row."""
    stage_before = instance.stage
    instance.stage = _stage_of(instance)
    _sync_stage_intervals(instance, stage_before, now)


def _sync_stage_intervals(instance: ProcessInstance, stage_before: str | None, now) -> None:
    """The stage_intervals rows for a move of the instance (which has its row) from `stage_before` to its
    stage column. The same stage costs no query; a change closes the open interval (one indexed UPDATE)
    and opens the next; the end of the instance closes the last one at ended_at (== now) and opens none."""
    if instance.stage == stage_before:
        return
    if stage_before is not None:  # (never for a new instance: it had no stage)
        db.session.execute(update(StageInterval)
                           .where(StageInterval.instance_id == instance.id, StageInterval.left_at.is_(None))
                           .values(left_at=now))
    if instance.stage is not None:
        db.session.add(StageInterval(instance_id=instance.id, process_key=instance.process_key,
                                     definition_id=instance.definition_id, site=instance.site,
                                     stage=instance.stage, entered_at=now))


_INSERT = insert(ProcessInstance.__table__)
_COLUMNS = [column.key for column in _INSERT.table.columns]
_DEFAULTS = [(column.key, column.default) for column in _INSERT.table.columns if column.default is not None]


def _insert(instance: ProcessInstance) -> None:
    """Store a new instance with a plain INSERT of its columns, leaving it the detached object of that row
    (make_transient_to_detached: no SQL). A later save in this transaction adds it to the session, which
    then UPDATEs it as usual; one that ends with this save (a straight-through start) never costs the
    session's bookkeeping, nor its expiry and reload at commit.

    The ORM's unit of work for this one INSERT cost more than the INSERT itself (profiled on the start
    path, bench/bare_spiff.py). Every column is given a value first, defaults included, so none of them
    is left to be loaded back from the row."""
    values = instance.__dict__  # the loaded attributes: every column's, once set below
    for key, default in _DEFAULTS:
        if values.get(key) is None:
            setattr(instance, key, default.arg(None) if default.is_callable else default.arg)
    for key in _COLUMNS:
        if key not in values:
            setattr(instance, key, None)
    db.session.connection().execute(_INSERT, {key: values[key] for key in _COLUMNS})
    make_transient_to_detached(instance)


def _is_new(instance: ProcessInstance) -> bool:
    """True for an instance that has no row yet (nor, so, any derived rows)."""
    state = inspect(instance)
    return state.transient or state.pending


def _json_safe(variables: dict) -> dict:
    return json.loads(json.dumps(variables, default=str))


def _sync_tasks(instance: ProcessInstance, runtime: ProcessRuntime, workflow, now, fresh: bool = False) -> None:
    try:
        ready = {info.spiff_task_id: info for info in runtime.ready_user_tasks(workflow, now)}
    except ProcessError as exc:
        raise ProcessFailure(f"the process failed at {exc.element_id}: {exc}", elementId=exc.element_id) from None
    open_rows = [] if fresh else db.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                                         HumanTask.state == "open")).all()
    for row in open_rows:
        if row.spiff_task_id not in ready:
            row.state = "cancelled"
            row.completed_at = now
    known = {row.spiff_task_id: row for row in open_rows}
    # each new task's own variables (and those of a row from before migration 0009, which has none yet):
    # worked out once here, so task lists and pages never deserialize the workflow
    missing = [task_id for task_id in ready if task_id not in known or known[task_id].local_variables is None]
    local = {task_id: _json_safe(values)
             for task_id, values in runtime.local_variables(workflow, missing).items()} if missing else {}
    for task_id, info in ready.items():
        if task_id in known:
            if known[task_id].local_variables is None:
                known[task_id].local_variables = local.get(task_id, {})
            continue
        task = HumanTask(instance_id=instance.id, definition_id=instance.definition_id, spiff_task_id=task_id,
                         element_id=info.element_id, name=info.name, process_key=instance.process_key,
                         business_key=instance.business_key, site=instance.site, assignee=info.assignee,
                         form_ref=info.form_ref, due_at=info.due_at, local_variables=local.get(task_id, {}))
        task.candidates = ([TaskCandidate(kind="group", value=g) for g in info.candidate_groups]
                           + [TaskCandidate(kind="user", value=u) for u in info.candidate_users])
        db.session.add(task)


# --- reading ----------------------------------------------------------------

def get_instance(instance_id: str, actor: Principal) -> ProcessInstance:
    instance = db.session.get(ProcessInstance, instance_id)
    if instance is None or not actor.sees_site(instance.site):
        raise NotFound(f"process instance {instance_id} does not exist")
    return instance


def instance_history(instance_id: str, actor: Principal) -> list:
    """The audit trail of an instance `actor` may see."""
    get_instance(instance_id, actor)
    return audit.history(instance_id)


def search_instances(actor: Principal, process_key=None, site=None, state=None, business_key=None,
                     limit=100, offset=0) -> list[ProcessInstance]:
    query = select(ProcessInstance).order_by(ProcessInstance.started_at.desc())
    if not actor.is_admin:
        query = query.where(ProcessInstance.site.in_(sorted(actor.sites)))
    if process_key:
        query = query.where(ProcessInstance.process_key == process_key)
    if site:
        query = query.where(ProcessInstance.site == site)
    if state:
        query = query.where(ProcessInstance.state == state)
    if business_key:
        query = query.where(ProcessInstance.business_key == business_key)
    return list(db.session.scalars(query.limit(limit).offset(offset)))


def definition_of(instance: ProcessInstance) -> ProcessDefinition:
    return instance.definition
