"""Jobs: derive them from instance state, claim them safely across workers, run them, retry them.

The database is the source of truth for every job. Claims use FOR UPDATE SKIP LOCKED on
PostgreSQL and a conditional UPDATE on SQLite; a claim holds a lock until `locked_until`,
after which any worker may take the job over (a crashed worker loses nothing). Adapter calls
happen outside any transaction, with an idempotency key that stays the same across retries.
"""
from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, inspect, or_, select, update
from sqlalchemy.orm import joinedload

import adapters

from ..engine import ProcessError
from ..engine.retry import max_attempts, wait_after
from ..engine.start_timers import first_due, next_due
from ..models import Incident, Job, ProcessDefinition, ProcessInstance, db, utcnow
from . import audit, deployments
from .accounts import system_principal
from .errors import Conflict, ServiceError
from .transaction import transactional

log = logging.getLogger("lanes.jobs")
LOCK_SECONDS = float(os.environ.get("LANES_JOB_LOCK_SECONDS", "60"))
MAX_ERROR_CHARS = 2000
MAX_RETRY_AFTER_SECONDS = 86400  # a remote's Retry-After is honoured up to a day


# --- deriving jobs from instance state (called inside the instance's save) -----------

INSTANCE_JOB_KINDS = ("service", "timer")  # the jobs an instance's state derives (a start timer's is the version's)
_INSTANCE_JOBS = select(Job).where(Job.instance_id == bindparam("instance_id"), Job.kind.in_(INSTANCE_JOB_KINDS))
_JOBS = Job.__table__
_DELETE_INSTANCE_JOBS = delete(_JOBS).where(_JOBS.c.instance_id == bindparam("instance_id"),
                                            _JOBS.c.kind.in_(INSTANCE_JOB_KINDS))


def sync_jobs(instance: ProcessInstance, runtime, workflow, now: datetime, fresh: bool = False) -> None:
    """Make the job rows match what the workflow waits for: add new ones, drop finished ones
    (`fresh`: the instance is new and has none yet)."""
    pending = runtime.pending_jobs(workflow, now) if instance.state in ("running", "suspended") else []
    wanted = {(p.spiff_task_id, p.kind): p for p in pending}
    if not wanted:
        if not fresh:
            _drop_instance_jobs(instance.id)
        return
    existing = {} if fresh else {(j.spiff_task_id, j.kind): j for j in db.session.scalars(
        _INSTANCE_JOBS, {"instance_id": instance.id})}
    for key, job in existing.items():
        if key not in wanted:
            db.session.delete(job)
        elif job.kind == "timer" and job.due_at != wanted[key].due_at:
            job.due_at = wanted[key].due_at  # a cycle timer moved on to its next date
    for key, item in wanted.items():
        if key not in existing:
            db.session.add(Job(kind=item.kind, instance_id=instance.id, spiff_task_id=item.spiff_task_id,
                               element_id=item.element_id, topic=item.topic, due_at=item.due_at,
                               retry_cycle=item.retry_cycle,
                               max_attempts=max_attempts(item.retry_cycle) if item.kind == "service" else 1))


def _drop_instance_jobs(instance_id: str) -> None:
    """Delete the instance's service and timer jobs (it waits for none, e.g. it ended) with one DELETE,
    instead of reading the rows to delete them one by one; the session lets go of the ones it holds.

    A plain DELETE, not the ORM's bulk delete: that one cost 2.5 times as much, compiling the statement
    and searching the session for the objects it deleted, of which there is at most the job being run."""
    db.session.flush()  # what this transaction added or changed reaches the rows first (the ORM autoflushes too)
    db.session.execute(_DELETE_INSTANCE_JOBS, {"instance_id": instance_id})
    for state in [inspect(held) for held in db.session.identity_map.values() if isinstance(held, Job)]:
        if state.dict.get("instance_id") == instance_id and state.dict.get("kind") in INSTANCE_JOB_KINDS:
            db.session.expunge(state.obj())


# --- claiming -------------------------------------------------------------------

