"""The audit trail: one row per state change, written in the same transaction as the change.

Details never hold secrets: values under names that look secret (password, token, secret,
apiKey, ...) are masked at any depth before the row is written.
"""
from __future__ import annotations

import functools
import re

from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

from ..models import AuditEvent, db, utcnow

MASK = "********"
SECRET_WORDS = {"password", "passwd", "passphrase", "pass", "pwd", "secret", "secrets", "token", "tokens",
                "apikey", "credential", "credentials", "authorization", "cookie", "privatekey"}
# words that make a name about a secret rather than the secret: tokenId, hasPassword, passwordChanged
NOT_SECRET_FIRST = {"has", "is"}
NOT_SECRET_LAST = {"id", "ids", "name", "prefix", "count", "changed", "at", "set"}
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


def _words(name: str) -> list[str]:
    words = [w.lower() for w in _WORD.findall(name)]
    joined = []  # apiKey / api_key / private-key -> one word
    for word in words:
        if joined and joined[-1] in ("api", "private") and word == "key":
            joined[-1] += word
        else:
            joined.append(word)
    return joined


def looks_secret(name) -> bool:
    """True for names such as password, apiKey, client_secret, X-Auth-Token (not tokenId, hasPassword)."""
    if not isinstance(name, str):
        return False
    return _known_name_looks_secret(name) if len(name) <= CACHED_NAME_LENGTH else _looks_secret(name)


CACHED_NAME_LENGTH = 100  # answers for names up to this long are kept (at most 4096 of them: about 1 MB)


@functools.lru_cache(maxsize=4096)  # every audit row asks again of the same few names
def _known_name_looks_secret(name: str) -> bool:
    return _looks_secret(name)


def _looks_secret(name: str) -> bool:
    words = _words(name)
    if not words or words[0] in NOT_SECRET_FIRST or words[-1] in NOT_SECRET_LAST:
        return False
    return any(word in SECRET_WORDS for word in words)


def mask_secrets(value):
    """A copy of `value` in which every value under a secret-looking key is replaced by MASK."""
    if isinstance(value, dict):
        return {key: (MASK if looks_secret(key) and item is not None else mask_secrets(item))
                for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_secrets(item) for item in value]
    return value


_INSERT = insert(AuditEvent.__table__)
_PENDING = "lanes.audit_rows"  # Session.info key: this transaction's rows not written yet


def record(action: str, actor, *, instance_id=None, task_id=None, deployment_id=None, **details) -> None:
    """Add an audit row to the current transaction; `actor` is a Principal or a name (only the name is kept).

    Rows are written in call order (history() orders by id) with one plain INSERT for all of a transaction's
    rows, at its next flush or query, or at its commit, whichever comes first: a row that is never changed
    needs none of the ORM's change tracking, whose unit of work cost more than the INSERT itself (profiled on
    the start path, bench/bare_spiff.py); and on SQLite, whose writers queue for one lock, a transaction
    that takes it only when it stores its results holds it for less of its time."""
    session = db.session()
    pending = session.info.get(_PENDING)
    if pending is None:  # this transaction's first row since it began or last wrote its rows
        session.connection()  # the transaction begun, so that its end (rolled back or closed) lets go of the rows
        pending = session.info[_PENDING] = []
    pending.append({
        "at": utcnow(), "action": action, "actor": getattr(actor, "username", actor), "instance_id": instance_id,
        "task_id": task_id, "deployment_id": deployment_id, "details": mask_secrets(details)})


def _write_pending(session: Session) -> None:
    rows = session.info.pop(_PENDING, None)
    if rows:
        session.connection().execute(_INSERT, rows)


def _forget_pending(session: Session, transaction) -> None:
    if transaction.parent is None:  # the transaction ended (committed: nothing is left; rolled back or closed)
        session.info.pop(_PENDING, None)


event.listen(Session, "before_flush", lambda session, *_: _write_pending(session))
event.listen(Session, "before_commit", _write_pending)
event.listen(Session, "do_orm_execute", lambda execute_state: _write_pending(execute_state.session))
event.listen(Session, "after_transaction_end", _forget_pending)


def history(instance_id: str) -> list[AuditEvent]:
    return list(db.session.scalars(
        select(AuditEvent).where(AuditEvent.instance_id == instance_id).order_by(AuditEvent.id)))
