"""Read-only views for the admin and task pages: diagrams with element states, versions, diffs.

Nothing here changes state. Deserializing a workflow happens only for one instance's detail page
(to mark the path taken); lists and counts come from the indexed tables.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from sqlalchemy import func, select

from ..engine import ProcessError
from ..models import AuditEvent, Incident, ProcessDefinition, ProcessInstance, db
from . import deployments
from .accounts import Principal
from .errors import Forbidden, NotFound

INSTANCE_STATES = ("running", "suspended", "completed", "terminated")
MAX_DIFF_LINES = 5000


@dataclass
class Diagram:
    """A BPMN file to draw and the element ids to mark on it."""

    filename: str
    xml: str
    current: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return {"filename": self.filename, "xml": self.xml, "current": self.current,
                "completed": self.completed, "failed": self.failed}


def definition_diagram(definition: ProcessDefinition) -> Diagram:
    """The BPMN file that defines `definition`'s process (as deployed with that version)."""
    parsed = deployments.parsed_deployment(definition.deployment)
    filename = parsed.processes[definition.process_key].filename
    stored = next(f for f in definition.deployment.files if f.filename == filename)
    return Diagram(filename=filename, xml=stored.content.decode("utf-8", errors="replace"))


def instance_diagram(instance: ProcessInstance) -> Diagram:
    """The instance's diagram: where tokens wait now, the path already taken, open incidents.

    The path comes from the stored state (every completed element, gateways and scripts included; an
    ended instance keeps only that path), completed by the audit trail's element ids (tasks, jobs,
    timers) for elements a token left.
    """
    diagram = definition_diagram(instance.definition)
    diagram.current = list(instance.activities or [])
    completed = set(_audited_elements(instance.id))
    try:
        runtime = deployments.runtime_for(instance.definition)
        completed |= set(runtime.path_taken(instance.workflow_state))
    except (ProcessError, ValueError, KeyError):
        pass  # an unreadable state still shows the audited path
    diagram.failed = sorted(set(db.session.scalars(
        select(Incident.element_id).where(Incident.instance_id == instance.id, Incident.state == "open"))))
    diagram.completed = sorted(completed - set(diagram.current) - set(diagram.failed))
    return diagram


def _audited_elements(instance_id: str) -> list[str]:
    details = db.session.scalars(select(AuditEvent.details).where(
        AuditEvent.instance_id == instance_id,
        AuditEvent.action.in_(("task.completed", "job.completed", "job.bpmn-error", "timer.fired"))))
    return [d["element_id"] for d in details if isinstance(d, dict) and d.get("element_id")]


# --- versions ---------------------------------------------------------------------

@dataclass
class VersionRow:
    definition: ProcessDefinition
    counts: dict[str, int]           # instances per state

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def versions_by_process(process_key: str | None = None) -> dict[str, list[VersionRow]]:
    """Every process key (or just `process_key`) with its versions, newest first, and how many
    instances each runs, per state."""
    counted: dict[int, dict[str, int]] = {}
    definitions = select(ProcessDefinition).order_by(ProcessDefinition.process_key, ProcessDefinition.version.desc())
    counts = (select(ProcessInstance.definition_id, ProcessInstance.state, func.count())
              .group_by(ProcessInstance.definition_id, ProcessInstance.state))
    if process_key is not None:
        definitions = definitions.where(ProcessDefinition.process_key == process_key)
        counts = counts.where(ProcessInstance.process_key == process_key)
    for definition_id, state, count in db.session.execute(counts):
        counted.setdefault(definition_id, {})[state] = count
    result: dict[str, list[VersionRow]] = {}
    for definition in db.session.scalars(definitions):
        counts = dict.fromkeys(INSTANCE_STATES, 0) | counted.get(definition.id, {})
        result.setdefault(definition.process_key, []).append(VersionRow(definition, counts))
    return result


def process_versions(process_key: str) -> list[VersionRow]:
    """One process's versions, newest first, with their instance counts; NotFound if none."""
    rows = versions_by_process(process_key).get(process_key)
    if not rows:
        raise NotFound(f"no process '{process_key}' is deployed")
    return rows


