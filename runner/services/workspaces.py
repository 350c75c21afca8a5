"""Analysts' workspaces: a process folder's files as last deployed, overlaid by saved drafts.

A workspace follows its process, not a deployment's name: deployments that share a process id belong to
one workspace (a process folder), which opens the files of the deployment that holds the latest version
of its processes, however that deployment was named (`lanes deploy` names it after the folder, the admin
upload form takes free text). It is named after a process id of its first deployment (the one named
like that deployment, when there is one: `processes/patient_refund/` is workspace `patient_refund`), and
any of its process ids finds it. A workspace that was never deployed exists by its drafts alone, under
the name its analyst chose.

A draft never changes what running instances see: instances run on deployed versions, whose files are
immutable; deploying a workspace makes a new version and clears its drafts. Drafts remember the
deployment they were started from: once a newer version of the workspace's processes is deployed, by
anyone and any route, deploying the drafts is refused (409) until the analyst has reviewed that version
and rebased the drafts on it (or discarded them), so a stale draft never reverts someone else's version.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from ..engine import DeploymentInvalid, file_kind, parse_deployment
from ..models import Deployment, DraftFile, ProcessDefinition, db, utcnow
from . import audit, deployments
from .accounts import Principal
from .errors import Conflict, Forbidden, Invalid, NotFound
from .transaction import transactional

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")


@dataclass
class WorkspaceFile:
    filename: str
    kind: str
    content: bytes
    draft: bool


@dataclass
class Newer:
    """A version of one of the workspace's processes deployed after its drafts were started."""
    process_key: str
    version: int
    deployment_id: int

    def to_dict(self) -> dict:
        return {"processKey": self.process_key, "version": self.version, "deploymentId": self.deployment_id}


@dataclass
class Workspace:
    name: str
    process_keys: list[str]
    deployment: Deployment | None        # holds the latest version of its processes; None: never deployed
    files: list[WorkspaceFile]
    base_deployment_id: int | None       # what its drafts were started from (None: no drafts, or never deployed)
    deployed_after_draft: list[Newer] = field(default_factory=list)

    @property
    def has_drafts(self) -> bool:
        return any(f.draft for f in self.files)


@dataclass(frozen=True)
class _Group:
    """Deployments linked by shared process ids: one process folder."""
    name: str
    keys: frozenset[str]
    latest_deployment_id: int


def _analyst(actor: Principal) -> None:
    if not actor.is_analyst:
        raise Forbidden("workspaces are for analysts and admins")


def _check_name(value: str, what: str) -> None:
    if not NAME.match(value or "") or ".." in value:
        raise Invalid(f"{what} '{value}' must be letters, digits, '.', '-' or '_'")


def _groups() -> list[_Group]:
    """Every deployed process folder: process ids joined when one deployment defines them together."""
    rows = db.session.execute(
        select(ProcessDefinition.deployment_id, ProcessDefinition.process_key, ProcessDefinition.version,
               Deployment.name).join(Deployment, Deployment.id == ProcessDefinition.deployment_id)).all()
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    keys_of: dict[int, list[str]] = defaultdict(list)
    names: dict[int, str] = {}
    latest: dict[str, tuple[int, int]] = {}          # process key -> (version, deployment id)
    for deployment_id, key, version, name in rows:
        parent.setdefault(key, key)
        keys_of[deployment_id].append(key)
        names[deployment_id] = name
        if key not in latest or version > latest[key][0]:
            latest[key] = (version, deployment_id)
    for keys in keys_of.values():
        for key in keys[1:]:
            a, b = root(keys[0]), root(key)
            if a != b:
                parent[max(a, b)] = min(a, b)
    members: dict[str, set[str]] = defaultdict(set)
    for key in parent:
        members[root(key)].add(key)
    first: dict[str, int] = {}
    for deployment_id in sorted(keys_of):
        first.setdefault(root(keys_of[deployment_id][0]), deployment_id)
    groups = []
    for top, keys in members.items():
        earliest = first[top]
        candidates = sorted(keys_of[earliest])
        name = names[earliest] if names[earliest] in candidates else candidates[0]
        groups.append(_Group(name, frozenset(keys), max(latest[k][1] for k in keys)))
    return sorted(groups, key=lambda g: g.name)


def _find(workspace: str, groups: list[_Group] | None = None) -> _Group | None:
    return next((g for g in (groups if groups is not None else _groups()) if workspace in g.keys), None)


def _draft_names(workspace: str, group: _Group | None) -> list[str]:
    """Where the workspace's drafts are stored: its name (and, for a deployed one, any of its process ids)."""
    return sorted(group.keys) if group is not None else [workspace]


