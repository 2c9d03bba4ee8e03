"""`gigaspot-bot bench --cycle`: the real poll cycle, snapshot bytes -> transaction committed.

The real `Cycle` (matcher, alert memory, outbox, bid tracking) over a real SQLite file in
a temporary folder, with users whose rules are dealt round-robin and who all have a linked
clore id (bid tracking on); no Telegram, no clore calls. Each figure is measured once in
this run and given as a ratio to `json.loads` of the same bytes. Generated snapshots are
built in child processes so their Python objects do not count in this process's peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import func, insert, select

from bot import runtime
from bot.bench import CHURN, LINKED_ACCOUNTS, inputs
from bot.clore.client import CloreClient
from bot.clore.fetcher import PollResult
from bot.config import load_settings
from bot.db.engine import create_engine, session_factory
from bot.db.migrate import upgrade_to_head
from bot.db.models import AlertMemoryRecord, BidAlert, Outbox, Rule, User
from bot.market.rules import RuleError, format_rule, parse_rule
from bot.market.snapshot import Snapshot, SnapshotError, decode_snapshot
from bot.secrets import KeyBox
from bot.services import accounts, alert_state, watch
from bot.services.context import ServiceContext
from bot.services.cycle import Cycle
from bot.services.market_state import MarketState

LINKED_BIDDERS = LINKED_ACCOUNTS
NEW_RULE = "gpu=4090"  # broad: the kind of rule that costs the most to save
LABELS = (
    "json.loads",
    "first cycle (empty database)",
    f"cycle, {CHURN:.0%} of servers changed",
    "idle cycle (same snapshot)",
    "restart, then first cycle",
    "watch one new rule",
)


def _bidders(snapshot: Snapshot) -> list[int]:
    counts: dict[int, int] = {}
    for server in snapshot.servers.values():
        for bid in server.bids:
            counts[bid.owner] = counts.get(bid.owner, 0) + 1
    return sorted(counts, key=lambda owner: (-counts[owner], owner))


class _Bench:
    def __init__(self, folder: Path, clore_price: float) -> None:
        self.url = f"sqlite+aiosqlite:///{folder / 'bench.db'}"
        self.db_file = folder / "bench.db"
        self.clore_price = clore_price
        self.settings = load_settings(
            telegram_bot_token="0:bench", clore_api_token="bench", database_url=self.url,
            secret_key=Fernet.generate_key().decode(),
        )  # fmt: skip
        self.engine = create_engine(self.url)
        self.clore = CloreClient("http://127.0.0.1:9", interval=0)
        self.sequence = 0
        self.ctx = self._context()
        self.runner = Cycle(self.ctx)  # one for the process's life, as `gigaspot-bot run` has

    def _context(self) -> ServiceContext:
        secret = self.settings.secret_key
        assert secret is not None
        return ServiceContext(
            settings=self.settings,
            sessions=session_factory(self.engine),
            reads=session_factory(self.engine, read_only=True),
            keybox=KeyBox(secret.get_secret_value()),
            clore=self.clore,
            market=MarketState(),
        )

    async def seed(self, rules: list[str], n_users: int, bidders: list[int]) -> None:
        await upgrade_to_head(self.url)
        key = self.ctx.keybox.encrypt("bench-key")
        # The busiest bidders are users of the bot (as in the matcher bench); the others'
        # clore accounts do not bid now. Every user is linked, so bid tracking is on.
        ids = [*bidders[:LINKED_BIDDERS], *range(90_000_000, 90_000_000 + n_users)][:n_users]
        async with self.ctx.sessions() as s, s.begin():
            await s.execute(
                insert(User),
                [{"id": n + 1, "telegram_id": 10_000 + n, "chat_id": 10_000 + n,
                  "clore_user_id": clore_id, "api_key_encrypted": key, "alerts_paused": False,
                  "active": True} for n, clore_id in enumerate(ids)],
            )  # fmt: skip
            await s.execute(
                insert(Rule),
                [{"user_id": n % n_users + 1, "number": n // n_users + 1,
                  "text": format_rule(parse_rule(text)), "paused": False}
                 for n, text in enumerate(rules)],
            )  # fmt: skip
        await self.start()

    async def start(self) -> None:
        """What `gigaspot-bot run` does before its first poll."""
        await alert_state.restore(self.ctx, accounts.register_at_start(self.ctx))
        runtime.settle()

    def poll(self, snapshot: Snapshot) -> PollResult:
        self.sequence += 1
        url = f"https://cdn.example/gigaspot_{1_800_000_000 + self.sequence}.json"
        return PollResult(snapshot, True, None, 0.0, False, None, snapshot_url=url,
                          clore_price=self.clore_price)  # fmt: skip

    async def cycle(self, data: bytes) -> None:
        snapshot = await asyncio.to_thread(decode_snapshot, data, self.ctx.market.snapshot)
        await self.runner.run(self.poll(snapshot))

    def restart_in_child(self, data: bytes) -> tuple[float, float]:
        """A restart is a new process: (seconds from start to the cycle's commit, its peak
        RSS in MB), measured in a child on the same database."""
        snapshot_file = self.db_file.parent / "next.json"
        snapshot_file.write_bytes(data)
        code = (
            "import sys; from bot.bench_cycle import restart_child; "
            "restart_child(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]))"
        )
        secret = self.settings.secret_key
        assert secret is not None
        done = subprocess.run(
            [sys.executable, "-c", code, self.url, str(snapshot_file),
             secret.get_secret_value(), str(self.clore_price)],
            capture_output=True, check=True, text=True,
        )  # fmt: skip
        found = json.loads(done.stdout.strip().splitlines()[-1])
        return float(found["seconds"]), float(found["peak_mb"])

    async def chat_during(self, work: Awaitable[Any]) -> float:
        """Run `work` (a cycle) while a chat user keeps asking what handlers ask: a preview
        (the market lock), a read and a short write. Returns the slowest answer, in s."""
        async with self.ctx.reads() as s:
            user = await s.scalar(select(User).where(User.id == 1))
        assert user is not None
        done = asyncio.Event()
        worst = 0.0

        async def chat() -> None:
            nonlocal worst
            while not done.is_set():
                start = time.perf_counter()
                await watch.preview(self.ctx, user, "gpu=3090 price<20")
                await accounts.set_raise_step(self.ctx, user, 0.5)
                await watch.list_rules(self.ctx, user)
                worst = max(worst, time.perf_counter() - start)
                await asyncio.sleep(0.02)

        probe = asyncio.create_task(chat())
        try:
            await work
        finally:
            done.set()
            await probe
        return worst

    async def watch_one(self) -> None:
        async with self.ctx.reads() as s:
            user = await s.scalar(select(User).where(User.id == 1))
        assert user is not None
        await watch.save(self.ctx, user, NEW_RULE)

    async def counts(self) -> dict[str, int]:
        async with self.ctx.reads() as s:
            return {
                "matches": self.ctx.market.matcher.match_count(),
                "alert memory entries": len(self.ctx.market.memory),
                "alert memory records": int(
                    await s.scalar(select(func.count()).select_from(AlertMemoryRecord)) or 0
                ),
                "bid alert rows": int(
                    await s.scalar(select(func.count()).select_from(BidAlert)) or 0
                ),
                "outbox rows": int(await s.scalar(select(func.count()).select_from(Outbox)) or 0),
            }

    def database_mb(self) -> float:
        files = [self.db_file, *self.db_file.parent.glob(self.db_file.name + "-*")]
        return sum(f.stat().st_size for f in files if f.exists()) / 1e6

    async def close(self) -> None:
        await self.clore.aclose()
        await self.engine.dispose()


def restart_child(url: str, snapshot_file: str, secret: str, clore_price: float) -> None:
    """The child of `restart_in_child`: start as `gigaspot-bot run` does, then one cycle."""

    runtime.tune()
    data = Path(snapshot_file).read_bytes()

    async def run() -> float:
        bench = _Bench.__new__(_Bench)
        # a URL of its own: the parent's cycles used the first few
        bench.url, bench.db_file, bench.clore_price, bench.sequence = url, Path(), clore_price, 99
        bench.settings = load_settings(
            telegram_bot_token="0:bench", clore_api_token="bench", database_url=url,
            secret_key=secret,
        )  # fmt: skip
        bench.engine = create_engine(url)
        bench.clore = CloreClient("http://127.0.0.1:9", interval=0)
        bench.ctx = bench._context()
        bench.runner = Cycle(bench.ctx)
        try:
            gc.collect()
            start = time.perf_counter()
            await bench.start()
            await bench.cycle(data)
            return time.perf_counter() - start
        finally:
            await bench.close()

    seconds = asyncio.run(run())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak}))


async def _timed_into(times: list[float], work: Callable[[], Awaitable[Any]]) -> None:
    times.append(await _timed(work))


async def _timed(work: Callable[[], Awaitable[Any]]) -> float:
    gc.collect()
    start = time.perf_counter()
    await work()
    return time.perf_counter() - start


async def _run(args: argparse.Namespace) -> int:
    data, changed, rules, source = inputs(args)
    with tempfile.TemporaryDirectory(prefix="gigaspot-bench-") as folder:
        bench = _Bench(Path(folder), args.clore_price)
        try:
            bidders = _bidders(decode_snapshot(data))
            gc.collect()
            await bench.seed(rules, args.users, bidders)
            times: list[float] = []
            slowest = await bench.chat_during(_timed_into(times, lambda: bench.cycle(data)))
            times += [
                await _timed(lambda: bench.cycle(changed)),
                await _timed(lambda: bench.cycle(bytes(bytearray(changed)))),
            ]
            watch_time = await _timed(bench.watch_one)
            # Every cycle above included it; alone, for the record (a second later: within
            # the last one's second it would be skipped):
            later = bench.ctx.clock() + timedelta(seconds=2)
            bench.ctx.clock = lambda: later
            history_time = await _timed(lambda: bench.ctx.history.record(bench.ctx))
            counts = await bench.counts()
            restart_time, child_peak = bench.restart_in_child(data)
            times += [restart_time, watch_time]
            size = bench.database_mb()
        finally:
            await bench.close()
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, child_peak)
    loads = loads_in_child(data)
    tuned = loads_in_child(data, tuned=True)
    print(
        f"snapshot: {source}, {len(decode_snapshot(data).servers)} servers, "
        f"{len(data) / 1e6:.1f} MB; {len(rules)} rules of {args.users} users, all linked, "
        f"the {LINKED_BIDDERS} busiest bidders among them; "
        f"real Cycle on SQLite; each figure measured once"
    )
    for label, seconds in zip(LABELS, [loads, *times], strict=True):
        print(f"{label:<30} {seconds * 1000:9.1f} ms  {seconds / loads:6.3f}x json.loads")
    first, churn, _, restart = times[:4]
    label = "json.loads, bot's GC settings"
    print(f"{label:<30} {tuned * 1000:9.1f} ms  first "
          f"{first / tuned:.2f}x, 10% changed {churn / tuned:.2f}x, restart "
          f"{restart / tuned:.2f}x against it")  # fmt: skip
    print(f"{'slowest chat answer':<30} {slowest * 1000:9.1f} ms  (during the first cycle)")
    print(f"{'price history point':<30} {history_time * 1000:9.1f} ms  (in every cycle above)")
    print(f"{'peak RSS':<30} {peak:9.1f} MB")
    print(f"{'database size':<30} {size:9.1f} MB")
    for name, value in counts.items():
        print(f"{name:<30} {value:>9}")
    return 0


def loads_in_child(data: bytes, *, tuned: bool = False) -> float:
    """Best of 3 `json.loads` of the bytes in a fresh process (a clean heap), with Python's
    default settings as a plain script has them, or `tuned`: with the bot's
    (`bot.runtime.tune`: far fewer garbage collections), which makes json.loads itself
    faster, so ratios against it are the stricter ones."""
    with tempfile.NamedTemporaryFile(suffix=".json") as file:
        file.write(data)
        file.flush()
        code = (
            "import gc, json, sys, time\n"
            + ("from bot import runtime; runtime.tune()\n" if tuned else "")
            + "data = open(sys.argv[1], 'rb').read()\n"
            "best = float('inf')\n"
            "for _ in range(3):\n"
            "    gc.collect(); start = time.perf_counter(); json.loads(data)\n"
            "    best = min(best, time.perf_counter() - start)\n"
            "print(best)\n"
        )
        done = subprocess.run([sys.executable, "-c", code, file.name], capture_output=True,
                              check=True, text=True)  # fmt: skip
    return float(done.stdout.strip())


def main(args: argparse.Namespace) -> int:
    runtime.tune()  # as `gigaspot-bot run` does
    try:
        return asyncio.run(_run(args))
    except (OSError, ValueError, RuleError, SnapshotError) as exc:
        print(f"gigaspot-bot bench --cycle: {exc}", file=sys.stderr)
        return 2
