"""REST routes for process metrics (issue 9): queue aging, cycle times, SLA, incidents and retries,
throughput, a summary, and a breakdown per process/version/site/step as JSON or CSV.

Every route takes `processKey`, `site`, `version`, `from`, `to` (ISO dates, the window's first and
last UTC day; default the last 30 days); a bad value answers 422 problem+json naming it. Staff see
their sites only; admins and analysts every site (services/metrics.py decides).
"""
from __future__ import annotations

from flask import Response, jsonify, request

from ..services import metrics
from ..services.errors import Invalid
from . import api, openapi
from .identity import current_principal


def _query() -> metrics.MetricsQuery:
    return metrics.parse_query(request.args)


REPORTS = {
    "summary": metrics.summary, "queue-aging": metrics.queue_aging, "cycle-times": metrics.cycle_times,
    "sla": metrics.sla, "incidents": metrics.incidents, "throughput": metrics.throughput,
}


def _report_route(path: str, report) -> None:
    """GET /metrics/<path>: the service's report for the request's filters, as JSON."""
    def view():
        return jsonify(report(_query(), current_principal()))
    api.add_url_rule(f"/metrics/{path}", f"metrics_{path.replace('-', '_')}", view, methods=["GET"])


for _path, _report in REPORTS.items():
    _report_route(_path, _report)


