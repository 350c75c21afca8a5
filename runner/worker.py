"""`lanes worker`: claims due jobs from the database and runs them.

APScheduler is only this process's alarm clock: it wakes the loop at the next job's due
time and, as a fallback, every `poll_seconds` (jobs made by other processes). Its job
store is in memory and private to this process; the database decides who runs what.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import timezone

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.exc import OperationalError

import adapters

from .models import db
from .services import jobs

log = logging.getLogger("lanes.worker")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(self, app, name: str | None = None, poll_seconds: float = 0.5, batch: int = 10,
                 lock_seconds: float = jobs.LOCK_SECONDS, registry: adapters.Registry | None = None):
        self.app = app
        self.name = name or worker_name()
        self.poll_seconds = poll_seconds
        self.batch = batch
        self.lock_seconds = lock_seconds
        self._registry = registry
        self.outage_seconds = 2.0  # how long to wait before asking a database that did not answer again
        self._wake = threading.Event()
        self._stop = threading.Event()

    @property
    def registry(self) -> adapters.Registry:
        if self._registry is None:
            with self.app.app_context():
                self._registry = adapters.build_registry(db.engine)
        return self._registry

    def run_once(self) -> int:
        """Claim and run one batch of due jobs; returns how many were claimed."""
        with self.app.app_context():
            claimed = jobs.claim_jobs(self.name, self.batch, self.lock_seconds)
            for job_id in claimed:
                if self._stop.is_set():
                    break
                try:
                    outcome = jobs.run_job(job_id, self.name, self.registry)
                    log.info("job %s: %s", job_id, outcome)
                except OperationalError:  # the database, not the job: run_forever waits for it, no attempt is spent
                    db.session.rollback()
                    raise
                except Exception as exc:  # one bad job must not stop the worker: it counts as a failed attempt
                    db.session.rollback()
                    log.exception("job %s crashed the worker step", job_id)
                    try:
                        jobs.record_crash(job_id, self.name, exc)
                    except Exception:  # e.g. the database went away: the lock expires and the job is tried again
                        db.session.rollback()
                        log.exception("job %s: its crash could not be recorded", job_id)
            return len(claimed)

    def drain(self) -> None:
        while not self._stop.is_set() and self.run_once():
            pass

    def run_forever(self) -> None:
        scheduler = BackgroundScheduler(timezone=timezone.utc)
        scheduler.add_job(self._wake.set, "interval", seconds=self.poll_seconds, id="poll")
        scheduler.start()
        log.info("worker %s started", self.name)
        try:
            while not self._stop.is_set():
                try:
                    self.drain()
                    self._set_alarm(scheduler)
                except OperationalError as exc:  # the database restarted or is unreachable: wait, then again
                    log.warning("worker %s: the database is not answering (%s); trying again in %.0f s",
                                self.name, exc.orig.__class__.__name__ if exc.orig else exc, self.outage_seconds)
                    self._stop.wait(self.outage_seconds)
                    continue
                self._wake.wait()
                self._wake.clear()
        finally:
            scheduler.shutdown(wait=False)

    def _set_alarm(self, scheduler) -> None:
        with self.app.app_context():
            due = jobs.next_due_at()
        if due is not None:
            scheduler.add_job(self._wake.set, "date", run_date=due.replace(tzinfo=timezone.utc),
                              id="next-due", replace_existing=True, misfire_grace_time=None)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
