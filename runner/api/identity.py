"""Who is calling. Until accounts and tokens exist, the caller names itself with X-Lanes-User."""
from __future__ import annotations

from flask import request


def current_user() -> str:
    return (request.headers.get("X-Lanes-User") or "api").strip()[:120] or "api"