@api.get("/metrics/breakdown")
def metrics_breakdown():
    query = _query()
    rows = metrics.breakdown(query, current_principal())
    fmt = request.args.get("format", "json")
    if fmt == "csv":
        return Response(metrics.breakdown_csv(rows), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{query.export_filename()}"'})
    if fmt != "json":
        raise Invalid("format must be json or csv", errors={"format": "Must be json or csv"})
    return jsonify({"filters": query.as_json(), "rows": rows})


# --- OpenAPI ---------------------------------------------------------------------

_S = openapi._string
_INT = {"type": "integer"}
_SECONDS = {"type": ["number", "null"], "description": "seconds"}
_RATE = {"type": ["number", "null"], "description": "a ratio; null when the denominator is 0"}
FILTERS = [
    openapi._param("processKey", description="only this process"),
    openapi._param("site", description="only this site"),
    openapi._param("version", description="only this version of the process(es)",
                   schema={"type": "integer", "minimum": 1}),
    openapi._param("from", description="first UTC day of the window (ISO date); default 29 days before `to`",
                   schema={"type": "string", "format": "date"}),
    openapi._param("to", description="last UTC day of the window, included (ISO date); default today",
                   schema={"type": "string", "format": "date"}),
]
_STEP = {"processKey": _S(), "version": {"type": ["integer", "null"]}, "site": _S(),
         "elementId": _S("the user task's or job's element id")}
_STATS = {"count": _INT, "medianSeconds": _SECONDS, "p90Seconds": _SECONDS}
_BUCKETS = {"type": "object", "description": "open tasks by age: lt1d (< 1 day), 1to3d, 3to7d, gt7d (>= 7 days)",
            "properties": {b: _INT for b, _, _ in metrics.BUCKETS}}


def _object(properties: dict, **extra) -> dict:
    return {"type": "object", "properties": properties, **extra}


def _report(rows: dict | None = None, **properties) -> dict:
    body = {"filters": openapi._ref("MetricsFilters"), **properties}
    if rows is not None:
        body["rows"] = {"type": "array", "items": _object(rows)}
    return _object(body)


_SLA_COUNTS = {name: _INT for name in ("openWithDue", "openOverdue", "completed", "completedWithDue", "completedLate")}
_INCIDENT_COUNTS = {name: _INT for name in metrics.INCIDENT_COUNTS}
_INCIDENT_RATES = {"incidentRate": _RATE, "retryRate": _RATE}
openapi.SCHEMAS.update({
    "MetricsFilters": _object({"processKey": openapi.NULLABLE_STRING, "site": openapi.NULLABLE_STRING,
                               "version": {"type": ["integer", "null"]}, "from": _S(format="date"),
                               "to": _S(format="date")}),
    "MetricsSummary": _report(
        asOf=openapi.TIME,
        instances=_object({"byState": {"type": "object", "additionalProperties": _INT}, "completed": _INT}),
        cycleTime=_object(_STATS),
        tasks=_object({"open": _INT, "overdue": _INT, "agingBuckets": _BUCKETS, "completed": _INT,
                       "completedWithDue": _INT, "completedLate": _INT, "lateRate": _RATE}),
        jobs=_object({**_INCIDENT_COUNTS, **_INCIDENT_RATES})),
    "QueueAging": _report(
        {**_STEP, "name": _S(), "open": _INT, "buckets": _BUCKETS, "overdue": _INT, "oldestAgeSeconds": _SECONDS},
        asOf=openapi.TIME, bucketLabels={"type": "object", "additionalProperties": _S()},
        totals=_object({"open": _INT, "overdue": _INT, "buckets": _BUCKETS})),
    "CycleTimes": _report(
        overall=_object(_STATS),
        instances={"type": "array", "items": _object({**{k: _STEP[k] for k in ("processKey", "version", "site")},
                                                      **_STATS})},
        stages={"type": "array", "items": _object({**_STEP, "name": _S(), **_STATS})},
        canonicalStages={"type": "array", "items": _object({
            **{k: _STEP[k] for k in ("processKey", "version", "site")},
            "stage": _S("a value of the instance's `status` variable (its canonical stage)"),
            "count": {"type": "integer", "description": "stays in the stage that ended in the window"},
            "medianSeconds": _SECONDS, "p90Seconds": _SECONDS,
            "inStageNow": {"type": "integer", "description": "running or suspended instances in the stage now"},
            "oldestAgeSeconds": {"type": ["number", "null"],
                                 "description": "seconds since the longest of those stays began; null when none"}})}),
    "SlaMetrics": _report({**_STEP, "name": _S(), **_SLA_COUNTS, "lateRate": _RATE}, asOf=openapi.TIME,
                          totals=_object({**_SLA_COUNTS, "lateRate": _RATE})),
    "IncidentMetrics": _report({**_STEP, **_INCIDENT_COUNTS, **_INCIDENT_RATES},
                               totals=_object({**_INCIDENT_COUNTS, **_INCIDENT_RATES})),
    "Throughput": _report(
        days={"type": "array", "items": _object({"date": _S(format="date"), "instancesCompleted": _INT,
                                                 "tasksCompleted": _INT})},
        totals=_object({"instancesCompleted": _INT, "tasksCompleted": _INT})),
    "MetricsBreakdown": _report({field: {} for _, field in metrics.BREAKDOWN_COLUMNS}),
})


def _operation(summary: str, operation_id: str, schema: str, description: str) -> dict:
    return {"get": {"summary": summary, "description": description, "operationId": operation_id,
                    "tags": ["metrics"], "parameters": FILTERS,
                    "responses": {**openapi._ok(summary, openapi._ref(schema)), **openapi._problems(422)}}}


_BREAKDOWN = _operation(
    "One row per process, version, site and step", "metricsBreakdown", "MetricsBreakdown",
    "Every metric that applies to each process/version/site/step; a row whose elementId is null holds the "
    "process's own numbers (instances completed, cycle time). `format=csv` answers text/csv as a download.")
_BREAKDOWN["get"]["parameters"] = [*FILTERS, openapi._param("format", description="json (default) or csv",
                                                            schema={"type": "string", "enum": ["json", "csv"]})]
_BREAKDOWN["get"]["responses"]["200"]["content"]["text/csv"] = {"schema": _S()}
openapi.PATHS.update({
    "/metrics/summary": _operation(
        "Headline metrics", "metricsSummary", "MetricsSummary",
        "Instances by state, cycle time, open/overdue tasks and their ages, late completions, jobs finished, "
        "retries and incidents with their rates, for the filters and window."),
    "/metrics/queue-aging": _operation(
        "Open tasks by age", "metricsQueueAging", "QueueAging",
        "Open human tasks now (the window does not apply) per process, version, site and step, by age bucket, "
        "with how many are overdue."),
    "/metrics/cycle-times": _operation(
        "Cycle times", "metricsCycleTimes", "CycleTimes",
        "Median and 90th percentile (linear interpolation) of start-to-end times of instances completed in the "
        "window per process/version/site, of created-to-completed times of their user tasks per step, and "
        "(canonicalStages) of the stays in each value of the `status` variable that ended in the window, with "
        "the instances in each stage now (the window does not apply to those) and the age of the oldest stay."),
    "/metrics/sla": _operation(
        "SLA breaches", "metricsSla", "SlaMetrics",
        "Open tasks past their due date now, and tasks completed in the window after their due date."),
    "/metrics/incidents": _operation(
        "Incident and retry rates", "metricsIncidents", "IncidentMetrics",
        "Jobs finished (job.completed, job.bpmn-error, timer.fired), retries scheduled and incidents opened in the "
        "window, their rates per finished job, and the incidents open now."),
    "/metrics/throughput": _operation(
        "Throughput per day", "metricsThroughput", "Throughput",
        "Instances completed and user tasks completed per UTC day of the window."),
    "/metrics/breakdown": _BREAKDOWN,
})
