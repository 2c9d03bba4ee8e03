"""Operations: /metrics and /healthz over HTTP, JSON logs, settings of webhook mode, and
SQLite refusing a second process."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest

from bot.app import JsonFormatter, serve
from bot.config import ConfigError, load_settings
from bot.replicas import AlreadyRunning
from tests.bot.conftest import ALICE, BotFactory
from tests.fakes.clore_server import make_server
from tests.ports import free_port


async def test_metrics_and_health(bot_factory: BotFactory) -> None:
    port = free_port()
    bot = await bot_factory(send_in_background=True, metrics_port=port,
                            metrics_listen="127.0.0.1")  # fmt: skip
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        before = await http.get("/healthz")  # no market data yet
        assert before.status_code == 503 and before.json()["status"] == "unhealthy"
        bot.clore.market["1"] = make_server(gpu_model="RTX 4090", min_bid=9.0)
        await bot.ask(ALICE, "/watch gpu=4090", expect="saved")
        bot.clore.publish()
        await bot.cycle()  # the sender runs in the background
        health = await http.get("/healthz")
        assert health.status_code == 200, health.text
        assert health.json()["leader"] is True and health.json()["delivering"] is True
        metrics = (await http.get("/metrics")).text
        assert (await http.get("/nothing")).status_code == 404
    lines = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
             for line in metrics.splitlines() if line and not line.startswith("#")}  # fmt: skip
    assert lines["gigaspot_leader"] == 1
    assert lines["gigaspot_servers"] == 1
    assert lines["gigaspot_rules_registered"] == 1
    assert "gigaspot_cycle_duration_seconds" in lines
    assert "gigaspot_snapshot_age_seconds" in lines
    assert 'gigaspot_outbox_depth{kind="outbid"}' in lines
    assert any(key.startswith('gigaspot_clore_calls_total{endpoint="get_gigaspot",outcome="ok"')
               for key in lines)  # fmt: skip
    assert 'gigaspot_messages_total{outcome="sent"}' in lines


@pytest.mark.sqlite_only
async def test_a_second_process_on_one_sqlite_file_is_refused(bot_factory: BotFactory) -> None:
    bot = await bot_factory()
    with pytest.raises(AlreadyRunning, match="another gigaspot-bot process is running"):
        await serve(bot.settings)
    await bot.cycle()  # the first one is unharmed


def test_json_logs_are_one_object_per_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("bot.x", logging.ERROR, __file__, 1, "failed: %s", ("a",),
                                   exc_info=__import__("sys").exc_info())  # fmt: skip
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["message"] == "failed: a"
    assert entry["logger"] == "bot.x" and "ValueError: boom" in entry["exception"]


def test_webhook_mode_needs_its_secret(tmp_path: Path) -> None:
    base = {"telegram_bot_token": "1:x", "clore_api_token": "k",
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
            "telegram_webhook_url": "https://bot.example/hook"}  # fmt: skip
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET must be set"):
        load_settings(**base)
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET"):
        load_settings(**base, webhook_secret="has spaces")
    assert load_settings(**base, webhook_secret="s3cr3t_-").webhook_port == 8443
