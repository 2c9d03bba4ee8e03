"""`gigaspot-bot demo` and the chat page's JSON without a browser (these run everywhere)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bot.simulated.demo import USERS, page_config
from tests.fakes.telegram_server import FakeTelegram

ALICE = USERS[0][0]


def test_chat_json_send_tap_and_long_poll() -> None:
    with FakeTelegram() as telegram:
        telegram.page_config = page_config()
        root = telegram.api_root
        assert httpx.get(f"{root}/chat/config").json()["users"][0]["name"] == "Alice"
        assert b"<title>" in httpx.get(f"{root}/").content
        first = httpx.get(f"{root}/chat/messages", params={"chat_id": ALICE, "since": -1})
        version = first.json()["version"]

        sent = httpx.post(f"{root}/chat/send", json={"user_id": ALICE, "text": "/start"})
        later = httpx.get(f"{root}/chat/messages",
                          params={"chat_id": ALICE, "since": version, "wait": 10}).json()
        [update] = telegram._updates
        stale = httpx.post(f"{root}/chat/tap",
                           json={"user_id": ALICE, "message_id": 1, "data": "x"})
        empty = httpx.post(f"{root}/chat/send", json={"user_id": ALICE, "text": "  "})
        unknown = httpx.get(f"{root}/chat/nothing")

    assert sent.json() == {"message_id": 1}
    assert later["version"] > version
    assert [(m["text"], m["from_bot"]) for m in later["messages"]] == [("/start", False)]
    assert update["message"]["from"]["first_name"] == "Alice"
    assert update["message"]["entities"][0]["type"] == "bot_command"
    assert stale.status_code == 409  # a user's message has no buttons to tap
    assert empty.status_code == 409
    assert unknown.status_code == 404


@pytest.mark.timeout(120)
def test_demo_answers_on_its_page_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "demo", "--port", "0", "--tick", "1",
         "--servers", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        url = line.split("open ", 1)[1].split()[0]
        [folder] = list(tmp_path.glob("gigaspot-demo-*"))
        httpx.post(f"{url}chat/send", json={"user_id": ALICE, "text": "/start"})
        version = -1
        for _ in range(30):  # long polls: each returns on a change, or after 10 s
            chat = httpx.get(f"{url}chat/messages", timeout=15,
                             params={"chat_id": ALICE, "since": version, "wait": 10}).json()
            version = chat["version"]
            if any(m["from_bot"] for m in chat["messages"]):
                break
        assert "GigaSPOT Watch" in next(m["text"] for m in chat["messages"] if m["from_bot"])
        assert (folder / "data" / "bot.db").exists()
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=60)[0].decode(errors="replace")
    assert process.returncode == 0, output
    assert output.rstrip().endswith("demo stopped")
    assert not folder.exists()
