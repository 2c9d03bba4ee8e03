"""Where a poll cycle's time goes: the stages of `gigaspot-bot bench --cycle`'s scenario.

Runs the benchmark's set-up (generated market, real `Cycle`, real SQLite file), then times
each stage of the first cycle, of the cycle with 10% of the servers changed, and of a
restart (in a child process, as the benchmark does): wall time, calls, and the memory the
process faulted in meanwhile (minor page faults, process-wide). Stages nest (the write
transaction holds the rendering), so their times do not add up to the cycle's. Last, the
rows those cycles stored in the biggest tables are inserted again with plain `sqlite3`: what
storing them costs with no Python object in between (a floor for the write transaction).
Run from the repository root (about a minute):

    .venv/bin/python -m tests.services.measure_cycle_stages [--servers N] [--rules N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import inspect
import io
import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot import bench_cycle, runtime
from bot.bench import inputs
from bot.db.repositories import alert_memory as memory_records
from bot.db.repositories import outbox
from bot.market.alert_memory import AlertMemory
from bot.services import accounts, alert_state, cycle, history, order_news
from bot.services.market_state import MarketState

PAGE_MB = resource.getpagesize() / 1e6
FLOOR_TABLES = ("outbox", "bid_alerts", "order_lives")  # what a first cycle writes most of


class Stages:
    """Timers wrapped around functions and methods, by label."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.faults: dict[str, int] = {}
        self.order: list[str] = []

    def clear(self) -> None:
        self.wall.clear()
        self.calls.clear()
        self.faults.clear()

    def _add(self, label: str, seconds: float, faults: int) -> None:
        if label not in self.order:
            self.order.append(label)
        self.wall[label] = self.wall.get(label, 0.0) + seconds
        self.calls[label] = self.calls.get(label, 0) + 1
        self.faults[label] = self.faults.get(label, 0) + faults

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)
        if inspect.iscoroutinefunction(original):

            @functools.wraps(original)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                start, faults = time.perf_counter(), _faults()
                try:
                    return await original(*args, **kwargs)
                finally:
                    self._add(label, time.perf_counter() - start, _faults() - faults)

            setattr(owner, name, timed_async)
            return

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start, faults = time.perf_counter(), _faults()
            try:
                return original(*args, **kwargs)
            finally:
                self._add(label, time.perf_counter() - start, _faults() - faults)

        setattr(owner, name, timed)

    def report(self, title: str, total: float) -> None:
        print(f"\n{title}: {total * 1000:.1f} ms")
        for label in self.order:
            if label in self.wall:
                print(
                    f"  {label:<34} {self.wall[label] * 1000:8.1f} ms  "
                    f"{self.calls[label]:>5} calls  {self.faults[label] * PAGE_MB:7.1f} MB faulted"
                )


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def instrument() -> Stages:
    stages = Stages()
    wraps: list[tuple[Any, str, str]] = [
        (accounts, "register_at_start", "start: register rules"),
        (alert_state, "_read_stored", "start: read stored memory"),
        (alert_state, "_rebuild", "start: rebuild memory (thread)"),
        (bench_cycle, "decode_snapshot", "decode snapshot (thread)"),
        (MarketState, "apply", "matcher update (thread)"),
        (cycle.Cycle, "_read_rules", "read rules (beside the matcher)"),
        (AlertMemory, "decide", "decide"),
        (cycle, "user_alerts", "listing"),
        (cycle.Cycle, "_write", "write transaction"),
        (cycle, "match_alert", "  render match alerts"),
        (outbox, "enqueue_many", "  queue messages"),
        (cycle.Cycle, "_bids", "  bid tracking + outbid alerts"),
        (order_news, "on_cycle", "  order lives"),
        (alert_state, "record_change", "  memory change record"),
        (memory_records, "save_baseline", "  baseline snapshot"),
        (AlertMemory, "apply", "memory takes the change"),
        (history.PriceHistory, "record", "price history point"),
    ]
    for owner, name, label in wraps:
        stages.wrap(owner, name, label)
    return stages


