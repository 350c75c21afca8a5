"""Analysts' workspaces: a process folder's files as deployed, overlaid by saved drafts.

A draft never changes what running instances see: instances run on deployed versions,
whose files are immutable; deploying a workspace makes a new version and clears its drafts.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import delete, select

from ..engine import DeploymentInvalid, file_kind, parse_deployment
from ..models import Deployment, DraftFile, db, utcnow
from . import audit, deployments
from .accounts import Principal
from .errors import Forbidden, Invalid, NotFound
from .transaction import transactional

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")


@dataclass
class WorkspaceFile:
    filename: str
    kind: str
    content: bytes
    draft: bool


def _analyst(actor: Principal) -> None:
    if not actor.is_analyst:
        raise Forbidden("workspaces are for analysts and admins")


def _check_name(value: str, what: str) -> None:
    if not NAME.match(value or "") or ".." in value:
        raise Invalid(f"{what} '{value}' must be letters, digits, '.', '-' or '_'")


def latest_deployment(workspace: str) -> Deployment | None:
    return db.session.scalar(select(Deployment).where(Deployment.name == workspace)
                             .order_by(Deployment.id.desc()).limit(1))


def list_workspaces(actor: Principal) -> list[str]:
    _analyst(actor)
    deployed = set(db.session.scalars(select(Deployment.name)))
    drafted = set(db.session.scalars(select(DraftFile.workspace)))
    return sorted(deployed | drafted)


def workspace_files(workspace: str, actor: Principal) -> list[WorkspaceFile]:
    """The deployed files of the workspace's latest version, with drafts in their place."""
    _analyst(actor)
    files: dict[str, WorkspaceFile] = {}
    deployed = latest_deployment(workspace)
    if deployed is not None:
        for f in deployed.files:
            files[f.filename] = WorkspaceFile(f.filename, f.kind, f.content, draft=False)
    for d in db.session.scalars(select(DraftFile).where(DraftFile.workspace == workspace)):
        files[d.filename] = WorkspaceFile(d.filename, file_kind(d.filename), d.content, draft=True)
    if not files:
        raise NotFound(f"workspace '{workspace}' has no deployed files and no drafts")
    return sorted(files.values(), key=lambda f: f.filename)


def _contents(workspace: str, actor: Principal) -> dict[str, bytes]:
    return {f.filename: f.content for f in workspace_files(workspace, actor)}


@transactional
def save_draft(workspace: str, filename: str, content: bytes, actor: Principal) -> DraftFile:
    """Keep an edited file as a draft (any content: validation is a separate step)."""
    _analyst(actor)
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
    draft = db.session.scalar(select(DraftFile).where(DraftFile.workspace == workspace,
                                                      DraftFile.filename == filename))
    if draft is None:
        draft = DraftFile(workspace=workspace, filename=filename, content=content, updated_by=actor.username)
        db.session.add(draft)
    else:
        draft.content, draft.updated_at, draft.updated_by = content, utcnow(), actor.username
    audit.record("draft.saved", actor, workspace=workspace, filename=filename, bytes=len(content))
    return draft


@transactional
def discard_drafts(workspace: str, actor: Principal) -> int:
    _analyst(actor)
    removed = db.session.execute(delete(DraftFile).where(DraftFile.workspace == workspace)).rowcount
    audit.record("draft.discarded", actor, workspace=workspace, files=removed)
    return removed


def validate_workspace(workspace: str, actor: Principal) -> list[dict]:
    """The same deploy-time validation as a deployment; [] when the workspace would deploy."""
    files = _contents(workspace, actor)
    try:
        parse_deployment(files)
    except DeploymentInvalid as exc:
        return [p.to_dict() for p in exc.problems]
    return []


def deploy_workspace(workspace: str, actor: Principal) -> deployments.DeployResult:
    """Publish the workspace as a new version (422 with the problems if it does not validate)."""
    result = deployments.deploy(_contents(workspace, actor), name=workspace, actor=actor)
    discard_drafts(workspace, actor)
    return result
