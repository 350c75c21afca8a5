"""Issue 8: the accounts service (users, hashed passwords and tokens), audit masking and the CLI."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from runner import cli
from runner.models import ApiToken, AuditEvent, User, db
from runner.services import Conflict, Forbidden, Invalid, NotFound, accounts, audit, system_principal
from tests.accounts_fixtures import basic

SYSTEM = system_principal("test")


def database_bytes(database_url: str) -> bytes:
    """Everything in the SQLite file (and its WAL), to look for secrets stored in plain text."""
    path = Path(database_url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def test_passwords_and_tokens_are_stored_hashed(app, database_url):
    with app.app_context():
        accounts.create_user("dana", actor=SYSTEM, password="s3cret-passw0rd", sites=["EAST"])
        token, raw = accounts.create_token("dana", "laptop", actor=SYSTEM)
        stored = db.session.scalar(select(User).where(User.username == "dana")).password_hash
        assert stored.startswith("scrypt:") and "s3cret-passw0rd" not in stored
        assert token.token_hash == accounts.hash_token(raw) and raw.startswith("lanes_") and len(raw) > 40
        assert raw.startswith(token.prefix) and len(token.prefix) < len(raw) // 3
        every_row = repr([db.session.execute(select(table)).all() for table in db.metadata.sorted_tables])
        assert "s3cret-passw0rd" not in every_row and raw not in every_row
        db.session.remove()
        db.engine.dispose()
    if database_url.startswith("sqlite"):
        content = database_bytes(database_url)
        assert b"s3cret-passw0rd" not in content and raw.encode() not in content


def test_authenticate_and_principal(app):
    with app.app_context():
        accounts.create_user("erin", actor=SYSTEM, password="long enough", roles=["staff", "analyst"],
                             sites=["EAST"], groups=["east_billing"])
        erin = accounts.authenticate("erin", "long enough")
        assert (erin.username, erin.is_analyst, erin.is_admin) == ("erin", True, False)
        assert (erin.sites, erin.groups) == ({"EAST"}, {"east_billing"})
        assert erin.sees_site("EAST") and not erin.sees_site("WEST")
        assert accounts.authenticate("erin", "long enougH") is None
        assert accounts.authenticate("nobody", "long enough") is None
        assert accounts.principal("erin").stamp == erin.stamp
        accounts.update_user("erin", actor=SYSTEM, password="another password")
        assert accounts.principal("erin").stamp != erin.stamp  # web sessions end on a new password
        accounts.update_user("erin", actor=SYSTEM, active=False)
        assert accounts.authenticate("erin", "another password") is None
        assert accounts.principal("erin") is None
        assert system_principal().is_admin and system_principal().sees_site("ANYWHERE")


def test_user_and_token_rules(app, test_users):
    alice = accounts.Principal("alice", frozenset({"staff"}), frozenset({"NORTH"}))
    with app.app_context():
        with pytest.raises(Forbidden):
            accounts.create_user("mallory", actor=alice, roles=["admin"])
        with pytest.raises(Forbidden):
            accounts.create_token("alice", "mine", actor=alice)
        with pytest.raises(Conflict):
            accounts.create_user("alice", actor=SYSTEM)
        for bad in ({"roles": ["root"]}, {"sites": ["NO RTH"]}, {"groups": ["a/b"]}, {"password": "short"}):
            with pytest.raises(Invalid):
                accounts.create_user("frank", actor=SYSTEM, **bad)
        with pytest.raises(Invalid):
            accounts.create_user("../etc", actor=SYSTEM)
        with pytest.raises(Invalid):  # a token cannot do more than its user
            accounts.create_token("alice", "more", actor=SYSTEM, roles=["admin"])
        with pytest.raises(Invalid):
            accounts.create_token("alice", "elsewhere", actor=SYSTEM, sites=["SOUTH"])
        with pytest.raises(NotFound):
            accounts.create_token("nobody", "x", actor=SYSTEM)
        with pytest.raises(NotFound):
            accounts.revoke_token(12345, actor=SYSTEM)
        token, raw = accounts.create_token("alice", "desk", actor=SYSTEM, roles=["staff"], sites=["NORTH"])
        assert accounts.principal_for_token(raw).sites == {"NORTH"}
        accounts.revoke_token(token.id, actor=SYSTEM)
        accounts.revoke_token(token.id, actor=SYSTEM)  # idempotent
        assert accounts.principal_for_token(raw) is None
        assert accounts.principal_for_token("x" * 10_000) is None
        assert [u.username for u in accounts.list_users()] == sorted(test_users)


def test_the_audit_trail_masks_secret_fields(app):
    with app.app_context():
        audit.record("adapter.configured", "admin", password="hunter2", apiKey="k-123", name="erp",
                             settings={"client_secret": "s", "url": "https://erp", "headers": [
                                 {"X-Auth-Token": "t", "Accept": "json"}]}, tokenId=7, hasPassword=True)
        db.session.commit()
        details = db.session.scalar(select(AuditEvent.details).where(AuditEvent.action == "adapter.configured"))
    assert details == {"password": audit.MASK, "apiKey": audit.MASK, "name": "erp", "tokenId": 7,
                       "hasPassword": True, "settings": {"client_secret": audit.MASK, "url": "https://erp",
                                                         "headers": [{"X-Auth-Token": audit.MASK, "Accept": "json"}]}}


def test_secret_looking_names_are_told_the_same_however_long_and_however_often():
    """Answers for names up to CACHED_NAME_LENGTH are kept; longer names are looked at every time."""
    long_secret = "billing_" * 20 + "password"
    long_plain = "billing_" * 20 + "passwordChanged"
    assert len(long_plain) > len(long_secret) > audit.CACHED_NAME_LENGTH
    for _ in range(2):
        assert audit.mask_secrets({"password": 1, "passwordChanged": 2, long_secret: 3, long_plain: 4, 5: 6}) == {
            "password": audit.MASK, "passwordChanged": 2, long_secret: audit.MASK, long_plain: 4, 5: 6}


def test_user_and_token_changes_are_audited_without_secrets(app):
    with app.app_context():
        accounts.create_user("gina", actor=SYSTEM, password="gina's password", sites=["EAST"])
        _, raw = accounts.create_token("gina", "phone", actor=SYSTEM)
        events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(e.action, e.actor) for e in events] == [("user.created", "test"), ("token.created", "test")]
    text = repr([e.details for e in events])
    assert "gina's password" not in text and raw not in text and "scrypt" not in text


@pytest.fixture
def lanes(app, database_url, monkeypatch, tmp_path):
    """Run `lanes ...` in-process against the test database."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LANES_INSTANCE_DIR", str(tmp_path / "instance"))

    def run(*args, input=None):
        return CliRunner().invoke(cli.main, list(args), input=input, catch_exceptions=False)
    return run


