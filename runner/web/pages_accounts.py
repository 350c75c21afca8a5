"""Admin pages for accounts: users (roles, sites, groups, password, active state) and their API tokens.

Every page here needs the admin role, and every change goes through services.accounts (the same
service functions the `lanes user ...` and `lanes token ...` commands call; each audits itself).
A refused change comes back as the same page with the submitted input and each field's error
(status 422, or 409 for a username that exists) — except passwords, which are never written into a page.
A new token's raw value is shown once, in the response to the POST that made it, and never again:
only its SHA-256 is stored.
"""
from __future__ import annotations

import re
from datetime import timedelta

from flask import abort, flash, redirect, render_template, request, url_for

from ..models import utcnow
from ..services import Conflict, Invalid, accounts
from . import web
from .auth import current_principal, log_in
from .pages_common import admin_required

MAX_EXPIRY_DAYS = 3650
# the services' error keys -> this page's field names
FIELD_OF = {"site": "sites", "group": "groups"}


def _words(text: str | None) -> list[str]:
    """Sites or groups typed as text: separated by commas and/or spaces."""
    return [word for word in re.split(r"[\s,]+", (text or "").strip()) if word]


def _errors_of(exc: Invalid | Conflict, default_field: str = "") -> dict[str, str]:
    errors = exc.extra.get("errors") if isinstance(exc, Invalid) else None
    if not errors:
        return {default_field: exc.detail}
    return {FIELD_OF.get(key, key): message for key, message in errors.items()}


def _user_rows():
    counts = accounts.token_counts()
    return [(user, counts.get(user.username, {"all": 0, "active": 0})) for user in accounts.list_users()]


def _users_page(form: dict | None = None, errors: dict | None = None, status: int = 200):
    form = form or {"roles": ["staff"]}
    return render_template("admin/users.html", rows=_user_rows(), form=form, errors=errors or {},
                           roles=accounts.ROLES, min_password=accounts.MIN_PASSWORD), status


@web.get("/admin/users")
@admin_required
def admin_users():
    return _users_page()


@web.post("/admin/users")
@admin_required
def admin_users_add():
    form = {"username": request.form.get("username", "").strip(),
            "display_name": request.form.get("display_name", "").strip()[:200],
            "roles": request.form.getlist("roles"),
            "sites": request.form.get("sites", ""), "groups": request.form.get("groups", ""),
            "token_only": bool(request.form.get("token_only"))}
    password = None if form["token_only"] else request.form.get("password", "")
    try:
        user = accounts.create_user(form["username"], actor=current_principal(), password=password,
                                    roles=form["roles"], sites=_words(form["sites"]), groups=_words(form["groups"]),
                                    display_name=form["display_name"])
    except Invalid as exc:
        return _users_page(form, _errors_of(exc), 422)
    except Conflict as exc:
        return _users_page(form, _errors_of(exc, "username"), 409)
    flash(f"Added {user.username}.", "info")
    return redirect(url_for("web.admin_user", username=user.username))


def _user_form(user) -> dict:
    return {"display_name": user.display_name, "roles": user.roles, "sites": " ".join(user.sites),
            "groups": " ".join(user.groups)}


def _user_page(username: str, form: dict | None = None, errors: dict | None = None,
               token_form: dict | None = None, token_errors: dict | None = None, status: int = 200):
    user = accounts.get_user(username)
    tokens = accounts.list_tokens(username)
    now = utcnow()
    return render_template("admin/user.html", user=user, form=form or _user_form(user), errors=errors or {},
                           tokens=[(t, accounts.token_state(t, now)) for t in reversed(tokens)],
                           token_form=token_form or {}, token_errors=token_errors or {},
                           roles=accounts.ROLES, min_password=accounts.MIN_PASSWORD,
                           max_expiry_days=MAX_EXPIRY_DAYS,
                           myself=user.username == current_principal().username), status


@web.get("/admin/users/<username>")
@admin_required
def admin_user(username: str):
    return _user_page(username)


@web.post("/admin/users/<username>")
@admin_required
def admin_user_update(username: str):
    actor = current_principal()
    form = {"display_name": request.form.get("display_name", "").strip()[:200],
            "roles": request.form.getlist("roles"),
            "sites": request.form.get("sites", ""), "groups": request.form.get("groups", "")}
    changes = {"display_name": form["display_name"] or username, "roles": form["roles"],
               "sites": _words(form["sites"]), "groups": _words(form["groups"])}
    new_password = request.form.get("password", "")
    if new_password:
        changes["password"] = new_password
    try:
        accounts.update_user(username, actor=actor, **changes)
    except Invalid as exc:
        return _user_page(username, form=form, errors=_errors_of(exc), status=422)
    if new_password and username == actor.username:
        log_in(accounts.principal(username))  # a new password ends sessions: keep this one, with the new stamp
    flash(f"Saved {username}{' (new password: their other sessions are signed out)' if new_password else ''}.", "info")
    return redirect(url_for("web.admin_user", username=username))


@web.post("/admin/users/<username>/active")
@admin_required
def admin_user_active(username: str):
    active = request.form.get("active") == "1"
    try:
        accounts.update_user(username, actor=current_principal(), active=active)
    except Invalid as exc:
        flash(exc.detail, "error")
        return redirect(url_for("web.admin_user", username=username))
    flash(f"{username} is {'active again' if active else 'deactivated: no sign-in, no tokens, sessions ended'}.",
          "info")
    return redirect(url_for("web.admin_user", username=username))


def _expiry(text: str):
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_EXPIRY_DAYS:
        raise Invalid("expiry days", errors={"expires_days": f"A whole number of days from 1 to {MAX_EXPIRY_DAYS}, "
                                                             "or empty for no expiry"})
    return utcnow() + timedelta(days=int(text))


@web.post("/admin/users/<username>/tokens")
@admin_required
def admin_user_token_create(username: str):
    token_form = {"name": request.form.get("name", "").strip()[:200], "roles": request.form.getlist("roles"),
                  "sites": request.form.get("sites", ""), "expires_days": request.form.get("expires_days", "")}
    try:
        expires_at = _expiry(token_form["expires_days"])
        token, raw = accounts.create_token(username, token_form["name"], actor=current_principal(),
                                           roles=token_form["roles"] or None,
                                           sites=_words(token_form["sites"]) or None, expires_at=expires_at)
    except Invalid as exc:
        return _user_page(username, token_form=token_form, token_errors=_errors_of(exc), status=422)
    # the only response that ever carries the raw token (no redirect: it must not sit in a cookie or a URL)
    return render_template("admin/token_created.html", user=token.user, token=token, raw=raw), 201


@web.post("/admin/users/<username>/tokens/<int:token_id>/revoke")
@admin_required
def admin_user_token_revoke(username: str, token_id: int):
    if token_id not in {t.id for t in accounts.list_tokens(username)}:
        abort(404)  # only this user's tokens from this user's page
    token = accounts.revoke_token(token_id, actor=current_principal())
    flash(f"Token {token.prefix}\u2026 ({token.name}) is revoked: it is refused from the next request on.", "info")
    return redirect(url_for("web.admin_user", username=token.user.username))
