"""camunda:failedJobRetryTimeCycle: how many attempts a job gets and how long to wait between them.

`R3/PT5M` means three attempts in all, five minutes apart (Camunda's reading);
`PT1M,PT5M,PT30M` means four attempts with growing waits (backoff).
"""
from __future__ import annotations

import re
from datetime import timedelta

from .duedates import parse_duration

DEFAULT_RETRY_CYCLE = "R3/PT1M"
_REPEAT = re.compile(r"^R(?P<count>\d+)/(?P<interval>P[0-9WDTHMS.]+)$")


def parse_retry_cycle(text: str | None) -> list[timedelta]:
    """The waits after each failed attempt but the last; attempts = len(result) + 1. ValueError if malformed."""
    value = (text or DEFAULT_RETRY_CYCLE).strip()
    match = _REPEAT.match(value)
    if match:
        count = int(match.group("count"))
        interval = parse_duration(match.group("interval"))
        if count < 1 or interval is None:
            raise ValueError(f"'{value}' needs at least one attempt and an ISO duration, e.g. R3/PT5M")
        return [interval] * (count - 1)
    waits = [parse_duration(part) for part in value.split(",")]
    if not waits or any(w is None for w in waits):
        raise ValueError(f"'{value}' is neither Rn/<duration> nor a list of durations such as PT1M,PT5M")
    return waits


def max_attempts(cycle: str | None) -> int:
    return len(parse_retry_cycle(cycle)) + 1


def wait_after(cycle: str | None, attempts_made: int) -> timedelta | None:
    """How long to wait after `attempts_made` failed attempts; None when no attempt is left."""
    waits = parse_retry_cycle(cycle)
    return waits[attempts_made - 1] if 1 <= attempts_made <= len(waits) else None
