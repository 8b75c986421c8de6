"""The child processes of a run, each the leader of its own process group and logging to
its own file, so that stopping a group stops all it started and a failure can be read."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from scripts.embedded import die_with_parent

ROOT = Path(__file__).resolve().parent.parent.parent
READY_TIMEOUT_SECONDS = 300.0
STOP_GRACE_SECONDS = 15.0


@dataclass
class Child:
    """One started process: its name in the logs, the process, and where its output goes."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signum)


class Processes:
    """The children of one part of the run, each leader of its own process group, so that
    stopping the group also stops what the child started (Celery's pool children)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[Child] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> Child:
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "wb") as out:
            popen = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        self.children.append(Child(name, popen, log_path))
        return self.children[-1]

    def stop(self) -> None:
        """SIGTERM every group, newest first; SIGKILL whatever is left after the grace period."""
        for child in reversed(self.children):
            child.signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in reversed(self.children):
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            child.signal(signal.SIGKILL)
            child.popen.wait()
        self.children.clear()


@contextlib.contextmanager
def processes(log_dir: Path) -> Iterator[Processes]:
    """A group of children that is stopped however the block ends."""
    group = Processes(log_dir)
    try:
        yield group
    finally:
        group.stop()


def wait_until(ready: Callable[[], bool], what: str, children: Sequence[Child]) -> None:
    """Polls `ready`; fails at once if a child exits, with the end of its log, or at the timeout."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not ready():
        for child in children:
            if child.popen.poll() is not None:
                raise RuntimeError(f"{child.name} exited with {child.popen.returncode}:\n{child.text()[-3000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready after {READY_TIMEOUT_SECONDS:.0f} s")
        time.sleep(0.2)


def answers(url: str) -> bool:
    """Whether a GET of `url` answers 200 now."""
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False
