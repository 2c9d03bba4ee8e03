"""In-process harness: the real composition root (`bot.app.serve`) against the fakes.

Cycles and outbox drains are driven by the test (`await bot.cycle()`, `await bot.deliver()`)
instead of timers, so a test awaits events and can say "nothing more was sent" after a drain.
The service clock (`bot.clock`) runs ahead of real time on demand (`bot.clock.advance(s)`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import Running, serve
from bot.config import Settings, load_settings
from bot.db.models import AuditEntry, Outbox, Rule, User
from bot.services.cycle import CycleReport
from bot.telegram.delivery import Pacing
from tests.fakes.clore_server import FakeClore
from tests.fakes.telegram_server import ChatMessage, FakeTelegram

OPERATOR_KEY = "operator-key-0000"
ALICE, BOB = 1001, 1002  # Telegram user ids (= private chat ids)
ALICE_KEY, BOB_KEY = "alice-key-7f3a9c", "bob-key-5e1d2b"
ALICE_CLORE, BOB_CLORE, RIVAL = 42, 43, 77
CLORE_INTERVAL = 0.05
START_TIMEOUT = 15.0


class FakeClock:
    """Real UTC time plus an offset that tests move forward (never behind real time, since
    outbox rows are stamped with the real clock)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@dataclass
class BotHarness:
    telegram: FakeTelegram
    clore: FakeClore
    settings: Settings
    clock: FakeClock = field(default_factory=FakeClock)
    running: Running | None = None
    _task: asyncio.Task[None] | None = None
    _stop: asyncio.Event | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self, *, send_in_background: bool = False) -> BotHarness:
        ready: asyncio.Future[Running] = asyncio.get_running_loop().create_future()
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(
            serve(
                self.settings,
                self._stop,
                on_start=ready.set_result,
                clore_interval=CLORE_INTERVAL,
                pacing=Pacing(per_chat_interval=0.0, global_per_second=1000.0),
                poll_in_background=False,
                send_in_background=send_in_background,
            )
        )
        done, _ = await asyncio.wait({ready, self._task}, timeout=START_TIMEOUT,
                                     return_when=asyncio.FIRST_COMPLETED)
        if self._task in done:
            self._task.result()  # raises what made serve() end
        if ready not in done:
            raise TimeoutError("the bot did not start")
        self.running = ready.result()
        self.running.ctx.clock = self.clock
        return self

    async def stop(self) -> None:
        if self._task is None or self._stop is None:
            return
        self._stop.set()
        task, self._task, self.running = self._task, None, None
        await asyncio.wait_for(task, START_TIMEOUT)

    async def restart(self, **kwargs: Any) -> BotHarness:
        await self.stop()
        return await self.start(**kwargs)

    @property
    def ctx(self) -> Any:
        assert self.running is not None, "start() the bot first"
        return self.running.ctx

    # -- driving it -----------------------------------------------------------------------

    async def cycle(self) -> CycleReport:
        """One poll: get_gigaspot, download when the URL changed, alerts into the outbox."""
        assert self.running is not None
        return await self.running.poller.run_once()

    async def deliver(self) -> int:
        """Drain the outbox until nothing is due now; returns the rows handled."""
        assert self.running is not None
        total = 0
        while handled := await self.running.sender.drain_once():
            total += handled
        return total

    async def publish_and_cycle(self) -> CycleReport:
        self.clore.publish()
        report = await self.cycle()
        await self.deliver()
        return report

    async def ask(self, user: int, text: str, expect: str | None = None) -> ChatMessage:
        """The user writes `text`; the first bot reply after it (containing `expect`)."""
        asked = self.telegram.user_message(user, text)
        where = None if expect is None else (lambda m: expect in m.text)
        return await self.telegram.await_bot_message(user, after=asked, where=where)

    async def tap(self, user: int, message: ChatMessage, label: str) -> str:
        """Tap the button whose label contains `label`; returns the callback answer text."""
        query = self.telegram.user_taps(user, message.message_id,
                                        message.callback_data_for(label))
        return await self.answer_of(query)

    async def tap_data(self, user: int, message_id: int, data: str) -> str:
        query = self.telegram.user_taps(user, message_id, data, require_button=False)
        return await self.answer_of(query)

    async def answer_of(self, query_id: str) -> str:
        answer = await self.telegram.await_callback_answer(query_id)
        return answer.answer_text or ""

    async def edited(self, user: int, message_id: int, edits: int) -> ChatMessage:
        """The message once its `edits`-th edit arrived (the tap's handler is then done)."""
        await self.telegram.await_for(
            lambda fake: (
                len(fake.message(user, message_id).history) >= edits
                or _failed_edit(fake, user, message_id)
            ),
            what=f"edit {edits} of message {message_id}",
        )
        return self.telegram.message(user, message_id)

    def sent_texts(self, user: int, since: int = 0) -> list[str]:
        """Texts of every successful sendMessage to `user` after cursor `since`."""
        return [str(r.params.get("text")) for r in
                self.telegram.requests("sendMessage", chat_id=user, since=since)
                if r.status == 200]

    # -- reading the database -------------------------------------------------------------

    async def query(self, fn: Callable[[Any], Awaitable[Any]]) -> Any:
        async with self.ctx.reads() as s:
            return await fn(s)

    async def rules_of(self, telegram_id: int) -> list[Rule]:
        async def read(s: Any) -> list[Rule]:
            rows = await s.scalars(
                select(Rule).join(User, User.id == Rule.user_id)
                .where(User.telegram_id == telegram_id).order_by(Rule.id)
            )
            return list(rows)
        return await self.query(read)

    async def user(self, telegram_id: int) -> User | None:
        async def read(s: Any) -> User | None:
            return await s.scalar(select(User).where(User.telegram_id == telegram_id))
        return await self.query(read)

    async def audit(self) -> list[AuditEntry]:
        return await self.query(
            lambda s: _all(s.scalars(select(AuditEntry).order_by(AuditEntry.id)))
        )

    async def outbox(self) -> list[Outbox]:
        return await self.query(lambda s: _all(s.scalars(select(Outbox).order_by(Outbox.id))))