def _drafts(workspace: str, group: _Group | None) -> list[DraftFile]:
    names = _draft_names(workspace, group)
    drafts = db.session.scalars(select(DraftFile).where(DraftFile.workspace.in_(names))
                                .order_by(DraftFile.filename, DraftFile.id))
    chosen: dict[str, DraftFile] = {}
    for d in drafts:     # the workspace's own name first, should two of its ids hold one file
        if d.filename not in chosen or d.workspace == workspace:
            chosen[d.filename] = d
    return list(chosen.values())


def _newer(base_deployment_id: int | None, keys, exclude: int | None = None) -> list[Newer]:
    """The latest version of each of `keys` deployed after `base_deployment_id` (other than `exclude`)."""
    if not keys:
        return []
    query = (select(ProcessDefinition.process_key, func.max(ProcessDefinition.version))
             .where(ProcessDefinition.process_key.in_(sorted(keys)),
                    ProcessDefinition.deployment_id > (base_deployment_id or 0))
             .group_by(ProcessDefinition.process_key))
    if exclude is not None:
        query = query.where(ProcessDefinition.deployment_id != exclude)
    found = []
    for key, version in db.session.execute(query).all():
        deployment_id = db.session.scalar(select(ProcessDefinition.deployment_id).where(
            ProcessDefinition.process_key == key, ProcessDefinition.version == version))
        found.append(Newer(key, version, deployment_id))
    return sorted(found, key=lambda n: n.process_key)


def latest_deployment(workspace: str) -> Deployment | None:
    """The deployment holding the latest version of the workspace's processes (None: never deployed)."""
    group = _find(workspace)
    return db.session.get(Deployment, group.latest_deployment_id) if group is not None else None


def list_workspaces(actor: Principal) -> list[str]:
    """One name per process folder, and the never-deployed workspaces that have drafts."""
    _analyst(actor)
    groups = _groups()
    names = {g.name for g in groups}
    for drafted in db.session.scalars(select(DraftFile.workspace).distinct()):
        if _find(drafted, groups) is None:
            names.add(drafted)
    return sorted(names)


def get_workspace(workspace: str, actor: Principal) -> Workspace:
    """The workspace (found by its name or any of its process ids): the files of its latest deployed version,
    with drafts in their place, and the versions deployed after its drafts were started."""
    _analyst(actor)
    group = _find(workspace)
    deployed = db.session.get(Deployment, group.latest_deployment_id) if group is not None else None
    files: dict[str, WorkspaceFile] = {}
    if deployed is not None:
        for f in deployed.files:
            files[f.filename] = WorkspaceFile(f.filename, f.kind, f.content, draft=False)
    drafts = _drafts(workspace, group)
    for d in drafts:
        files[d.filename] = WorkspaceFile(d.filename, file_kind(d.filename), d.content, draft=True)
    if not files:
        raise NotFound(f"workspace '{workspace}' has no deployed files and no drafts")
    bases = [d.base_deployment_id for d in drafts]
    base = min(bases, key=lambda b: b or 0) if bases else None
    newer = _newer(base, group.keys) if drafts and group is not None else []
    return Workspace(name=group.name if group is not None else workspace,
                     process_keys=sorted(group.keys) if group is not None else [],
                     deployment=deployed, files=sorted(files.values(), key=lambda f: f.filename),
                     base_deployment_id=base, deployed_after_draft=newer)


def workspace_files(workspace: str, actor: Principal) -> list[WorkspaceFile]:
    """The deployed files of the workspace's latest version, with drafts in their place."""
    return get_workspace(workspace, actor).files


def workspace_of(deployment: Deployment) -> str:
    """The workspace a deployment belongs to."""
    keys = {d.process_key for d in deployment.definitions}
    group = next((g for g in _groups() if g.keys & keys), None)
    return group.name if group is not None else deployment.name


@transactional
def save_draft(workspace: str, filename: str, content: bytes, actor: Principal) -> DraftFile:
    """Keep an edited file as a draft (any content: validation is a separate step).

    The workspace's first draft remembers the deployment it was started from; later drafts keep that."""
    _analyst(actor)
    group = _find(workspace)
    if group is None:
        _check_name(workspace, "workspace")
    _check_name(filename, "file name")
    if file_kind(filename) is None:
        raise Invalid(f"'{filename}' is not a .bpmn, .dmn or .form file")
    if len(content) > deployments.MAX_FILE_BYTES:
        raise Invalid(f"{filename} is larger than {deployments.MAX_FILE_BYTES // (1024 * 1024)} MiB")
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid(f"{filename} is not UTF-8 text") from None
    drafts = _drafts(workspace, group)
    draft = next((d for d in drafts if d.filename == filename), None)
    if draft is None:
        if drafts:
            base = min((d.base_deployment_id for d in drafts), key=lambda b: b or 0)
        else:
            base = group.latest_deployment_id if group is not None else None
        draft = DraftFile(workspace=group.name if group is not None else workspace, filename=filename,
                          content=content, updated_by=actor.username, base_deployment_id=base)
        db.session.add(draft)
    else:
        draft.content, draft.updated_at, draft.updated_by = content, utcnow(), actor.username
    audit.record("draft.saved", actor, workspace=draft.workspace, filename=filename, bytes=len(content),
                 base_deployment_id=draft.base_deployment_id)
    return draft


