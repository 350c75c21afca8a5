"""Accounts: users with hashed passwords, their roles, sites and groups, and hashed API tokens."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import db, utcnow

ROLE, SITE, GROUP = "role", "site", "group"


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(120), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(255))  # None: token-only account
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))

    memberships: Mapped[list["UserMembership"]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )
    tokens: Mapped[list["ApiToken"]] = relationship(back_populates="user")

    def values(self, kind: str) -> list[str]:
        return sorted(m.value for m in self.memberships if m.kind == kind)

    @property
    def roles(self) -> list[str]:
        return self.values(ROLE)

    @property
    def sites(self) -> list[str]:
        return self.values(SITE)

    @property
    def groups(self) -> list[str]:
        return self.values(GROUP)


class UserMembership(db.Model):
    """One role, site or group of a user (kind = role | site | group)."""

    __tablename__ = "user_memberships"
    __table_args__ = (
        UniqueConstraint("user_id", "kind", "value"),
        Index("ix_user_memberships_kind_value", "kind", "value"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(5))
    value: Mapped[str] = mapped_column(String(120))

    user: Mapped[User] = relationship(back_populates="memberships")


class ApiToken(db.Model):
    """An API token: only its SHA-256 is stored; it acts as its user, narrowed to `roles`/`sites`."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))  # shown in listings to tell tokens apart
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    roles: Mapped[list | None] = mapped_column(JSON)  # None: the user's roles
    sites: Mapped[list | None] = mapped_column(JSON)  # None: the user's sites
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(120))

    user: Mapped[User] = relationship(back_populates="tokens")
