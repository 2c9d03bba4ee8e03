"""Linking a clore API key: validated, stored encrypted, never echoed or logged."""

from __future__ import annotations

import logging

import pytest

from bot.app import NOISY_LOGGERS
from tests.bot.conftest import ALICE, ALICE_CLORE, ALICE_KEY, BotHarness


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Everything at DEBUG except what `bot.app.configure_logging` silences in production."""
    caplog.set_level(logging.DEBUG)
    for name in NOISY_LOGGERS:
        caplog.set_level(logging.WARNING, logger=name)
    return caplog


def bot_texts(bot: BotHarness) -> list[str]:
    return [
        str(r.params.get("text", ""))
        for r in bot.telegram.requests()
        if r.method.lower() in {"sendmessage", "editmessagetext", "answercallbackquery"}
    ]


def logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records
    )


async def test_a_bad_key_is_refused_stored_nowhere_and_its_message_deleted(
    bot: BotHarness, all_logs: pytest.LogCaptureFixture
) -> None:
    bad_key = "not-a-real-key-9d8c7b"
    asked = bot.telegram.user_message(ALICE, f"/link {bad_key}")
    reply = await bot.telegram.await_bot_message(ALICE, after=asked)

    assert "rejected this API key" in reply.text
    assert bot.telegram.message(ALICE, asked).deleted
    user = await bot.user(ALICE)
    assert user is not None and user.api_key_encrypted is None and user.clore_user_id is None
    assert [c.key for c in bot.clore.calls_for("get_gigaspot") if c.key == bad_key] == [bad_key]
    assert not any(bad_key in text for text in bot_texts(bot))
    assert bad_key not in logged(all_logs)


async def test_link_then_unlink(bot: BotHarness, all_logs: pytest.LogCaptureFixture) -> None:
    asked = bot.telegram.user_message(ALICE, f"/link {ALICE_KEY}")
    reply = await bot.telegram.await_bot_message(ALICE, after=asked)

    assert "Linked" in reply.text and str(ALICE_CLORE) in reply.text
    assert bot.telegram.message(ALICE, asked).deleted
    user = await bot.user(ALICE)
    assert user is not None and user.clore_user_id == ALICE_CLORE
    assert user.api_key_encrypted and ALICE_KEY not in user.api_key_encrypted

    settings = await bot.ask(ALICE, "/settings")
    assert f"clore user {ALICE_CLORE}" in settings.text

    forgotten = await bot.ask(ALICE, "/unlink")
    assert "forgotten" in forgotten.text
    user = await bot.user(ALICE)
    assert user is not None and user.api_key_encrypted is None and user.clore_user_id is None
    assert "No key" in (await bot.ask(ALICE, "/unlink")).text
    assert "Link your clore.ai account first" in (await bot.ask(ALICE, "/bids")).text

    assert not any(ALICE_KEY in text for text in bot_texts(bot))
    assert ALICE_KEY not in logged(all_logs)
