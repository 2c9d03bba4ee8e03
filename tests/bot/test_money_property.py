"""Property: random interleavings of taps on every button of an order, of automatic raises
and of crashes never make more than one clore call per order per decision, never spend
past the cap or the daily budget, and never lose a queued message.

Each example runs the real application (fresh database, fakes) through a few random steps:
taps on the order's Raise and Cancel buttons (several at once, optionally with a cycle and
its automatic raise running meanwhile, optionally with clore calls parked until all taps
are in), rival moves, cycles, /bids (one more message with buttons), restarts, and crashes
(a tap's or a cycle's money action dies between its call and its record; the bot
restarts over the same database).
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot.db.migrate import upgrade_to_head
from bot.db.models import AuditEntry
from tests.bot.conftest import (
    ALICE,
    ALICE_CLORE,
    ALICE_KEY,
    CLORE_INTERVAL,
    OPERATOR_KEY,
    RIVAL,
    BotHarness,
    make_settings,
)
from tests.bot.money_faults import SimulatedCrash, crash_before_settling, taps_handled
from tests.fakes.clore_server import FakeClore, make_bid, make_server
from tests.fakes.telegram_server import FakeTelegram

SERVER, ORDER, RIVAL_ORDER = "300", 9001, 9002
START_PRICE = 15.0
EPS = 1e-9
MONEY_CALLS = ("edit_gigaspot_orders", "cancel_orders")


@dataclass(frozen=True)
class Taps:
    picks: tuple[int, ...]  # buttons of the order, by index (modulo how many there are)
    with_cycle: bool  # a new snapshot's cycle (and its automatic raise) runs meanwhile
    parked: bool  # clore calls wait until every tap of the step is answered
    crash: bool  # the step's first money action dies after its call, before its record
    cancels: bool  # Cancel buttons are among those tapped (else only Raise)


@dataclass(frozen=True)
class Rival:
    price: float  # the rival's new bid, in the next snapshot


@dataclass(frozen=True)
class Cycle:
    crash: bool  # as for Taps: an automatic raise of this cycle dies before its record


@dataclass(frozen=True)
class Restart:
    pass  # kill -9 with nothing in flight


@dataclass(frozen=True)
class Bids:
    pass  # /bids: one more message with Raise and Cancel


SOMETIMES = st.sampled_from([False, False, True])
TAPS = st.builds(
    Taps,
    st.lists(st.integers(0, 30), min_size=1, max_size=4).map(tuple),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    SOMETIMES,  # a cancel ends what the rest of the example can do to the order
)
RIVAL_MOVES = st.builds(Rival, st.sampled_from([10.0, 17.0, 19.0, 22.0, 24.0, 27.0]))
# Taps and rival moves are what make money move: drawn more often than the rest.
STEPS = st.one_of(
    TAPS, TAPS, TAPS, RIVAL_MOVES, RIVAL_MOVES, st.builds(Cycle, st.booleans()),
    st.just(Restart()), st.just(Bids()),
)


class Run:
    """One example: Alice's order 9001 on server 300 (protected or not) against one rival."""

    def __init__(self, bot: BotHarness, cap: float, per_hour: int, budget: float | None,
                 protect: bool):  # fmt: skip
        self.bot, self.cap, self.per_hour, self.budget = bot, cap, per_hour, budget
        self.protect = protect
        self.armed: list[int] | None = None  # intents the armed crash left pending
        self._crash: object = None
        self.crashes = 0

    async def setup(self, rival: float) -> None:
        bot = self.bot
        await bot.ask(ALICE, f"/link {ALICE_KEY}", expect="Linked")
        with bot.clore.lock:
            bot.clore.market[SERVER] = make_server(min_bid=5.0, bids=[
                make_bid(ALICE_CLORE, ORDER, START_PRICE), make_bid(RIVAL, RIVAL_ORDER, 12.0)])
        await bot.publish_and_cycle()
        await bot.ask(ALICE, f"/settings cap {self.cap:g}", expect="Settings")
        if self.protect:
            await bot.ask(ALICE, f"/protect {ORDER} {self.cap:g} {self.per_hour}",
                          expect="protected")
        if self.budget is not None:
            await bot.ask(ALICE, f"/budget {self.budget:g}", expect="budget")
        self.move_rival(rival)
        await self.cycle()
        await self.step(Bids())

    def move_rival(self, price: float) -> None:
        with self.bot.clore.lock:
            for bid in self.bot.clore.market.get(SERVER, {}).get("bids", []):
                if bid["id"] == RIVAL_ORDER:
                    bid["price"] = price

    def buttons(self, cancels: bool) -> list[tuple[int, str]]:
        """Every Raise (and Cancel) button the chat shows now (confirmations are not
        tapped: above the cap the user has not agreed)."""
        return [
            (m.message_id, data)
            for m in self.bot.telegram.bot_messages(ALICE)
            for label, data in m.buttons
            if data and (label.startswith("Raise to") or (cancels and (
                label == "Cancel" or label.startswith("🗑 Yes, cancel"))))
        ]

    async def cycle(self) -> None:
        self.bot.clore.publish()
        try:
            await self.bot.cycle()
        except SimulatedCrash:
            pass
        await self.bot.deliver()

    async def step(self, step: object) -> None:
        bot = self.bot
        if getattr(step, "crash", False):
            self._crash = crash_before_settling()
            self.armed = self._crash.__enter__()  # type: ignore[attr-defined]
        match step:
            case Taps(picks=picks, with_cycle=with_cycle, parked=parked, cancels=cancels):
                await self.taps(picks, with_cycle, parked, cancels)
            case Rival(price=price):
                self.move_rival(price)
            case Cycle():
                await self.cycle()
            case Bids():
                await bot.ask(ALICE, "/bids")
        crashed = bool(self.armed)
        await self.disarm()
        if crashed or isinstance(step, Restart):  # the process is gone: start it again
            self.crashes += crashed
            await bot.restart()
            await self.cycle()

    async def taps(
        self, picks: tuple[int, ...], with_cycle: bool, parked: bool, cancels: bool
    ) -> None:
        bot, pool = self.bot, self.buttons(cancels)
        if not pool:
            return
        gates = [bot.clore.hold(endpoint) for endpoint in MONEY_CALLS] if parked else []
        cycle = asyncio.create_task(self.cycle()) if with_cycle else None
        queries = [bot.telegram.user_taps(ALICE, *pool[i % len(pool)]) for i in picks]
        try:
            await bot.telegram.await_for(
                lambda fake: all(fake.callback_query(q).answered for q in queries)
                or bool(self.armed),  # a crashed tap was answered already
                what="every tap answered",
            )
        finally:
            for gate in gates:
                gate.set()
        await taps_handled(bot)
        if cycle is not None:
            await cycle
        await bot.deliver()

    async def disarm(self) -> None:
        if self._crash is not None:
            self._crash.__exit__(None, None, None)  # type: ignore[attr-defined]
        self._crash, self.armed = None, None

    async def finish(self) -> None:
        await self.disarm()  # every crash that happened was followed by a restart
        await self.cycle()

    async def check(self) -> None:
        bot = self.bot
        rows = [a for a in await bot.audit() if a.action in ("raise", "cancel")]
        calls = [c for c in bot.clore.calls
                 if c.endpoint in MONEY_CALLS and c.key == ALICE_KEY]
        # Every clore call had its intent recorded first, one to one, in the same order.
        assert [r.action for r in rows] == [
            "raise" if c.endpoint == "edit_gigaspot_orders" else "cancel" for c in calls]
        for row, call in zip(rows, calls, strict=True):
            if row.action == "raise":
                assert call.body == [{"order_id": ORDER, "price": row.price}]
        assert all(r.outcome != "pending" for r in rows)
        # One call per order per decision: per snapshot, at most one raise and one cancel,
        # and every raise above the last (none repeats one the snapshot did not show yet).
        per_decision = Counter((r.snapshot_url, r.action) for r in rows)
        assert max(per_decision.values(), default=0) <= 1, rows
        prices = [r.price or 0.0 for r in rows if r.action == "raise"]
        assert all(a < b for a, b in itertools.pairwise(prices)), prices
        # Never past the cap, never past the budget or the hourly limit.
        assert all(p <= self.cap + EPS for p in prices)
        automatic = [r for r in rows if r.automatic]
        assert len(automatic) <= self.per_hour
        if self.budget is not None:
            assert true_automatic_spending(rows, calls) <= self.budget + EPS
        # Never a lost message: everything queued was delivered, interruptions included.
        outbox = await bot.outbox()
        assert all(m.sent_at is not None for m in outbox), [m.text for m in outbox]
        told = {m.dedupe_key for m in outbox}
        interrupted = [r for r in await bot.audit() if "interrupted" in (r.detail or "")]
        assert all(f"interrupted:{r.id}" in told for r in interrupted)
        # What the example exercised (--hypothesis-show-statistics).
        event(f"money calls: {min(len(calls), 3)}{'+' if len(calls) >= 3 else ''}")
        event(f"crashes: {self.crashes}")
        event(f"automatic raises: {len(automatic)}")
        event(f"manual raises: {len([r for r in rows if r.action == 'raise']) - len(automatic)}")


