"""Restarts and failed commits change nothing users hear.

A bot that restarts at random points (between cycles, or after a cycle that died between
the matcher update and the commit), checkpoints its alert memory at random, and gets rules
added and removed, must queue exactly the match alerts of a reference bot that sees the
same snapshots and rule changes and never restarts. Both run the real `Cycle` and services
on their own SQLite file; the clock is injected.
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

from cryptography.fernet import Fernet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from bot.clore.client import CloreClient
from bot.clore.fetcher import PollResult
from bot.config import load_settings
from bot.db.engine import create_engine, session_factory
from bot.db.migrate import upgrade_to_head
from bot.db.models import Outbox, User
from bot.db.repositories import rules as rules_repo
from bot.market.generate import generate_rules, generate_snapshot_dict, mutate_document
from bot.market.snapshot import decode_snapshot
from bot.secrets import KeyBox
from bot.services import accounts, alert_state, watch
from bot.services.context import ServiceContext, UserError
from bot.services.cycle import Cycle, SnapshotNotApplied
from bot.services.market_state import MarketState
from tests.conftest import PostgresServer

T0 = datetime(2026, 6, 1, tzinfo=UTC)
USERS = 3
SECRET = Fernet.generate_key().decode()


class Bot:
    """The services of one bot over one database file, restartable."""

    def __init__(self, url: str, clock: list[datetime], owners: list[int]) -> None:
        self.url = url
        self.clock = clock
        self.owners = owners
        self.settings = load_settings(
            telegram_bot_token="0:test", clore_api_token="test", database_url=self.url,
            secret_key=SECRET, realert_after_seconds=3600, realert_price_drop=0.2,
            max_matches_per_message=10_000,
        )  # fmt: skip
        self.engine = create_engine(self.url)
        self.clore = CloreClient("http://127.0.0.1:9", interval=0)
        self.ctx = self._context()
        self.cycle = Cycle(self.ctx)

    def _context(self) -> ServiceContext:
        return ServiceContext(
            settings=self.settings, sessions=session_factory(self.engine),
            reads=session_factory(self.engine, read_only=True), keybox=KeyBox(SECRET),
            clore=self.clore, market=MarketState(), clock=lambda: self.clock[0],
        )  # fmt: skip

    async def create(self) -> None:
        await upgrade_to_head(self.url)
        async with self.ctx.sessions() as s, s.begin():
            await s.execute(
                insert(User),
                [{"id": n, "telegram_id": n, "chat_id": n, "clore_user_id": owner,
                  "alerts_paused": False, "active": True}
                 for n, owner in enumerate(self.owners, start=1)],
            )  # fmt: skip
        await self.start()

    async def start(self) -> None:
        # as `gigaspot-bot run` starts: the rules registered while what is stored decodes
        await alert_state.restore(self.ctx, accounts.refresh_owners(self.ctx))

    async def restart(self) -> None:
        self.ctx = self._context()
        self.cycle = Cycle(self.ctx)
        await self.start()

    async def apply(self, data: bytes, url: str) -> None:
        """A poll that downloaded a new snapshot (decoded against the one in force)."""
        snapshot = decode_snapshot(data, self.ctx.market.snapshot)
        poll = PollResult(snapshot, True, None, 0.0, False, None, snapshot_url=url,
                          clore_price=0.02)  # fmt: skip
        await self.cycle.run(poll)

    async def user(self, n: int) -> User:
        async with self.ctx.reads() as s:
            found = await s.scalar(select(User).where(User.id == n))
        assert found is not None
        return found

    async def add_rule(self, n: int, text: str) -> int | None:
        """The new rule's number for its user; None when the user has this rule already."""
        try:
            return (await watch.save(self.ctx, await self.user(n), text)).rule_id
        except UserError:
            return None

    async def remove_rule(self, n: int, number: int) -> None:
        await watch.delete(self.ctx, await self.user(n), number)

    async def announcements(self) -> list[tuple[str, int, frozenset[str]]]:
        async with self.ctx.reads() as s:
            rows = (await s.execute(
                select(Outbox.dedupe_key, Outbox.user_id, Outbox.text)
                .where(Outbox.kind == "match").order_by(Outbox.id)
            )).all()  # fmt: skip
        return [(key, user, frozenset(re.findall(r"<b>#(\d+)</b>", text)))
                for key, user, text in rows]  # fmt: skip

    async def close(self) -> None:
        await self.clore.aclose()
        await self.engine.dispose()


@contextmanager
def failing_commit() -> Iterator[None]:
    """The cycle's transaction dies after the matcher update (a full disk, a lock)."""
    with mock.patch.object(alert_state, "record_change", side_effect=OSError("disk full")):
        yield


STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("snapshot"), st.floats(0.05, 0.5)),
        st.tuples(st.just("add"), st.integers(0, 39), st.integers(1, USERS)),
        st.tuples(st.just("remove"), st.integers(0, 10)),
        st.tuples(st.just("restart")),
        st.tuples(st.just("crash, restart"), st.floats(0.05, 0.5)),
        st.tuples(st.just("crash, retry"), st.floats(0.05, 0.5)),
        st.tuples(st.just("checkpoint")),
        st.tuples(st.just("wait"), st.sampled_from([600, 1800, 4000])),
    ),
    min_size=3,
    max_size=12,
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), steps=STEPS)
def test_restarts_and_failed_commits_announce_exactly_what_a_steady_bot_does(
    seed: int, steps: list[tuple[Any, ...]]
) -> None:
    asyncio.run(_scenario(seed, steps))


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(seed=st.integers(0, 10_000), steps=STEPS)
def test_postgresql_announces_exactly_what_sqlite_does(
    postgres: PostgresServer, seed: int, steps: list[tuple[Any, ...]]
) -> None:
    """The steady bot on SQLite, the restarted and failing one on PostgreSQL."""
    name = postgres.create_database()
    try:
        asyncio.run(_scenario(seed, steps, tested_url=postgres.sqlalchemy_url(name)))
    finally:
        postgres.drop_database(name)


async def _scenario(
    seed: int, steps: list[tuple[Any, ...]], tested_url: str | None = None
) -> None:
    document = generate_snapshot_dict(50, seed)
    owners = [*sorted({b["owner"] for s in document.values() for b in s["bids"]})[:1], 7, 8]
    texts = generate_rules(40, seed, broad=0.3)
    clock = [T0]
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        tested_url = tested_url or f"sqlite+aiosqlite:///{Path(b) / 'bot.db'}"
        steady = Bot(f"sqlite+aiosqlite:///{Path(a) / 'bot.db'}", clock, owners)
        tested = Bot(tested_url, clock, owners)
        try:
            for bot in (steady, tested):
                await bot.create()
                for n, text in enumerate(texts[:6]):
                    await bot.add_rule(n % USERS + 1, text)
            sequence = 0

            async def snapshot(share: float, how: str = "") -> None:
                nonlocal document, sequence
                sequence += 1
                document = mutate_document(document, share, seed + sequence)
                data, url = json.dumps(document).encode(), f"https://cdn/s_{sequence}.json"
                await steady.apply(data, url)
                if how:
                    with failing_commit():
                        try:
                            await tested.apply(data, url)
                        except SnapshotNotApplied:
                            pass
                        else:
                            raise AssertionError("the commit should have failed")
                    if how == "crash, restart":
                        await tested.restart()
                        await tested.apply(data, url)  # clore still publishes it
                    else:  # the poller hands it back; the next poll downloads it again
                        await tested.apply(data, url)
                else:
                    await tested.apply(data, url)
                clock[0] += timedelta(minutes=20)

            await snapshot(0.0)
            for step in steps:
                match step:
                    case ("snapshot", share):
                        await snapshot(share)
                    case ("crash, restart" | "crash, retry" as how, share):
                        await snapshot(share, how)
                    case ("add", index, user):
                        ids = [await bot.add_rule(user, texts[index]) for bot in (steady, tested)]
                        assert ids[0] == ids[1]
                    case ("remove", pick):
                        async with steady.ctx.reads() as s:
                            active = await rules_repo.active_rules(s)
                        if active:
                            rule = active[pick % len(active)]
                            for bot in (steady, tested):
                                await bot.remove_rule(rule.user_id, rule.number)
                    case ("restart",):
                        await tested.restart()
                    case ("checkpoint",):
                        await alert_state.checkpoint(tested.ctx)
                    case ("wait", seconds):
                        clock[0] += timedelta(seconds=seconds)
            assert await tested.announcements() == await steady.announcements()
        finally:
            await steady.close()
            await tested.close()


async def test_a_failed_start_up_step_fails_the_restore_and_the_next_start_works() -> None:
    """`restore` decodes what is stored while `meanwhile` registers the rules: a failure
    there is raised (nothing left running), and a start after it restores as usual."""
    document = generate_snapshot_dict(50, 1)
    with tempfile.TemporaryDirectory() as folder:
        bot = Bot(f"sqlite+aiosqlite:///{Path(folder) / 'bot.db'}", [T0], [7])
        try:
            await bot.create()
            await bot.add_rule(1, "gpus>=1")
            await bot.apply(json.dumps(document).encode(), "https://cdn/s_1.json")
            before = await bot.announcements()
            assert before  # the rule matched: the memory has entries, the baseline is stored

            async def broken() -> None:
                await asyncio.sleep(0)
                raise OSError("database is locked")

            bot.ctx = bot._context()
            try:
                await alert_state.restore(bot.ctx, broken())
            except OSError as exc:
                assert "locked" in str(exc)
            else:
                raise AssertionError("the failure of the start-up step was not raised")
            await bot.restart()
            assert bot.ctx.market.snapshot_url == "https://cdn/s_1.json"
            assert len(bot.ctx.market.memory) > 0
            await bot.apply(json.dumps(document).encode(), "https://cdn/s_2.json")
            assert await bot.announcements() == before  # nothing announced twice
        finally:
            await bot.close()
