"""The metrics dashboard (/dashboard) and its CSV export (/dashboard/export.csv).

Anyone signed in may open it; the numbers are the ones services/metrics.py lets them see (staff:
their sites; analysts and admins: every site). Charts are drawn by static/metrics.js with Chart.js
(vendored from npm like bpmn-js) from the reports embedded as JSON (the CSP forbids inline scripts).
"""
from __future__ import annotations

from flask import Response, render_template, request

from ..services import Invalid, metrics
from . import web
from .auth import current_principal, login_required
from .pages_common import query_filters

FILTERS = ("processKey", "site", "version", "from", "to")


@web.app_template_filter("duration")
def duration(seconds: float | None) -> str:
    """Seconds for people: 45 s, 12 min, 5.5 h, 2.3 d."""
    if seconds is None:
        return "—"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            value = seconds / size
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{seconds:.0f} s"


@web.app_template_filter("percent")
def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f} %"


@web.get("/dashboard")
@login_required
def dashboard():
    principal = current_principal()
    filters = query_filters(request.args, *FILTERS)
    facets = metrics.facets(principal)
    try:
        query = metrics.parse_query(filters)
    except Invalid as exc:
        return render_template("metrics/dashboard.html", filters=filters, facets=facets, query=None,
                               errors=exc.extra.get("errors") or {"": exc.detail}), 422
    built = metrics.report(query, principal)
    charts = {"throughput": built.throughput, "queue": built.queue, "cycles": built.cycles, "sla": built.sla,
              "incidents": built.incidents}
    return render_template("metrics/dashboard.html", filters=filters, facets=facets, query=query, errors=None,
                           summary=metrics.summary(query, principal, built=built),
                           rows=metrics.breakdown(query, principal, built=built), charts=charts,
                           canonical_stages=built.cycles["canonicalStages"])


@web.get("/dashboard/export.csv")
@login_required
def dashboard_export():
    principal = current_principal()
    query = metrics.parse_query(query_filters(request.args, *FILTERS))  # Invalid: the error page, 422
    return Response(metrics.breakdown_csv(metrics.breakdown(query, principal)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{query.export_filename()}"'})