def true_automatic_spending(rows: list[AuditEntry], calls: list[object]) -> float:
    """What automatic raises really added, replaying the calls clore applied."""
    price, spent = START_PRICE, 0.0
    for row, call in zip(rows, calls, strict=True):
        if not call.applied:  # type: ignore[attr-defined]
            continue
        if row.action == "raise" and row.price is not None:
            if row.automatic:
                spent += max(0.0, row.price - price)
            price = row.price
    return spent


@pytest.fixture(scope="module")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty database at the newest schema, copied into every example (migrating one
    from scratch would take most of an example's time)."""
    path = tmp_path_factory.mktemp("template") / "bot.db"
    asyncio.run(upgrade_to_head(f"sqlite+aiosqlite:///{path}"))
    return path


async def run_example(template: Path, cap: float, per_hour: int, budget: float | None,
                      protect: bool, rival: float, steps: list[object]) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeTelegram() as telegram,
        FakeClore(keys={OPERATOR_KEY: 1, ALICE_KEY: ALICE_CLORE},
                  interval=CLORE_INTERVAL) as clore,
    ):
        (Path(tmp) / "data").mkdir()
        shutil.copyfile(template, Path(tmp) / "data" / "bot.db")
        bot = BotHarness(telegram, clore, make_settings(Path(tmp), telegram, clore))
        await bot.start()
        run = Run(bot, cap, per_hour, budget, protect)
        try:
            await run.setup(rival)
            for step in steps:
                await run.step(step)
            await run.finish()
            await run.check()
        finally:
            await run.disarm()
            await bot.stop()


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cap=st.sampled_from([21.0, 25.0, 28.0]),
    per_hour=st.integers(1, 3),
    budget=st.sampled_from([None, 3.0, 8.0]),
    protect=st.booleans(),  # without it, only taps raise
    rival=st.sampled_from([18.0, 20.0]),  # outbid at once: protection or an alert acts
    steps=st.lists(STEPS, min_size=1, max_size=6),
)
def test_money_actions_under_random_taps_raises_and_crashes(
    migrated_db: Path, cap: float, per_hour: int, budget: float | None, protect: bool,
    rival: float, steps: list[object],
) -> None:
    asyncio.run(run_example(migrated_db, cap, per_hour, budget, protect, rival, steps))
