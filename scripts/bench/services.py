"""The database and Redis of a run: the ones named on the command line or in the
environment, else throwaway ones; on a shared Redis, this run's keys are deleted after it."""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import redis

from scripts.bench.processes import Processes
from scripts.bench.progress import log
from scripts.embedded import free_port, redis_server_argv, scratch_database, wait_for_redis


@contextlib.contextmanager
def redis_service(args: argparse.Namespace, services: Processes, work: Path) -> Iterator[str]:
    """`--redis-url`, else TEST_REDIS_URL, else an embedded Redis started in `services`
    (a child like the others: logged, and stopped with its process group)."""
    url = args.redis_url or os.environ.get("TEST_REDIS_URL")
    if not url:
        port = free_port()
        services.start("redis", redis_server_argv(port, work / "redis"), dict(os.environ))
        url = f"redis://127.0.0.1:{port}/0"
        wait_for_redis(url)
    yield url


def forget_keys(redis_url: str, prefixes: Sequence[str]) -> None:
    """Deletes this run's keys (its prefixes are its own) from a Redis that may be shared."""
    try:
        client = redis.Redis.from_url(redis_url, socket_timeout=5)
        for prefix in prefixes:
            for key in client.scan_iter(match=f"{prefix}*", count=1000):
                client.delete(key)
        client.close()
    except redis.RedisError as exc:
        log(f"could not delete this run's Redis keys: {exc}")


@contextlib.contextmanager
def database_service(args: argparse.Namespace) -> Iterator[str]:
    """A scratch database on the PostgreSQL server named by `--database-url` (else
    BENCH_DATABASE_URL, TEST_DATABASE_URL) or on a throwaway pgserver; a SQLite URL as given."""
    server = args.database_url or os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if server and not server.startswith("postgres"):
        yield server  # SQLite: the file as given
    elif server:
        with scratch_database(server, "pe_bench") as url:
            yield url
    else:
        import pgserver

        with tempfile.TemporaryDirectory(prefix="pe-bench-pg-") as data:
            log("starting a throwaway PostgreSQL (pgserver)")
            postgres = pgserver.get_server(data, cleanup_mode="stop")
            try:
                with scratch_database(postgres.get_uri(), "pe_bench") as url:
                    yield url
            finally:
                postgres.cleanup()
