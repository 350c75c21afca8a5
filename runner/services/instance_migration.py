"""Migrating running instances from one version of a process to another, in bulk, dry run first.

Lanes stores each instance's workflow state without specs, so a move is: load the state with the
old version's specs, migrate it onto the new version (engine/migration.py), save it under the new
definition and re-derive its task, job and message rows. A dry run does all of that in memory and
reports, per instance, whether it can move and why not; a real run moves each instance that can in
its own transaction (one audit row `instance.migrated` each) and reports the others untouched.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from ..engine import ProcessError
from ..engine import migration as engine_migration
from ..models import HumanTask, Job, MessageSubscription, ProcessDefinition, ProcessInstance, TaskCandidate, db, utcnow
from . import audit, deployments
from .accounts import Principal
from .admin_bulk import select_instance_ids
from .errors import Forbidden, Invalid, NotFound, ServiceError
from .transaction import transactional

MOVABLE_STATES = ("running", "suspended")
MAX_INSTANCES = 10_000


@dataclass
class InstanceMove:
    instance_id: str
    business_key: str | None
    site: str
    state: str
    activities: list[str]
    can_move: bool = False
    reasons: list[str] = field(default_factory=list)
    activities_after: list[str] | None = None
    moved: bool = False


@dataclass
class MigrationReport:
    process_key: str
    from_version: int
    to_version: int
    dry_run: bool
    mapping: dict[str, str]
    suggested_mapping: dict[str, str]
    changed_elements: dict[str, list[str]]
    instances: list[InstanceMove]
    truncated: bool = False

    @property
    def can_move(self) -> list[InstanceMove]:
        return [i for i in self.instances if i.can_move]

    @property
    def cannot_move(self) -> list[InstanceMove]:
        return [i for i in self.instances if not i.can_move]


def _definition(process_key: str, version, what: str) -> ProcessDefinition:
    if isinstance(version, bool) or not isinstance(version, int):
        raise Invalid(f"{what} must be a version number", errors={what: "A version number"})
    definition = db.session.scalar(select(ProcessDefinition).where(ProcessDefinition.process_key == process_key,
                                                                   ProcessDefinition.version == version))
    if definition is None:
        raise NotFound(f"process {process_key} has no version {version}")
    return definition


def _check_mapping(mapping) -> dict[str, str]:
    mapping = {} if mapping is None else mapping
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise Invalid("mapping must be an object of old element id -> new element id",
                      errors={"mapping": "An object of element ids"})
    return dict(mapping)


def migrate_instances(actor: Principal, process_key: str, from_version: int, to_version: int, *,
                      mapping: dict | None = None, site: str | None = None, state: str | None = None,
                      instance_ids: list[str] | None = None, dry_run: bool = True) -> MigrationReport:
    """Report (dry run) or perform the move of the selected instances of `process_key` version
    `from_version` to `to_version`. Selected: running and suspended instances (or `state`), at `site`,
    among `instance_ids`, at most MAX_INSTANCES."""
    if not actor.is_admin:
        raise Forbidden("only an admin may migrate instances")
    if not isinstance(process_key, str) or not process_key:
        raise Invalid("processKey is required", errors={"processKey": "Required"})
    mapping = _check_mapping(mapping)
    source_def = _definition(process_key, from_version, "fromVersion")
    target_def = _definition(process_key, to_version, "toVersion")
    if source_def.id == target_def.id:
        raise Invalid("fromVersion and toVersion are the same version")
    try:
        plan = engine_migration.plan_migration(deployments.runtime_for(source_def), deployments.runtime_for(target_def),
                                               target_def.version, mapping)
    except engine_migration.MappingError as exc:
        raise Invalid(f"the mapping names unknown elements: {exc}", errors={"mapping": exc.errors}) from None

    ids, truncated = _select(source_def, site, state, instance_ids)
    report = MigrationReport(process_key, source_def.version, target_def.version, dry_run, mapping,
                             plan.suggestions, plan.changed_elements(), [], truncated)
    for instance_id in ids:
        if dry_run:
            move, _ = _evaluate(db.session.get(ProcessInstance, instance_id), plan)
            db.session.rollback()
        else:
            try:
                move = _move_one(instance_id, plan, source_def.id, target_def.id, actor)
            except ServiceError as exc:  # a lost race (409) or the new version failing on save (422)
                instance = db.session.get(ProcessInstance, instance_id)
                move = _move_of(instance)
                move.reasons = [f"not moved: {exc.detail}"]
        report.instances.append(move)
    return report


def _select(source_def: ProcessDefinition, site, state, instance_ids) -> tuple[list[str], bool]:
    query = select(ProcessInstance.id).where(ProcessInstance.definition_id == source_def.id)
    if state is None:
        query = query.where(ProcessInstance.state.in_(MOVABLE_STATES))
    return select_instance_ids(query, site=site, state=state, instance_ids=instance_ids, limit=MAX_INSTANCES)


def _move_of(instance: ProcessInstance) -> InstanceMove:
    return InstanceMove(instance.id, instance.business_key, instance.site, instance.state,
                        list(instance.activities or []))


def _evaluate(instance: ProcessInstance, plan: engine_migration.MigrationPlan):
    """(InstanceMove, the moved workflow or None): everything a move does, in memory."""
    move = _move_of(instance)
    if instance.state not in MOVABLE_STATES:
        move.reasons = [f"the instance is {instance.state}; only running and suspended instances move"]
        return move, None
    workflow = plan.source.load(instance.workflow_state)
    move.reasons = engine_migration.blockers(plan, workflow)
    if move.reasons:
        return move, None
    try:
        moved = engine_migration.migrate(plan, workflow)
    except ProcessError as exc:
        move.reasons = [f"version {plan.target_version} fails at {exc.element_id or 'an element'}: {exc}"]
        return move, None
    move.can_move = True
    move.activities_after = plan.target.active_elements(moved)
    return move, moved


@transactional
def _move_one(instance_id: str, plan, source_id: int, target_id: int, actor: Principal) -> InstanceMove:
    from .instances import save_workflow
    instance = db.session.get(ProcessInstance, instance_id)
    if instance.definition_id != source_id:
        move = _move_of(instance)
        move.reasons = ["not moved: the instance left this version meanwhile"]
        return move
    move, workflow = _evaluate(instance, plan)
    if workflow is None:
        return move
    before_version = instance.definition.version
    instance.definition = db.session.get(ProcessDefinition, target_id)
    instance.definition_id = target_id  # now, not at flush: the rows derived in this save name the new version
    # waits and jobs are re-derived under the new version's element ids and message names
    db.session.query(MessageSubscription).filter(MessageSubscription.instance_id == instance.id).delete()
    save_workflow(instance, plan.target, workflow, actor)
    _refresh_rows(instance, plan.target, workflow)
    audit.record("instance.migrated", actor, instance_id=instance.id, process_key=instance.process_key,
                 from_version=before_version, to_version=plan.target_version, activities_before=move.activities,
                 activities_after=move.activities_after, mapping=plan.mapping)
    move.moved = True
    return move


def _refresh_rows(instance: ProcessInstance, runtime, workflow) -> None:
    """Open tasks and jobs that kept their token take the new version's element, name, form and
    candidates, and open tasks the version itself (the metrics count open work under it); claims, due dates,
    attempts and incidents stay as they were, and ended tasks with the version they ran under."""
    now = utcnow()
    infos = {info.spiff_task_id: info for info in runtime.ready_user_tasks(workflow, now)}
    for task in db.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                           HumanTask.state == "open")):
        task.definition_id = instance.definition_id
        info = infos.get(task.spiff_task_id)
        if info is None:
            continue
        task.element_id, task.name, task.form_ref = info.element_id, info.name, info.form_ref
        task.candidates = ([TaskCandidate(kind="group", value=g) for g in info.candidate_groups]
                           + [TaskCandidate(kind="user", value=u) for u in info.candidate_users])
    pending = {(p.spiff_task_id, p.kind): p for p in runtime.pending_jobs(workflow, now)}
    for job in db.session.scalars(select(Job).where(Job.instance_id == instance.id)):
        item = pending.get((job.spiff_task_id, job.kind))
        if item is not None:
            job.element_id, job.topic, job.retry_cycle = item.element_id, item.topic, item.retry_cycle
