"""Issue 9, metrics: exact numbers on crafted rows (instances, tasks, incidents, jobs, audit events with
known timestamps), on SQLite and PostgreSQL; filters, access, 422s, the CSV export and Prometheus /metrics."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from runner.models import utcnow
from runner.services import metrics
from tests.accounts_fixtures import anonymous, bearer, client, test_users  # noqa: F401
from tests.metrics_data import WINDOW, add_crafted_rows

DAY = 86400.0


@pytest.fixture
def crafted(app, test_users):
    """The rows every test here reads (tests/metrics_data.py); returns `now`, when they were made."""
    now = utcnow()
    with app.app_context():
        add_crafted_rows(now)
    return now


def get(client, path, headers=None, **params):
    response = client.get(f"/api/v1/metrics/{path}", query_string=params, headers=headers or {})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def key(row, *names):
    return tuple(row[n] for n in (names or ("processKey", "version", "site", "elementId")))


# --- the numbers --------------------------------------------------------------------------

def test_percentile_is_linear_interpolation_like_percentile_cont():
    assert metrics.percentile([], 0.5) is None
    assert metrics.percentile([7.0], 0.9) == 7.0
    assert metrics.percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert metrics.percentile([10.0, 20.0, 30.0, 40.0], 0.9) == pytest.approx(37.0)


def test_queue_aging_buckets_per_process_version_site_and_step(client, crafted):
    body = get(client, "queue-aging")
    rows = {key(r): r for r in body["rows"]}
    assert list(rows) == [("claims", 1, "SOUTH", "triage"), ("refund", 1, "NORTH", "review"),
                          ("refund", 2, "NORTH", "approve")]
    review = rows["refund", 1, "NORTH", "review"]
    assert review["open"] == 4 and review["overdue"] == 2 and review["name"] == "Review"
    assert review["buckets"] == {"lt1d": 1, "1to3d": 1, "3to7d": 1, "gt7d": 1}
    assert review["oldestAgeSeconds"] == pytest.approx(10 * DAY, abs=60)
    assert rows["claims", 1, "SOUTH", "triage"]["buckets"] == {"lt1d": 0, "1to3d": 1, "3to7d": 0, "gt7d": 0}
    assert rows["refund", 2, "NORTH", "approve"]["buckets"] == {"lt1d": 0, "1to3d": 0, "3to7d": 0, "gt7d": 1}
    assert body["totals"] == {"open": 6, "overdue": 2, "buckets": {"lt1d": 1, "1to3d": 2, "3to7d": 1, "gt7d": 2}}


def test_queue_aging_filters_by_version_process_and_site(client, crafted):
    def steps(**filters):
        return [key(r) for r in get(client, "queue-aging", **filters)["rows"]]
    assert steps(version="2") == [("refund", 2, "NORTH", "approve")]
    assert steps(version="1", site="NORTH") == [("refund", 1, "NORTH", "review")]
    assert steps(processKey="claims") == [("claims", 1, "SOUTH", "triage")]
    assert steps(version="3") == []


def test_cycle_times_median_and_p90_per_process_and_per_stage(client, crafted):
    body = get(client, "cycle-times", **WINDOW)
    instances = {key(r, "processKey", "version", "site"): r for r in body["instances"]}
    assert instances == {
        ("refund", 1, "NORTH"): {"processKey": "refund", "version": 1, "site": "NORTH", "count": 4,
                                 "medianSeconds": 2.5 * DAY, "p90Seconds": 4.05 * DAY},
        ("refund", 1, "SOUTH"): {"processKey": "refund", "version": 1, "site": "SOUTH", "count": 1,
                                 "medianSeconds": 21600.0, "p90Seconds": 21600.0},
        ("refund", 2, "NORTH"): {"processKey": "refund", "version": 2, "site": "NORTH", "count": 1,
                                 "medianSeconds": DAY, "p90Seconds": DAY},
    }
    # all six: 0.25, 1, 1, 2, 3, 4.5 days
    assert body["overall"] == {"count": 6, "medianSeconds": 1.5 * DAY, "p90Seconds": 3.75 * DAY}
    stages = {key(r): r for r in body["stages"]}
    assert stages["refund", 1, "NORTH", "review"] == {
        "processKey": "refund", "version": 1, "site": "NORTH", "elementId": "review", "name": "Review",
        "count": 3, "medianSeconds": 7200.0, "p90Seconds": 10080.0}
    assert stages["refund", 1, "NORTH", "approve"]["count"] == 1
    assert stages["refund", 1, "NORTH", "approve"]["medianSeconds"] == 22 * 3600.0
    assert stages["refund", 1, "SOUTH", "review"]["p90Seconds"] == 5 * 3600.0
    assert len(stages) == 3


HOUR = 3600.0


def test_canonical_stages_per_process_version_site_and_status(client, crafted):
    body = get(client, "cycle-times", **WINDOW)
    rows = {key(r, "processKey", "version", "site", "stage"): r for r in body["canonicalStages"]}
    assert list(rows) == [("claims", 1, "SOUTH", "received"), ("refund", 1, "NORTH", "approved"),
                          ("refund", 1, "NORTH", "submitted"), ("refund", 1, "SOUTH", "submitted"),
                          ("refund", 2, "NORTH", "approved"), ("refund", 2, "NORTH", "submitted")]
    # five stays each (i2 was submitted twice): 1, 2, 3, 4, 6 h and 20, 21, 22, 66, 107 h
    submitted = rows["refund", 1, "NORTH", "submitted"]
    assert submitted == {"processKey": "refund", "version": 1, "site": "NORTH", "stage": "submitted", "count": 5,
                         "medianSeconds": 3 * HOUR, "p90Seconds": 5.2 * HOUR, "inStageNow": 1,
                         "oldestAgeSeconds": pytest.approx(3 * DAY, abs=60)}  # i10; terminated i9 is left out
    assert rows["refund", 1, "NORTH", "approved"] == {
        "processKey": "refund", "version": 1, "site": "NORTH", "stage": "approved", "count": 5,
        "medianSeconds": 22 * HOUR, "p90Seconds": 90.6 * HOUR, "inStageNow": 0, "oldestAgeSeconds": None}
    assert {k: rows["refund", 1, "SOUTH", "submitted"][k] for k in ("count", "medianSeconds", "p90Seconds")} == {
        "count": 1, "medianSeconds": 6 * HOUR, "p90Seconds": 6 * HOUR}
    assert rows["refund", 2, "NORTH", "submitted"]["medianSeconds"] == DAY
    # in a stage now, none left in the window: the suspended i12 and the running i11
    assert rows["refund", 2, "NORTH", "approved"] == {
        "processKey": "refund", "version": 2, "site": "NORTH", "stage": "approved", "count": 0,
        "medianSeconds": None, "p90Seconds": None, "inStageNow": 1,
        "oldestAgeSeconds": pytest.approx(9 * DAY, abs=60)}
    assert rows["claims", 1, "SOUTH", "received"]["inStageNow"] == 1
    assert rows["claims", 1, "SOUTH", "received"]["oldestAgeSeconds"] == pytest.approx(2 * DAY, abs=60)


def test_canonical_stages_filters_window_and_sites(client, crafted):
    def stages(headers=None, **params):
        return {key(r, "processKey", "version", "site", "stage"): r
                for r in get(client, "cycle-times", headers=headers, **params)["canonicalStages"]}

    assert list(stages(processKey="refund", version="2", **WINDOW)) == [("refund", 2, "NORTH", "approved"),
                                                                       ("refund", 2, "NORTH", "submitted")]
    assert list(stages(site="SOUTH", **WINDOW)) == [("claims", 1, "SOUTH", "received"),
                                                   ("refund", 1, "SOUTH", "submitted")]
    # i8's stay left at the window's exclusive end: it counts on March 11; instances in a stage count any day
    late = stages(**{"from": "2024-03-11", "to": "2024-03-11"})
    assert late["refund", 1, "NORTH", "submitted"]["count"] == 1
    assert late["refund", 1, "NORTH", "submitted"]["medianSeconds"] == 2 * DAY
    assert late["refund", 1, "NORTH", "submitted"]["inStageNow"] == 1
    assert ("refund", 1, "NORTH", "approved") not in late
    assert list(stages(headers=bearer("sam"), **WINDOW)) == [("claims", 1, "SOUTH", "received"),
                                                            ("refund", 1, "SOUTH", "submitted")]
    assert stages(headers=bearer("sam"), site="NORTH", **WINDOW) == {}


def test_instances_in_a_stage_now_count_and_the_oldest(app, client, crafted):
    from runner.models import ProcessInstance, StageInterval, db
    with app.app_context():
        i10 = db.session.get(ProcessInstance, "i10")
        db.session.add(ProcessInstance(id="i13", definition_id=i10.definition_id, process_key="refund", site="NORTH",
                                       state="running", workflow_state="", started_by="test", stage="submitted",
                                       started_at=crafted - timedelta(days=1)))
        db.session.add(StageInterval(instance_id="i13", process_key="refund", definition_id=i10.definition_id,
                                     site="NORTH", stage="submitted", entered_at=crafted - timedelta(hours=5)))
        db.session.commit()
    [row] = [r for r in get(client, "cycle-times", **WINDOW)["canonicalStages"]
             if key(r, "processKey", "version", "site", "stage") == ("refund", 1, "NORTH", "submitted")]
    assert (row["count"], row["inStageNow"]) == (5, 2)
    assert row["oldestAgeSeconds"] == pytest.approx(3 * DAY, abs=60)


def test_filters_by_process_version_and_site(client, crafted):
    body = get(client, "cycle-times", processKey="refund", version="1", site="NORTH", **WINDOW)
    assert [key(r, "processKey", "version", "site") for r in body["instances"]] == [("refund", 1, "NORTH")]
    assert body["overall"]["count"] == 4
    assert body["filters"] == {"processKey": "refund", "site": "NORTH", "version": 1, **WINDOW}
    assert get(client, "cycle-times", version="2", **WINDOW)["overall"] == {
        "count": 1, "medianSeconds": DAY, "p90Seconds": DAY}
    assert get(client, "queue-aging", processKey="claims")["totals"]["open"] == 1
    # the window's ends: March 2 to 3 holds i1 and i2 (ended at midnight of each day)
    assert get(client, "cycle-times", **{"from": "2024-03-02", "to": "2024-03-03"})["overall"]["count"] == 2
    assert get(client, "cycle-times", **{"from": "2024-03-11", "to": "2024-03-11"})["overall"]["count"] == 1  # i8


def test_sla_breaches_open_and_completed(client, crafted):
    body = get(client, "sla", **WINDOW)
    rows = {key(r): r for r in body["rows"]}
    assert rows["refund", 1, "NORTH", "review"] == {
        "processKey": "refund", "version": 1, "site": "NORTH", "elementId": "review", "name": "Review",
        "openWithDue": 3, "openOverdue": 2, "completed": 3, "completedWithDue": 2, "completedLate": 1,
        "lateRate": 0.5}
    assert rows["refund", 1, "NORTH", "approve"]["completedLate"] == 1
    assert rows["refund", 1, "SOUTH", "review"]["completedLate"] == 0
    assert rows["refund", 2, "NORTH", "approve"]["openWithDue"] == 1
    assert rows["refund", 2, "NORTH", "approve"]["openOverdue"] == 0
    assert ("claims", 1, "SOUTH", "triage") not in rows  # no due date, nothing completed: nothing to say
    assert body["totals"] == {"openWithDue": 4, "openOverdue": 2, "completed": 5, "completedWithDue": 4,
                              "completedLate": 2, "lateRate": 0.5}


def test_incident_and_retry_rates(client, crafted):
    body = get(client, "incidents", **WINDOW)
    rows = {key(r): r for r in body["rows"]}
    assert rows["refund", 1, "NORTH", "pay"] == {
        "processKey": "refund", "version": 1, "site": "NORTH", "elementId": "pay", "jobsFinished": 4,
        "retriesScheduled": 2, "incidentsOpened": 2, "openIncidents": 2, "incidentRate": 0.5, "retryRate": 0.5}
    assert rows["refund", 1, "NORTH", "wait"]["jobsFinished"] == 1
    assert rows["refund", 1, "NORTH", "wait"]["incidentRate"] == 0.0
    assert rows["claims", 1, "SOUTH", "fetch"] == {
        "processKey": "claims", "version": 1, "site": "SOUTH", "elementId": "fetch", "jobsFinished": 0,
        "retriesScheduled": 0, "incidentsOpened": 1, "openIncidents": 1, "incidentRate": None, "retryRate": None}
    assert len(rows) == 3
    assert body["totals"] == {"jobsFinished": 5, "retriesScheduled": 2, "incidentsOpened": 3, "openIncidents": 3,
                              "incidentRate": 0.6, "retryRate": 0.4}


def test_throughput_per_day(client, crafted):
    body = get(client, "throughput", **WINDOW)
    assert [d["date"] for d in body["days"]] == [f"2024-03-{n:02d}" for n in range(1, 11)]
    instances = {d["date"][-2:]: d["instancesCompleted"] for d in body["days"] if d["instancesCompleted"]}
    tasks = {d["date"][-2:]: d["tasksCompleted"] for d in body["days"] if d["tasksCompleted"]}
    assert instances == {"02": 1, "03": 1, "05": 2, "07": 1, "08": 1}
    assert tasks == {"01": 3, "02": 1, "05": 1}
    assert body["totals"] == {"instancesCompleted": 6, "tasksCompleted": 5}


def test_summary(client, crafted):
    body = get(client, "summary", **WINDOW)
    assert body["instances"] == {"byState": {"running": 2, "suspended": 1, "completed": 8, "terminated": 1},
                                 "completed": 6}
    assert body["cycleTime"] == {"count": 6, "medianSeconds": 1.5 * DAY, "p90Seconds": 3.75 * DAY}
    assert body["tasks"] == {"open": 6, "overdue": 2, "agingBuckets": {"lt1d": 1, "1to3d": 2, "3to7d": 1, "gt7d": 2},
                             "completed": 5, "completedWithDue": 4, "completedLate": 2, "lateRate": 0.5}
    assert body["jobs"]["incidentRate"] == 0.6 and body["jobs"]["retriesScheduled"] == 2


def test_default_window_is_the_last_30_days(client, crafted):
    body = get(client, "throughput")
    assert len(body["days"]) == 30
    assert body["days"][-1]["date"] == utcnow().date().isoformat()
    assert body["totals"] == {"instancesCompleted": 0, "tasksCompleted": 0}  # March 2024 is long gone


# --- who sees what ----------------------------------------------------------------------------

def test_staff_see_their_sites_only_analysts_and_admins_all(client, crafted):
    sam = bearer("sam")  # SOUTH
    assert [key(r) for r in get(client, "queue-aging", headers=sam)["rows"]] == [("claims", 1, "SOUTH", "triage")]
    cycles = get(client, "cycle-times", headers=sam, **WINDOW)
    assert [key(r, "processKey", "version", "site") for r in cycles["instances"]] == [("refund", 1, "SOUTH")]
    assert get(client, "summary", headers=sam, **WINDOW)["instances"]["byState"] == {
        "running": 1, "suspended": 0, "completed": 1, "terminated": 0}
    # asking for another site's numbers gives none, not theirs
    assert get(client, "queue-aging", headers=sam, site="NORTH")["totals"]["open"] == 0
    assert get(client, "incidents", headers=sam, **WINDOW)["totals"]["openIncidents"] == 1
    analyst = get(client, "summary", headers=bearer("analyst"), **WINDOW)
    assert analyst == get(client, "summary", **WINDOW) | {"asOf": analyst["asOf"]}


def test_metrics_need_credentials(anonymous, crafted):
    response = anonymous.get("/api/v1/metrics/summary")
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"


@pytest.mark.parametrize("params, field", [
    ({"from": "2024-13-01"}, "from"), ({"to": "yesterday"}, "to"), ({"version": "abc"}, "version"),
    ({"version": "0"}, "version"), ({"from": "2024-03-10", "to": "2024-03-01"}, "from"),
    ({"from": "2022-01-01", "to": "2024-03-01"}, "from"), ({"processKey": "a\x01b"}, "processKey"),
    # digits that are not 0-9 ("²".isdigit() is true), and days at the calendar's edges, whose window
    # (or its UTC day, or its default start a month earlier) falls outside it
    ({"version": "\u00b2"}, "version"), ({"to": "9999-12-31"}, "to"), ({"to": "0001-01-05"}, "to"),
    ({"to": "9999-12-31T23:00:00-05:00"}, "to"), ({"from": "0001-01-01T00:00:00+01:00", "to": "2024-01-01"}, "from"),
])
def test_bad_filters_answer_422_problem(client, crafted, params, field):
    for path in ("summary", "queue-aging", "cycle-times", "sla", "incidents", "throughput", "breakdown"):
        response = client.get(f"/api/v1/metrics/{path}", query_string=params)
        assert response.status_code == 422, (path, params)
        assert response.content_type == "application/problem+json"
        problem = response.get_json()
        assert problem["type"].endswith("/validation-error") and field in problem["errors"], problem


def test_dates_may_be_date_times(client, crafted):
    body = get(client, "throughput", **{"from": "2024-03-01T10:00:00Z", "to": "2024-03-02T23:00:00+02:00"})
    assert body["filters"]["from"] == "2024-03-01" and body["filters"]["to"] == "2024-03-02"


# --- the breakdown, as JSON and CSV -----------------------------------------------------------

def test_breakdown_csv_has_one_row_per_process_version_site_and_step(client, crafted):
    response = client.get("/api/v1/metrics/breakdown", query_string={**WINDOW, "format": "csv"})
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == \
        'attachment; filename="lanes-metrics-2024-03-01-2024-03-10.csv"'
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    keys = [(r["process_key"], r["version"], r["site"], r["step"]) for r in rows]
    assert len(keys) == len(set(keys))
    assert keys == [
        ("claims", "1", "SOUTH", "fetch"), ("claims", "1", "SOUTH", "triage"),
        ("refund", "1", "NORTH", ""), ("refund", "1", "NORTH", "approve"), ("refund", "1", "NORTH", "pay"),
        ("refund", "1", "NORTH", "review"), ("refund", "1", "NORTH", "wait"),
        ("refund", "1", "SOUTH", ""), ("refund", "1", "SOUTH", "review"),
        ("refund", "2", "NORTH", ""), ("refund", "2", "NORTH", "approve"),
    ]
    by_key = dict(zip(keys, rows))
    review = by_key["refund", "1", "NORTH", "review"]
    assert {k: review[k] for k in ("open_tasks", "open_lt_1d", "open_1_3d", "open_3_7d", "open_gt_7d", "open_overdue",
                                   "tasks_completed", "tasks_completed_late", "stage_median_seconds",
                                   "stage_p90_seconds")} == {
        "open_tasks": "4", "open_lt_1d": "1", "open_1_3d": "1", "open_3_7d": "1", "open_gt_7d": "1",
        "open_overdue": "2", "tasks_completed": "3", "tasks_completed_late": "1", "stage_median_seconds": "7200.0",
        "stage_p90_seconds": "10080.0"}
    # as the sla and queue-aging reports give them for the step
    [sla] = [r for r in get(client, "sla", **WINDOW)["rows"] if key(r) == ("refund", 1, "NORTH", "review")]
    [queue] = [r for r in get(client, "queue-aging", **WINDOW)["rows"] if key(r) == ("refund", 1, "NORTH", "review")]
    assert (review["tasks_completed_with_due"], review["late_rate"]) == (str(sla["completedWithDue"]), str(sla["lateRate"]))
    assert sla["lateRate"] == round(1 / sla["completedWithDue"], 4)
    assert float(review["open_oldest_age_seconds"]) == pytest.approx(queue["oldestAgeSeconds"], abs=60)
    assert queue["oldestAgeSeconds"] >= 7 * DAY  # the gt7d one
    process = by_key["refund", "1", "NORTH", ""]
    assert (process["instances_completed"], process["cycle_median_seconds"], process["cycle_p90_seconds"]) == \
        ("4", "216000.0", "349920.0")
    pay = by_key["refund", "1", "NORTH", "pay"]
    assert (pay["jobs_finished"], pay["incidents_opened"], pay["incident_rate"], pay["retry_rate"]) == \
        ("4", "2", "0.5", "0.5")
    assert by_key["claims", "1", "SOUTH", "fetch"]["incident_rate"] == ""


def test_breakdown_json_rows(client, crafted):
    body = get(client, "breakdown", **WINDOW)
    rows = {key(r): r for r in body["rows"]}
    assert len(rows) == len(body["rows"]) == 11
    assert rows["refund", 2, "NORTH", None]["instancesCompleted"] == 1
    assert rows["refund", 2, "NORTH", "approve"]["gt7d"] == 1
    response = client.get("/api/v1/metrics/breakdown", query_string={"format": "xml"})
    assert response.status_code == 422


def test_csv_cells_that_look_like_formulas_are_defused():
    rows = [{field: None for _, field in metrics.BREAKDOWN_COLUMNS} | {"processKey": "=HYPERLINK(1)", "site": "N"}]
    parsed = list(csv.DictReader(io.StringIO(metrics.breakdown_csv(rows))))
    assert parsed[0]["process_key"] == "'=HYPERLINK(1)"


# --- Prometheus ------------------------------------------------------------------------------

def scrape(client, **kwargs) -> dict:
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain; version=")
    families = {f.name: f for f in text_string_to_metric_families(response.get_data(as_text=True))}
    return {name: {tuple(sorted(s.labels.items())): s.value for s in family.samples}
            for name, family in families.items()}


def labels(**values):
    return tuple(sorted(values.items()))


def test_prometheus_gauges_from_the_tables(client, crafted):
    found = scrape(client)
    assert found["lanes_open_tasks"] == {labels(process_key="claims", site="SOUTH"): 1.0,
                                         labels(process_key="refund", site="NORTH"): 5.0}
    assert found["lanes_overdue_tasks"] == {labels(process_key="claims", site="SOUTH"): 0.0,
                                            labels(process_key="refund", site="NORTH"): 2.0}
    assert found["lanes_oldest_open_task_age_seconds"][labels(process_key="refund", site="NORTH")] == \
        pytest.approx(10 * DAY, abs=120)
    assert found["lanes_open_incidents"] == {labels(process_key="claims", site="SOUTH"): 1.0,
                                             labels(process_key="refund", site="NORTH"): 2.0}
    assert found["lanes_instances"] == {  # every state of a process and site with instances, 0 included
        labels(process_key="claims", site="SOUTH", state="running"): 1.0,
        labels(process_key="claims", site="SOUTH", state="suspended"): 0.0,
        labels(process_key="claims", site="SOUTH", state="completed"): 0.0,
        labels(process_key="claims", site="SOUTH", state="terminated"): 0.0,
        labels(process_key="refund", site="NORTH", state="completed"): 7.0,
        labels(process_key="refund", site="NORTH", state="running"): 1.0,
        labels(process_key="refund", site="NORTH", state="suspended"): 1.0,
        labels(process_key="refund", site="NORTH", state="terminated"): 1.0,
        labels(process_key="refund", site="SOUTH", state="running"): 0.0,
        labels(process_key="refund", site="SOUTH", state="suspended"): 0.0,
        labels(process_key="refund", site="SOUTH", state="completed"): 1.0,
        labels(process_key="refund", site="SOUTH", state="terminated"): 0.0,
    }
    assert found["lanes_jobs_due"] == {labels(kind="service"): 1.0, labels(kind="timer"): 0.0}
    assert found["lanes_jobs_failed"] == {labels(kind="service"): 1.0, labels(kind="timer"): 0.0}
    assert found["lanes_oldest_due_job_seconds"][labels(kind="service")] == pytest.approx(60, abs=120)


def test_prometheus_on_an_empty_database(client):
    found = scrape(client)
    assert found["lanes_open_tasks"] == {} and found["lanes_instances"] == {}


def test_prometheus_is_for_loopback_unless_a_token_is_set(app, client, crafted):
    remote = {"environ_base": {"REMOTE_ADDR": "10.1.2.3"}}
    assert client.get("/metrics", **remote).status_code == 403
    assert scrape(client, environ_base={"REMOTE_ADDR": "::1"})["lanes_open_tasks"]
    app.config["LANES_METRICS_TOKEN"] = "scrape-secret"
    assert client.get("/metrics").status_code == 401  # the token is needed from loopback too
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}, **remote).status_code == 401
    assert scrape(client, headers={"Authorization": "Bearer scrape-secret"}, **remote)["lanes_jobs_due"]
