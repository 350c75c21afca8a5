"""Reading request bodies defensively: size limits, JSON nesting depth, objects only."""
from __future__ import annotations


from flask import current_app, request

from ..engine import jsonsafe
from ..services import Invalid

MAX_JSON_BYTES = 1024 * 1024


def limit_request_size() -> None:
    """before_request: bodies other than file uploads are held to MAX_JSON_BYTES (413 past it)."""
    if request.mimetype != "multipart/form-data":
        request.max_content_length = current_app.config.get("MAX_JSON_BYTES", MAX_JSON_BYTES)


def reject_nul_bytes() -> None:
    """before_request: a NUL byte in the path, a query value or a header is never meaningful here
    (and PostgreSQL cannot store it): refuse it up front instead of failing deep inside."""
    parts = [request.path, *request.args.keys(), *request.args.values(), *request.headers.values()]
    if any("\x00" in part for part in parts):
        raise Invalid("the request contains a NUL byte in its path, query or headers")


def json_body(required: bool = True) -> dict:
    """The request's JSON object; 422 for anything else (not JSON, nested too deep, not an object)."""
    data = request.get_data(cache=True)
    if not data.strip() and not required:
        return {}
    if not request.is_json:
        raise Invalid("the request body must be a JSON object (Content-Type: application/json)")
    try:
        body = jsonsafe.loads(data, current_app.config.get("MAX_JSON_DEPTH", jsonsafe.MAX_DEPTH))
    except jsonsafe.TooDeep as exc:
        raise Invalid(f"the request body {exc}") from None
    except UnicodeDecodeError:
        raise Invalid("the request body is not valid JSON: it is not UTF-8") from None
    except ValueError as exc:
        raise Invalid(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise Invalid("the request body must be a JSON object")
    return body
