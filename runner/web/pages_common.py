"""What the staff and admin pages share: the admin gate, error pages, template helpers.

Pages call services only (never SQL). A service error becomes a page: 404 for NotFound, 403 for
Forbidden; Conflict and Invalid on a POST come back as a message on the page the user came from.
"""
from __future__ import annotations

import functools
import json
from datetime import datetime

from flask import abort, render_template, url_for
from markupsafe import Markup

from ..services import ServiceError, worklists
from . import web
from .assets import assets_present, vendor_url_suffix
from .auth import current_principal, login_required


def admin_required(view):
    """Signed in (else the login page) and an admin (else 403)."""
    @functools.wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not current_principal().is_admin:
            abort(403)
        return view(*args, **kwargs)
    return wrapper


@web.errorhandler(ServiceError)
def service_error_page(exc: ServiceError):
    return render_template("pages/error.html", title=exc.title, detail=exc.detail), exc.status


@web.app_template_global()
def vendor(path: str) -> str:
    """URL of a vendored bundle (runner/web/assets.py), versioned so browsers never use a stale copy."""
    return url_for("web.static", filename=f"vendor/{path}") + vendor_url_suffix(path)


@web.app_template_global()
def vendor_assets_present() -> bool:
    return assets_present()


@web.app_template_global()
def work_counts() -> dict:
    principal = current_principal()
    return worklists.counts(principal) if principal is not None else {}


@web.app_template_filter("when")
def when(value: datetime | None) -> str:
    """A stored (naive UTC) time for people: 2024-05-01 14:03 UTC."""
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


@web.app_template_filter("pretty_json")
def pretty_json(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


SLA_LABELS = {"overdue": "Overdue", "due-today": "Due today", "on-track": "On track"}


@web.app_template_filter("sla_badge")
def sla_badge(state: str | None) -> Markup:
    if not state:
        return Markup('<span class="sla sla-none">No due date</span>')
    return Markup('<span class="sla sla-{0}" data-sla="{0}">{1}</span>').format(state, SLA_LABELS[state])


def query_filters(args, *names: str) -> dict[str, str]:
    """The non-empty query parameters among `names` (for filters and their links)."""
    return {name: args.get(name, "").strip() for name in names if args.get(name, "").strip()}