async def _scenario(args: argparse.Namespace, stages: Stages) -> None:
    data, changed, rules, _ = inputs(args)
    with tempfile.TemporaryDirectory(prefix="gigaspot-stages-") as folder:
        bench = bench_cycle._Bench(Path(folder), args.clore_price)
        try:
            await bench.seed(rules, args.users, bench_cycle._bidders(
                bench_cycle.decode_snapshot(data)))  # fmt: skip
            for title, document in (("first cycle", data), ("10% of servers changed", changed)):
                gc.collect()
                stages.clear()
                start = time.perf_counter()
                await bench.cycle(document)
                stages.report(title, time.perf_counter() - start)
            await bench.cycle(bytes(bytearray(changed)))  # as the benchmark leaves it
            rows, seconds = insert_floor(bench.db_file, Path(folder) / "floor.db")
            print(
                f"\nraw sqlite3 executemany of the {rows} rows these cycles wrote to "
                f"{', '.join(FLOOR_TABLES)} (same schema and values): {seconds * 1000:.1f} ms"
            )
            snapshot_file = Path(folder) / "next.json"
            snapshot_file.write_bytes(data)
            secret = bench.settings.secret_key
            assert secret is not None
            done = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "tests.services.measure_cycle_stages", "--child", bench.url,
                 str(snapshot_file), secret.get_secret_value(), str(args.clore_price)],
                capture_output=True, check=True, text=True,
            )  # fmt: skip
            print(done.stdout, end="")
        finally:
            await bench.close()


def insert_floor(source: Path, scratch: Path) -> tuple[int, float]:
    """(rows, seconds): the rows of `FLOOR_TABLES` in `source` inserted again into an empty
    copy of their tables, one executemany each in one transaction, with the bot's SQLite
    settings: what storing them costs without any Python object in between."""
    read = sqlite3.connect(source)
    write = sqlite3.connect(scratch, isolation_level=None)
    try:
        write.execute("PRAGMA journal_mode=WAL")
        write.execute("PRAGMA synchronous=NORMAL")
        tables = []
        for name in FLOOR_TABLES:
            for (sql,) in read.execute(
                "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL", (name,)
            ):
                write.execute(sql)
            found = read.execute(f"SELECT * FROM {name}").fetchall()
            tables.append((name, found))
        start = time.perf_counter()
        write.execute("BEGIN IMMEDIATE")
        for name, found in tables:
            if found:
                marks = ", ".join("?" * len(found[0]))
                write.executemany(f"INSERT INTO {name} VALUES ({marks})", found)
        write.execute("COMMIT")
        return sum(len(found) for _, found in tables), time.perf_counter() - start
    finally:
        read.close()
        write.close()


def _child(url: str, snapshot_file: str, secret: str, clore_price: float) -> None:
    stages = instrument()
    real_collect: Callable[..., int] = gc.collect

    def collect(*args: Any) -> int:  # restart_child collects right before its clock starts
        found = real_collect(*args)
        stages.clear()
        return found

    gc.collect = collect
    said = io.StringIO()
    try:
        with contextlib.redirect_stdout(said):
            bench_cycle.restart_child(url, snapshot_file, secret, clore_price)
    finally:
        gc.collect = real_collect
    seconds = json.loads(said.getvalue().strip().splitlines()[-1])["seconds"]
    stages.report("restart, then first cycle (child process, as the benchmark times it)", seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=10_000)
    parser.add_argument("--rules", default="10000")
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--broad", type=float, default=0.13)
    parser.add_argument("--clore-price", type=float, default=0.02)
    parser.add_argument("--child", nargs=4, metavar=("URL", "SNAPSHOT", "SECRET", "PRICE"))
    args = parser.parse_args()
    args.snapshot = None
    runtime.tune()
    if args.child:
        url, snapshot_file, secret, price = args.child
        _child(url, snapshot_file, secret, float(price))
        return
    asyncio.run(_scenario(args, instrument()))


if __name__ == "__main__":
    main()
