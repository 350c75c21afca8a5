"""RFC 9457 problem+json responses with stable `type` URIs; never a stack trace."""
from __future__ import annotations

import logging

from flask import Response, json
from werkzeug.exceptions import HTTPException

from ..services import ServiceError

TYPE_BASE = "https://lanes.dev/problems/"
log = logging.getLogger("lanes.api")


def problem(status: int, slug: str, title: str, detail: str, **extra) -> Response:
    body = {"type": TYPE_BASE + slug, "title": title, "status": status, "detail": detail, **extra}
    return Response(json.dumps(body), status=status, mimetype="application/problem+json")


def from_service_error(exc: ServiceError) -> Response:
    response = problem(exc.status, exc.slug, exc.title, exc.detail, **exc.extra)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="lanes", Basic realm="lanes"'
    return response


def from_http_error(exc: HTTPException) -> Response:
    slug = (exc.name or "error").lower().replace(" ", "-")
    return problem(exc.code or 500, slug, exc.name, exc.description or exc.name)


def from_unexpected(exc: Exception) -> Response:
    log.exception("unhandled error")
    return problem(500, "internal-error", "Internal error", "an unexpected error occurred; it has been logged")
