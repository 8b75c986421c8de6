"""`make run`'s launcher on a machine with nothing running: embedded Redis, SQLite under
its var directory, API, worker, beat and Flower; Ctrl-C leaves no process behind."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from scripts.embedded import free_port
from tests.conftest import TEST_MODELS
from tests.support.processes import ROOT

START_TIMEOUT_SECONDS = 120


def clean_env(**extra: str) -> dict[str, str]:
    """Only what a fresh shell has: none of the suite's service settings."""
    keep = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TMPDIR") if key in os.environ}
    return {**keep, **extra}


class Launcher:
    def __init__(self, var: Path, env: dict[str, str]) -> None:
        self.var = var
        self.api_port = free_port()
        self.flower_port = free_port()
        self.log_path = var.parent / f"{var.name}.log"
        env = {**env, "API_PORT": str(self.api_port), "FLOWER_PORT": str(self.flower_port)}
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "scripts.run_stack", "--var-dir", str(var)],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.api = httpx.Client(base_url=f"http://127.0.0.1:{self.api_port}", timeout=90)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def child_pids(self) -> dict[str, int]:
        return {name: int(pid) for name, pid in re.findall(r"\[run\] started (\w+) \(pid (\d+)\)", self.log())}

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log()
            try:
                if self.api.get("/readyz").status_code == 200 and " ready." in self.log():
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"stack not ready:\n{self.log()[-5000:]}")

    def admin_headers(self) -> dict[str, str]:
        password = (self.var / "first_superuser_password").read_text().strip()
        response = self.api.post("/v1/auth/token", data={"username": "admin@example.com", "password": password})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def close(self) -> None:
        self.api.close()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for pid in self.child_pids().values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())


def wait_all_gone(pids: dict[str, int], timeout: float = 30) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = {name: pid for name, pid in pids.items() if alive(pid)}
        if not left:
            return {}
        time.sleep(0.2)
    return left


@pytest.fixture
def launcher_factory(tmp_path):
    started: list[Launcher] = []

    def start(**env: str) -> Launcher:
        launcher = Launcher(tmp_path / f"var{len(started)}", clean_env(**env))
        started.append(launcher)
        return launcher

    yield start
    for launcher in started:
        launcher.close()


def test_make_run_serves_the_default_model_and_stops_cleanly(launcher_factory):
    stack = launcher_factory()
    stack.wait_ready()
    assert set(stack.child_pids()) == {"redis", "api", "worker", "webhooks", "beat", "flower"}
    assert "redis://127.0.0.1:6379" not in stack.log()
    assert (stack.var / "pe.db").exists()

    headers = stack.admin_headers()
    key = stack.api.post("/v1/api-keys", json={"name": "curl"}, headers=headers).json()["key"]
    response = stack.api.post(
        "/v1/conversations",
        json={"message": "I failed my driving test again and I feel like such a loser"},
        headers={"X-API-Key": key, "Prefer": "wait=60"},
    )
    job = response.json()
    assert job["status"] == "succeeded", job
    assert job["output"]["response"] and 0 <= job["output"]["confidence"] <= 1
    assert job["output"]["metadata"]["emotion"] in {"sadness", "shame"}
    listed = stack.api.get("/v1/conversations", headers={"X-API-Key": key}).json()
    assert [item["id"] for item in listed["items"]] == [job["id"]]

    flower = f"http://127.0.0.1:{stack.flower_port}"
    assert httpx.get(f"{flower}/api/workers").status_code == 401
    password = (stack.var / "flower_password").read_text().strip()
    workers = httpx.get(f"{flower}/api/workers", params={"refresh": "true"}, auth=("admin", password), timeout=30)
    assert workers.status_code == 200 and any(name.startswith("models-") for name in workers.json())

    pids = stack.child_pids()
    stack.process.send_signal(signal.SIGINT)
    assert stack.process.wait(timeout=60) == 0
    assert wait_all_gone(pids) == {}


def test_children_die_with_a_killed_launcher(launcher_factory):
    stack = launcher_factory(
        MODEL_BACKENDS=json.dumps(TEST_MODELS), DEFAULT_MODEL="test-echo", SERVED_MODELS="test-echo"
    )
    stack.wait_ready()
    pids = stack.child_pids()
    stack.process.kill()
    stack.process.wait()
    assert wait_all_gone(pids) == {}


def test_uses_servers_named_in_the_environment(launcher_factory, env):
    stack = launcher_factory(
        REDIS_URL=env["REDIS_URL"], DATABASE_URL=env["DATABASE_URL"], QUEUE_PREFIX="pe-launcher-test",
        MODEL_BACKENDS=json.dumps(TEST_MODELS), DEFAULT_MODEL="test-echo", SERVED_MODELS="test-echo",
        FIRST_SUPERUSER="launcher-admin@example.com", FIRST_SUPERUSER_PASSWORD="launcher-password",
    )  # fmt: skip
    stack.wait_ready()
    assert "redis" not in stack.child_pids()
    assert not (stack.var / "pe.db").exists()
    response = stack.api.post(
        "/v1/auth/token", data={"username": "launcher-admin@example.com", "password": "launcher-password"}
    )
    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
    job = stack.api.post("/v1/conversations", json={"message": "hi"}, headers={**headers, "Prefer": "wait=30"})
    assert job.json()["status"] == "succeeded"
    assert job.json()["output"]["response"] == "echo: hi"
