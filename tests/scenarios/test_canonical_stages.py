"""Canonical stages end to end: a billing exception's `status` (received, classified, in_review,
appeal_submitted, ...) becomes stage intervals at each save, and GET /api/v1/metrics/cycle-times reports
them (canonicalStages) with the numbers those intervals give.

The SOUTH denial is appealed, the payer denies the appeal, the write-off is approved: in_review, then
appeal_submitted, then in_review again, then closed. `received` and `classified` are set and replaced
in the step that starts the instance (nothing waits in between), so they never make an interval.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from runner.models import ProcessInstance, StageInterval, db
from tests.accounts_fixtures import bearer
from tests.scenarios.test_billing_exception import KEY, appeal_decided, denial

MS = 0.002  # SQLite's julianday() keeps milliseconds


def intervals(app, instance_id):
    with app.app_context():
        rows = db.session.scalars(select(StageInterval).where(StageInterval.instance_id == instance_id)
                                  .order_by(StageInterval.id)).all()
        instance = db.session.get(ProcessInstance, instance_id)
        return [(r.stage, r.entered_at, r.left_at, r.site, r.process_key) for r in rows], instance


def canonical(scenario, headers=None):
    response = scenario.client.get("/api/v1/metrics/cycle-times", query_string={"processKey": KEY},
                                   headers=headers or {})
    assert response.status_code == 200, response.get_json()
    return {(r["version"], r["site"], r["stage"]): r for r in response.get_json()["canonicalStages"]}


def seconds(entered, left):
    return (left - entered).total_seconds()


def test_a_denial_through_appeal_and_write_off_leaves_one_interval_per_stay(scenario, app):
    started = denial(scenario, "SOUTH", "CLM-7001", "AETNA", "CO-197", 880, "PA-7001")
    found, instance = intervals(app, started["id"])
    assert [(s, left, site, key) for s, _, left, site, key in found] == [("in_review", None, "SOUTH", KEY)]
    assert instance.stage == "in_review"
    entered_review = found[0][1]

    waiting = scenario.work(started["id"], "sofia", "work_denial", resolution="appeal",
                            work_note="Retro-authorization obtained from the payer portal.")
    assert waiting["variables"]["status"] == "appeal_submitted"
    found, instance = intervals(app, started["id"])
    assert [(s, e, left is not None) for s, e, left, *_ in found] == [
        ("in_review", entered_review, True), ("appeal_submitted", found[0][2], False)]
    assert instance.stage == "appeal_submitted"
    # while it waits for the payer: one stay in in_review behind it, one instance in appeal_submitted now
    stages = canonical(scenario)
    assert list(stages) == [(1, "SOUTH", "appeal_submitted"), (1, "SOUTH", "in_review")]
    review = stages[1, "SOUTH", "in_review"]
    assert (review["count"], review["inStageNow"], review["oldestAgeSeconds"]) == (1, 0, None)
    assert review["medianSeconds"] == pytest.approx(seconds(found[0][1], found[0][2]), abs=MS)
    assert review["p90Seconds"] == review["medianSeconds"]
    appeal = stages[1, "SOUTH", "appeal_submitted"]
    assert (appeal["count"], appeal["medianSeconds"], appeal["inStageNow"]) == (0, None, 1)
    assert appeal["oldestAgeSeconds"] >= 0
    assert canonical(scenario, bearer("nadia")) == {}  # NORTH staff: another site's numbers do not exist

    assert appeal_decided(scenario, "CLM-7001", "denied", "No retro-authorization.").status_code == 200
    found, instance = intervals(app, started["id"])
    assert [s for s, *_ in found] == ["in_review", "appeal_submitted", "in_review"]
    assert found[1][2] == found[2][1] and found[2][2] is None
    assert canonical(scenario)[1, "SOUTH", "in_review"]["inStageNow"] == 1

    final = scenario.work(started["id"], "sid", "review_writeoff", writeoff_decision="approve",
                          writeoff_comment="Payer upheld the denial on appeal.")
    assert (final["state"], final["variables"]["status"]) == ("completed", "closed")
    found, instance = intervals(app, started["id"])
    # written_off and closed were set in the step that ended the instance: the end closes the last stay
    assert [s for s, *_ in found] == ["in_review", "appeal_submitted", "in_review"]
    assert all(found[n][2] == found[n + 1][1] for n in range(len(found) - 1))
    assert found[-1][2] == instance.ended_at and instance.stage is None

    review_stays = sorted(seconds(e, left) for s, e, left, *_ in found if s == "in_review")
    stages = canonical(scenario)
    assert list(stages) == [(1, "SOUTH", "appeal_submitted"), (1, "SOUTH", "in_review")]
    review = stages[1, "SOUTH", "in_review"]
    assert (review["count"], review["inStageNow"], review["oldestAgeSeconds"]) == (2, 0, None)
    # two values: the median is their mean, p90 nine tenths of the way from the shorter to the longer
    assert review["medianSeconds"] == pytest.approx(sum(review_stays) / 2, abs=MS)
    assert review["p90Seconds"] == pytest.approx(review_stays[0] + 0.9 * (review_stays[1] - review_stays[0]), abs=MS)
    appeal = stages[1, "SOUTH", "appeal_submitted"]
    assert (appeal["count"], appeal["inStageNow"]) == (1, 0)
    assert appeal["medianSeconds"] == pytest.approx(seconds(found[1][1], found[1][2]), abs=MS)
    assert canonical(scenario, bearer("sofia")) == stages


def test_a_stay_ended_by_terminating_the_instance_is_not_a_time_the_stage_took(scenario, app):
    from runner.services import accounts, admin_actions
    started = denial(scenario, "SOUTH", "CLM-7003", "AETNA", "CO-197", 880, "PA-7003")
    assert canonical(scenario)[1, "SOUTH", "in_review"]["inStageNow"] == 1
    with app.app_context():
        admin_actions.terminate_instance(started["id"], accounts.principal("admin"), reason="duplicate of CLM-7002")
    found, instance = intervals(app, started["id"])
    assert [(s, left) for s, _, left, *_ in found] == [("in_review", instance.ended_at)]  # closed by it
    assert (instance.state, instance.stage) == ("terminated", None)
    assert canonical(scenario) == {}  # no stay ended otherwise, and no instance is in the stage now
