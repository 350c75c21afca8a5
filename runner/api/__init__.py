"""The versioned REST API: blueprint /api/v1, problem+json errors."""
from flask import Blueprint
from werkzeug.exceptions import HTTPException

from ..services import ServiceError
from .bodies import limit_request_size, reject_nul_bytes
from .identity import authenticate_request
from .problems import from_http_error, from_service_error, from_unexpected

api = Blueprint("api", __name__, url_prefix="/api/v1")
api.before_request(limit_request_size)
api.before_request(reject_nul_bytes)
api.before_request(authenticate_request)
api.register_error_handler(ServiceError, from_service_error)
api.register_error_handler(HTTPException, from_http_error)
api.register_error_handler(Exception, from_unexpected)

from . import incidents, openapi, routes  # noqa: E402,F401  (registers the routes on the blueprint)
from . import admin_bulk, messages, metrics, workspaces  # noqa: E402,F401  (after openapi: they add their paths to it)


def api_not_found(exc: HTTPException):
    """Unknown /api/ paths answer problem+json too; other paths keep Flask's page."""
    from flask import request
    if request.path.startswith("/api/"):
        return from_http_error(exc)
    return exc


__all__ = ["api", "api_not_found"]
