"""The HTTP implementation base: POST JSON to ``{base_url}/{system}/{operation}``.

Error mapping: 2xx JSON object -> outputs; 5xx, 408, 429, timeout, connection error ->
TransientError; 409/422 with {"code", "message"} -> BusinessError(code); any other 4xx,
3xx or a malformed 2xx body -> ContractError.

The token is sent only in the Authorization header. It never appears in repr/str, log
messages or raised errors (remote messages are scrubbed of it, and errors are raised
without the requests exception chained, whose request object carries the headers).
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

import requests

from .base import Adapter
from .contract import BusinessError, ContractError, Operation, TransientError

log = logging.getLogger("lanes.adapters.http")

DEFAULT_TIMEOUT = 10.0
MASK = "***"
BUSINESS_STATUSES = (409, 422)
TRANSIENT_4XX = (408, 429)


def safe_url(url: str) -> str:
    """The URL with any password in its user-info masked."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", f":{MASK}@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


class HttpAdapter(Adapter):
    """Subclasses set ``name`` and ``operations``; everything else is here."""

    def __init__(self, base_url: str, token: str, timeout: float = DEFAULT_TIMEOUT,
                 session: requests.Session | None = None):
        if not base_url:
            raise ValueError(f"{self.name}: base_url is required")
        self.base_url = base_url.rstrip("/")
        self.timeout = float(timeout)
        self._token = token
        self._session = session or requests.Session()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(base_url={safe_url(self.base_url)!r}, "
                f"token={MASK!r}, timeout={self.timeout})")

    __str__ = __repr__

    def url(self, operation: str) -> str:
        return f"{self.base_url}/{self.name}/{operation}"

    def _invoke(self, op: Operation, inputs: dict, idempotency_key: str) -> Mapping:
        where = f"{self.name}.{op.name}"
        try:
            response = self._session.post(
                self.url(op.name), json=inputs, timeout=self.timeout, allow_redirects=False,
                headers={"Authorization": f"Bearer {self._token}",
                         "Idempotency-Key": idempotency_key,
                         "Accept": "application/json"})
        except requests.Timeout:
            error = TransientError(f"{where}: no answer within {self.timeout:g} s")
        except requests.ConnectionError as exc:
            error = TransientError(f"{where}: connection failed ({self._scrub(type(exc).__name__)})")
        except requests.RequestException as exc:
            error = ContractError(f"{where}: request failed ({self._scrub(type(exc).__name__)})")
        else:
            log.debug("%s -> HTTP %s", where, response.status_code)
            return self._outputs(where, response)
        log.info("%s failed: %s", where, error)
        raise error

    def _outputs(self, where: str, response: requests.Response) -> Mapping:
        status = response.status_code
        if 200 <= status < 300:
            body = self._json(response)
            if not isinstance(body, Mapping):
                raise ContractError(f"{where}: HTTP {status} without a JSON object body")
            return body
        if status >= 500 or status in TRANSIENT_4XX:
            raise TransientError(f"{where}: HTTP {status}{self._detail(response)}",
                                 retry_after=_retry_after(response))
        if status in BUSINESS_STATUSES:
            body = self._json(response)
            if isinstance(body, Mapping) and isinstance(body.get("code"), str) and body["code"]:
                message = body.get("message")
                raise BusinessError(body["code"], self._scrub(message) if isinstance(message, str) else "")
        raise ContractError(f"{where}: HTTP {status}{self._detail(response)}")

    @staticmethod
    def _json(response: requests.Response):
        try:
            return response.json()
        except ValueError:
            return None

    def _detail(self, response: requests.Response) -> str:
        """The remote's own message, if it gave one, scrubbed of the token."""
        body = self._json(response)
        if isinstance(body, Mapping):
            text = body.get("message") or body.get("detail") or body.get("title")
            if isinstance(text, str) and text:
                return f": {self._scrub(text)[:300]}"
        return ""

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, MASK) if self._token else text


def _retry_after(response: requests.Response) -> float | None:
    """Retry-After in seconds: a number of seconds, or an HTTP date (RFC 9110)."""
    value = response.headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
