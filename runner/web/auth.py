"""Web sign-in on a session cookie: `current_principal()`, `login_required`, `log_in`, `log_out`.

The session (Flask's signed cookie: HttpOnly, SameSite=Lax) holds only the user name and a stamp
of the password hash, so a deactivated user or a changed password ends every session at once.
Every POST form needs `{{ csrf_token() }}` (Flask-WTF CSRFProtect, set up in runner.app).
"""
from __future__ import annotations

import functools
from urllib.parse import urlsplit

from flask import g, redirect, request, session, url_for

from ..services import Principal, accounts


def current_principal() -> Principal | None:
    """The signed-in user of this web request, or None."""
    if "web_principal" not in g:
        username, stamp = session.get("user"), session.get("stamp")
        found = accounts.principal(username) if isinstance(username, str) else None
        g.web_principal = found if found is not None and found.stamp == stamp else None
    return g.web_principal


def log_in(principal: Principal) -> None:
    session.clear()  # a fresh session: nothing from before sign-in carries over
    session["user"], session["stamp"] = principal.username, principal.stamp
    session.permanent = True
    g.web_principal = principal


def log_out() -> None:
    session.clear()
    g.web_principal = None


def safe_next(target: str | None, default: str) -> str:
    """A same-site path to go to after sign-in; anything else (other hosts, //evil) gives `default`."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else default


def login_required(view):
    """Send anyone not signed in to the login page, coming back here afterwards."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if current_principal() is None:
            return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)
    return wrapper