def test_cli_adds_users_and_manages_tokens(lanes, anonymous):
    added = lanes("user", "add", "hank", "--password", "hank's password", "--role", "staff", "--site", "NORTH",
                  "--group", "north_finance")
    assert added.exit_code == 0, added.output
    assert "hank  roles=staff  sites=NORTH  groups=north_finance" in added.output
    assert anonymous.get("/api/v1/tasks", headers=basic("hank", "hank's password")).status_code == 200

    prompted = lanes("user", "add", "ivy", "--site", "SOUTH", input="ivy's password\nivy's password\n")
    assert prompted.exit_code == 0, prompted.output
    duplicate = lanes("user", "add", "ivy", "--token-only")
    assert duplicate.exit_code == 2 and "already exists" in duplicate.output

    made = lanes("token", "create", "hank", "--name", "ci", "--site", "NORTH")
    assert made.exit_code == 0, made.output
    raw = made.stdout.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {raw}"}
    assert anonymous.get("/api/v1/tasks", headers=headers).status_code == 200

    listed = lanes("token", "list", "hank")
    assert "ci" in listed.output and raw not in listed.output and "sites=NORTH" in listed.output
    token_id = listed.output.split()[0]
    assert lanes("token", "revoke", token_id).exit_code == 0
    assert anonymous.get("/api/v1/tasks", headers=headers).status_code == 401

    updated = lanes("user", "update", "hank", "--inactive")
    assert updated.exit_code == 0 and "(inactive)" in updated.output
    assert anonymous.get("/api/v1/tasks", headers=basic("hank", "hank's password")).status_code == 401
    assert "hank (inactive)" in lanes("user", "list").output


def test_first_run_creates_demo_users_once(app, lanes, capsys):
    anonymous = app.test_client()
    cli.bootstrap_demo_users("127.0.0.1")
    printed = capsys.readouterr().out
    assert "admin    password lanes-admin" in printed and "alice    password lanes-alice" in printed
    assert anonymous.get("/api/v1/process-instances", headers=basic("admin", "lanes-admin")).status_code == 200
    cli.bootstrap_demo_users("127.0.0.1")
    assert capsys.readouterr().out == ""
    with app.app_context():
        assert {u.username for u in accounts.list_users()} == {"admin", "analyst", "alice", "bob", "carol", "dave"}


def test_first_run_on_a_public_address_gets_random_passwords(app, lanes, capsys):
    cli.bootstrap_demo_users("0.0.0.0")
    printed = capsys.readouterr().out
    assert "lanes-admin" not in printed
    password = next(line.split()[-1] for line in printed.splitlines() if line.strip().startswith("admin"))
    with app.app_context():
        assert accounts.authenticate("admin", password) is not None
        assert accounts.authenticate("admin", "lanes-admin") is None
