"""One transaction per service call: commit on success, roll back on any error."""
from __future__ import annotations

import functools

from sqlalchemy import inspect
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from ..models import db
from .errors import Conflict

_KEEP = "lanes.keep_loaded"


def transactional(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            result = func(*args, **kwargs)
            kept = _loaded_columns(db.session.info.pop(_KEEP, ()))
            db.session.commit()
            _restore(kept)
            return result
        except StaleDataError:
            db.session.rollback()
            raise Conflict("the instance was changed by another request at the same time; reload and try again")
        except BaseException:
            db.session.info.pop(_KEEP, None)
            db.session.rollback()
            raise
    return wrapper


def keep_loaded(obj) -> None:
    """Keep `obj`'s column values loaded past this call's commit, which otherwise expires them all, so
    that the caller reading them (an API response) does not SELECT back the row just written.

    For an object this transaction wrote in full (a new instance): its values after the last flush are
    what the row holds at commit, as no column is computed by the database."""
    db.session.info.setdefault(_KEEP, []).append(obj)


def _loaded_columns(objects) -> list[tuple[object, dict]]:
    objects = [obj for obj in objects if inspect(obj).session_id is not None]  # a detached one does not expire
    if not objects:
        return []
    db.session.flush()  # the values as they will be committed (a version counter moved by this flush included)
    kept = []
    for obj in objects:
        state = inspect(obj)
        kept.append((obj, {key: state.dict[key] for key in state.mapper.column_attrs.keys() if key in state.dict}))
    return kept


def _restore(kept) -> None:
    for obj, values in kept:
        for key, value in values.items():
            set_committed_value(obj, key, value)
