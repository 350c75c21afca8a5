"""Errors the services raise; the API turns each into problem+json with a stable type."""
from __future__ import annotations


class ServiceError(Exception):
    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, **extra):
        self.detail = detail
        self.extra = extra
        super().__init__(detail)


class Unauthenticated(ServiceError):
    """No credentials, or credentials that are wrong, revoked or expired."""
    status, slug, title = 401, "unauthorized", "Authentication required"


class NotFound(ServiceError):
    status, slug, title = 404, "not-found", "Not found"


class Invalid(ServiceError):
    """Input that cannot be accepted; `extra` carries field errors or deploy problems."""
    status, slug, title = 422, "validation-error", "Validation failed"


class Conflict(ServiceError):
    status, slug, title = 409, "conflict", "Conflict"


class Forbidden(ServiceError):
    status, slug, title = 403, "forbidden", "Forbidden"


class ProcessFailure(ServiceError):
    """The engine could not run an element; nothing was saved."""
    status, slug, title = 422, "process-error", "Process error"
