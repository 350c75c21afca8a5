"""Accounts: who is acting (a Principal), users with hashed passwords, and hashed API tokens.

Every service that reads or changes instances and tasks takes the acting Principal and decides
what it may see and do (see `Principal.sees_site` and tasks.py); the API, the web pages and the CLI
only say who is acting. The CLI and the job worker act as a built-in admin (`system_principal`).
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, bindparam, case, func, or_, select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from ..models import ApiToken, User, UserMembership, db, utcnow
from ..models.accounts import GROUP, ROLE, SITE
from . import audit
from .errors import Conflict, Forbidden, Invalid, NotFound
from .transaction import transactional

ROLES = ("staff", "analyst", "admin")
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,119}$")
SITE_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
GROUP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,119}$")
MIN_PASSWORD = 8
TOKEN_PREFIX = "lanes_"
# checked when a username is unknown, so a wrong name costs as long as a wrong password
_DUMMY_HASH = generate_password_hash(secrets.token_hex(16))


@dataclass(frozen=True)
class Principal:
    """Who is acting: a user (by password, session or token) or the built-in system."""

    username: str
    roles: frozenset[str] = field(default_factory=frozenset)
    sites: frozenset[str] = field(default_factory=frozenset)
    groups: frozenset[str] = field(default_factory=frozenset)
    via: str = "password"          # password | token | session | system
    token_id: int | None = None
    stamp: str = ""                # changes when the password does: web sessions compare it

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def is_analyst(self) -> bool:
        return "analyst" in self.roles or self.is_admin

    def sees_site(self, site: str) -> bool:
        return self.is_admin or site in self.sites


def system_principal(name: str = "system") -> Principal:
    """The built-in admin the CLI and the worker act as; audit rows name it `name`."""
    return Principal(username=name, roles=frozenset({"admin"}), via="system")


def _password_stamp(password_hash: str | None) -> str:
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


def _principal_of(user: User, via: str) -> Principal:
    return _principal(user.username, user.password_hash, ((m.kind, m.value) for m in user.memberships), via)


def _principal(username: str, password_hash: str | None, memberships, via: str, token_id: int | None = None,
               token_roles: list | None = None, token_sites: list | None = None) -> Principal:
    """A user's principal from its (kind, value) memberships; a token narrows roles and sites to its scopes."""
    values = {ROLE: set(), SITE: set(), GROUP: set()}
    for kind, value in memberships:
        values[kind].add(value)
    roles, sites = values[ROLE], values[SITE]
    if token_roles is not None:
        roles = roles & set(token_roles)
    if token_sites is not None:
        sites = sites & set(token_sites)
    return Principal(username=username, roles=frozenset(roles), sites=frozenset(sites),
                     groups=frozenset(values[GROUP]), via=via, token_id=token_id,
                     stamp=_password_stamp(password_hash))


def _user(username: str) -> User | None:
    return db.session.scalar(select(User).where(User.username == username))


def authenticate(username: str, password: str) -> Principal | None:
    """The principal for a correct username and password of an active user; None otherwise."""
    user = _user(username) if isinstance(username, str) else None
    if user is None or not user.password_hash or not isinstance(password, str):
        check_password_hash(_DUMMY_HASH, password if isinstance(password, str) else "")
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    return _principal_of(user, "password")


def principal(username: str, via: str = "session") -> Principal | None:
    """The principal of an active user by name (a web session's user); None if unknown or inactive."""
    user = _user(username) if isinstance(username, str) else None
    if user is None or not user.active:
        return None
    return _principal_of(user, via)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


# every request with a token asks this: the token, its user and the user's memberships in one query
# (built once: building it cost as much as running it)
_TOKEN_PRINCIPAL = (select(ApiToken.id, ApiToken.token_hash, ApiToken.roles, ApiToken.sites, ApiToken.revoked_at,
                           ApiToken.expires_at, User.username, User.password_hash, User.active, UserMembership.kind,
                           UserMembership.value)
                    .join(User, User.id == ApiToken.user_id)
                    .outerjoin(UserMembership, UserMembership.user_id == User.id)
                    .where(ApiToken.token_hash == bindparam("digest")))


def principal_for_token(raw: str) -> Principal | None:
    """The principal an API token acts as, narrowed to its scopes; None if unknown, revoked or expired."""
    if not isinstance(raw, str) or not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    digest = hash_token(raw)
    # on the transaction's connection, not through the ORM session (a third of the cost): a request asks
    # this first, before it has changed anything the ORM session would have to flush
    rows = db.session.connection().execute(_TOKEN_PRINCIPAL, {"digest": digest}).all()
    if not rows or not hmac.compare_digest(rows[0].token_hash, digest):
        return None
    token = rows[0]
    if token_state(token) != "active" or not token.active:
        return None
    return _principal(token.username, token.password_hash, ((r.kind, r.value) for r in rows if r.kind is not None),
                      "token", token_id=token.id, token_roles=token.roles, token_sites=token.sites)