async def _all(rows: Awaitable[Any]) -> list[Any]:
    return list(await rows)


def _failed_edit(fake: FakeTelegram, user: int, message_id: int) -> bool:
    return any(r.status not in (None, 200) and r.params.get("message_id") == message_id
               for r in fake.requests("editMessageText", chat_id=user))


def make_settings(tmp_path: Path, telegram: FakeTelegram, clore: FakeClore,
                  **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "telegram_bot_token": telegram.token,
        "telegram_api_url": telegram.api_root,
        "clore_api_token": OPERATOR_KEY,
        "clore_api_url": clore.url,
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'data' / 'bot.db'}",
        "poll_interval_seconds": 2,
        "allowed_telegram_ids": frozenset(),
        "secret_key": None,
        "log_level": "INFO",
        **overrides,
    }
    return load_settings(**values)


BotFactory = Callable[..., Awaitable[BotHarness]]


@pytest.fixture
async def bot_factory(tmp_path: Path, database_url: str) -> AsyncIterator[BotFactory]:
    """`await bot_factory(SETTING=value, ...)`: fakes + a started bot on a fresh database
    (SQLite and PostgreSQL, see tests/conftest.py); torn down after."""
    harnesses: list[BotHarness] = []
    stack = contextlib.ExitStack()

    async def make(*, send_in_background: bool = False, clore_price: float | None = None,
                   **overrides: Any) -> BotHarness:
        telegram = stack.enter_context(FakeTelegram())
        clore = stack.enter_context(FakeClore(
            keys={OPERATOR_KEY: 1, ALICE_KEY: ALICE_CLORE, BOB_KEY: BOB_CLORE},
            interval=CLORE_INTERVAL, clore_price=clore_price,
        ))
        values = {"database_url": database_url, **{k.lower(): v for k, v in overrides.items()}}
        settings = make_settings(tmp_path, telegram, clore, **values)
        harness = BotHarness(telegram, clore, settings)
        clore.clock = lambda: harness.clock().timestamp()  # snapshots are "now" for the bot
        harnesses.append(harness)
        return await harness.start(send_in_background=send_in_background)

    try:
        yield make
    finally:
        try:
            for harness in harnesses:
                await harness.stop()
        finally:
            stack.close()


@pytest.fixture
async def bot(bot_factory: BotFactory) -> BotHarness:
    """A bot with default settings and an empty market (already loaded by one cycle)."""
    harness = await bot_factory()
    await harness.cycle()
    return harness
