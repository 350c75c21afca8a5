"""Issue 9, the metrics dashboard in a browser: charts drawn by Chart.js from the crafted rows of
tests/metrics_data.py, headline numbers, the time per canonical stage, the CSV export, staff limited to
their sites, bad filters."""
from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import expect

from runner.models import utcnow
from runner.services import accounts, metrics
from tests.metrics_data import WINDOW, add_crafted_rows

from .conftest import add_user, log_in

pytestmark = pytest.mark.sqlite_only

CHARTS = ("throughput", "queue", "sla", "cycles", "stages", "incidents")
WINDOW_QUERY = f"from={WINDOW['from']}&to={WINDOW['to']}"


@pytest.fixture(scope="module")
def people(live):
    add_user(live, "dash-admin", "dash-admin-pw", roles=["admin"])
    add_user(live, "dash-sam", "dash-sam-pw", roles=["staff"], sites=["SOUTH"], groups=["south_billing"])
    live.call(add_crafted_rows, utcnow())
    return live


def painted_pixels(page, selector: str) -> int:
    """How many pixels of the canvas are not transparent (0 for a blank canvas)."""
    return page.eval_on_selector(selector, """canvas => {
        const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0;
        for (let i = 3; i < pixels.length; i += 4) { if (pixels[i]) painted++; }
        return painted;
    }""")


def test_dashboard_draws_every_chart_with_the_numbers(page, people, screenshots):
    log_in(page, "dash-admin", "dash-admin-pw")
    page.goto(f"/dashboard?{WINDOW_QUERY}")
    for name in CHARTS:
        canvas = page.locator(f"canvas[data-chart={name}]")
        expect(canvas).to_have_attribute("data-rendered", "true")
        box = canvas.bounding_box()
        assert box["width"] > 200 and box["height"] > 100, (name, box)
        assert painted_pixels(page, f"canvas[data-chart={name}]") > 500, name
    # what the charts were given is what the services computed
    throughput = page.evaluate("""() => Chart.getChart(document.getElementById('chart-throughput'))
                                   .data.datasets.map(set => set.data)""")
    assert throughput[0] == [0, 1, 1, 0, 2, 0, 1, 1, 0, 0]  # instances completed, March 1 to 10
    assert throughput[1] == [3, 1, 0, 0, 1, 0, 0, 0, 0, 0]  # tasks completed
    queue = page.evaluate("() => Chart.getChart(document.getElementById('chart-queue')).data")
    assert queue["labels"] == ["claims v1 · SOUTH · Triage", "refund v1 · NORTH · Review", "refund v2 · NORTH · Approve"]
    assert [s["data"] for s in queue["datasets"]] == [[0, 1, 0], [1, 1, 0], [0, 1, 0], [0, 1, 1]]
    expect(page.locator("#tile-open")).to_have_text("6")
    expect(page.locator("#tile-overdue")).to_have_text("2")
    expect(page.locator("#tile-cycle")).to_have_text("1.5 d")
    expect(page.locator("#tile-late")).to_have_text("50.0 %")
    expect(page.locator("#tile-incidents")).to_have_text("3")
    expect(page.locator("#metrics-breakdown tbody tr")).to_have_count(11)
    # open, < 1 d, 1-3 d, 3-7 d, > 7 d, overdue, completed, late
    cells = page.locator('#metrics-breakdown tr[data-key="refund/1/NORTH/review"] td.num').all_inner_texts()
    assert cells[:8] == ["4", "1", "1", "1", "1", "2", "3", "1"]
    cells = page.locator('#metrics-breakdown tr[data-key="refund/2/NORTH/approve"] td.num').all_inner_texts()
    assert cells[:8] == ["1", "0", "0", "0", "1", "0", "0", "0"]
    page.screenshot(path=str(screenshots / "dashboard.png"), full_page=True)


def canonical_stages(live, username):
    """What services/metrics.py computes for `username` over the window: the rows the table must show."""
    return live.call(lambda: metrics.cycle_times(metrics.parse_query(WINDOW), accounts.principal(username))
                     ["canonicalStages"])


def stage_table(page) -> dict:
    """The canonical-stage table as {data-key: {field: (text, data-seconds or None)}}."""
    return page.eval_on_selector_all("#metrics-canonical-stages tbody tr", """rows => Object.fromEntries(rows.map(
        row => [row.dataset.key, Object.fromEntries([...row.querySelectorAll('td[data-field]')].map(
            cell => [cell.dataset.field, [cell.textContent.trim(), cell.dataset.seconds === undefined ? null
                                          : cell.dataset.seconds]]))]))""")


def seconds_cell(value):
    return "" if value is None else str(value)


