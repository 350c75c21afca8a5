"""The `lanes` command: database, deployments, instances and the server."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .app import create_app
from .config import database_url
from .models import upgrade_database


def _app():
    return create_app()


def _fail(exc) -> None:
    from .services import ServiceError
    if isinstance(exc, ServiceError):
        click.echo(f"error: {exc.detail}", err=True)
        for problem in exc.extra.get("problems", []):
            where = problem["file"] + (f" #{problem['element_id']}" if problem.get("element_id") else "")
            click.echo(f"  {where}: {problem['message']}", err=True)
        for field, message in exc.extra.get("errors", {}).items():
            click.echo(f"  {field}: {message}", err=True)
        sys.exit(2)
    raise exc


@click.group()
def main() -> None:
    """Lanes: run BPMN processes and DMN site rules."""


@main.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration to DATABASE_URL (default: SQLite under ./instance)."""
    upgrade_database(database_url())
    click.echo("database is up to date")


def deploy_folders(folders: list[Path], forms_dir: Path, actor: str = "cli") -> None:
    from .services import ServiceError, deployments
    app = _app()
    with app.app_context():
        for folder in folders:
            try:
                result = deployments.deploy(deployments.read_folder(folder, forms_dir), name=folder.name, actor=actor)
            except ServiceError as exc:
                click.echo(f"{folder}: not deployed", err=True)
                _fail(exc)
            versions = ", ".join(f"{d.process_key} v{d.version}" for d in result.definitions)
            state = "deployed" if result.created else "unchanged"
            click.echo(f"{folder}: {state} (deployment {result.deployment.id}: {versions})")


@main.command()
@click.argument("folders", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--forms-dir", type=click.Path(path_type=Path), default=Path("forms"), show_default=True,
              help="Where the forms that user tasks reference are read from.")
def deploy(folders, forms_dir) -> None:
    """Deploy process folders (BPMN + DMN, plus the forms they reference)."""
    deploy_folders(list(folders), forms_dir)


@main.command()
@click.argument("process_key")
@click.option("--site", required=True)
@click.option("--business-key")
@click.option("--var", "variables", multiple=True, help="name=value; the value is read as JSON if it parses")
def start(process_key, site, business_key, variables) -> None:
    """Start an instance of the latest version of PROCESS_KEY."""
    from .services import ServiceError, instances
    values = {}
    for item in variables:
        name, _, raw = item.partition("=")
        try:
            values[name] = json.loads(raw)
        except json.JSONDecodeError:
            values[name] = raw
    with _app().app_context():
        try:
            instance, _ = instances.start_instance(process_key, site, values, actor="cli", business_key=business_key)
        except ServiceError as exc:
            _fail(exc)
        click.echo(json.dumps({"id": instance.id, "state": instance.state, "activities": instance.activities}))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="gunicorn worker processes")
def serve(host, port, workers) -> None:
    """Serve the web UI and the REST API with gunicorn."""
    from .server import serve as run_server
    run_server(host, port, workers)


@main.command()
@click.option("--poll", "poll_seconds", default=0.5, show_default=True, type=float,
              help="Fallback polling interval in seconds")
def worker(poll_seconds) -> None:
    """Run jobs (service calls, timers) from the database until stopped."""
    import logging
    import signal

    from .worker import Worker
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    runner = Worker(_app(), poll_seconds=poll_seconds)
    signal.signal(signal.SIGTERM, lambda *_: runner.stop())
    try:
        runner.run_forever()
    except KeyboardInterrupt:
        runner.stop()


@main.command()
@click.option("--processes", "processes_dir", type=click.Path(path_type=Path), default=Path("processes"),
              show_default=True)
@click.option("--forms-dir", type=click.Path(path_type=Path), default=Path("forms"), show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def run(processes_dir, forms_dir, host, port) -> None:
    """Migrate the database, deploy every process folder, start a worker, and serve (what `make run` does)."""
    import subprocess
    upgrade_database(database_url())
    folders = sorted(p for p in processes_dir.iterdir() if p.is_dir()) if processes_dir.is_dir() else []
    deploy_folders(folders, forms_dir)
    worker_process = subprocess.Popen([sys.executable, "-m", "runner.cli", "worker"])
    from .server import serve as run_server
    try:
        run_server(host, port, 2)
    finally:
        worker_process.terminate()
        worker_process.wait(timeout=10)


if __name__ == "__main__":
    main()
