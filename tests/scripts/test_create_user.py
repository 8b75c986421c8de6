"""`python -m scripts.create_user`: an admin's way in without the API."""

import subprocess
import sys
import uuid

from tests.factories import login
from tests.support.processes import ROOT


def _create(env, email, password, *args):
    return subprocess.run(
        [sys.executable, "-m", "scripts.create_user", email, "--password-stdin", *args],
        cwd=ROOT, env=env, input=password + "\n", capture_output=True, text=True,
    )  # fmt: skip


async def test_creates_a_user_who_can_log_in(env, migrated, client):
    email = f"cli-{uuid.uuid4().hex[:8]}@example.com"
    result = _create(env, email, "a-long-password", "--role", "admin")
    assert result.returncode == 0, result.stderr
    assert "created admin" in result.stdout
    headers = await login(client, email, "a-long-password")
    assert (await client.get("/v1/users/me", headers=headers)).json()["role"] == "admin"


def test_refuses_duplicates_and_short_passwords(env, migrated):
    email = f"cli-{uuid.uuid4().hex[:8]}@example.com"
    assert _create(env, email, "a-long-password").returncode == 0
    duplicate = _create(env, email, "a-long-password")
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
    short = _create(env, f"x{email}", "short")
    assert short.returncode == 2 and "at least 8" in short.stderr
