"""Test users and their API tokens, and a test client that is an admin unless told otherwise.

Import the fixtures into a test module (`from tests.accounts_fixtures import client, test_users  # noqa`)
or a folder's conftest.py. Every user has the token `lanes_test-<name>`, so module-level header
constants work: `ALICE = bearer("alice")`. Users have no password (cheap to create) except where
a test sets one.
"""
from __future__ import annotations

import base64

import pytest

from runner.models import ApiToken, User, db
from runner.services import accounts, system_principal

# name: (roles, sites, groups)
TEST_USERS = {
    "admin": (["admin"], [], []),
    "analyst": (["analyst"], [], []),
    "alice": (["staff"], ["NORTH", "WEST"], ["north_finance", "north_billing", "billing_office"]),
    "bob": (["staff"], ["NORTH"], ["north_finance", "refund_controllers"]),
    "sam": (["staff"], ["SOUTH"], ["south_finance", "south_billing", "refund_controllers"]),
}


def raw_token(name: str) -> str:
    return f"{accounts.TOKEN_PREFIX}test-{name}"


def bearer(name: str) -> dict:
    """Headers that authenticate as test user `name`."""
    return {"Authorization": f"Bearer {raw_token(name)}"}


def basic(username: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def add_test_users(app, users: dict = TEST_USERS) -> None:
    """Create `users` through the accounts service, each with its known test token."""
    system = system_principal("test-setup")
    with app.app_context():
        for name, (roles, sites, groups) in users.items():
            accounts.create_user(name, actor=system, roles=roles, sites=sites, groups=groups)
            user = db.session.query(User).filter_by(username=name).one()
            db.session.add(ApiToken(user=user, name="test", prefix=raw_token(name)[:12],
                                    token_hash=accounts.hash_token(raw_token(name)), created_by="test-setup"))
        db.session.commit()


@pytest.fixture
def test_users(app):
    add_test_users(app)
    return TEST_USERS


@pytest.fixture
def client(app, test_users):
    """A test client that sends the admin's token unless a request passes its own Authorization."""
    test_client = app.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = bearer("admin")["Authorization"]
    return test_client


@pytest.fixture
def anonymous(app, test_users):
    """A test client without credentials (test users exist)."""
    return app.test_client()