# The claim statements are built once, `now` and the rest as parameters: building them took longer than
# running them (a worker claims once a batch, and asks when the next job is due after each drain)
_NOW = bindparam("now")


def _not_suspended():
    """Jobs of suspended instances wait (and keep their due dates) until the instance is resumed."""
    suspended = select(ProcessInstance.id).where(ProcessInstance.state == "suspended")
    return or_(Job.instance_id.is_(None), Job.instance_id.not_in(suspended))


_CLAIMABLE = ((Job.state == "ready") & (Job.due_at <= _NOW) & or_(Job.locked_until.is_(None), Job.locked_until < _NOW)
              & _not_suspended())
_CANDIDATES = select(Job.id).where(_CLAIMABLE).order_by(Job.due_at, Job.id).limit(bindparam("limit"))
_LOCK = {"locked_by": bindparam("worker"), "locked_until": bindparam("until")}
# PostgreSQL: lock the candidates (rows another worker is claiming are skipped), then claim them
_CANDIDATES_LOCKED = _CANDIDATES.with_for_update(skip_locked=True)
_CLAIM_IDS = update(Job).where(Job.id.in_(bindparam("ids", expanding=True))).values(**_LOCK)
# SQLite: one UPDATE picks and claims the batch, instead of one conditional UPDATE a job (SQLite runs one
# writer at a time, so no other worker claims between the statement's read and its write); RETURNING
# (SQLite 3.35+) names the rows it took
_CLAIM_BATCH = update(Job).where(Job.id.in_(_CANDIDATES.scalar_subquery())).values(**_LOCK).returning(Job.id, Job.due_at)
_NEXT_DUE = select(func.min(func.coalesce(Job.locked_until, Job.due_at))).where(Job.state == "ready",
                                                                                _not_suspended())


@transactional
def claim_jobs(worker_id: str, limit: int = 10, lock_seconds: float = LOCK_SECONDS) -> list[int]:
    """Lock up to `limit` due jobs for this worker, earliest due first; no two workers get the same job."""
    now = utcnow()
    params = {"now": now, "limit": limit, "worker": worker_id, "until": now + timedelta(seconds=lock_seconds)}
    unsynchronized = {"synchronize_session": False}  # the claimed rows are not in this session
    if db.engine.dialect.name == "postgresql":
        ids = list(db.session.scalars(_CANDIDATES_LOCKED, params))
        if ids:
            db.session.execute(_CLAIM_IDS, {**params, "ids": ids}, execution_options=unsynchronized)
        return ids
    rows = db.session.execute(_CLAIM_BATCH, params, execution_options=unsynchronized).all()
    return [job_id for job_id, _ in sorted(rows, key=lambda row: (row.due_at, row.id))]


def next_due_at() -> datetime | None:
    """When the next ready job falls due (or its lock expires), for the worker's alarm clock."""
    due = db.session.scalar(_NEXT_DUE)
    db.session.rollback()
    return due


# --- running --------------------------------------------------------------------

def run_job(job_id: int, worker_id: str, registry: adapters.Registry) -> str:
    """Run one claimed job; returns what happened (completed, retry, incident, fired, lost)."""
    job, instance = _job_and_instance(job_id)  # held until the job is done: its steps find them in the session
    if job is None or job.locked_by != worker_id:
        db.session.rollback()
        return "lost"
    if instance is not None and instance.state == "suspended":
        return _release(job_id, worker_id)  # suspended after the claim: it runs once the instance is resumed
    if job.kind == "timer":
        return _with_retries(_fire_timer, job_id, worker_id)
    if job.kind == "start-timer":
        return _fire_start_timer(job, worker_id)
    return _run_service_job(job, worker_id, registry)


# a job with its instance, and the instance's version and deployment (what runtime_for reads), in one query
_JOB_AND_INSTANCE = (select(Job, ProcessInstance).outerjoin(ProcessInstance, ProcessInstance.id == Job.instance_id)
                     .where(Job.id == bindparam("job_id"))
                     .options(joinedload(ProcessInstance.definition).joinedload(ProcessDefinition.deployment)))


