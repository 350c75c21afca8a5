"""Server-rendered pages (Jinja): sign-in and sign-out here; the staff pages (pages_tasks.py) and the
admin pages (pages_admin.py) register their routes on the same blueprint and build on web.auth."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from ..services import accounts
from .auth import current_principal, log_in, log_out, login_required, safe_next

web = Blueprint("web", __name__, template_folder="templates", static_folder="static",
                static_url_path="/static/web")

CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                           "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


@web.after_request
def security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if current_principal() is not None:
        response.headers.setdefault("Cache-Control", "no-store")
    return response


@web.app_context_processor
def template_globals():
    return {"principal": current_principal()}


@web.get("/")
@login_required
def home():
    return render_template("home.html")


@web.route("/login", methods=["GET", "POST"])
def login():
    target = safe_next(request.values.get("next"), url_for("web.home"))
    if request.method == "GET":
        if current_principal() is not None:
            return redirect(target)
        return render_template("login.html", next=target)
    username = request.form.get("username", "").strip()
    principal = accounts.authenticate(username, request.form.get("password", ""))
    if principal is None:
        flash("Wrong user name or password.", "error")
        return render_template("login.html", next=target, username=username), 401
    log_in(principal)
    return redirect(target)


@web.route("/logout", methods=["GET", "POST"])
def logout():
    """GET asks for confirmation; only a POST (with its CSRF token) signs out."""
    if request.method == "GET":
        return render_template("logout.html")
    log_out()
    flash("You are signed out.", "info")
    return redirect(url_for("web.login"))


from . import pages_admin, pages_tasks  # noqa: E402,F401  (register the pages' routes on the blueprint)
from . import pages_modeler  # noqa: E402,F401  (the analysts' modeler pages)
from . import pages_metrics  # noqa: E402,F401  (the metrics dashboard)
from . import pages_accounts  # noqa: E402,F401  (admin: users and API tokens)
from . import pages_messages  # noqa: E402,F401  (admin: inbound messages, pending and expired)

__all__ = ["current_principal", "login_required", "web"]
