"""Issue 8: web sign-in on a session cookie, CSRF on every form, and what the session may not do."""
from __future__ import annotations

import re

import pytest

from runner.services import accounts, system_principal

PASSWORD = "north staff password"


@pytest.fixture
def web(app, test_users):
    """A browser-like client; alice (staff at NORTH) has a password."""
    with app.app_context():
        accounts.update_user("alice", actor=system_principal(), password=PASSWORD)
    return app.test_client()


def csrf_token(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def sign_in(web, password=PASSWORD, username="alice", next_path=None):
    token = csrf_token(web.get("/login").get_data(as_text=True))
    form = {"csrf_token": token, "username": username, "password": password}
    if next_path is not None:
        form["next"] = next_path
    return web.post("/login", data=form)


def session_cookie_header(response) -> str:
    return next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))


def test_login_page_sets_a_safe_cookie_and_signs_in(web):
    page = web.get("/login")
    assert page.status_code == 200 and 'name="csrf_token"' in page.get_data(as_text=True)
    cookie = session_cookie_header(page)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert page.headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]

    signed_in = sign_in(web)
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/"
    assert "HttpOnly" in session_cookie_header(signed_in)
    home = web.get("/")
    assert home.status_code == 200 and "Welcome, alice" in home.get_data(as_text=True)
    assert "NORTH" in home.get_data(as_text=True)


def test_a_form_without_its_csrf_token_is_refused(web):
    web.get("/login")
    refused = web.post("/login", data={"username": "alice", "password": PASSWORD})
    assert refused.status_code == 400 and "security token" in refused.get_data(as_text=True)
    forged = web.post("/login", data={"csrf_token": "forged", "username": "alice", "password": PASSWORD})
    assert forged.status_code == 400
    assert web.get("/").status_code == 302  # still signed out

    sign_in(web)
    assert web.post("/logout", data={}).status_code == 400
    assert web.get("/").status_code == 200  # still signed in: a cross-site POST cannot sign anyone out


def test_wrong_password_and_signing_out(web):
    wrong = sign_in(web, password="guess")
    assert wrong.status_code == 401 and "Wrong user name or password" in wrong.get_data(as_text=True)
    assert sign_in(web, username="nobody").status_code == 401

    sign_in(web)
    token = csrf_token(web.get("/logout").get_data(as_text=True))
    out = web.post("/logout", data={"csrf_token": token})
    assert out.status_code == 302 and out.headers["Location"] == "/login"
    assert web.get("/").status_code == 302


def test_pages_need_sign_in_and_come_back_after_it(web):
    first = web.get("/")
    assert first.status_code == 302 and first.headers["Location"].startswith("/login?next=/")
    assert sign_in(web, next_path="/").headers["Location"] == "/"


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x"])
def test_sign_in_never_redirects_off_site(web, target):
    assert sign_in(web, next_path=target).headers["Location"] == "/"


def test_a_new_password_or_deactivation_ends_web_sessions(app, web):
    sign_in(web)
    assert web.get("/").status_code == 200
    with app.app_context():
        accounts.update_user("alice", actor=system_principal(), password="a brand new password")
    assert web.get("/").status_code == 302
    sign_in(web, password="a brand new password")
    with app.app_context():
        accounts.update_user("alice", actor=system_principal(), active=False)
    assert web.get("/").status_code == 302


def test_the_session_cookie_does_not_authenticate_the_api(web):
    """The API is CSRF-exempt because it reads only the Authorization header, never the cookie."""
    sign_in(web)
    response = web.get("/api/v1/tasks")
    assert response.status_code == 401 and response.mimetype == "application/problem+json"
