"""GET /metrics: Prometheus text exposition, computed from the database at scrape time.

A custom collector reads the current counts (services/metrics.gauges) on every scrape, so any
gunicorn worker answers the same numbers and no multiprocess mode is needed. The registry holds
only this collector (per-process collectors would differ from worker to worker).

Who may scrape: with LANES_METRICS_TOKEN set, every request must send `Authorization: Bearer <that
token>`; without it, only clients on the loopback interface (127.0.0.0/8, ::1), others get 403.
Behind a reverse proxy on the same machine every client looks local: set the token there.
"""
from __future__ import annotations

import hmac
import ipaddress
import os

from flask import Flask, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .services import metrics

TOKEN_SETTING = "LANES_METRICS_TOKEN"


class LanesCollector(Collector):
    """Gauges from the tables: open and overdue tasks, open incidents, instances by state, jobs."""

    def collect(self):
        snapshot = metrics.gauges()
        open_tasks = GaugeMetricFamily("lanes_open_tasks", "Open human tasks", labels=["process_key", "site"])
        overdue = GaugeMetricFamily("lanes_overdue_tasks", "Open human tasks past their due date",
                                    labels=["process_key", "site"])
        oldest = GaugeMetricFamily("lanes_oldest_open_task_age_seconds", "Age of the oldest open human task",
                                   labels=["process_key", "site"])
        for key, site, count, late, age in snapshot.open_tasks:
            open_tasks.add_metric([key, site], count)
            overdue.add_metric([key, site], late)
            oldest.add_metric([key, site], age)
        incidents = GaugeMetricFamily("lanes_open_incidents", "Open incidents (failed jobs waiting for an admin)",
                                      labels=["process_key", "site"])
        for key, site, count in snapshot.open_incidents:
            incidents.add_metric([key, site], count)
        instances = GaugeMetricFamily("lanes_instances", "Process instances by state",
                                      labels=["process_key", "site", "state"])
        for key, site, state, count in snapshot.instances:
            instances.add_metric([key, site, state], count)
        due = GaugeMetricFamily("lanes_jobs_due", "Jobs due now and not yet run (ready, due_at passed)", labels=["kind"])
        failed = GaugeMetricFamily("lanes_jobs_failed", "Jobs that ran out of retries (each has an incident)",
                                   labels=["kind"])
        lag = GaugeMetricFamily("lanes_oldest_due_job_seconds", "How long the longest-waiting due job is overdue",
                                labels=["kind"])
        for kind, due_now, failed_now, waited in snapshot.jobs:
            due.add_metric([kind], due_now)
            failed.add_metric([kind], failed_now)
            lag.add_metric([kind], waited)
        yield from (open_tasks, overdue, oldest, incidents, instances, due, failed, lag)


def _is_loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


def _refusal() -> Response | None:
    token = current_app.config.get(TOKEN_SETTING)
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return None
        return Response("a bearer token (LANES_METRICS_TOKEN) is required\n", status=401, mimetype="text/plain",
                        headers={"WWW-Authenticate": 'Bearer realm="lanes-metrics"'})
    if _is_loopback(request.remote_addr):
        return None
    return Response("metrics are served to loopback clients only; set LANES_METRICS_TOKEN to scrape from elsewhere\n",
                    status=403, mimetype="text/plain")


def init_app(app: Flask) -> None:
    app.config.setdefault(TOKEN_SETTING, os.environ.get(TOKEN_SETTING) or None)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LanesCollector())

    def prometheus_metrics():
        refused = _refusal()
        if refused is not None:
            return refused
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST,
                        headers={"Cache-Control": "no-store"})

    app.add_url_rule("/metrics", "prometheus_metrics", prometheus_metrics, methods=["GET"])
