"""What every benchmark shares: a fresh migrated SQLite database, the bench diagrams deployed,
an API token, a gunicorn subprocess, a small keep-alive HTTP client, and the one-line report."""
from __future__ import annotations

import http.client
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

DIAGRAMS = Path(__file__).resolve().parent / "diagrams"
ROOT = DIAGRAMS.parent.parent
QUICK = os.environ.get("BENCH_QUICK", "").strip() not in ("", "0")
SEED = 20240909
SITES = ("NORTH", "SOUTH", "EAST", "WEST", "CLINIC-12")
BENCH_USER = "bench"
BENCH_GROUP = "bench_reviewers"
BENCH_PASSWORD = "bench-password"


def scaled(full: int, quick: int) -> int:
    """`full` normally, `quick` under BENCH_QUICK=1."""
    return quick if QUICK else full


def report(figure: str, **values) -> None:
    """One line per figure: `name key=value ...` (floats to one decimal, or three below 10)."""
    parts = [figure]
    for key, value in values.items():
        if isinstance(value, float):
            value = f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
        parts.append(f"{key}={value}")
    print(" ".join(parts), flush=True)


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile of `values` (0 < pct <= 100)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil
    return ordered[int(rank) - 1]


@contextmanager
def postgres_cluster(what: str):
    """A throwaway PostgreSQL cluster (tests/postgres.py: initdb + pg_ctl on loopback), stopped at the end;
    None, with a note that `what` is skipped, where PostgreSQL is not installed."""
    try:
        from tests.postgres import Cluster, PostgresUnavailable
        cluster = Cluster().start()
    except (ImportError, PostgresUnavailable) as exc:
        print(f"{what} skipped: no PostgreSQL here ({exc})", file=sys.stderr)
        yield None
        return
    try:
        yield cluster
    finally:
        cluster.stop()


def diagram_files(*names: str) -> dict[str, bytes]:
    return {name: (DIAGRAMS / name).read_bytes() for name in names}


class BenchEnv:
    """A fresh temp folder with a migrated database (SQLite there, or the empty database `url`), an app on it, the named diagrams deployed,
    and a staff user `bench` (sites NORTH and SOUTH, group bench_reviewers) with an API token."""

    def __init__(self, name: str, diagrams: tuple[str, ...] = (), user_groups: tuple[str, ...] = (BENCH_GROUP,),
                 url: str | None = None):
        from runner.app import create_app
        from runner.models import upgrade_database

        self.folder = Path(tempfile.mkdtemp(prefix=f"lanes-bench-{name}-"))
        self.url = url or f"sqlite:///{self.folder / 'lanes.db'}"
        os.environ["LANES_INSTANCE_DIR"] = str(self.folder / "instance")
        upgrade_database(self.url)
        self.app = create_app({"SQLALCHEMY_DATABASE_URI": self.url})
        self.random = random.Random(SEED)
        with self.app.app_context():
            self.token = self._user_and_token(user_groups)
            if diagrams:
                self.deploy(*diagrams)
        self.headers = {"Authorization": f"Bearer {self.token}"}

    # --- setup -----------------------------------------------------------------
    @staticmethod
    def system():
        from runner.services.accounts import system_principal
        return system_principal("bench")

    def _user_and_token(self, groups) -> str:
        from runner.services import accounts
        accounts.create_user(BENCH_USER, actor=self.system(), roles=("staff",), sites=("NORTH", "SOUTH"),
                             groups=groups, password=BENCH_PASSWORD)
        _, raw = accounts.create_token(BENCH_USER, "bench", actor=self.system())
        return raw

    def deploy(self, *names: str) -> None:
        from runner.services import deployments
        deployments.deploy(diagram_files(*names), name="bench", actor=self.system())

    def signed_in_client(self, username: str = BENCH_USER, password: str = BENCH_PASSWORD):
        """A test client signed in to the web pages as `username` (`bench` by default), through the login
        form as a browser is."""
        client = self.app.test_client()
        form = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        response = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
        if response.status_code != 302:
            raise RuntimeError(f"sign-in failed: {response.status_code}")
        return client

    def other_user(self, username: str, roles: tuple[str, ...], **memberships):
        """A second user (`roles`, sites and groups as create_user takes them): the headers with their API
        token, and a test client signed in to the web pages as them."""
        from runner.services import accounts
        password = f"{username}-password"
        with self.app.app_context():
            accounts.create_user(username, actor=self.system(), roles=roles, password=password, **memberships)
            _, token = accounts.create_token(username, "bench", actor=self.system())
        return {"Authorization": f"Bearer {token}"}, self.signed_in_client(username, password)

    def principal(self):
        from runner.services import accounts
        return accounts.principal_for_token(self.token)

    def env(self) -> dict:
        """Environment for a `lanes` subprocess on this database."""
        env = dict(os.environ)
        env.update(DATABASE_URL=self.url, LANES_INSTANCE_DIR=str(self.folder / "instance"),
                   PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""))
        return env

    def close(self, keep: bool = False) -> None:
        from runner.models import db
        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()
        if keep:
            print(f"(kept {self.folder} for a look: database and subprocess logs)", file=sys.stderr)
        else:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        self.close(keep=exc_type is not None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LanesProcess:
    """A `lanes <command>` subprocess on the bench database, stopped with SIGTERM on exit."""

    def __init__(self, env: BenchEnv, *args: str, log_name: str | None = None):
        self.log = open(env.folder / f"{log_name or args[0]}.log", "wb")
        self.process = subprocess.Popen([sys.executable, "-m", "runner.cli", *args], env=env.env(),
                                        cwd=env.folder, stdout=subprocess.DEVNULL, stderr=self.log)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Gunicorn(LanesProcess):
    """`lanes serve --workers 2` on a free loopback port."""

    def __init__(self, env: BenchEnv, workers: int = 2):
        self.port = free_port()
        super().__init__(env, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers))
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"lanes serve exited with {self.process.returncode}; see {self.log.name}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("lanes serve did not start listening in 30 s") from None
                time.sleep(0.1)


class Client:
    """A keep-alive HTTP/1.1 client (http.client reconnects by itself when the server closes)."""

    def __init__(self, port: int, headers: dict):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {**headers, "Content-Type": "application/json", "Connection": "keep-alive"}

    def request(self, method: str, path: str, body=None) -> tuple[int, dict]:
        payload = None if body is None else json.dumps(body)
        try:
            self.connection.request(method, path, body=payload, headers=self.headers)
            response = self.connection.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.connection.close()  # the server closed an idle keep-alive connection: once more
            self.connection.request(method, path, body=payload, headers=self.headers)
            response = self.connection.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data else {})

    def close(self) -> None:
        self.connection.close()


def run_threads(count: int, target, *args) -> list:
    """Run `target(index, *args)` in `count` threads; returns their results, re-raising the first error."""
    results, errors = [None] * count, []

    def runner(index):
        try:
            results[index] = target(index, *args)
        except BaseException as exc:  # noqa: BLE001  (re-raised below)
            errors.append(exc)

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results
