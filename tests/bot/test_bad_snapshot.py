"""A snapshot that cannot be decoded or applied is no new data: the market goes stale on
time, users hear it once, the log says it once, and a good snapshot brings everything back."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.bot.conftest import ALICE, BotFactory, BotHarness
from tests.fakes.clore_server import make_server

POLL = 2  # seconds of service time per poll (POLL_INTERVAL_SECONDS in the harness)
# Valid JSON nested deeper than any decoder recurses: a snapshot nobody can read.
NESTED = b'{"1": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


async def watching_fresh_market(bot_factory: BotFactory) -> BotHarness:
    bot = await bot_factory(stale_after_seconds=20)
    await bot.cycle()
    await bot.ask(ALICE, "/watch gpu=4090", expect="saved")
    bot.clore.publish()
    await bot.cycle()
    return bot


def new_machine(bot: BotHarness, server_id: str) -> None:
    with bot.clore.lock:
        bot.clore.market[server_id] = make_server(gpu_model="RTX 4090", min_bid=10.0)


async def poll_for(bot: BotHarness, seconds: int) -> list[str]:
    """Poll every POLL seconds of service time; what Alice was sent meanwhile."""
    mark = bot.telegram.mark()
    for _ in range(seconds // POLL):
        await bot.cycle()
        await bot.deliver()
        bot.clock.advance(POLL)
    return bot.sent_texts(ALICE, since=mark)


def logged(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if text in r.getMessage()]


async def test_an_undecodable_snapshot_goes_stale_once_and_recovers(
    bot_factory: BotFactory, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await watching_fresh_market(bot_factory)
    caplog.set_level(logging.INFO, logger="bot")
    bot.clore.publish(raw=NESTED)

    assert await poll_for(bot, 10) == []  # ten seconds after the last good one: not stale
    later = await poll_for(bot, 36)  # 46 s in all
    assert len(later) == 1 and "stale" in later[0]
    assert len(logged(caplog, "not refreshed")) == 1  # one failure, one line
    assert "cannot be decoded" in logged(caplog, "not refreshed")[0].getMessage()
    assert logged(caplog, "poll cycle failed") == []

    new_machine(bot, "10")
    bot.clore.publish()
    recovered = await poll_for(bot, 4)
    assert len(recovered) == 2
    assert any("#10" in text for text in recovered)
    assert any("fresh again" in text for text in recovered)
    assert len(logged(caplog, "flows again")) == 1


async def test_a_snapshot_the_cycle_cannot_apply_is_retried_and_goes_stale(
    bot_factory: BotFactory, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await watching_fresh_market(bot_factory)
    caplog.set_level(logging.INFO, logger="bot")
    market = bot.ctx.market
    downloads = len(bot.clore.calls_for("snapshot"))

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the matcher gave up")

    monkeypatch.setattr(market, "apply", broken)
    new_machine(bot, "10")
    bot.clore.publish()
    texts = await poll_for(bot, 30)
    assert len(texts) == 1 and "stale" in texts[0]
    assert len(logged(caplog, "could not be applied")) == 1
    assert len(bot.clore.calls_for("snapshot")) - downloads == 30 // POLL  # tried every poll

    monkeypatch.undo()  # the matcher works again: the same (now old) snapshot is applied
    applied = await poll_for(bot, 2)
    assert len(applied) == 1 and "#10" in applied[0]
    bot.clore.publish()
    recovered = await poll_for(bot, 2)
    assert len(recovered) == 1 and "fresh again" in recovered[0]
