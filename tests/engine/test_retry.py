"""camunda:failedJobRetryTimeCycle: attempts and waits (runner/engine/retry.py)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from runner.engine.retry import max_attempts, parse_retry_cycle, wait_after


def test_no_cycle_means_three_attempts_a_minute_apart():
    assert parse_retry_cycle(None) == [timedelta(minutes=1)] * 2
    assert max_attempts(None) == 3
    assert [wait_after(None, n) for n in (1, 2, 3)] == [timedelta(minutes=1), timedelta(minutes=1), None]


def test_a_repeat_cycle_counts_attempts_in_all():
    assert max_attempts("R5/PT5M") == 5
    assert wait_after("R5/PT5M", 4) == timedelta(minutes=5) and wait_after("R5/PT5M", 5) is None
    assert max_attempts("R1/PT5M") == 1 and wait_after("R1/PT5M", 1) is None


def test_a_list_of_durations_backs_off():
    cycle = "PT1M,PT5M,PT30M"
    assert max_attempts(cycle) == 4
    assert [wait_after(cycle, n) for n in (1, 2, 3, 4)] == [
        timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), None]


@pytest.mark.parametrize("cycle", ["R0/PT5M", "R3", "every five minutes", "PT1M,,PT5M", "R3/5M"])
def test_malformed_cycles_are_refused(cycle):
    with pytest.raises(ValueError):
        parse_retry_cycle(cycle)
