"""The admin pages for users and API tokens (/admin/users): CSRF on their forms, admins only,
and a new token's raw value in exactly one response."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from runner.models import AuditEvent, db
from runner.services import accounts, system_principal

ADMIN_PASSWORD = "admin web password"
STAFF_PASSWORD = "north staff password"


@pytest.fixture
def web(app, test_users):
    """A browser-like client; `admin` and `alice` (staff at NORTH) get passwords."""
    with app.app_context():
        accounts.update_user("admin", actor=system_principal(), password=ADMIN_PASSWORD)
        accounts.update_user("alice", actor=system_principal(), password=STAFF_PASSWORD)
    return app.test_client()


def csrf_token(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def sign_in(web, username, password):
    token = csrf_token(web.get("/login").get_data(as_text=True))
    assert web.post("/login", data={"csrf_token": token, "username": username, "password": password}).status_code == 302


def user_names(app):
    with app.app_context():
        return [u.username for u in accounts.list_users()]


NEW_USER = {"username": "dana", "display_name": "Dana", "password": "dana's password", "roles": "staff",
            "sites": "NORTH", "groups": "north_finance"}


def test_adding_a_user_without_the_csrf_token_is_refused(app, web):
    sign_in(web, "admin", ADMIN_PASSWORD)
    page = web.get("/admin/users")
    assert page.status_code == 200 and 'name="csrf_token"' in page.get_data(as_text=True)

    refused = web.post("/admin/users", data=NEW_USER)
    assert refused.status_code == 400 and "security token" in refused.get_data(as_text=True)
    forged = web.post("/admin/users", data={**NEW_USER, "csrf_token": "forged"})
    assert forged.status_code == 400
    assert "dana" not in user_names(app)

    token = csrf_token(page.get_data(as_text=True))
    added = web.post("/admin/users", data={**NEW_USER, "csrf_token": token})
    assert added.status_code == 302 and added.headers["Location"] == "/admin/users/dana"
    assert "dana" in user_names(app)


def test_staff_cannot_reach_the_users_pages(app, web):
    assert web.get("/admin/users").status_code == 302  # signed out: to the login page
    sign_in(web, "alice", STAFF_PASSWORD)
    assert web.get("/admin/users").status_code == 403
    assert web.get("/admin/users/admin").status_code == 403
    token = csrf_token(web.get("/").get_data(as_text=True))
    assert web.post("/admin/users", data={**NEW_USER, "csrf_token": token}).status_code == 403
    assert web.post("/admin/users/alice/tokens", data={"name": "mine", "csrf_token": token}).status_code == 403
    assert "dana" not in user_names(app)


def test_a_new_token_is_shown_once_and_never_stored_or_shown_again(app, web):
    sign_in(web, "admin", ADMIN_PASSWORD)
    token = csrf_token(web.get("/admin/users/alice").get_data(as_text=True))
    made = web.post("/admin/users/alice/tokens", data={"csrf_token": token, "name": "desk", "sites": "NORTH",
                                                         "expires_days": "30"})
    assert made.status_code == 201 and made.headers["Cache-Control"] == "no-store"
    raw = re.search(r'id="new-token">(lanes_[^<]+)<', made.get_data(as_text=True)).group(1)
    assert "will not be shown again" in made.get_data(as_text=True)

    for path in ("/admin/users/alice", "/admin/users"):
        assert raw not in web.get(path).get_data(as_text=True)
    with app.app_context():
        assert accounts.principal_for_token(raw).sites == {"NORTH"}
        details = repr([e.details for e in db.session.scalars(select(AuditEvent))])
    assert raw not in details

    # a revoke from another user's page is not found; from the owner's page it works
    [row] = [t for t in _tokens(app, "alice") if t[1] == "desk"]
    assert web.post(f"/admin/users/bob/tokens/{row[0]}/revoke", data={"csrf_token": token}).status_code == 404
    assert web.post(f"/admin/users/alice/tokens/{row[0]}/revoke", data={"csrf_token": token}).status_code == 302
    with app.app_context():
        assert accounts.principal_for_token(raw) is None


def _tokens(app, username):
    with app.app_context():
        return [(t.id, t.name) for t in accounts.list_tokens(username)]


def test_an_admin_cannot_lock_themselves_out(app, web):
    sign_in(web, "admin", ADMIN_PASSWORD)
    token = csrf_token(web.get("/admin/users/admin").get_data(as_text=True))
    refused = web.post("/admin/users/admin", data={"csrf_token": token, "roles": "staff", "sites": "", "groups": ""})
    assert refused.status_code == 422 and "remove your own admin role" in refused.get_data(as_text=True)
    assert web.post("/admin/users/admin/active", data={"csrf_token": token, "active": "0"}).status_code == 302
    with app.app_context():
        admin = accounts.get_user("admin")
        assert admin.roles == ["admin"] and admin.active
