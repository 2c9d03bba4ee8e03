"""Two real `gigaspot-bot run` processes on one PostgreSQL database, in webhook mode, against
the fake Bot API and fake clore: the leader is killed (-9) in the middle of a cycle, the other
takes over; every alert arrives exactly once, and a tap delivered to both replicas makes one
clore call."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.conftest import PostgresServer
from tests.e2e.bot_process import OPERATOR_KEY, BotProcess
from tests.fakes.clore_server import FakeClore, make_bid, make_server
from tests.fakes.telegram_server import FakeTelegram
from tests.ports import free_port

USER, USER_KEY, CLORE_USER, RIVAL = 5001, "user-key-abc123", 42, 77
SECRET = "webhook-secret_1"
TIMEOUT = 30.0


class Replica:
    def __init__(self, name: str, workdir: Path, telegram: FakeTelegram, clore: FakeClore,
                 database_url: str, secret_key: str) -> None:  # fmt: skip
        self.name = name
        self.port = free_port()
        workdir.mkdir()
        self.process = BotProcess(
            workdir, telegram, clore,
            DATABASE_URL=database_url, SECRET_KEY=secret_key,
            TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{self.port}/hook",
            WEBHOOK_LISTEN="127.0.0.1", WEBHOOK_PORT=str(self.port), WEBHOOK_SECRET=SECRET,
        )  # fmt: skip

    def start(self, telegram: FakeTelegram) -> Replica:
        hooks = len(telegram.requests("setWebhook"))
        self.process.start()
        telegram.wait_for(lambda fake: len(fake.requests("setWebhook")) > hooks,
                          timeout=TIMEOUT, what=f"replica {self.name} started")  # fmt: skip
        # PTB calls setWebhook before its server listens: wait for the port too.
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def post(self, update: dict[str, Any], secret: str | None = SECRET) -> int:
        headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
        url = f"http://127.0.0.1:{self.port}/hook"
        return httpx.post(url, json=update, headers=headers, timeout=10).status_code

    def kill(self) -> None:
        assert self.process.process is not None
        self.process.process.kill()
        self.process.process.wait()


def deliver(telegram: FakeTelegram, *replicas: Replica) -> None:
    """What Telegram queued goes to each of these replicas by webhook."""
    for update in telegram.take_updates():
        for replica in replicas:
            assert replica.post(update) == 200


def chat(telegram: FakeTelegram, replica: Replica, text: str, expect: str) -> str:
    asked = telegram.user_message(USER, text)
    deliver(telegram, replica)
    return telegram.wait_for_bot_message(
        USER, after=asked, where=lambda m: expect in m.text, timeout=TIMEOUT
    ).text


def polls(clore: FakeClore) -> int:
    return len(clore.calls_for("get_gigaspot", key=OPERATOR_KEY))


def wait_polls(clore: FakeClore, count: int) -> None:
    """Until the leader has asked for the market `count` more times."""
    target = polls(clore) + count
    while polls(clore) < target:
        clore.wait_for_calls(len(clore.calls_for("get_gigaspot")) + 1, "get_gigaspot",
                             timeout=TIMEOUT)  # fmt: skip


def sent_with(telegram: FakeTelegram, marker: str) -> list[str]:
    return [str(r.params.get("text", "")) for r in telegram.requests("sendMessage", chat_id=USER)
            if marker in str(r.params.get("text", ""))]  # fmt: skip


@pytest.fixture
def fakes() -> Iterator[tuple[FakeTelegram, FakeClore]]:
    market = {"100": make_server(gpu_model="RTX 3090", min_bid=5.0)}
    with (
        FakeTelegram() as telegram,
        FakeClore(keys={OPERATOR_KEY: 1, USER_KEY: CLORE_USER}, market=market,
                  clore_price=None) as clore,
    ):  # fmt: skip
        yield telegram, clore


def test_the_other_replica_takes_over_and_nothing_is_repeated_or_lost(
    fakes: tuple[FakeTelegram, FakeClore], tmp_path: Path, postgres: PostgresServer
) -> None:
    telegram, clore = fakes
    database = postgres.create_database()
    url = postgres.sqlalchemy_url(database)
    key = Fernet.generate_key().decode()
    a = Replica("a", tmp_path / "a", telegram, clore, url, key)
    b = Replica("b", tmp_path / "b", telegram, clore, url, key)
    try:
        a.start(telegram)
        wait_polls(clore, 1)
        b.start(telegram)  # a leads: it started first and polls

        # Webhook: a post without the secret token is refused; every replica serves chats.
        asked = telegram.user_message(USER, "/start")
        update = telegram.take_updates()[0]
        assert a.post(update, secret=None) == 403
        assert b.post(update, secret="wrong") == 403
        assert b.post(update) == 200
        telegram.wait_for_bot_message(USER, after=asked, timeout=TIMEOUT)
        assert "Linked" in chat(telegram, b, f"/link {USER_KEY}", "Linked")
        assert "saved" in chat(telegram, b, "/watch gpu=4090 price<30", "saved")

        # The leader announces a new match once (the rule was saved on the other replica).
        with clore.lock:
            clore.market["200"] = make_server(gpu_model="RTX 4090", min_bid=12.5)
        clore.publish()
        telegram.wait_for_bot_message(USER, where=lambda m: "#200" in m.text, timeout=TIMEOUT)

        # Mid-cycle: the leader is downloading the next snapshot when it is killed.
        gate = clore.hold("snapshot")
        with clore.lock:
            clore.market["201"] = make_server(gpu_model="RTX 4090", min_bid=13.5)
        downloads = len(clore.calls_for("snapshot"))
        clore.publish()
        clore.wait_for_calls(downloads + 1, "snapshot", timeout=TIMEOUT)
        a.kill()
        gate.set()
        # b takes over: its alert about #201 arrives, once.
        telegram.wait_for_bot_message(USER, where=lambda m: "#201" in m.text, timeout=TIMEOUT)

        # a comes back as a follower; an outbid alert comes from b, the leader.
        a.start(telegram)
        with clore.lock:
            clore.market["200"]["bids"] = [make_bid(CLORE_USER, 9001, 15.0),
                                           make_bid(RIVAL, 9002, 20.0)]  # fmt: skip
        clore.publish()
        outbid = telegram.wait_for_bot_message(
            USER, where=lambda m: "Outbid" in m.text, timeout=TIMEOUT
        )
        # The tap reaches the follower; Telegram retries it to the leader: one raise.
        raise_data = outbid.callback_data_for("Raise")
        while True:  # a follower that has not caught up yet asks to tap again, as a user would
            query = telegram.user_taps(USER, outbid.message_id, raise_data,
                                       require_button=False)  # fmt: skip
            update = telegram.take_updates()
            assert a.post(update[0]) == 200
            answer = telegram.wait_for_callback_answer(query, timeout=TIMEOUT)
            if "loading" not in (answer.answer_text or ""):
                break
            wait_polls(clore, 1)
        assert b.post(update[0]) == 200
        telegram.wait_for_edit(USER, outbid.message_id, timeout=TIMEOUT)
        edits = clore.calls_for("edit_gigaspot_orders")
        assert [c.body for c in edits] == [[{"order_id": 9001, "price": 20.5}]]
        # The next snapshot shows the raised bid in front: the leader tells it once.
        clore.publish()
        telegram.wait_for_bot_message(
            USER, where=lambda m: "is now the best bid" in m.text, timeout=TIMEOUT
        )
        # Cancel asks first; its Yes, tapped twice, once on each replica: one cancel call.
        cancel = outbid.callback_data_for("Cancel")
        query = telegram.user_taps(USER, outbid.message_id, cancel, require_button=False)
        deliver(telegram, b)
        telegram.wait_for_callback_answer(query, timeout=TIMEOUT)
        asked = telegram.wait_for_edit(USER, outbid.message_id, edits=2, timeout=TIMEOUT)
        assert clore.calls_for("cancel_orders") == []
        yes = asked.callback_data_for("Yes, cancel")
        for replica in (b, a):
            query = telegram.user_taps(USER, outbid.message_id, yes, require_button=False)
            deliver(telegram, replica)
            telegram.wait_for_callback_answer(query, timeout=TIMEOUT)
        # replied: the market no longer has the order (a tap is answered before the call)
        clore.wait_for_calls(1, "cancel_orders", timeout=TIMEOUT, replied=True)

        # The order left the market: told once. A few more polls: nothing is announced again.
        clore.publish()
        telegram.wait_for_bot_message(
            USER, where=lambda m: "has left the market" in m.text, timeout=TIMEOUT
        )
        wait_polls(clore, 2)
        time.sleep(0.5)  # let a repeated message, if any, reach the fake
        assert len(sent_with(telegram, "is now the best bid")) == 1
        assert len(sent_with(telegram, "has left the market")) == 1
        assert len(sent_with(telegram, "#200")) == 1 + len(sent_with(telegram, "Outbid")) + 2
        assert len(sent_with(telegram, "#201")) == 1
        assert len(sent_with(telegram, "Outbid")) == 1
        assert len(clore.calls_for("edit_gigaspot_orders")) == 1
        assert [c.body for c in clore.calls_for("cancel_orders")] == [{"order_ids": [9001]}]
    finally:
        for replica in (a, b):
            if replica.process.process is not None:
                replica.process.stop()
        for replica in (a, b):
            if replica.process.log_path.exists():
                print(f"--- {replica.name} ---\n{replica.process.log()}")
        postgres.drop_database(database)
