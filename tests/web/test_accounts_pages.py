"""Issue "users, groups, roles and sites": an admin manages users and their API tokens at /admin/users, in chromium."""
from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from runner.services import accounts

from .conftest import add_user, deploy_refund, log_in, run_jobs, start_refund

pytestmark = pytest.mark.sqlite_only

ADMIN, ADMIN_PASSWORD = "root", "root-admin-password"
NEW_USER, NEW_PASSWORD = "nora", "nora's password 1"


def api_tasks(live, raw_token) -> tuple[int, list | dict]:
    """GET /api/v1/tasks with the token only (no browser cookies): (status, body)."""
    request = urllib.request.Request(f"{live.url}/api/v1/tasks", headers={"Authorization": f"Bearer {raw_token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def sign_out(page):
    page.click("header button[type=submit]")
    expect(page).to_have_url(re.compile(r"/login$"))


def user_row(page, username):
    return page.locator(f"#user-list tr[data-username='{username}']")


@pytest.fixture(scope="module")
def setup(live):
    add_user(live, ADMIN, ADMIN_PASSWORD, roles=["admin"])
    deploy_refund(live)
    north = start_refund(live, "NORTH", "PA-N7", 300)     # north_billing
    south = start_refund(live, "SOUTH", "PA-S7", 100)     # south_billing
    run_jobs(live)
    return {"north": north, "south": south}


def test_admin_adds_a_staff_user_who_sees_only_their_sites_tasks_then_a_token_shown_once(live, page, setup,
                                                                                       screenshots):
    log_in(page, ADMIN, ADMIN_PASSWORD)
    page.get_by_role("navigation", name="Lanes").get_by_role("link", name="Users").click()
    expect(page).to_have_url(re.compile(r"/admin/users$"))
    expect(user_row(page, ADMIN)).to_contain_text("admin")

    # add a staff user at NORTH in north_billing
    page.fill("#new-username", NEW_USER)
    page.fill("#new-display-name", "Nora North")
    page.fill("#new-password", NEW_PASSWORD)
    expect(page.locator("#new-role-staff")).to_be_checked()
    page.fill("#new-sites", "NORTH")
    page.fill("#new-groups", "north_billing")
    page.click("#add-user-submit")
    expect(page).to_have_url(re.compile(rf"/admin/users/{NEW_USER}$"))
    expect(page.locator(".flash.info")).to_contain_text(f"Added {NEW_USER}")
    expect(page.locator("#edit-sites")).to_have_value("NORTH")
    expect(page.locator("#edit-groups")).to_have_value("north_billing")
    expect(page.locator("#no-tokens")).to_be_visible()
    page.goto("/admin/users")
    row = user_row(page, NEW_USER)
    for text in ("Nora North", "staff", "NORTH", "north_billing", "active", "password"):
        expect(row).to_contain_text(text)
    expect(row.locator("[data-tokens]")).to_have_attribute("data-tokens", "0")
    page.screenshot(path=str(screenshots / "admin-users.png"), full_page=True)
    sign_out(page)

    # the new user signs in and sees the NORTH task only
    log_in(page, NEW_USER, NEW_PASSWORD)
    expect(page.get_by_role("navigation", name="Lanes").get_by_role("link", name="Users")).to_have_count(0)
    page.goto("/tasks/group")
    keys = page.locator("#task-list tbody tr").evaluate_all("rows => rows.map(r => r.dataset.businessKey)")
    assert keys == ["PA-N7"]
    assert "PA-S7" not in page.content()
    sign_out(page)

    # the admin creates a token for nora: shown once
    log_in(page, ADMIN, ADMIN_PASSWORD)
    page.goto(f"/admin/users/{NEW_USER}")
    page.fill("#token-name", "desk scanner")
    page.fill("#token-expires", "30")
    page.check("#token-role-staff")
    page.fill("#token-sites", "NORTH")
    page.click("#create-token-submit")
    once = page.locator("#token-once")
    expect(once).to_contain_text("Copy it now: it will not be shown again.")
    raw = page.locator("#new-token").inner_text().strip()
    assert raw.startswith(accounts.TOKEN_PREFIX) and len(raw) > 30
    expect(once).to_contain_text("desk scanner")
    page.screenshot(path=str(screenshots / "admin-token-created.png"), full_page=True)

    status, body = api_tasks(live, raw)
    assert status == 200, body
    assert [t["businessKey"] for t in body] == ["PA-N7"]

    # never shown again: not on the user's page (which lists it by prefix), not on the users list
    page.click("#back-to-user")
    expect(page).to_have_url(re.compile(rf"/admin/users/{NEW_USER}$"))
    token_row = page.locator("#token-list tbody tr").first
    expect(token_row).to_have_attribute("data-state", "active")
    expect(token_row).to_contain_text(raw[:12])
    expect(token_row).to_contain_text("desk scanner")
    expect(token_row).to_contain_text("NORTH")
    assert raw not in page.content()
    page.goto("/admin/users")
    assert raw not in page.content()
    expect(user_row(page, NEW_USER).locator("[data-tokens]")).to_have_attribute("data-tokens", "1")

    # revoke: the next request answers 401
    page.goto(f"/admin/users/{NEW_USER}")
    page.locator("#token-list tbody tr").first.get_by_role("button", name="Revoke").click()
    expect(page.locator(".flash.info")).to_contain_text("revoked")
    expect(page.locator("#token-list tbody tr").first).to_have_attribute("data-state", "revoked")
    page.screenshot(path=str(screenshots / "admin-user-tokens.png"), full_page=True)
    status, body = api_tasks(live, raw)
    assert status == 401, body


def test_staff_cannot_open_the_users_pages(live, page, setup):
    add_user(live, "sid", "sid's password", sites=["NORTH"], groups=["north_billing"])
    log_in(page, "sid", "sid's password")
    assert page.goto("/admin/users").status == 403
    assert page.goto(f"/admin/users/{ADMIN}").status == 403
    assert "root-admin" not in page.content()


def test_bad_input_is_shown_next_to_the_form_with_the_input_kept(live, page, setup, screenshots):
    log_in(page, ADMIN, ADMIN_PASSWORD)
    page.goto("/admin/users")

    # a username with a space
    page.fill("#new-username", "bad name")
    page.fill("#new-display-name", "Bad Name")
    page.fill("#new-password", "long enough password")
    page.check("#new-role-analyst")
    page.fill("#new-sites", "NORTH, SOUTH")
    page.fill("#new-groups", "north_billing south_billing")
    page.click("#add-user-submit")
    expect(page.locator("#error-username")).to_contain_text("Letters, digits")
    expect(page.locator("#add-user-errors")).to_contain_text("User name")
    expect(page.locator("#new-username")).to_have_value("bad name")
    expect(page.locator("#new-display-name")).to_have_value("Bad Name")
    expect(page.locator("#new-sites")).to_have_value("NORTH, SOUTH")
    expect(page.locator("#new-groups")).to_have_value("north_billing south_billing")
    expect(page.locator("#new-role-analyst")).to_be_checked()
    expect(page.locator("#new-role-staff")).to_be_checked()
    expect(page.locator("#new-password")).to_have_value("")   # a password is never sent back
    page.screenshot(path=str(screenshots / "admin-users-error.png"), full_page=True)

    # an unknown role (as a tampered or stale page would send it)
    page.fill("#new-username", "good.name")
    page.fill("#new-password", "long enough password")
    page.eval_on_selector("#new-role-analyst", "box => { box.value = 'root'; }")
    page.click("#add-user-submit")
    expect(page.locator("#error-roles")).to_contain_text("Must be among staff, analyst, admin")
    expect(page.locator("#new-username")).to_have_value("good.name")
    expect(page.locator("#new-sites")).to_have_value("NORTH, SOUTH")

    # an existing username
    page.fill("#new-username", ADMIN)
    page.fill("#new-password", "long enough password")
    page.click("#add-user-submit")
    expect(page.locator("#error-username")).to_contain_text("already exists")
    assert not _exists(live, "bad name") and not _exists(live, "good.name")

    # the user page: a bad site and a bad token expiry, each shown on its own form
    page.goto(f"/admin/users/{ADMIN}")
    page.fill("#edit-sites", "NORTH, NO/RTH")
    page.click("#save-user")
    expect(page.locator("#error-sites")).to_contain_text("NO/RTH")
    expect(page.locator("#edit-sites")).to_have_value("NORTH, NO/RTH")
    page.fill("#token-name", "nightly export")
    page.fill("#token-expires", "0")
    page.click("#create-token-submit")
    expect(page.locator("#create-token-errors")).to_contain_text("Expires after")
    expect(page.locator("#error-expires_days")).to_be_visible()
    expect(page.locator("#token-name")).to_have_value("nightly export")
    expect(page.locator("#token-expires")).to_have_value("0")
    assert live.call(lambda: accounts.list_tokens(ADMIN)) == []


def _exists(live, username) -> bool:
    return live.call(lambda: username in [u.username for u in accounts.list_users()])


def test_admin_changes_a_password_deactivates_and_reactivates(live, page, setup):
    add_user(live, "tess", "tess's first password", sites=["SOUTH"], groups=["south_billing"])
    log_in(page, ADMIN, ADMIN_PASSWORD)
    page.goto("/admin/users/tess")
    page.fill("#edit-password", "tess's second password")
    page.fill("#edit-groups", "south_billing, south_finance")
    page.click("#save-user")
    expect(page.locator(".flash.info")).to_contain_text("Saved tess")
    expect(page.locator("#edit-groups")).to_have_value("south_billing south_finance")
    expect(page.locator("#edit-password")).to_have_value("")
    assert live.call(accounts.authenticate, "tess", "tess's first password") is None
    assert live.call(accounts.authenticate, "tess", "tess's second password") is not None

    page.click("#deactivate")
    expect(page.locator("#user-state")).to_have_text("inactive")
    assert live.call(accounts.authenticate, "tess", "tess's second password") is None
    page.click("#reactivate")
    expect(page.locator("#user-state")).to_have_text("active")
    assert live.call(accounts.authenticate, "tess", "tess's second password").groups == {"south_billing",
                                                                                          "south_finance"}
    # an admin's own page has no deactivate button
    page.goto(f"/admin/users/{ADMIN}")
    expect(page.locator("#deactivate")).to_have_count(0)
