"""Who is calling the API: `Authorization: Bearer <API token>` or HTTP Basic (user name and password).

Every /api/v1 route except the OpenAPI document needs one of them; anything else answers
401 problem+json. The API never reads the web session cookie, so it needs no CSRF token.
Tokens are never accepted in the URL (query strings end up in access logs).
"""
from __future__ import annotations

from flask import g, request

from ..services import Principal, Unauthenticated, accounts

PUBLIC_ENDPOINTS = {"api.openapi_document"}


def _principal_from_header(header: str) -> Principal | None:
    scheme, _, credentials = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return accounts.principal_for_token(credentials.strip())
    if scheme == "basic":
        auth = request.authorization
        if auth is None or auth.type != "basic" or not auth.username:
            return None
        return accounts.authenticate(auth.username, auth.password or "")
    return None


def authenticate_request() -> None:
    """before_request of the API blueprint: set g.principal or refuse with 401."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    header = request.headers.get("Authorization", "")
    if not header:
        raise Unauthenticated("this API needs an API token (Authorization: Bearer ...) "
                              "or a user name and password (HTTP Basic)")
    principal = _principal_from_header(header)
    if principal is None:
        raise Unauthenticated("the credentials were not accepted: unknown, wrong, revoked or expired")
    g.principal = principal


def current_principal() -> Principal:
    """The authenticated caller of this API request."""
    return g.principal


def current_user() -> str:
    """The caller's user name (for code that only records who acted)."""
    return current_principal().username
