"""Accounts, access rules and hostile input: every test here runs with the test users of
tests/accounts_fixtures.py; `client` is the admin unless a request passes its own credentials."""
from tests.accounts_fixtures import anonymous, client, test_users  # noqa: F401
