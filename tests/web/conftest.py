"""Browser tests: a real Lanes server in a thread, driven by Debian's chromium through Playwright.

- `live`: per test module, a fresh SQLite database (migrated with Alembic) and the app served by
  werkzeug's make_server on 127.0.0.1:<free port>, with real sessions and real CSRF checks.
  The tests set data up through the services (`live.call(...)` runs inside an app context).
- `browser`: one chromium per session, /usr/bin/chromium with the launch arguments DESIGN.md gives
  (`playwright install` cannot download here). `page`: a fresh browser context per test; it fails
  the test on any uncaught page error or Content-Security-Policy violation.
- `screenshots`: a temporary folder (LANES_SCREENSHOT_DIR overrides it) the tests write PNGs to.

Test modules here mark themselves `sqlite_only`: they bring their own database, so `make test` runs
them once, in its SQLite pass.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from adapters import build_registry
from runner.app import create_app
from runner.models import db, upgrade_database
from runner.services import accounts, deployments, instances, system_principal
from runner.web import assets
from runner.worker import Worker
from tests.helpers import PROCESSES, folder_files

CHROMIUM = os.environ.get("LANES_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"]
SETUP = system_principal("web-tests")


class LiveServer:
    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="lanes-live-server", daemon=True)
        self.thread.start()

    def call(self, func, *args, **kwargs):
        """Run `func` inside an app context (services, models) and return its result."""
        with self.app.app_context():
            try:
                return func(*args, **kwargs)
            finally:
                db.session.remove()

    def stop(self):
        self.server.shutdown()
        self.thread.join(timeout=5)


@pytest.fixture(scope="session", autouse=True)
def vendor_assets():
    """The bpmn-js and form-js bundles, copied from node_modules when `make install` has not yet."""
    if not assets.assets_present():
        try:
            assets.copy_assets()
        except assets.AssetsMissing as exc:
            pytest.fail(f"browser bundles missing ({exc}); run `make install`", pytrace=False)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    folder = tmp_path_factory.mktemp("live")
    url = f"sqlite:///{folder / 'lanes.db'}"
    upgrade_database(url)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LANES_INSTANCE_DIR", str(folder / "instance"))
        patch.setenv("LANES_SECRET_KEY", "web-tests-secret-key")
        app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    server = LiveServer(app)
    yield server
    server.stop()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: run `make install` (apt-get install chromium)", pytrace=False)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live):
    context = browser.new_context(base_url=live.url, viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(10_000)
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda message: problems.append(f"console: {message.text}")
            if message.type == "error" and "Content Security Policy" in message.text else None)
    yield page
    context.close()
    assert not problems, problems


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    folder = os.environ.get("LANES_SCREENSHOT_DIR")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- helpers the tests share ------------------------------------------------------------

def add_user(live, username, password, roles=("staff",), sites=(), groups=()):
    live.call(accounts.create_user, username, actor=SETUP, password=password, roles=roles, sites=sites,
              groups=groups)


def deploy_refund(live, files=None):
    files = files or folder_files(PROCESSES / "patient_refund")
    return live.call(lambda: deployments.deploy(files, name="patient_refund", actor=SETUP).created)


def start_refund(live, site, business_key, amount) -> str:
    """A patient_refund of `amount` at `site` for patient account `business_key`; its instance id."""
    def run():
        instance, _ = instances.start_instance("patient_refund", site, {
            "amount": amount, "reason": "overpayment", "patient_account": business_key},
            actor=SETUP, business_key=business_key)
        return instance.id
    return live.call(run)


def sandbox_registry(live):
    """The adapters' sandbox implementations on the live server's database."""
    return live.call(lambda: build_registry(db.engine, env={}))


def run_jobs(live, registry=None) -> None:
    """Run every job that is due now (service tasks on the sandbox adapters), in this thread."""
    Worker(live.app, name="web-tests", registry=registry or sandbox_registry(live)).drain()


def log_in(page, username, password):
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "/login" not in page.url, page.content()
