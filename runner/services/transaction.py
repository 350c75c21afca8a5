"""One transaction per service call: commit on success, roll back on any error."""
from __future__ import annotations

import functools

from sqlalchemy.orm.exc import StaleDataError

from ..models import db
from .errors import Conflict


def transactional(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            result = func(*args, **kwargs)
            db.session.commit()
            return result
        except StaleDataError:
            db.session.rollback()
            raise Conflict("the instance was changed by another request at the same time; reload and try again")
        except BaseException:
            db.session.rollback()
            raise
    return wrapper
