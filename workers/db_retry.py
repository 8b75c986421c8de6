"""Retrying a worker's database writes through an outage (tenacity, exponential backoff).

A finished batch's results are kept in memory and written once PostgreSQL answers
again (for up to `DB_RETRY_SECONDS`); the messages stay unacknowledged meanwhile, so
even a worker that gives up loses nothing: the jobs are redelivered or swept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from tenacity import Retrying, before_sleep_log, retry_if_exception, stop_after_delay, wait_exponential

from db.outages import is_database_outage

log = logging.getLogger(__name__)
T = TypeVar("T")


def with_db_retry(operation: Callable[[], T], *, seconds: float) -> T:
    retrying = Retrying(
        retry=retry_if_exception(is_database_outage),
        wait=wait_exponential(multiplier=0.2, max=5),
        stop=stop_after_delay(seconds),
        before_sleep=before_sleep_log(log, logging.WARNING),
        reraise=True,
    )
    return retrying(operation)