def _job_and_instance(job_id: int) -> tuple[Job | None, ProcessInstance | None]:
    """The job and its instance (None for a start timer's job); no query when this transaction read them
    already (as session.get: the ORM keeps only the objects someone holds, so hold them)."""
    job = db.session.identity_map.get(db.session.identity_key(Job, job_id))
    if job is None or inspect(job).expired:
        row = db.session.execute(_JOB_AND_INSTANCE, {"job_id": job_id}).first()
        return (None, None) if row is None else tuple(row)
    return job, (job_instance(job) if job.instance_id is not None else None)


def _run_service_job(job: Job, worker_id: str, registry: adapters.Registry) -> str:
    job_id = job.id
    instance = job_instance(job)
    runtime = deployments.runtime_for(instance.definition)
    try:
        call = runtime.external_call(runtime.load(instance.workflow_state), job.spiff_task_id)
    except ProcessError as exc:
        db.session.rollback()
        return _failed(job_id, worker_id, f"input mapping failed: {exc}", retryable=False)
    key = idempotency_key(job)
    db.session.rollback()  # no transaction stays open while the adapter works
    try:
        outputs = registry.call(call.topic, call.inputs, key)
    except adapters.BusinessError as exc:
        return _with_retries(_business_error, job_id, worker_id, exc.code, exc.message)
    except adapters.ContractError as exc:
        return _failed(job_id, worker_id, f"{call.topic}: {exc}", retryable=False)
    except Exception as exc:  # transient errors and anything unexpected are retried
        log.warning("job %s (%s) failed: %s", job_id, call.topic, exc)
        return _failed(job_id, worker_id, f"{call.topic}: {exc.__class__.__name__}: {exc}", retryable=True,
                       not_before=getattr(exc, "retry_after", None))
    return _with_retries(_succeeded, job_id, worker_id, outputs)


def record_crash(job_id: int, worker_id: str, exc: BaseException) -> str:
    """A job whose run raised something unexpected (a state that cannot be loaded, a bug) counts as a
    failed attempt: its retries run out into an incident instead of repeating each time its lock expires."""
    db.session.rollback()
    return _failed(job_id, worker_id, f"the job crashed: {exc.__class__.__name__}: {exc}", retryable=True)


def idempotency_key(job: Job) -> str:
    """Stable for one activity execution: instance + activity + the token that reached it."""
    return f"{job.instance_id}:{job.element_id}:{job.spiff_task_id}"


def job_instance(job: Job) -> ProcessInstance:
    return db.session.get(ProcessInstance, job.instance_id)


def _with_retries(step, job_id, worker_id, *args, attempts=5):
    """Run a transactional step again when an instance save collided with another writer."""
    for attempt in range(attempts):
        try:
            return step(job_id, worker_id, *args)
        except Conflict:
            if attempt == attempts - 1:
                raise
    return "lost"


@transactional
def _release(job_id: int, worker_id: str) -> str:
    job = _locked_job(job_id, worker_id)
    if job is not None:
        job.locked_by = job.locked_until = None
    return "suspended"


def _locked_job(job_id: int, worker_id: str) -> Job | None:
    job = db.session.get(Job, job_id)
    return job if job is not None and job.locked_by == worker_id else None


def _load_locked(job_id: int, worker_id: str):
    """(job, instance, runtime, workflow) for a job this worker still holds, else None."""
    job, instance = _job_and_instance(job_id)
    if job is None or job.locked_by != worker_id:
        return None
    runtime = deployments.runtime_for(instance.definition)
    return job, instance, runtime, runtime.load(instance.workflow_state)


class _Park(Exception):
    """Raised inside an instance move: park the job in an incident instead of saving the instance."""

    def __init__(self, message: str, kind: str = "failed-job"):
        super().__init__(message)
        self.kind = kind


def _engine(call, failure: str, *args):
    """Run an engine call; a ProcessError parks the job with `failure` as the incident's cause."""
    try:
        return call(*args)
    except ProcessError as exc:
        raise _Park(f"{failure}: {exc}") from None


