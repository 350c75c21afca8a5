"""Helpers the tests share: where the sample files are, and how to upload them."""
from __future__ import annotations

import io
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = ROOT / "processes"
FORMS = ROOT / "forms"



def folder_files(folder: Path, forms_dir: Path = FORMS) -> dict[str, bytes]:
    """A process folder's files plus the forms it references, as the CLI collects them."""
    from runner.services.deployments import read_folder
    return read_folder(folder, forms_dir)


def upload(client, files: dict[str, bytes], name: str | None = None, headers: dict | None = None):
    """POST a deployment as the client's default user, or with `headers` (e.g. another user's token)."""
    data = {"files": [(io.BytesIO(content), filename) for filename, content in files.items()]}
    if name:
        data["name"] = name
    return client.post("/api/v1/deployments", data=data, content_type="multipart/form-data",
                       headers=headers or {})


def crafted_versions(*versions: tuple[str, int]) -> dict:
    """{(process key, version): ProcessDefinition}: versions without files, in one deployment, flushed in
    the current app context, for tests that write the rows a process leaves behind themselves."""
    import uuid

    from runner.models import Deployment, ProcessDefinition, db
    deployment = Deployment(name="crafted", content_hash=uuid.uuid4().hex * 2, created_by="test")
    db.session.add(deployment)
    db.session.flush()
    found = {(key, version): ProcessDefinition(process_key=key, version=version, name=key,
                                               deployment_id=deployment.id) for key, version in versions}
    db.session.add_all(found.values())
    db.session.flush()
    return found
