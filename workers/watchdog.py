"""Keeps the batch in hand alive, and bounded in time.

- Leases: a claimed job's lease (`JOB_LEASE_SECONDS`) is renewed every third of it while
  the job runs, so a slow job is never taken for a dead one and run twice; only a
  worker that stops renewing (it died) lets the sweeper requeue its jobs.
- Time limits: past its model's soft limit (`MODEL_TIME_LIMITS`, else
  `JOB_TIME_LIMIT_SECONDS`) a model call's jobs end `failed` with `error.type =
  "timeout"`; the call's late result is then discarded by the guarded finish. A thread
  cannot be killed, so past the hard limit (soft + `HARD_TIME_LIMIT_GRACE_SECONDS`) the
  worker process exits: its unacknowledged messages are redelivered elsewhere, and the
  timed-out jobs, already failed, are dropped there.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine

from db.job_transitions import ClaimedJob, JobResult, renew_leases
from db.tables import utcnow
from settings import Settings

log = logging.getLogger(__name__)
HARD_LIMIT_EXIT_CODE = 70


@dataclass
class _ModelCall:
    jobs: Sequence[ClaimedJob]
    started: float
    soft_limit: float
    timed_out: bool = False


FinishJobs = Callable[[Sequence[ClaimedJob], Sequence[JobResult]], object]


class Watchdog:
    def __init__(self, engine: Engine, settings: Settings, finish: FinishJobs) -> None:
        """`finish(jobs, results)` commits results the way the runner does (outbox, notifications)."""
        self._engine = engine
        self._finish = finish
        self._settings = settings
        self._lock = threading.Lock()
        self._claims: dict[tuple[uuid.UUID, int], ClaimedJob] = {}
        self._calls: list[_ModelCall] = []
        self._stop = threading.Event()
        self._interval = min(1.0, settings.JOB_LEASE_SECONDS / 6)
        self._last_renewal = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="watchdog", daemon=True)
        self._thread.start()

    def time_limit(self, model: str) -> float:
        return self._settings.MODEL_TIME_LIMITS.get(model, self._settings.JOB_TIME_LIMIT_SECONDS)

    @contextlib.contextmanager
    def holding(self, jobs: Sequence[ClaimedJob]) -> Iterator[None]:
        """Renews the leases of `jobs` until the block ends (their results are committed)."""
        with self._lock:
            for job in jobs:
                self._claims[(job.id, job.attempt)] = job
        try:
            yield
        finally:
            with self._lock:
                for job in jobs:
                    self._claims.pop((job.id, job.attempt), None)

    @contextlib.contextmanager
    def model_call(self, model: str, jobs: Sequence[ClaimedJob]) -> Iterator[None]:
        call = _ModelCall(jobs=jobs, started=time.monotonic(), soft_limit=self.time_limit(model))
        with self._lock:
            self._calls.append(call)
        try:
            yield
        finally:
            with self._lock:
                self._calls.remove(call)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._check_time_limits()
                if time.monotonic() - self._last_renewal >= self._settings.JOB_LEASE_SECONDS / 3:
                    self._renew()
            except Exception:  # a database hiccup must not stop the watchdog; the next round retries
                log.exception("watchdog round failed")

    def _renew(self) -> None:
        with self._lock:
            claims = list(self._claims)
        if claims:
            until = utcnow() + timedelta(seconds=self._settings.JOB_LEASE_SECONDS)
            with self._engine.begin() as conn:
                renew_leases(conn, claims=claims, lease_until=until)
        self._last_renewal = time.monotonic()

    def _check_time_limits(self) -> None:
        now = time.monotonic()
        grace = self._settings.HARD_TIME_LIMIT_GRACE_SECONDS
        with self._lock:
            calls = list(self._calls)
        for call in calls:
            elapsed = now - call.started
            if elapsed > call.soft_limit + grace:
                log.critical("a model call ran %.0f s, past its hard limit: exiting so it can be restarted", elapsed)
                os._exit(HARD_LIMIT_EXIT_CODE)
            if elapsed > call.soft_limit and not call.timed_out:
                call.timed_out = True
                self._fail_timed_out(call)

    def _fail_timed_out(self, call: _ModelCall) -> None:
        error = {"type": "timeout", "message": f"the model did not answer within {call.soft_limit:g} s"}
        results = [JobResult(job_id=job.id, attempt=job.attempt, error=error) for job in call.jobs]
        self._finish(call.jobs, results)
        log.warning("%d jobs failed with timeout after %.0f s", len(results), call.soft_limit)
