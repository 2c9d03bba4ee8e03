"""A cycle's writes are one statement per table, however many rows: thousands of tracked
orders, bid states and messages go in one executemany each (an ORM bulk insert splits rows
whose None columns differ into separate statements, and a query amid changed ORM objects
flushes them one statement at a time: both once cost a first cycle seconds)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bot.bench import BROAD, generate_rules, generated_mutation, generated_snapshot
from bot.bench_cycle import _Bench, _bidders
from bot.market.snapshot import decode_snapshot

_WRITE = re.compile(r"^\s*(INSERT INTO|UPDATE|DELETE FROM)\s+(\w+)", re.I)


@contextmanager
def writes(bench: _Bench) -> Iterator[Counter[str]]:
    """Statements executed per "VERB table" while inside (an executemany counts once)."""
    seen: Counter[str] = Counter()

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if found := _WRITE.match(statement):
            seen[f"{found.group(1).split()[0].upper()} {found.group(2)}"] += 1

    target = bench.engine.sync_engine
    event.listen(target, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(target, "before_cursor_execute", count)


async def test_a_cycle_writes_each_table_in_one_statement(tmp_path: Path) -> None:
    data = generated_snapshot(300, seed=3)
    changed = generated_mutation(data, seed=4)
    bench = _Bench(tmp_path, 0.02)
    try:
        await bench.seed(generate_rules(200, 3, BROAD), 40, _bidders(decode_snapshot(data)))
        with writes(bench) as first:
            await bench.cycle(data)
        with writes(bench) as churn:
            await bench.cycle(changed)
        counts = await bench.counts()
        watch_reads = bench.ctx.watch_reads.reads
    finally:
        await bench.close()
    assert counts["bid alert rows"] > 50 and counts["outbox rows"] > 20  # thousands at scale
    for cycle in (first, churn):
        assert cycle["INSERT order_lives"] <= 1, cycle
        assert cycle["UPDATE order_lives"] <= 2, cycle  # the cycle's changes; due warnings
        assert cycle["INSERT bid_alerts"] <= 1 and cycle["UPDATE bid_alerts"] <= 1, cycle
        assert cycle["INSERT outbox"] <= 4, cycle  # match, outbid, order news, expiry
    assert first["INSERT order_lives"] == 1  # the first sight of every tracked order
    assert watch_reads == 1  # no rule, user or template written since: not read again
