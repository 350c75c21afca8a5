"""The Flask application factory."""
from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy.engine import Engine

from . import config, prometheus
from .models import db, sqlite_wal

csrf = CSRFProtect()


def _csrf_failed(exc: CSRFError):
    from flask import render_template
    return render_template("csrf_failed.html", reason=exc.description), 400


def _common_headers(response):
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def create_app(overrides: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=False)
    app.config.update(config.settings(overrides))
    db.init_app(app)
    with app.app_context():
        engine: Engine = db.engine
        if engine.dialect.name == "sqlite":
            sqlite_wal.configure(engine, checkpointer=app.config["SQLITE_CHECKPOINTER"])

    from .api import api, api_not_found
    from .web import web
    csrf.init_app(app)
    csrf.exempt(api)  # the API authenticates every request by header, never by cookie
    app.register_blueprint(api)
    app.register_blueprint(web)
    prometheus.init_app(app)  # GET /metrics for Prometheus (runner/prometheus.py)
    app.register_error_handler(CSRFError, _csrf_failed)
    app.after_request(_common_headers)
    app.register_error_handler(404, api_not_found)
    app.register_error_handler(405, api_not_found)
    return app
