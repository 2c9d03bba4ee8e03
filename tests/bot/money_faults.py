"""Faults for the money tests: a crash between a clore call and its record, and waiting
until the bot has handled every tap injected so far.

`crash_before_settling` stands in for kill -9: the money action's intent is committed and
its clore call made (and applied by the fake), then the process "dies" before the outcome
is written; the test then restarts the bot (`BotHarness.restart`) over the same database.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

from bot.services import money
from tests.bot.conftest import BotHarness


class SimulatedCrash(Exception):
    """The process died here: nothing after this point of the money action ran."""


@contextlib.contextmanager
def crash_before_settling(times: int = 1) -> Iterator[list[int]]:
    """The next `times` money actions die after their clore call, before their outcome is
    recorded. Yields the audit ids of the intents left pending."""
    real = money.settle
    left = [times]
    crashed: list[int] = []

    async def settle(s: Any, intent: money.Intent, *args: Any, **kwargs: Any) -> None:
        if left[0] > 0:
            left[0] -= 1
            crashed.append(intent.entry_id)
            raise SimulatedCrash(f"crash before settling intent {intent.entry_id}")
        await real(s, intent, *args, **kwargs)

    money.settle = settle  # type: ignore[assignment]
    try:
        yield crashed
    finally:
        money.settle = real  # type: ignore[assignment]


async def taps_handled(bot: BotHarness) -> None:
    """Every update injected so far was fetched by the bot and its handler has finished."""
    await bot.telegram.await_for(lambda fake: fake.pending_updates == 0, what="updates fetched")
    assert bot.running is not None
    await bot.running.application.update_queue.join()


async def tap_all(bot: BotHarness, user: int, buttons: list[tuple[int, str]]) -> list[str]:
    """Tap (message id, callback data) buttons at the same moment; their answers, in order."""
    queries = [bot.telegram.user_taps(user, mid, data) for mid, data in buttons]
    await taps_handled(bot)
    answers = []
    for query in queries:
        record = bot.telegram.callback_query(query)
        answers.append((record.answer_text or "") if record.answered else "")
    return answers


async def tap_while_first_call_is_in_flight(
    bot: BotHarness, user: int, endpoint: str, buttons: list[tuple[int, str]]
) -> list[str]:
    """Tap the first button; while its clore call is parked at the fake, tap the others
    (their handlers run up to the money lock); then let the call through. Answers, in
    order."""
    gate = bot.clore.hold(endpoint)
    seen = len(bot.clore.calls_for(endpoint))
    first = bot.telegram.user_taps(user, *buttons[0])
    try:
        await asyncio.to_thread(bot.clore.wait_for_calls, seen + 1, endpoint)
        others = [bot.telegram.user_taps(user, mid, data) for mid, data in buttons[1:]]
        await bot.telegram.await_for(
            lambda fake: all(fake.callback_query(q).answered for q in others),
            what="the other taps answered",
        )
    finally:
        gate.set()
    await taps_handled(bot)
    return [bot.telegram.callback_query(q).answer_text or "" for q in [first, *others]]
