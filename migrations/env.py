"""Alembic environment for the async engine.

Two ways in: `bot.db.migrate` hands over an already open connection in
`config.attributes["connection"]` (start-up, `gigaspot-bot migrate`, tests); the `alembic`
CLI has none, so one is opened here from `-x database_url=...`, `sqlalchemy.url` or
`DATABASE_URL`.

On SQLite, `foreign_keys` is turned OFF for the run: batch migrations rebuild a table by
copying it and dropping the original, and with foreign keys ON that drop would cascade-delete
every child row. The whole upgrade runs in one transaction (our engine emits real BEGINs, so
SQLite DDL is transactional, and on PostgreSQL DDL is transactional anyway), foreign keys
must check out before the commit, and they are switched back ON afterwards. What is
engine-specific lives in `bot.db.engine`.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from bot.config import load_database_settings
from bot.db.engine import check_foreign_keys, create_engine, foreign_keys_off_for_migration
from bot.db.models import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None and not config.attributes.get("connection"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _database_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("database_url")
    return (
        url or config.get_main_option("sqlalchemy.url") or (load_database_settings().database_url)
    )


def _render_item(type_: str, obj: Any, _autogen_context: Any) -> str | bool:
    # New revisions must not import the app's TypeDecorator: spell out what it stores.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _skip_empty_revision(_context: Any, _revision: Any, directives: list[Any]) -> None:
    cmd_opts = config.cmd_opts
    if cmd_opts is not None and getattr(cmd_opts, "autogenerate", False):
        if directives and directives[0].upgrade_ops.is_empty():
            directives[:] = []


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        render_item=_render_item,
        process_revision_directives=_skip_empty_revision,
        **kwargs,
    )


def run_on_connection(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    with foreign_keys_off_for_migration(connection), connection.begin():
        _configure(connection=connection, render_as_batch=sqlite)
        context.run_migrations()
        check_foreign_keys(connection)


async def _run_with_own_engine(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_on_connection)
    finally:
        await engine.dispose()


def main() -> None:
    if context.is_offline_mode():
        url = _database_url()
        _configure(url=url, literal_binds=True, render_as_batch=url.startswith("sqlite"))
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        run_on_connection(connection)
    else:
        asyncio.run(_run_with_own_engine(_database_url()))


main()
