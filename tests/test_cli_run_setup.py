"""`lanes run` deploys and creates the demo users, then forks its servers: the setup leaves no database
connection open in the process that forks (a gunicorn worker must not share its parent's SQLite file handles)."""
from __future__ import annotations

import gc
import os
import time
from pathlib import Path

import pytest

from runner import cli
from runner.models import upgrade_database

ROOT = Path(__file__).resolve().parent.parent


def open_handles(path: Path) -> list[str]:
    """This process's file descriptors on the database file and its -wal and -shm files."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(path)):
            found.append(target)
    return found


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to list open files")
def test_the_setup_steps_of_lanes_run_close_their_connections(tmp_path, monkeypatch):
    database = tmp_path / "lanes.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.setenv("LANES_INSTANCE_DIR", str(tmp_path / "instance"))
    upgrade_database(f"sqlite:///{database}")
    folders = sorted(p for p in (ROOT / "processes").iterdir() if p.is_dir())
    gc.disable()  # the setup's apps must let go of their connections themselves, not when collected
    try:
        cli.deploy_folders(folders, ROOT / "forms")
        cli.bootstrap_demo_users("127.0.0.1")
        deadline = time.monotonic() + 2  # a background checkpoint holds a connection for a few ms
        while open_handles(database) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert open_handles(database) == []
    finally:
        gc.enable()