# --- managing users ----------------------------------------------------------

def _require_admin(actor: Principal) -> None:
    if not actor.is_admin:
        raise Forbidden("only an admin may manage users and tokens")


def _clean(values, pattern: re.Pattern, what: str) -> list[str]:
    values = [values] if isinstance(values, str) else list(values or ())
    bad = [v for v in values if not isinstance(v, str) or not pattern.match(v)]
    if bad:
        raise Invalid(f"{what} {bad[0]!r} is not valid", errors={what: f"{bad[0]!r} is not a valid {what} name"})
    return sorted(set(values))


def _clean_roles(roles) -> list[str]:
    roles = [roles] if isinstance(roles, str) else list(roles or ())
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise Invalid(f"unknown role {unknown[0]!r} (roles: {', '.join(ROLES)})",
                      errors={"roles": f"Must be among {', '.join(ROLES)}"})
    return sorted(set(roles))


def _check_password(password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD or len(password) > 1024:
        raise Invalid(f"a password needs at least {MIN_PASSWORD} characters",
                      errors={"password": f"At least {MIN_PASSWORD} characters"})


def _set_memberships(user: User, roles, sites, groups) -> None:
    wanted = {(ROLE, r) for r in roles} | {(SITE, s) for s in sites} | {(GROUP, g) for g in groups}
    user.memberships = [m for m in user.memberships if (m.kind, m.value) in wanted]
    have = {(m.kind, m.value) for m in user.memberships}
    user.memberships.extend(UserMembership(kind=k, value=v) for k, v in sorted(wanted - have))


def user_summary(user: User) -> dict:
    """What an admin page or the audit trail shows of a user (never the password hash)."""
    return {"username": user.username, "displayName": user.display_name, "active": user.active,
            "roles": user.roles, "sites": user.sites, "groups": user.groups,
            "hasPassword": bool(user.password_hash)}


@transactional
def create_user(username: str, *, actor: Principal, password: str | None = None, roles=("staff",),
                sites=(), groups=(), display_name: str = "") -> User:
    """Add a user; without a password the account can act only through API tokens."""
    _require_admin(actor)
    if not isinstance(username, str) or not USERNAME.match(username):
        raise Invalid("a username is letters, digits and . _ @ - (at most 120)",
                      errors={"username": "Letters, digits and . _ @ - only"})
    if password is not None:
        _check_password(password)
    roles, sites = _clean_roles(roles), _clean(sites, SITE_CODE, "site")
    groups = _clean(groups, GROUP_NAME, "group")
    if _user(username) is not None:
        raise Conflict(f"user {username} already exists")
    user = User(username=username, display_name=display_name or username, created_by=actor.username,
                password_hash=generate_password_hash(password) if password is not None else None)
    _set_memberships(user, roles, sites, groups)
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:
        raise Conflict(f"user {username} already exists") from None
    audit.record("user.created", actor.username, **user_summary(user))
    return user


_UNCHANGED = object()


@transactional
def update_user(username: str, *, actor: Principal, password=_UNCHANGED, roles=_UNCHANGED, sites=_UNCHANGED,
                groups=_UNCHANGED, active=_UNCHANGED, display_name=_UNCHANGED) -> User:
    """Change what is passed; a new password (None: token-only) ends the user's web sessions."""
    _require_admin(actor)
    user = get_user(username)
    if password is not _UNCHANGED:
        if password is not None:
            _check_password(password)
        user.password_hash = generate_password_hash(password) if password is not None else None
    if roles is not _UNCHANGED and username == actor.username and "admin" not in _clean_roles(roles):
        raise Invalid("you cannot take away your own admin role",
                      errors={"roles": "You cannot remove your own admin role"})
    if active is not _UNCHANGED:
        if not active and username == actor.username:
            raise Invalid("you cannot deactivate yourself")
        user.active = bool(active)
    if display_name is not _UNCHANGED:
        user.display_name = str(display_name)[:200]
    _set_memberships(user, user.roles if roles is _UNCHANGED else _clean_roles(roles),
                     user.sites if sites is _UNCHANGED else _clean(sites, SITE_CODE, "site"),
                     user.groups if groups is _UNCHANGED else _clean(groups, GROUP_NAME, "group"))
    db.session.flush()
    audit.record("user.updated", actor.username, **user_summary(user),
                 passwordChanged=password is not _UNCHANGED)
    return user


def get_user(username: str) -> User:
    user = _user(username)
    if user is None:
        raise NotFound(f"user {username} does not exist")
    return user


def list_users() -> list[User]:
    return list(db.session.scalars(select(User).order_by(User.username)))


def user_count() -> int:
    return db.session.scalar(select(func.count(User.id))) or 0


# --- API tokens --------------------------------------------------------------

@transactional
def create_token(username: str, name: str, *, actor: Principal, roles=None, sites=None,
                 expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """A new token for `username`, returned as (row, raw token). Only the SHA-256 is stored:
    show the raw token once. `roles`/`sites` narrow what the token may do (None: all the user's)."""
    _require_admin(actor)
    user = get_user(username)
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise Invalid("a token needs a name (at most 200 characters)", errors={"name": "Required"})
    if roles is not None:
        roles = _clean_roles(roles)
        if set(roles) - set(user.roles):
            raise Invalid(f"{username} does not have the role(s) {', '.join(sorted(set(roles) - set(user.roles)))}")
    if sites is not None:
        sites = _clean(sites, SITE_CODE, "site")
        if set(sites) - set(user.sites) and "admin" not in user.roles:
            raise Invalid(f"{username} does not work at {', '.join(sorted(set(sites) - set(user.sites)))}")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user=user, name=name.strip(), prefix=raw[:len(TOKEN_PREFIX) + 6], token_hash=hash_token(raw),
                     roles=roles, sites=sites, created_by=actor.username, expires_at=expires_at)
    db.session.add(token)
    db.session.flush()
    audit.record("token.created", actor.username, username=username, tokenId=token.id, name=token.name,
                 prefix=token.prefix, roles=roles, sites=sites)
    return token, raw


@transactional
def revoke_token(token_id: int, *, actor: Principal) -> ApiToken:
    """Refuse the token from now on (idempotent)."""
    _require_admin(actor)
    token = db.session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"token {token_id} does not exist")
    if token.revoked_at is None:
        token.revoked_at, token.revoked_by = utcnow(), actor.username
        audit.record("token.revoked", actor.username, username=token.user.username, tokenId=token.id,
                     name=token.name, prefix=token.prefix)
    return token