def get_definition(process_key: str, version: int) -> ProcessDefinition:
    definition = db.session.scalar(select(ProcessDefinition).where(ProcessDefinition.process_key == process_key,
                                                                  ProcessDefinition.version == version))
    if definition is None:
        raise NotFound(f"{process_key} has no version {version}")
    return definition


def instances_of_version(actor: Principal, process_key: str, version: int, state: str | None = None,
                         site: str | None = None, business_key: str | None = None,
                         limit: int = 200) -> list[ProcessInstance]:
    """The instances that run (or ran) on one version of a process (admins)."""
    if not actor.is_admin:
        raise Forbidden("only an admin may list instances by version")
    definition = get_definition(process_key, version)
    query = select(ProcessInstance).where(ProcessInstance.definition_id == definition.id)
    for column, value in ((ProcessInstance.state, state), (ProcessInstance.site, site),
                          (ProcessInstance.business_key, business_key)):
        if value:
            query = query.where(column == value)
    return list(db.session.scalars(query.order_by(ProcessInstance.started_at.desc()).limit(limit)))


def instance_incidents(instance_id: str) -> list[Incident]:
    """Every incident of one instance, open ones first, newest first."""
    return list(db.session.scalars(select(Incident).where(Incident.instance_id == instance_id)
                                   .order_by(Incident.state != "open", Incident.created_at.desc())))


# --- diffs ---------------------------------------------------------------------------

@dataclass
class FileDiff:
    filename: str
    status: str                      # changed | added | removed | same
    lines: list[str]                 # unified diff lines (empty unless changed/added/removed)


def _text(content: bytes) -> list[str]:
    return content.decode("utf-8", errors="replace").splitlines(keepends=False)


def diff_versions(old: ProcessDefinition, new: ProcessDefinition) -> list[FileDiff]:
    """A unified text diff of every file of the two versions' deployments, matched by file name."""
    old_files = {f.filename: f for f in old.deployment.files}
    new_files = {f.filename: f for f in new.deployment.files}
    diffs = []
    for filename in sorted(old_files.keys() | new_files.keys()):
        before, after = old_files.get(filename), new_files.get(filename)
        if before is not None and after is not None and before.sha256 == after.sha256:
            diffs.append(FileDiff(filename, "same", []))
            continue
        status = "added" if before is None else "removed" if after is None else "changed"
        lines = list(difflib.unified_diff(
            _text(before.content) if before else [], _text(after.content) if after else [],
            fromfile=f"v{old.version}/{filename}" if before else "/dev/null",
            tofile=f"v{new.version}/{filename}" if after else "/dev/null", lineterm="", n=3))
        if len(lines) > MAX_DIFF_LINES:
            lines = lines[:MAX_DIFF_LINES] + [f"... {len(lines) - MAX_DIFF_LINES} more lines not shown"]
        diffs.append(FileDiff(filename, status, lines))
    return diffs


# --- element names, for pages that show names rather than ids --------------------------

def element_names(definition) -> dict[str, str]:
    """Element id -> name (whitespace collapsed) of a definition's BPMN elements that have one, from its
    parsed (cached) deployment, subprocesses included: the pages show names, with the id as a tooltip."""
    process = deployments.parsed_deployment(definition.deployment).processes.get(definition.process_key)
    if process is None:
        return {}
    names = {}
    for spec in (process.spec, *process.subprocess_specs.values()):
        for task_spec in spec.task_specs.values():
            element_id, name = getattr(task_spec, "bpmn_id", None), getattr(task_spec, "bpmn_name", None)
            if element_id and name and name.strip():
                names[element_id] = " ".join(name.split())
    return names


def element_names_of_instances(instance_ids) -> dict[str, dict[str, str]]:
    """Instance id -> element_names() of its definition, for a page listing elements of many instances."""
    rows = db.session.execute(select(ProcessInstance.id, ProcessInstance.definition_id)
                              .where(ProcessInstance.id.in_(sorted(instance_ids)))).all() if instance_ids else []
    definitions = {d.id: d for d in db.session.scalars(
        select(ProcessDefinition).where(ProcessDefinition.id.in_(sorted({d for _, d in rows}))))} if rows else {}
    names = {definition_id: element_names(definition) for definition_id, definition in definitions.items()}
    return {instance_id: names[definition_id] for instance_id, definition_id in rows}
