"""Bring the database schema to the newest Alembic revision.

Used at start-up (`await upgrade_to_head(settings.database_url)`) and as
`gigaspot-bot migrate [--database-url URL]`, which needs only `DATABASE_URL`, not the tokens.
The migration scripts are found next to the package (repo root `migrations/`), never via
the working directory.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, make_url

from bot.config import ConfigError, load_database_settings
from bot.db.engine import create_engine

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"

HELP = "apply database migrations (bring the schema to the newest revision) and exit"


def alembic_config(database_url: str, *, script_location: Path = MIGRATIONS_DIR) -> Config:
    if not (script_location / "env.py").is_file():
        raise RuntimeError(f"migration scripts not found in {script_location}")
    config = Config()
    config.set_main_option("script_location", str(script_location))
    # configparser interpolation: a literal % (e.g. in a password) must be doubled.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


async def _on_connection(database_url: str, work: Callable[[Connection], None]) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(work)
    finally:
        await engine.dispose()


async def run_alembic(
    database_url: str, run: Callable[[Config], None], *, script_location: Path = MIGRATIONS_DIR
) -> None:
    """Run an Alembic command (`run(config)`) on a connection of our own engine."""
    config = alembic_config(database_url, script_location=script_location)

    def work(connection: Connection) -> None:
        config.attributes["connection"] = connection
        run(config)

    await _on_connection(database_url, work)


async def upgrade_to_head(database_url: str) -> None:
    await run_alembic(database_url, lambda config: command.upgrade(config, "head"))


async def downgrade_to(database_url: str, revision: str = "base") -> None:
    await run_alembic(database_url, lambda config: command.downgrade(config, revision))


async def current_revision(database_url: str) -> str | None:
    revision: list[str | None] = []

    def work(connection: Connection) -> None:
        revision.append(MigrationContext.configure(connection).get_current_revision())
        connection.rollback()

    await _on_connection(database_url, work)
    return revision[0]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        help="SQLAlchemy async URL (default: DATABASE_URL from the environment or .env)",
    )


def main(args: argparse.Namespace) -> int:
    try:
        database_url = args.database_url or load_database_settings().database_url
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    shown = make_url(database_url).render_as_string(hide_password=True)
    asyncio.run(upgrade_to_head(database_url))
    revision = asyncio.run(current_revision(database_url))
    print(f"{shown}: schema at revision {revision} (head)")
    return 0