def test_dashboard_shows_the_time_per_canonical_stage(page, people, screenshots):
    expected = canonical_stages(people, "dash-admin")
    assert len(expected) == 6
    log_in(page, "dash-admin", "dash-admin-pw")
    page.goto(f"/dashboard?{WINDOW_QUERY}")
    expect(page.locator("#metrics-canonical-stages")).to_be_visible()
    table = stage_table(page)
    assert list(table) == [f"{r['processKey']}/{r['version']}/{r['site']}/{r['stage']}" for r in expected]
    for row in expected:
        cells = table[f"{row['processKey']}/{row['version']}/{row['site']}/{row['stage']}"]
        assert cells["count"][0] == str(row["count"]) and cells["inStageNow"][0] == str(row["inStageNow"])
        assert cells["medianSeconds"][1] == seconds_cell(row["medianSeconds"])
        assert cells["p90Seconds"][1] == seconds_cell(row["p90Seconds"])
        if row["oldestAgeSeconds"] is None:
            assert cells["oldestAgeSeconds"] == ["—", ""]
        else:  # aged from the moment each was computed
            assert abs(float(cells["oldestAgeSeconds"][1]) - row["oldestAgeSeconds"]) < 60
    # and for people: refund v1 NORTH submitted 1, 2, 3, 4, 6 h; approved 20, 21, 22, 66, 107 h
    submitted = table["refund/1/NORTH/submitted"]
    assert [submitted[f][0] for f in ("count", "medianSeconds", "p90Seconds", "inStageNow", "oldestAgeSeconds")] == \
        ["5", "3.0 h", "5.2 h", "1", "3.0 d"]
    approved = table["refund/1/NORTH/approved"]
    assert [approved[f][0] for f in ("count", "medianSeconds", "p90Seconds", "inStageNow", "oldestAgeSeconds")] == \
        ["5", "22 h", "3.8 d", "0", "—"]
    assert table["refund/2/NORTH/approved"]["medianSeconds"][0] == "—"
    assert table["refund/2/NORTH/approved"]["oldestAgeSeconds"][0] == "9.0 d"
    page.locator("#metrics-canonical-stages").screenshot(path=str(screenshots / "dashboard-canonical-stages.png"))

    page.goto(f"/dashboard?{WINDOW_QUERY}&processKey=claims")
    assert list(stage_table(page)) == ["claims/1/SOUTH/received"]
    page.goto("/dashboard?from=2024-01-01&to=2024-01-31&processKey=nothing-here")
    expect(page.locator("#no-canonical-stages")).to_be_visible()


def test_csv_export_downloads_the_breakdown(page, people):
    log_in(page, "dash-admin", "dash-admin-pw")
    page.goto(f"/dashboard?{WINDOW_QUERY}&processKey=refund")
    with page.expect_download() as info:
        page.click("#export-csv")
    download = info.value
    assert download.suggested_filename == "lanes-metrics-2024-03-01-2024-03-10.csv"
    rows = list(csv.DictReader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    assert {r["process_key"] for r in rows} == {"refund"}
    assert len(rows) == 9
    process = next(r for r in rows if (r["version"], r["site"], r["step"]) == ("1", "NORTH", ""))
    assert (process["instances_completed"], process["cycle_median_seconds"]) == ("4", "216000.0")
    response = page.request.get(f"/dashboard/export.csv?{WINDOW_QUERY}")
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == 'attachment; filename="lanes-metrics-2024-03-01-2024-03-10.csv"'


def test_staff_see_only_their_sites(page, people):
    log_in(page, "dash-sam", "dash-sam-pw")
    page.goto(f"/dashboard?{WINDOW_QUERY}")
    expect(page.locator("canvas[data-chart=queue]")).to_have_attribute("data-rendered", "true")
    sites = page.locator("#metrics-breakdown tbody tr td:nth-child(3)").all_inner_texts()
    assert sites and set(sites) == {"SOUTH"}
    expect(page.locator("#tile-open")).to_have_text("1")
    expect(page.locator("#f-site option")).to_have_text(["All sites", "SOUTH"])
    assert list(stage_table(page)) == ["claims/1/SOUTH/received", "refund/1/SOUTH/submitted"]
    assert [f"{r['processKey']}/{r['version']}/{r['site']}/{r['stage']}" for r in canonical_stages(people, "dash-sam")] \
        == list(stage_table(page))


def _resolved_start_timer_incident():
    """An incident of a start timer's job, in June 2024 (outside the crafted rows' window, so no other
    figure changes): it has a process and a site but no instance, so no version."""
    from datetime import datetime

    from runner.models import Incident, db
    opened = datetime(2024, 6, 15, 2, 0)
    db.session.add(Incident(instance_id=None, element_id="every_night", process_key="nightly_reconciliation",
                            site="NORTH", kind="failed-job", message="timer start failed", state="resolved",
                            created_at=opened, resolved_at=opened, resolved_by="dash-admin"))
    db.session.commit()


def test_a_start_timer_incident_is_labelled_by_its_process_and_site(page, people):
    people.call(_resolved_start_timer_incident)
    log_in(page, "dash-admin", "dash-admin-pw")
    page.goto("/dashboard?from=2024-06-01&to=2024-06-30")
    expect(page.locator("canvas[data-chart=incidents]")).to_have_attribute("data-rendered", "true")
    incidents = page.evaluate("() => Chart.getChart(document.getElementById('chart-incidents')).data")
    # (the crafted rows' incidents open now are listed too: open work is as of now)
    rows = dict(zip(incidents["labels"], incidents["datasets"][2]["data"]))  # incidents opened in June
    assert rows["nightly_reconciliation · NORTH · every_night"] == 1
    assert not [label for label in rows if "null" in label or "undefined" in label], rows


def test_bad_filters_are_explained(page, people):
    log_in(page, "dash-admin", "dash-admin-pw")
    response = page.goto("/dashboard?from=2024-03-10&to=2024-03-01")
    assert response.status == 422
    expect(page.locator("#metrics-errors li[data-field=from]")).to_contain_text("after")
    assert page.locator("canvas").count() == 0


def test_the_dashboard_needs_a_sign_in(page, people):
    page.goto("/dashboard")
    assert "/login" in page.url
