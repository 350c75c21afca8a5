"""A throwaway PostgreSQL cluster for the tests: initdb + pg_ctl on a loopback port, about 2 s.

Debian's server package puts its programs under /usr/lib/postgresql/<major>/bin (not on PATH);
`make test` installs the package when it is missing. initdb and pg_ctl refuse to run as root, so as
root they run as the `postgres` system user, in a temporary folder that user owns. The cluster is
for tests only: fsync off, trust authentication, listening on 127.0.0.1 and a socket in its folder,
and a server time zone that is not UTC.

    python -m tests.postgres     # start one, print its URL, stop it on Enter (a manual check)
"""
from __future__ import annotations

import atexit
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

INSTALL_ROOT = Path("/usr/lib/postgresql")
SYSTEM_USER = "postgres"
SUPERUSER = "postgres"
SERVER_TIMEZONE = "Asia/Kathmandu"  # UTC+05:45 all year


class PostgresUnavailable(RuntimeError):
    """No server programs (install Debian's `postgresql`) or the cluster did not start."""


def find_bin_dir(root: Path = INSTALL_ROOT) -> Path:
    """The newest <major>/bin under /usr/lib/postgresql that has initdb, or PG_BINDIR if set."""
    if os.environ.get("PG_BINDIR"):
        return Path(os.environ["PG_BINDIR"])
    found = sorted((p for p in root.glob("*/bin") if (p / "initdb").is_file() and p.parent.name.isdigit()),
                   key=lambda p: int(p.parent.name))
    if not found:
        raise PostgresUnavailable(
            f"no PostgreSQL server under {root}: `make test` installs it "
            "(apt-get install postgresql), or set PG_BINDIR")
    return found[-1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    """One initdb'd data directory and its postmaster; `start()` then `stop()` (idempotent)."""

    def __init__(self, bin_dir: Path | None = None):
        self.bin_dir = bin_dir or find_bin_dir()
        self.folder: Path | None = None
        self.port: int | None = None
        self.running = False

    # -- running commands as the right user ------------------------------------------------
    def _as_owner(self) -> list[str]:
        return ["runuser", "-u", SYSTEM_USER, "--"] if os.geteuid() == 0 else []

    def _run(self, program: str, *args: str) -> subprocess.CompletedProcess:
        command = [*self._as_owner(), str(self.bin_dir / program), *args]
        result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                cwd=self.folder, timeout=120)
        if result.returncode != 0:
            log = self._log_tail()
            raise PostgresUnavailable(f"{program} failed ({result.returncode}): "
                                      f"{result.stderr.strip() or result.stdout.strip()}{log}")
        return result

    def _log_tail(self) -> str:
        log = self.folder / "server.log" if self.folder else None
        if log and log.exists():
            return "\n--- server.log ---\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        return ""

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        assert self.folder
        return self.folder / "data"

    def start(self) -> "Cluster":
        if self.running:
            return self
        self.folder = Path(tempfile.mkdtemp(prefix="lanes-pg-"))
        atexit.register(self.stop)
        try:
            if os.geteuid() == 0:
                try:
                    owner = pwd.getpwnam(SYSTEM_USER)
                except KeyError as exc:
                    raise PostgresUnavailable(f"no `{SYSTEM_USER}` system user (install postgresql)") from exc
                os.chown(self.folder, owner.pw_uid, owner.pw_gid)
            self._run("initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "--auth=trust",
                      "--encoding=UTF8", "--no-locale", "--no-sync", "--no-instructions")
            self._start_postmaster()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_postmaster(self) -> None:
        last_error: Exception | None = None
        for _attempt in range(3):  # a free port can be taken between probing and binding
            self.port = free_port()
            options = " ".join([
                "-c listen_addresses=127.0.0.1", f"-p {self.port}",
                f"-c unix_socket_directories='{self.folder}'",
                "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off",
                "-c max_connections=200", "-c shared_buffers=64MB",
                # not UTC, on purpose: Lanes stores naive UTC from Python, so SQL that reads the
                # server's clock (now(), CURRENT_TIMESTAMP) into those columns shows up as wrong here
                f"-c timezone={SERVER_TIMEZONE}",
            ])
            try:
                self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data_dir),
                          "-l", str(self.folder / "server.log"), "-o", options)
            except PostgresUnavailable as exc:
                last_error = exc
                continue
            self.running = True
            return
        raise last_error or PostgresUnavailable("pg_ctl start failed")

    def stop(self) -> None:
        """Stop the postmaster (fast: connections are cut) and remove the folder."""
        if self.folder is None:
            return
        if self.running or (self.data_dir / "postmaster.pid").exists():
            try:
                self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "immediate", "-w", "-t", "30")
            except (PostgresUnavailable, subprocess.TimeoutExpired, OSError):
                pass
            self.running = False
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    # -- databases -------------------------------------------------------------------------
    def url(self, database: str = "postgres", driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname=database,
                               autocommit=True)

    def version(self) -> str:
        with self.connect() as conn:
            return conn.execute("SHOW server_version").fetchone()[0]

    def create_database(self, name: str, template: str | None = None) -> str:
        _check_name(name)
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with self.connect() as conn:
            conn.execute(statement)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop even with sessions still open (a test that leaked a connection must not block)."""
        _check_name(name)
        with self.connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def mark_template(self, name: str) -> None:
        """Close any session left on `name` and forbid new ones, so CREATE ... TEMPLATE never waits."""
        _check_name(name)
        with self.connect() as conn:
            conn.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false")
                         .format(sql.Identifier(name)))
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))


def _check_name(name: str) -> None:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise ValueError(f"not a plain database name: {name!r}")


if __name__ == "__main__":
    began = time.perf_counter()
    cluster = Cluster().start()
    print(f"PostgreSQL {cluster.version()} up in {time.perf_counter() - began:.2f} s: {cluster.url()}")
    try:
        input("Enter stops it... ")
    except EOFError:
        pass
    finally:
        cluster.stop()