def _move_instance(job_id: int, worker_id: str, move, unlock: bool = False) -> str:
    """In the caller's transaction: load the instance of a job this worker still holds, let
    `move(job, runtime, workflow)` advance it, audit and save it. `move` returns (outcome, audit
    action, audit details) or raises _Park to open an incident instead. `unlock`: release the job
    if the save kept it (a cycle timer moved on), after the save, so a job the save deletes costs
    no UPDATE first."""
    from .instances import save_workflow
    loaded = _load_locked(job_id, worker_id)
    if loaded is None:
        return "lost"
    job, instance, runtime, workflow = loaded
    actor = f"worker:{worker_id}"
    try:
        outcome, action, details = move(job, runtime, workflow)
    except _Park as park:
        return _open_incident(job, str(park), park.kind, actor)
    audit.record(action, actor, instance_id=instance.id, element_id=job.element_id, **details)
    save_workflow(instance, runtime, workflow, actor)
    if unlock and inspect(job).persistent and job not in db.session.deleted:
        job.locked_by = job.locked_until = None
    return outcome


@transactional
def _succeeded(job_id: int, worker_id: str, outputs: dict) -> str:
    def move(job, runtime, workflow):
        _engine(runtime.complete_external_task, f"after {job.topic} succeeded", workflow, job.spiff_task_id, outputs)
        return "completed", "job.completed", {"topic": job.topic, "attempts": job.attempts + 1,
                                              "outputs": sorted(outputs)}
    return _move_instance(job_id, worker_id, move)


@transactional
def _business_error(job_id: int, worker_id: str, code: str, message: str) -> str:
    def move(job, runtime, workflow):
        if not _engine(runtime.throw_error, f"BPMN error {code}", workflow, job.spiff_task_id, code, message):
            raise _Park(f"{job.topic} raised business error {code} ({message}) and no error boundary event "
                        f"catches it", "unhandled-error")
        return "bpmn-error", "job.bpmn-error", {"topic": job.topic, "code": code}
    return _move_instance(job_id, worker_id, move)


@transactional
def _failed(job_id: int, worker_id: str, error: str, retryable: bool, not_before: float | None = None) -> str:
    """A failed attempt: retry after the element's retry cycle (or the `not_before` seconds the remote
    system asked for with Retry-After, when longer, up to a day), or open an incident when none is left."""
    job = _locked_job(job_id, worker_id)
    if job is None:
        return "lost"
    job.attempts += 1
    job.last_error = error[:MAX_ERROR_CHARS]
    job.locked_by = job.locked_until = None
    wait = wait_after(job.retry_cycle, job.attempts) if retryable else None
    if wait is None:
        return _open_incident(job, error, "failed-job", f"worker:{worker_id}")
    if not_before:
        wait = max(wait, timedelta(seconds=min(float(not_before), MAX_RETRY_AFTER_SECONDS)))
    retry_at = utcnow() + wait
    if job.kind == "service":
        job.due_at = retry_at
    else:  # a timer's due time is what it is (a start timer's firing key and schedule): hold the job back instead
        job.locked_until = retry_at
    audit.record("job.retry-scheduled", f"worker:{worker_id}", instance_id=job.instance_id,
                 element_id=job.element_id, attempts=job.attempts, due_at=retry_at.isoformat(),
                 error=job.last_error)
    return "retry"


def _open_incident(job: Job, message: str, kind: str, actor: str) -> str:
    """Park the job and open an incident; the caller's transaction commits both."""
    process_key, site = _incident_owner(job)
    job.state = "failed"
    job.last_error = message[:MAX_ERROR_CHARS]
    job.locked_by = job.locked_until = None
    incident = Incident(instance_id=job.instance_id, job_id=job.id, element_id=job.element_id,
                        process_key=process_key, site=site, kind=kind, message=job.last_error)
    db.session.add(incident)
    db.session.flush()
    audit.record("incident.opened", actor, instance_id=job.instance_id, element_id=job.element_id,
                 incident_id=incident.id, kind=kind, message=job.last_error)
    return "incident"