def list_tokens(username: str | None = None) -> list[ApiToken]:
    query = select(ApiToken).order_by(ApiToken.id)
    if username is not None:
        query = query.where(ApiToken.user_id == get_user(username).id)
    return list(db.session.scalars(query))


def token_state(token, now: datetime | None = None) -> str:
    """active, revoked or expired: what a listing shows and what principal_for_token accepts (`token` may
    be any row with revoked_at and expires_at)."""
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= (now or utcnow()):
        return "expired"
    return "active"


def token_counts() -> dict[str, dict[str, int]]:
    """{username: {"active": n, "all": m}} for users with tokens, in one query (the users page)."""
    usable = and_(ApiToken.revoked_at.is_(None),
                  or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > utcnow()))
    rows = db.session.execute(select(User.username, func.count(ApiToken.id), func.count(case((usable, ApiToken.id))))
                              .join(ApiToken, ApiToken.user_id == User.id).group_by(User.username))
    return {username: {"all": total, "active": active} for username, total, active in rows}


# --- first run ---------------------------------------------------------------

DEMO_USERS = (
    # username, roles, sites, groups: the work queues of the sample processes' site rules at NORTH and
    # SOUTH (processes/*/*.dmn), split as a hospital would: billing and refunds, procurement, approvers
    ("admin", ("admin",), (), ()),
    ("analyst", ("analyst",), (), ()),
    ("alice", ("staff",), ("NORTH",), ("north_billing", "north_finance", "north_denials", "north_clinical_appeals")),
    ("carol", ("staff",), ("NORTH", "SOUTH"), ("refund_controllers", "north_revenue_integrity")),
    ("bob", ("staff",), ("SOUTH",), ("south_billing", "south_finance", "south_denials", "south_government_payers")),
    ("dave", ("staff",), ("NORTH", "SOUTH"), ("north_procurement", "north_supply_chain", "north_materials_director",
                                             "north_value_analysis", "north_capital_committee", "north_biomed",
                                             "north_contracts", "south_department_heads", "south_cfo_office")),
)


def demo_password(username: str) -> str:
    """The documented password of a demo user (README): for a first look on a loopback address only."""
    return f"lanes-{username}"


def ensure_demo_users(documented: bool = True) -> list[tuple[str, str]]:
    """If there are no users at all, create the demo users; returns [(username, password)] made.
    `documented`: the README's passwords; otherwise random ones (shown once by the caller)."""
    if user_count():
        return []
    system = system_principal("bootstrap")
    made = []
    for username, roles, sites, groups in DEMO_USERS:
        password = demo_password(username) if documented else secrets.token_urlsafe(12)
        create_user(username, actor=system, password=password, roles=roles, sites=sites, groups=groups,
                    display_name=f"Demo {username}")
        made.append((username, password))
    return made
