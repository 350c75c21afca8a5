"""Deployments: validate a set of files, store them immutably, version each process they define."""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import bindparam, func, select

from ..engine import (DeploymentInvalid, ParsedDeployment, ProcessRuntime, file_kind, parse_deployment,
                      referenced_forms)
from ..models import Deployment, DeploymentFile, ProcessDefinition, db
from . import audit
from .accounts import Principal
from .errors import Forbidden, Invalid, NotFound
from .transaction import transactional

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_FILES = 100


@dataclass
class DeployResult:
    deployment: Deployment
    definitions: list[ProcessDefinition]
    created: bool


def content_hash(files: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


def _check_limits(files: dict[str, bytes]) -> None:
    if not files:
        raise Invalid("a deployment needs at least one file")
    if len(files) > MAX_FILES:
        raise Invalid(f"a deployment may hold at most {MAX_FILES} files")
    for name, data in files.items():
        if len(data) > MAX_FILE_BYTES:
            raise Invalid(f"{name} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB",
                          problems=[{"file": name, "element_id": None, "message": "file too large"}])


@transactional
def deploy(files: dict[str, bytes], name: str, actor: Principal) -> DeployResult:
    """Deploy a set of files (analysts and admins); identical content returns the existing deployment."""
    return deploy_in_transaction(files, name, actor)


def deploy_in_transaction(files: dict[str, bytes], name: str, actor: Principal) -> DeployResult:
    """deploy(), inside the caller's transaction (a workspace deploys and clears its drafts in one)."""
    if not actor.is_analyst:
        raise Forbidden("only analysts and admins may deploy")
    _check_limits(files)
    digest = content_hash(files)
    existing = db.session.scalar(select(Deployment).where(Deployment.content_hash == digest))
    if existing is not None:
        return DeployResult(existing, list(existing.definitions), created=False)
    try:
        parsed = parse_deployment(files)
    except DeploymentInvalid as exc:
        raise Invalid(f"the deployment has {len(exc.problems)} problem(s): {exc.problems[0]}",
                      problems=[p.to_dict() for p in exc.problems]) from None

    deployment = Deployment(name=name, content_hash=digest, created_by=actor.username)
    db.session.add(deployment)
    for filename, data in sorted(files.items()):
        db.session.add(DeploymentFile(deployment=deployment, filename=filename, kind=file_kind(filename),
                                      content=data, sha256=hashlib.sha256(data).hexdigest()))
    definitions = []
    for key, process in sorted(parsed.processes.items()):
        latest = db.session.scalar(select(func.max(ProcessDefinition.version))
                                   .where(ProcessDefinition.process_key == key)) or 0
        definition = ProcessDefinition(process_key=key, version=latest + 1, name=process.name,
                                       deployment=deployment)
        db.session.add(definition)
        definitions.append(definition)
    db.session.flush()
    from .jobs import schedule_start_timers  # jobs imports this module
    schedule_start_timers(definitions, parsed)
    audit.record("deployment.created", actor, deployment_id=deployment.id, name=name,
                 files=sorted(files), processes={d.process_key: d.version for d in definitions})
    return DeployResult(deployment, definitions, created=True)


def read_folder(folder: Path, forms_dir: Path | None = None) -> dict[str, bytes]:
    """The deployable files of a process folder, plus the forms its user tasks reference from `forms_dir`."""
    if not folder.is_dir():
        raise Invalid(f"{folder} is not a folder")
    files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and file_kind(p.name)}
    if forms_dir is not None and forms_dir.is_dir():
        for form_id in sorted(referenced_forms(files)):
            candidate = forms_dir / f"{form_id}.form"
            if candidate.is_file() and candidate.name not in files:
                files[candidate.name] = candidate.read_bytes()
    return files


# --- reading ----------------------------------------------------------------

def list_deployments() -> list[Deployment]:
    return list(db.session.scalars(select(Deployment).order_by(Deployment.id.desc())))