def _incident_owner(job: Job) -> tuple[str | None, str | None]:
    """The process and site an incident of `job` counts for: its instance's, or for a start timer's job
    (no instance) the process it starts and the site its timer starts it at."""
    if job.instance_id is not None:
        instance = job_instance(job)
        return (instance.process_key, instance.site) if instance is not None else (None, None)
    definition = db.session.get(ProcessDefinition, job.definition_id) if job.definition_id is not None else None
    if definition is None:
        return None, None
    timer = _start_timer(definition)
    return definition.process_key, timer.site if timer is not None else None


def _start_timer(definition: ProcessDefinition):
    """The timer start event of a version's process (None if it has none)."""
    return deployments.parsed_deployment(definition.deployment).processes[definition.process_key].start_timer


@transactional
def _fire_timer(job_id: int, worker_id: str) -> str:
    def move(job, runtime, workflow):
        _engine(runtime.advance, f"after timer {job.element_id}", workflow, job.spiff_task_id)
        lateness = (utcnow() - job.due_at).total_seconds()
        details = {"due_at": job.due_at.isoformat(), "late_seconds": round(lateness, 3)}
        return "fired", "timer.fired", details
    return _move_instance(job_id, worker_id, move, unlock=True)


# --- timer start events: one schedule per process, owned by its latest version ----------

def schedule_start_timers(definitions, parsed, now: datetime | None = None) -> None:
    """Inside a deployment's transaction: each new version with a timer start event takes over
    its process's schedule; older versions stop starting instances."""
    now = now or utcnow()
    for definition in definitions:
        timer = parsed.processes[definition.process_key].start_timer
        superseded = select(ProcessDefinition.id).where(ProcessDefinition.process_key == definition.process_key)
        db.session.execute(delete(Job).where(Job.kind == "start-timer", Job.definition_id.in_(superseded))
                           .execution_options(synchronize_session=False))
        if timer is None:
            continue
        due, schedule = first_due(timer, now)
        db.session.add(Job(kind="start-timer", definition_id=definition.id, element_id=timer.element_id,
                           due_at=due, schedule=schedule, max_attempts=1))


def _fire_start_timer(job: Job, worker_id: str) -> str:
    """Start one instance (idempotent per firing), then move the schedule on."""
    job_id, definition = job.id, db.session.get(ProcessDefinition, job.definition_id)
    timer = _start_timer(definition)
    firing = f"start-timer:{job.id}:{job.due_at.isoformat()}"
    process_key = definition.process_key
    db.session.rollback()
    from .instances import start_instance
    try:
        instance, _ = start_instance(process_key, timer.site, {}, actor=system_principal("timer"),
                                     idempotency_key=firing)
    except ServiceError as exc:
        return _failed(job_id, worker_id, f"timer start of {process_key} failed: {exc.detail}", retryable=False)
    return _with_retries(_reschedule_start_timer, job_id, worker_id, instance.id)


@transactional
def _reschedule_start_timer(job_id: int, worker_id: str, instance_id: str) -> str:
    job = _locked_job(job_id, worker_id)
    if job is None:
        return "lost"
    audit.record("timer.start-fired", f"worker:{worker_id}", instance_id=instance_id, element_id=job.element_id,
                 due_at=job.due_at.isoformat(), late_seconds=round((utcnow() - job.due_at).total_seconds(), 3))
    following = next_due(job.schedule, job.due_at)
    if following is None:
        db.session.delete(job)
    else:
        job.due_at, job.schedule = following
        job.locked_by = job.locked_until = None
    return "started"


# --- reading --------------------------------------------------------------------

def list_jobs(instance_id: str | None = None, state: str | None = None) -> list[Job]:
    query = select(Job).order_by(Job.due_at)
    if instance_id:
        query = query.where(Job.instance_id == instance_id)
    if state:
        query = query.where(Job.state == state)
    return list(db.session.scalars(query))


def delete_instance_jobs(instance_id: str) -> None:
    db.session.execute(delete(Job).where(Job.instance_id == instance_id))
