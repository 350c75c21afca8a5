"""The `lanes` command: database, deployments, instances, users and tokens, the worker and the server.

The command line acts as the built-in system principal (an admin; audit rows name it "cli"):
whoever can run it on the server already holds the database.
"""
from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path

import click

from .app import create_app
from .config import database_url
from .models import upgrade_database


def _app():
    return create_app()


@contextmanager
def _setup_app():
    """The app context of a new app whose database connections are closed at its end: `lanes run` forks its
    servers after the setup steps, and a child must not share its parent's open (SQLite) connections."""
    from .models import db as store  # (`db` is the command group below)
    app = _app()
    with app.app_context():
        try:
            yield app
        finally:
            store.session.remove()
            store.engine.dispose()


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


def _system():
    from .services import system_principal
    return system_principal("cli")


def deploy_folders(folders: list[Path], forms_dir: Path) -> None:
    from .services import ServiceError, deployments
    actor = _system()
    with _setup_app():
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
            instance, _ = instances.start_instance(process_key, site, values, actor=_system(),
                                                   business_key=business_key)
        except ServiceError as exc:
            _fail(exc)
        click.echo(json.dumps({"id": instance.id, "state": instance.state, "activities": instance.activities}))


# --- users and API tokens ----------------------------------------------------

def _accounts_call(func, *args, show, **kwargs) -> None:
    """Run an accounts service as the CLI's system principal and echo show(result); errors exit 2."""
    from .services import ServiceError
    with _app().app_context():
        try:
            result = func(*args, actor=_system(), **kwargs)
        except ServiceError as exc:
            _fail(exc)
        click.echo(show(result))


def _user_line(user) -> str:
    state = "" if user.active else " (inactive)"
    login = "" if user.password_hash else " (token only)"
    return (f"{user.username}{state}{login}  roles={','.join(user.roles) or '-'}  "
            f"sites={','.join(user.sites) or '-'}  groups={','.join(user.groups) or '-'}")


@main.group()
def user() -> None:
    """Users: roles (staff, analyst, admin), sites and groups (the BPMN candidate groups)."""


@user.command("add")
@click.argument("username")
@click.option("--password", help="At least 8 characters; asked for when omitted (unless --token-only).")
@click.option("--token-only", is_flag=True, help="No password: the account acts only through API tokens.")
@click.option("--role", "roles", multiple=True, default=("staff",), show_default=True,
              type=click.Choice(["staff", "analyst", "admin"]))
@click.option("--site", "sites", multiple=True, help="A site code such as NORTH (repeatable).")
@click.option("--group", "groups", multiple=True, help="A candidate group such as north_finance (repeatable).")
@click.option("--name", "display_name", default="", help="Display name.")
def user_add(username, password, token_only, roles, sites, groups, display_name) -> None:
    """Add a user."""
    from .services import accounts
    if password is None and not token_only:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    _accounts_call(accounts.create_user, username, password=None if token_only else password, roles=roles,
                   sites=sites, groups=groups, display_name=display_name, show=lambda u: f"added {_user_line(u)}")


@user.command("update")
@click.argument("username")
@click.option("--password", help="A new password (ends the user's web sessions).")
@click.option("--role", "roles", multiple=True, type=click.Choice(["staff", "analyst", "admin"]),
              help="Replaces the roles (repeatable).")
@click.option("--site", "sites", multiple=True, help="Replaces the sites (repeatable).")
@click.option("--group", "groups", multiple=True, help="Replaces the groups (repeatable).")
@click.option("--active/--inactive", default=None, help="An inactive user can neither log in nor use tokens.")
def user_update(username, password, roles, sites, groups, active) -> None:
    """Change a user's password, roles, sites, groups or state (only what is given)."""
    from .services import accounts
    changes = {name: value for name, value in (("password", password), ("active", active)) if value is not None}
    changes.update({name: value for name, value in (("roles", roles), ("sites", sites), ("groups", groups))
                    if value})
    _accounts_call(accounts.update_user, username, **changes, show=lambda u: f"updated {_user_line(u)}")


@user.command("list")
def user_list() -> None:
    """List users with their roles, sites and groups."""
    from .services import accounts
    with _app().app_context():
        for account in accounts.list_users():
            click.echo(_user_line(account))


@main.group()
def token() -> None:
    """API tokens: shown once, stored hashed, revocable, optionally narrowed to roles and sites."""


@token.command("create")
@click.argument("username")
@click.option("--name", required=True, help="What the token is for, e.g. 'billing system'.")
@click.option("--role", "roles", multiple=True, type=click.Choice(["staff", "analyst", "admin"]),
              help="Narrow the token to these of the user's roles (default: all of them).")
@click.option("--site", "sites", multiple=True, help="Narrow the token to these of the user's sites.")
@click.option("--expires-days", type=click.IntRange(min=1), help="Refuse the token after this many days.")
def token_create(username, name, roles, sites, expires_days) -> None:
    """Create an API token acting as USERNAME; it is printed once and never again."""
    from datetime import timedelta

    from .models import utcnow
    from .services import accounts
    expires_at = utcnow() + timedelta(days=expires_days) if expires_days else None

    def show(made):
        row, raw = made
        click.echo(f"token {row.id} for {username} ({row.name}); store it now, it is not shown again:", err=True)
        return raw
    _accounts_call(accounts.create_token, username, name, roles=list(roles) or None, sites=list(sites) or None,
                   expires_at=expires_at, show=show)


@token.command("list")
@click.argument("username", required=False)
def token_list(username) -> None:
    """List tokens (never the tokens themselves: their id, prefix, scope and state)."""
    from .services import ServiceError, accounts
    with _app().app_context():
        try:
            found = accounts.list_tokens(username)
        except ServiceError as exc:
            _fail(exc)
        for item in found:
            state = f"revoked {item.revoked_at:%Y-%m-%d}" if item.revoked_at else (
                f"expires {item.expires_at:%Y-%m-%d}" if item.expires_at else "active")
            scope = f"roles={','.join(item.roles) if item.roles is not None else '*'} " \
                    f"sites={','.join(item.sites) if item.sites is not None else '*'}"
            click.echo(f"{item.id}  {item.prefix}...  {item.user.username}  {item.name}  {scope}  {state}")


@token.command("revoke")
@click.argument("token_id", type=int)
def token_revoke(token_id) -> None:
    """Revoke a token: it is refused (401) from the next request on."""
    from .services import accounts
    _accounts_call(accounts.revoke_token, token_id, show=lambda t: f"token {t.id} ({t.prefix}...) revoked")


def bootstrap_demo_users(host: str) -> None:
    """First run only (no users at all): create the demo users and print their credentials.
    On a loopback address they get the README's passwords; elsewhere random ones."""
    from .services import accounts
    loopback = host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")
    with _setup_app():
        made = accounts.ensure_demo_users(documented=loopback)
    if not made:
        return
    click.echo("No users yet: created demo users (change or deactivate them with `lanes user update`):")
    for username, password in made:
        click.echo(f"  {username:<8} password {password}")


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
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # it wakes us twice a second
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
    bootstrap_demo_users(host)
    worker_process = subprocess.Popen([sys.executable, "-m", "runner.cli", "worker"])
    from .server import serve as run_server
    try:
        run_server(host, port, 2)
    finally:
        worker_process.terminate()
        worker_process.wait(timeout=10)


if __name__ == "__main__":
    main()
