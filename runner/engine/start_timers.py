"""Timer start events: when a process version starts itself, and how often.

A process-level timer start event does not wait inside an instance; the version owns a
schedule (a `start-timer` job) and each firing starts a fresh instance, as in Camunda.
`timeDate` fires once, `timeDuration` once after deployment, `timeCycle` (R3/PT1H,
R/PT10M, R2/2026-12-01T08:00:00/P1D) repeatedly. The schedule string a job keeps is the
remaining repetition, e.g. `R2/PT1H`, or `R/PT1H` for endless.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from lxml import etree
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from .camunda import BPMN_NS, CAMUNDA_NS
from .duedates import naive_utc, parse_duration, resolve_due_date

DEFAULT_SITE = "ENTERPRISE"


@dataclass(frozen=True)
class StartTimer:
    element_id: str
    kind: str  # timeDate | timeDuration | timeCycle
    text: str
    site: str


def read_start_timer(process_node: etree._Element) -> StartTimer | None:
    ns = {"bpmn": BPMN_NS, "camunda": CAMUNDA_NS}
    for start in process_node.iterfind("bpmn:startEvent", ns):
        timer = start.find("bpmn:timerEventDefinition", ns)
        if timer is None:
            continue
        for kind in ("timeDate", "timeDuration", "timeCycle"):
            node = timer.find(f"bpmn:{kind}", ns)
            if node is not None:
                site = start.find(".//camunda:property[@name='site']", ns)
                return StartTimer(start.get("id"), kind, (node.text or "").strip(),
                                  site.get("value") if site is not None else DEFAULT_SITE)
    return None


def check_start_timer(timer: StartTimer) -> str | None:
    """What is wrong with a start timer, or None."""
    if timer.text.startswith(("${", "#{")):
        return "a timer start event needs a literal date, duration or cycle: there are no variables yet"
    try:
        first_due(timer, datetime(2000, 1, 1))
    except Exception:  # SpiffWorkflow's ISO parser raises plain Exception
        examples = {"timeDate": "2026-12-01T08:00", "timeDuration": "PT10M", "timeCycle": "R3/PT1H or R/P1D"}
        return f"{timer.kind} '{timer.text}' is not ISO 8601 (for example {examples[timer.kind]})"
    return None


def _cycle(text: str, now: datetime) -> tuple[int, datetime, timedelta]:
    parts = text.upper().split("/")
    count = int(parts[0][1:]) if parts[0][1:] else -1
    if len(parts) == 2:
        interval = parse_duration(parts[1])
        if interval is None:
            raise ValueError(f"'{parts[1]}' is not an ISO 8601 duration")
        return count, now + interval, interval
    cycles, start, interval = TimerEventDefinition.parse_iso_recurring_interval(text)
    return count, naive_utc(start), interval


def first_due(timer: StartTimer, now: datetime) -> tuple[datetime, str | None]:
    """(when the first instance starts, the remaining schedule or None for one-shot timers)."""
    if timer.kind == "timeDate":
        return resolve_due_date(timer.text, now), None
    if timer.kind == "timeDuration":
        duration = parse_duration(timer.text)
        if duration is None:
            raise ValueError(f"'{timer.text}' is not an ISO 8601 duration")
        return now + duration, None
    count, start, interval = _cycle(timer.text, now)
    if count == 0:
        raise ValueError("a cycle of R0 never fires")
    return start, _remaining(count - 1 if count > 0 else -1, interval)


def _remaining(count: int, interval: timedelta) -> str | None:
    if count == 0:
        return None
    return f"R{'' if count < 0 else count}/PT{interval.total_seconds():g}S"


def next_due(schedule: str | None, previous: datetime) -> tuple[datetime, str | None] | None:
    """The firing after `previous`, and the schedule left after it; None when the cycle is done."""
    if not schedule:
        return None
    count, _, interval = _cycle(schedule, previous)
    return previous + interval, _remaining(count - 1 if count > 0 else -1, interval)
