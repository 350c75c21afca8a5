"""Due dates as analysts write them: an ISO 8601 duration (P2D, PT4H) from now, or an ISO date/time."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> timedelta | None:
    match = _DURATION.match(text.strip())
    if not match or text.strip() in ("P", "PT") or text.strip().endswith("T"):
        return None
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    try:
        return timedelta(**parts)
    except OverflowError:  # more than timedelta holds (about 2.7 million years): not a duration we can wait
        return None


def resolve_due_date(value, now: datetime) -> datetime:
    """Turn a duration, ISO string or datetime into a naive UTC datetime; ValueError if it is none."""
    if isinstance(value, datetime):
        return naive_utc(value)
    text = str(value).strip()
    duration = parse_duration(text)
    if duration is not None:
        return now + duration
    return naive_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


def naive_utc(moment: datetime) -> datetime:
    """A naive datetime is UTC already; an aware one is converted to UTC (not just stripped of its zone)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=None)
    return (moment - moment.utcoffset()).replace(tzinfo=None)


def check_due_date(text: str) -> str | None:
    try:
        resolve_due_date(text, datetime(2000, 1, 1))
    except (ValueError, OverflowError):  # OverflowError: a date that falls outside the calendar in UTC
        return "expected an ISO 8601 duration such as P2D or a date/time such as 2026-12-01T17:00"
    return None
