"""Alembic creates everything, on PostgreSQL and on SQLite, and matches the table models."""

import subprocess
import sys

from sqlalchemy import create_engine, inspect

from tests.conftest import migrate
from tests.support.processes import ROOT


def _check(env):
    return subprocess.run([sys.executable, "-m", "alembic", "check"], cwd=ROOT, env=env, capture_output=True, text=True)


def test_postgresql_schema_matches_the_models(env, migrated):
    result = _check(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No new upgrade operations detected" in result.stdout + result.stderr


def test_sqlite_upgrade_downgrade_upgrade(env, tmp_path):
    url = f"sqlite:///{tmp_path / 'pe.db'}"
    sqlite_env = {**env, "DATABASE_URL": url}
    migrate(sqlite_env)
    assert {"users", "api_keys", "jobs", "alembic_version"} <= set(inspect(create_engine(url)).get_table_names())
    assert _check(sqlite_env).returncode == 0
    migrate(sqlite_env, "downgrade", "base")
    assert set(inspect(create_engine(url)).get_table_names()) == {"alembic_version"}
    migrate(sqlite_env)
    assert "jobs" in inspect(create_engine(url)).get_table_names()
