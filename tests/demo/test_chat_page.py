"""The demo's chat page in headless Chromium.

First against the local Bot API server alone (what the page does with HTML, photos, edits and
deletions), then the whole `gigaspot-bot demo`: /watch, a match alert, a tap, the edit.
"""

from __future__ import annotations

import base64
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.simulated.demo import page_config
from tests.demo.browser import chromium, wait_until
from tests.fakes.telegram_server import FakeTelegram

ALICE = 1001
# A 1x1 PNG: what the page must show as an image.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNk+A8AAQUBAScY42YAAAAASUVORK5CYII="
)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    yield from chromium(tmp_path / "profile")


def bubbles(driver: Any) -> list[Any]:
    return driver.find_elements("css selector", "#chat [data-message-id]")


def bubble(driver: Any, message_id: int) -> Any:
    return driver.find_element("css selector", f'#chat [data-message-id="{message_id}"]')


def type_command(driver: Any, text: str) -> None:
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element("id", "input")
    box.clear()
    box.send_keys(text + Keys.ENTER)


def test_page_renders_bot_html_as_nodes_with_photos_edits_and_deletions(browser: Any) -> None:
    with FakeTelegram() as telegram:
        telegram.page_config = page_config()
        telegram.add_user(ALICE, first_name="Alice")
        api = f"{telegram.base_url}{telegram.token}"
        hostile = ('<b>bold</b> &lt;img src=x onerror="document.title=1"&gt; '
                   '<a href="javascript:alert(1)">js</a> <a href="https://clore.ai">ok</a>')
        sent = httpx.post(f"{api}/sendMessage", json={
            "chat_id": ALICE, "text": hostile, "parse_mode": "HTML",
            "reply_markup": {"inline_keyboard": [[{"text": "Tap me", "callback_data": "t1"}]]},
        }).json()["result"]
        doomed = httpx.post(f"{api}/sendMessage", json={"chat_id": ALICE, "text": "bye"})
        photo = httpx.post(f"{api}/sendPhoto", data={"chat_id": str(ALICE), "caption": "chart"},
                           files={"photo": ("chart.png", PNG, "image/png")}).json()["result"]

        browser.get(f"{telegram.api_root}/")
        wait_until(browser, lambda d: len(bubbles(d)) == 3, 20, "three bot messages")
        first = bubble(browser, sent["message_id"])
        assert first.find_element("tag name", "b").text == "bold"
        assert '<img src=x onerror="document.title=1">' in first.text
        assert browser.find_elements("css selector", "#chat img:not([alt=chart])") == []
        links = first.find_elements("tag name", "a")
        assert [a.get_attribute("href") for a in links] == [None, "https://clore.ai/"]
        image = bubble(browser, photo["message_id"]).find_element("tag name", "img")
        wait_until(browser, lambda d: d.execute_script(
            "return arguments[0].complete && arguments[0].naturalWidth", image) == 1, 10,
            "the photo loaded")

        first.find_element("css selector", "button[data-callback=t1]").click()
        [query] = telegram.wait_for(lambda t: [
            u["callback_query"] for u in t._updates if "callback_query" in u])
        assert (query["data"], query["from"]["id"]) == ("t1", ALICE)
        httpx.post(f"{api}/editMessageText", json={
            "chat_id": ALICE, "message_id": sent["message_id"], "text": "<i>edited</i>",
            "parse_mode": "HTML"})
        httpx.post(f"{api}/deleteMessage", json={
            "chat_id": ALICE, "message_id": doomed.json()["result"]["message_id"]})

        wait_until(browser, lambda d: len(bubbles(d)) == 2 and bubble(
            d, sent["message_id"]).get_attribute("data-edits") == "1", 20, "edit and deletion")
        edited = bubble(browser, sent["message_id"])
        assert edited.find_element("tag name", "i").text == "edited"
        assert edited.find_elements("tag name", "button") == []  # the edit dropped the keyboard
        assert browser.title.startswith("GigaSPOT")  # no markup of the bot's ever ran


class DemoProcess:
    """`gigaspot-bot demo` as a subprocess: the URL it prints, then a Ctrl-C."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "demo", "--port", "0", "--tick", "1",
             "--servers", "150", "--seed", "3"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )

    def url(self, timeout: float = 30) -> str:
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            deadline = time.monotonic() + timeout
            while selector.select(max(0.0, deadline - time.monotonic())):
                line = self.process.stdout.readline().decode()
                if "open http" in line:
                    return line.split("open ", 1)[1].split()[0]
                if not line:
                    break
        raise AssertionError("the demo printed no URL")

    def interrupt(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGINT)
        try:
            output, _ = self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            output, _ = self.process.communicate()
        return self.process.returncode, output.decode(errors="replace")


@pytest.mark.timeout(240)
def test_demo_watch_alert_tap_and_edit_in_the_browser(browser: Any) -> None:
    demo = DemoProcess()
    try:
        browser.get(demo.url())
        key = wait_until(browser, lambda d: d.find_element("id", "demo-key").text, 20, "the key")
        type_command(browser, f"/link {key}")
        wait_until(browser, lambda d: "Linked to clore user 4242" in d.find_element(
            "id", "chat").text, 30, "the link answer")
        assert key not in browser.find_element("id", "chat").text  # deleted in place
        type_command(browser, "/template image=ubuntu pl=min")
        wait_until(browser, lambda d: "Template saved" in d.find_element("id", "chat").text,
                   30, "the template answer")

        type_command(browser, "/watch gpus>=1")
        wait_until(browser, lambda d: "Rule 1 saved" in d.find_element("id", "chat").text, 30,
                   "the /watch answer")
        alert = wait_until(browser, lambda d: next((
            b for b in bubbles(d) if "new machine" in b.text
            and b.find_elements("css selector", "button[data-callback]")), None), 90,
            "a match alert with a Bid button")
        message_id = int(alert.get_attribute("data-message-id"))
        alert.find_element("css selector", "button[data-callback]").click()

        edited = wait_until(browser, lambda d: (b := bubble(d, message_id)).get_attribute(
            "data-edits") == "1" and b, 60, "the alert edited after the tap")
        assert any(words in edited.text for words in ("Bid on #", "no longer", "above your"))
    finally:
        status, output = demo.interrupt()
    assert status == 0, output
    assert "demo stopped" in output