def get_deployment(deployment_id: int) -> Deployment:
    deployment = db.session.get(Deployment, deployment_id)
    if deployment is None:
        raise NotFound(f"deployment {deployment_id} does not exist")
    return deployment


def list_definitions(process_key: str | None = None) -> list[ProcessDefinition]:
    query = select(ProcessDefinition).order_by(ProcessDefinition.process_key, ProcessDefinition.version)
    if process_key:
        query = query.where(ProcessDefinition.process_key == process_key)
    return list(db.session.scalars(query))


def latest_definition(process_key: str) -> ProcessDefinition:
    found = latest_definitions(process_key)
    if not found:
        raise NotFound(f"no process '{process_key}' is deployed")
    return found[0]


def process_keys() -> list[str]:
    """The key of every deployed process, sorted (for filter menus)."""
    return list(db.session.scalars(select(ProcessDefinition.process_key).distinct()
                                   .order_by(ProcessDefinition.process_key)))


def latest_definitions(process_key: str | None = None) -> list[ProcessDefinition]:
    """The latest version of every deployed process (or of `process_key` only), by process key."""
    latest = (select(ProcessDefinition.process_key, func.max(ProcessDefinition.version).label("version"))
              .group_by(ProcessDefinition.process_key).subquery())
    query = select(ProcessDefinition).join(latest, (ProcessDefinition.process_key == latest.c.process_key)
                                           & (ProcessDefinition.version == latest.c.version))
    if process_key is not None:
        query = query.where(ProcessDefinition.process_key == process_key)
    return list(db.session.scalars(query.order_by(ProcessDefinition.process_key)))


@dataclass(frozen=True)
class LatestVersion:
    """What starting an instance needs of a process's latest version (the columns, not the ORM objects:
    loading those cost more than running a short process)."""

    id: int
    process_key: str
    version: int
    deployment_id: int
    content_hash: str


# built once: building the statement cost twice as much as running it (the start path runs it every time)
_LATEST_VERSION = (select(ProcessDefinition.id, ProcessDefinition.process_key, ProcessDefinition.version,
                          ProcessDefinition.deployment_id, Deployment.content_hash)
                   .join(Deployment, Deployment.id == ProcessDefinition.deployment_id)
                   .where(ProcessDefinition.process_key == bindparam("process_key"))
                   .order_by(ProcessDefinition.version.desc()).limit(1))


def latest_version(process_key: str) -> LatestVersion:
    # on the transaction's connection, not through the ORM session (a third of the cost): a deployment
    # commits its versions in a transaction of its own, so no new version waits unflushed in this session
    row = db.session.connection().execute(_LATEST_VERSION, {"process_key": process_key}).first()
    if row is None:
        raise NotFound(f"no process '{process_key}' is deployed")
    return LatestVersion(*row)


# --- parsed deployments, cached by content hash (immutable, so never stale) -----

_cache: dict[str, ParsedDeployment] = {}
_cache_lock = threading.Lock()


def parsed_deployment(deployment: Deployment) -> ParsedDeployment:
    return _parsed(deployment.content_hash, lambda: deployment.files)


def _parsed(digest: str, files) -> ParsedDeployment:
    """The parsed deployment with content hash `digest`; `files()` gives its files on a cache miss."""
    with _cache_lock:
        parsed = _cache.get(digest)
    if parsed is None:
        parsed = parse_deployment({f.filename: f.content for f in files()})
        with _cache_lock:
            _cache[digest] = parsed
    return parsed


def runtime_for(definition: ProcessDefinition | LatestVersion) -> ProcessRuntime:
    if isinstance(definition, LatestVersion):
        parsed = _parsed(definition.content_hash, lambda: db.session.scalars(
            select(DeploymentFile).where(DeploymentFile.deployment_id == definition.deployment_id)))
    else:
        parsed = parsed_deployment(definition.deployment)
    return ProcessRuntime(parsed.processes[definition.process_key], parsed)