@transactional
def discard_drafts(workspace: str, actor: Principal) -> int:
    _analyst(actor)
    group = _find(workspace)
    removed = db.session.execute(delete(DraftFile).where(
        DraftFile.workspace.in_(_draft_names(workspace, group)))).rowcount
    audit.record("draft.discarded", actor, workspace=group.name if group is not None else workspace, files=removed)
    return removed


@transactional
def rebase_drafts(workspace: str, actor: Principal, onto: int | None = None) -> int:
    """Keep the drafts on top of the latest deployed version (after reviewing what it changed).
    `onto`: the deployment the analyst reviewed; refused (409) if another was deployed since."""
    _analyst(actor)
    group = _find(workspace)
    if group is None:
        raise NotFound(f"workspace '{workspace}' was never deployed: its drafts have nothing to be rebased on")
    if onto is not None and onto != group.latest_deployment_id:
        raise Conflict(f"another version of {group.name} was deployed after the one you reviewed (deployment "
                       f"{onto}); reload the workspace and review it. Nothing was rebased.")
    rebased = db.session.execute(update(DraftFile).where(DraftFile.workspace.in_(_draft_names(workspace, group)))
                                 .values(base_deployment_id=group.latest_deployment_id)).rowcount
    audit.record("draft.rebased", actor, workspace=group.name, files=rebased,
                 base_deployment_id=group.latest_deployment_id)
    return rebased


def validate_workspace(workspace: str, actor: Principal) -> list[dict]:
    """The same deploy-time validation as a deployment; [] when the workspace would deploy."""
    files = {f.filename: f.content for f in workspace_files(workspace, actor)}
    try:
        parse_deployment(files)
    except DeploymentInvalid as exc:
        return [p.to_dict() for p in exc.problems]
    return []


def _stale(ws: Workspace, newer: list[Newer]) -> Conflict:
    versions = ", ".join(f"{n.process_key} version {n.version}" for n in newer)
    verb = "was" if len(newer) == 1 else "were"
    if ws.base_deployment_id is None:   # drafts of a workspace that was never deployed
        home = workspace_name_of(newer[0].process_key) or newer[0].process_key
        detail = (f"{versions} {verb} deployed already, and these drafts were not started from it: deploying "
                  f"them would replace it. Review the changes and edit it in its workspace '{home}'. "
                  f"Nothing was deployed.")
    else:
        detail = (f"{versions} {verb} deployed after your draft was started; review the changes, then keep your "
                  f"drafts on top of it (rebase) or discard them. Nothing was deployed.")
    return Conflict(detail, deployedAfter=[n.to_dict() for n in newer], baseDeploymentId=ws.base_deployment_id)


def workspace_name_of(process_key: str) -> str | None:
    group = _find(process_key)
    return group.name if group is not None else None


@transactional
def deploy_workspace(workspace: str, actor: Principal) -> deployments.DeployResult:
    """Publish the workspace as a new version: 422 with the problems if it does not validate, 409 if a newer
    version of its processes was deployed after its drafts were started. One transaction: the deployment,
    the check and clearing the drafts happen together or not at all."""
    ws = get_workspace(workspace, actor)
    has_drafts = ws.has_drafts
    if ws.deployed_after_draft:
        raise _stale(ws, ws.deployed_after_draft)
    base = ws.base_deployment_id if has_drafts else (ws.deployment.id if ws.deployment is not None else None)
    contents = {f.filename: f.content for f in ws.files}
    try:
        result = deployments.deploy_in_transaction(contents, name=ws.name, actor=actor)
    except IntegrityError:
        raise Conflict("another version of these processes was deployed at the same moment; reload the "
                       "workspace and review it") from None
    # the processes these files define, wherever they were deployed before (a new workspace, an added process)
    newer = _newer(base, {d.process_key for d in result.definitions} | set(ws.process_keys),
                   exclude=result.deployment.id if result.created else None)
    if newer:
        raise _stale(ws, newer)      # rolls the deployment back
    group = _find(ws.name)
    removed = db.session.execute(delete(DraftFile).where(
        DraftFile.workspace.in_(_draft_names(ws.name, group) + [workspace, ws.name]))).rowcount
    audit.record("draft.discarded", actor, workspace=ws.name, files=removed, deployment_id=result.deployment.id)
    return result
