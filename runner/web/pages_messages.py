"""Admin page: inbound messages (/admin/messages), the kept ones above all.

A message nobody waited for is kept (pending) until its ttlSeconds run out, then it is expired and only
listed: this page is where admins see them, with what each carried (sensitive values masked) and, for
delivered and failed ones, the instance it went to. Through services.messages only.
"""
from __future__ import annotations

from flask import render_template, request

from ..services import messages
from . import web
from .auth import current_principal
from .pages_common import admin_required

MAX_ROWS = 200


@web.get("/admin/messages")
@admin_required
def admin_messages():
    chosen = [s for s in request.args.getlist("state") if s.strip()]
    states = tuple(dict.fromkeys(chosen)) or messages.ADMIN_DEFAULT_STATES
    name = request.args.get("name", "").strip()
    found = messages.admin_messages(current_principal(), states=states, name=name or None, limit=MAX_ROWS)
    return render_template("admin/messages.html", found=found, states=states, all_states=messages.STATES,
                           name=name, max_rows=MAX_ROWS, default=states == messages.ADMIN_DEFAULT_STATES)
