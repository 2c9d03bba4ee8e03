"""Without a reachable PostgreSQL its tests are skipped with one line saying how to enable
them, except under CI, where that is a failure; `gigaspot-bot migrate` works on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from bot.cli import main as cli
from tests.conftest import PostgresServer

ROOT = Path(__file__).resolve().parents[2]
NOWHERE = "postgresql+asyncpg://postgres@127.0.0.1:1/postgres"  # nothing listens on port 1


def run_pytest(ci: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TEST_POSTGRES_URL": NOWHERE, "CI": ci}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
         "tests/db/test_postgres.py::test_a_read_only_session_cannot_write"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_without_a_server_the_tests_are_skipped_with_one_line_or_fail_under_ci() -> None:
    local = run_pytest("")
    assert local.returncode == 0, local.stdout
    assert local.stdout.startswith("s")  # skipped
    assert local.stdout.count("TEST_POSTGRES_URL=") == 1  # the one line at the end
    ci = run_pytest("true")
    assert ci.returncode == 1, ci.stdout
    assert "CI=true, but PostgreSQL tests skipped" in ci.stdout


async def test_migrate_command_on_postgresql(postgres: PostgresServer) -> None:
    name = postgres.create_database()
    try:
        url = postgres.sqlalchemy_url(name)
        assert await asyncio.to_thread(cli, ["migrate", "--database-url", url]) == 0
    finally:
        postgres.drop_database(name)
