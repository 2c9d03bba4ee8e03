"""The whole product over real sockets: the `gigaspot-bot run` process, a fake Bot API and a
fake clore.ai, played as a user would: start, link, watch, alerts, outbid, raise, cancel."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.bot_process import OPERATOR_KEY, BotProcess
from tests.fakes.clore_server import FakeClore, make_bid, make_server
from tests.fakes.telegram_server import FakeTelegram

USER = 5001  # Telegram user (and private chat) id
USER_KEY = "user-key-abc123"
CLORE_USER = 42
RIVAL = 77


@pytest.fixture
def fakes() -> Iterator[tuple[FakeTelegram, FakeClore]]:
    market = {"100": make_server(gpu_model="RTX 3090", min_bid=5.0)}
    with (
        FakeTelegram() as telegram,
        FakeClore(
            keys={OPERATOR_KEY: 1, USER_KEY: CLORE_USER}, market=market, clore_price=None
        ) as clore,
    ):
        yield telegram, clore


def texts_since(telegram: FakeTelegram, mark: int) -> list[str]:
    return [
        str(r.params.get("text", ""))
        for r in telegram.requests("sendMessage", chat_id=USER, since=mark)
    ]


def wait_polls(clore: FakeClore, polls: int) -> None:
    """Wait until the bot has asked for the snapshot `polls` more times (a cycle has ended)."""
    seen = len(clore.calls_for("get_gigaspot", key=OPERATOR_KEY))
    clore.wait_for_calls(seen + polls, "get_gigaspot", timeout=20)


def chat(telegram: FakeTelegram, text: str, expect: str, timeout: float = 15.0) -> str:
    asked = telegram.user_message(USER, text)
    reply = telegram.wait_for_bot_message(
        USER, after=asked, where=lambda m: expect in m.text, timeout=timeout
    )
    return reply.text


def test_user_journey(fakes: tuple[FakeTelegram, FakeClore], tmp_path: Path) -> None:
    telegram, clore = fakes
    bot = BotProcess(tmp_path, telegram, clore).start()
    try:
        telegram.wait_for_request("setMyCommands", timeout=30)
        assert "/help" in chat(telegram, "/start", "GigaSPOT Watch")
        assert "/watch" in chat(telegram, "/help", "commands")

        mark = telegram.mark()
        linked = chat(telegram, f"/link {USER_KEY}", "Linked")
        assert str(CLORE_USER) in linked and USER_KEY not in linked
        deleted = telegram.requests("deleteMessage", chat_id=USER, since=mark)
        assert len(deleted) == 1

        saved = chat(telegram, "/watch gpu=4090 price<30", "saved")
        assert "No machine matches" in saved

        # A matching machine appears: exactly one alert.
        with clore.lock:
            clore.market["200"] = make_server(gpu_model="RTX 4090", min_bid=12.5)
        mark = telegram.mark()
        clore.publish()
        alert = telegram.wait_for_bot_message(
            USER, where=lambda m: "#200" in m.text, timeout=20
        )
        assert "12.5" in alert.text and "RTX 4090" in alert.text

        # The same market again, under a new URL: nothing new.
        clore.publish()
        wait_polls(clore, 2)
        assert len([t for t in texts_since(telegram, mark) if "#200" in t]) == 1

        # A restart announces nothing again.
        assert bot.stop() == 0
        mark = telegram.mark()
        bot.start()
        wait_polls(clore, 3)
        assert texts_since(telegram, mark) == []

        # The user's bid is outbid by a rival: an alert with Raise and Cancel.
        with clore.lock:
            clore.market["200"]["bids"] = [
                make_bid(CLORE_USER, 9001, 15.0),
                make_bid(RIVAL, 9002, 20.0),
            ]
        clore.publish()
        outbid = telegram.wait_for_bot_message(
            USER, where=lambda m: "Outbid" in m.text, timeout=20
        )
        raise_data = outbid.callback_data_for("Raise")
        cancel_data = outbid.callback_data_for("Cancel")
        assert "20.5" in next(label for label, _ in outbid.buttons if label.startswith("Raise"))

        query = telegram.user_taps(USER, outbid.message_id, raise_data)
        telegram.wait_for_callback_answer(query, timeout=15)
        telegram.wait_for_edit(USER, outbid.message_id, timeout=15)
        edits = clore.calls_for("edit_gigaspot_orders")
        assert [c.body for c in edits] == [[{"order_id": 9001, "price": 20.5}]]

        again = telegram.user_taps(USER, outbid.message_id, raise_data, require_button=False)
        answer = telegram.wait_for_callback_answer(again, timeout=15)
        assert "already used" in (answer.answer_text or "")
        assert len(clore.calls_for("edit_gigaspot_orders")) == 1

        # Cancel asks first; Yes cancels once.
        query = telegram.user_taps(USER, outbid.message_id, cancel_data, require_button=False)
        telegram.wait_for_callback_answer(query, timeout=15)
        asked = telegram.wait_for_edit(USER, outbid.message_id, edits=2, timeout=15)
        assert clore.calls_for("cancel_orders") == []
        yes_data = asked.callback_data_for("Yes, cancel")
        query = telegram.user_taps(USER, outbid.message_id, yes_data)
        telegram.wait_for_callback_answer(query, timeout=15)
        clore.wait_for_calls(1, "cancel_orders", timeout=15)
        again = telegram.user_taps(USER, outbid.message_id, yes_data, require_button=False)
        telegram.wait_for_callback_answer(again, timeout=15)
        assert [c.body for c in clore.calls_for("cancel_orders")] == [{"order_ids": [9001]}]
    finally:
        bot.stop()
        print(bot.log())
