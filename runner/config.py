"""Settings from the environment, with zero-setup defaults (SQLite under ./instance)."""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path


def instance_dir() -> Path:
    folder = Path(os.environ.get("LANES_INSTANCE_DIR", Path.cwd() / "instance"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def default_database_url() -> str:
    return f"sqlite:///{instance_dir() / 'lanes.db'}"


def secret_key() -> str:
    """LANES_SECRET_KEY, or a random key kept under ./instance so every worker process shares it."""
    if os.environ.get("LANES_SECRET_KEY"):
        return os.environ["LANES_SECRET_KEY"]
    path = instance_dir() / "secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(os.urandom(32).hex())
    return path.read_text().strip()


def database_url() -> str:
    return os.environ.get("DATABASE_URL") or default_database_url()


def settings(overrides: dict | None = None) -> dict:
    config = {
        "SQLALCHEMY_DATABASE_URI": database_url(),
        "MAX_CONTENT_LENGTH": int(os.environ.get("LANES_MAX_UPLOAD_BYTES", 20 * 1024 * 1024)),
        "SECRET_KEY": secret_key(),
        "JSON_SORT_KEYS": False,
        # web sessions: a signed cookie that scripts cannot read and other sites do not send on POSTs
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": os.environ.get("LANES_SECURE_COOKIES", "").lower() in ("1", "true", "yes"),
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=12),
        "WTF_CSRF_TIME_LIMIT": 12 * 3600,
        # WAL checkpoints of an SQLite file in a background thread, not in commits (runner/models/sqlite_wal.py)
        "SQLITE_CHECKPOINTER": os.environ.get("LANES_SQLITE_CHECKPOINTER", "").lower() not in ("0", "false", "no"),
    }
    config.update(overrides or {})
    config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(config["SQLALCHEMY_DATABASE_URI"]))
    return config


def engine_options(url: str) -> dict:
    """A server database's pooled connections are checked before use, so that after a database restart
    servers and workers reconnect; an SQLite file has no server to lose, and the check would cost a
    round trip per request."""
    return {} if url.startswith("sqlite") else {"pool_pre_ping": True}
