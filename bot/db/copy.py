"""`gigaspot-bot copy-db --from URL --to URL`: move a database to another engine (SQLite ->
PostgreSQL) with nothing lost.

Both sides are brought to the newest schema first; the target must hold no rows. Every
table is copied in foreign-key order in one target transaction, through the models' column
types (so datetimes, booleans and bytes convert), ids included; PostgreSQL's id sequences
are then moved past the highest id. Afterwards the row counts of every table must agree,
and a sample of rows (every n-th by primary key, up to SAMPLE per table) must be equal
column by column; otherwise the command fails (status 1). Stop the bot first: rows written
during the copy would be missed (the counts would tell).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from sqlalchemy import Table, func, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.db.engine import READ_ONLY_OPTION, create_engine, reset_sequences
from bot.db.migrate import upgrade_to_head
from bot.db.models import Base

HELP = "copy every row from one database to another (e.g. SQLite to PostgreSQL) and verify"
BATCH = 500
SAMPLE = 200


class CopyError(Exception):
    """The copy cannot start or did not verify; the message says why."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="source", required=True, help="source database URL")
    parser.add_argument("--to", dest="target", required=True, help="target database URL")


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _tables() -> list[Table]:
    """Parents before children; not derived tables (`info={"copy": False}`), which the
    target's own migrations and triggers fill."""
    return [table for table in Base.metadata.sorted_tables if table.info.get("copy", True)]


async def _counts(connection: AsyncConnection) -> dict[str, int]:
    return {
        table.name: int(await connection.scalar(select(func.count()).select_from(table)) or 0)
        for table in _tables()
    }


async def _copy_table(source: AsyncConnection, target: AsyncConnection, table: Table) -> int:
    order = list(table.primary_key.columns)
    copied = 0
    result = await source.stream(select(table).order_by(*order))
    async for rows in result.partitions(BATCH):
        await target.execute(insert(table), [dict(row._mapping) for row in rows])
        copied += len(rows)
    return copied


async def _sample(connection: AsyncConnection, table: Table, total: int) -> list[tuple[Any, ...]]:
    order = list(table.primary_key.columns)
    step = max(1, total // SAMPLE)
    rows = (await connection.execute(select(table).order_by(*order))).all()
    return [tuple(row) for row in rows[::step]]


async def copy_database(source_url: str, target_url: str) -> dict[str, int]:
    """Copy and verify; returns rows per table. Raises CopyError."""
    if make_url(source_url) == make_url(target_url):
        raise CopyError("--from and --to are the same database")
    await upgrade_to_head(source_url)
    await upgrade_to_head(target_url)
    source, target = create_engine(source_url), create_engine(target_url)
    reading = source.execution_options(**{READ_ONLY_OPTION: True})
    try:
        async with reading.connect() as src, target.connect() as dst:
            if any((await _counts(dst)).values()):
                raise CopyError(f"{_shown(target_url)} already holds rows; use an empty database")
            await dst.rollback()
            counts = await _counts(src)  # one read transaction: the copy is consistent
            for table in _tables():
                await _copy_table(src, dst, table)
            await reset_sequences(dst, _tables())
            await dst.commit()
            copied = await _counts(dst)
            if copied != counts:
                differ = [f"{t}: {n} -> {copied[t]}" for t, n in counts.items() if n != copied[t]]
                raise CopyError("row counts differ after the copy: " + ", ".join(differ))
            for table in _tables():
                if await _sample(src, table, counts[table.name]) != await _sample(
                    dst, table, counts[table.name]
                ):
                    raise CopyError(f"sampled rows of {table.name} differ after the copy")
            await src.rollback()
            await dst.rollback()
        return counts
    finally:
        await source.dispose()
        await target.dispose()


def main(args: argparse.Namespace) -> int:
    try:
        counts = asyncio.run(copy_database(args.source, args.target))
    except CopyError as exc:
        print(f"gigaspot-bot copy-db: {exc}", file=sys.stderr)
        return 1
    total = sum(counts.values())
    print(f"copied {total} rows from {_shown(args.source)} to {_shown(args.target)}; counts and a")
    print("sample of rows verified:")
    for name, rows in counts.items():
        print(f"  {name:<18} {rows}")
    return 0
