"""/chart and /stats through the real application: history recorded by real cycles, the
chart sent as a photo through the fake Bot API; the PNG itself for 0, 1 and many points."""

from __future__ import annotations

import struct

import pytest

from bot.db.repositories.price_history import Point
from bot.i18n import translator
from bot.services import insight
from bot.telegram.render import insight as render
from tests.bot.conftest import ALICE, BOB, BotHarness
from tests.fakes.clore_server import make_server

NOW = 1_800_000_000


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG; fails unless the bytes start like one."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def points(n: int) -> list[Point]:
    return [
        Point(NOW - (n - k) * 3600, 10 + k % 3, 8 + k % 2, 40.0 + k % 7, 45.0 + k % 5,
              50.0 + k % 6, 60.0 + k % 4)
        for k in range(n)
    ]


@pytest.mark.parametrize("n", [0, 1, 500])
@pytest.mark.parametrize("lang", ["en", "ru"])
def test_chart_png_is_valid_and_phone_sized(n: int, lang: str) -> None:
    chart = insight.Chart("RTX 4090", 2, "30d", points(n), NOW - 40 * 86400, NOW)
    data = render.chart_png(translator(lang), chart)
    width, height = png_size(data)
    assert (width, height) == (960, 576)
    assert 5_000 < len(data) < 400_000


def test_chart_with_gaps_where_nothing_was_available() -> None:
    gaps = [p if k % 4 else Point(p.at, p.rentable, 0, None, None, None, None)
            for k, p in enumerate(points(50))]  # fmt: skip
    chart = insight.Chart("RTX 4090", None, "7d", gaps, NOW - 3 * 86400, NOW)
    png_size(render.chart_png(translator("en"), chart))
    caption = render.chart_caption(translator("en"), chart)
    assert "RTX 4090, any count" in caption and "History since" in caption


@pytest.mark.parametrize(
    "text,expected",
    [
        ("4090", insight.Query("4090", None, "7d")),
        ("RTX 4090 2 30d", insight.Query("RTX 4090", 2, "30d")),
        ("rtx 3060 24H", insight.Query("rtx 3060", None, "24h")),
        ("3060 x4", insight.Query("3060", 4, "7d")),
        ("", None),
        ("7d", None),
    ],
)
def test_chart_arguments(text: str, expected: insight.Query | None) -> None:
    assert insight.parse_query(text, with_period=True) == expected


def set_market(bot: BotHarness, price: float) -> None:
    with bot.clore.lock:
        bot.clore.market.clear()
        for n in range(6):
            bot.clore.market[str(10 + n)] = make_server(min_bid=price + n)
        bot.clore.market["20"] = make_server(gpus=2, gpu_model="RTX 3090", min_bid=30.0)


async def test_chart_and_stats_from_recorded_history(bot_factory) -> None:
    bot = await bot_factory()
    answer = await bot.ask(ALICE, "/chart 4090", expect="history")
    assert "no price history" in answer.text
    for step in range(8):  # four hours of snapshots, every half hour
        set_market(bot, 40.0 + step)
        await bot.publish_and_cycle()
        bot.clock.advance(1800)
    mark = bot.telegram.mark()
    photo = await bot.ask(ALICE, "/chart 4090 24h", expect="price to win per GPU")
    assert photo.photo is not None
    assert png_size(photo.photo) == (960, 576)
    assert "RTX 4090, any count: price to win per GPU, last 24 hours" in photo.text
    assert "History since" in photo.text
    sent = bot.telegram.requests("sendPhoto", chat_id=ALICE)
    assert sent and sent[-1].seq >= mark and sent[-1].status == 200
    stats = await bot.ask(ALICE, "/stats RTX 4090 1", expect="CLORE/day")
    # now: six machines at 47..52 -> median 49.5, minimum 47
    assert "RTX 4090 ×1: price to win per GPU, CLORE/day" in stats.text
    assert "Now: median 49.50 · min 47.00" in stats.text
    assert "24 h ago: no data" in stats.text
    russian = bot.telegram.user_message(BOB, "/chart 3090 2 7d", language_code="ru")
    reply = await bot.telegram.await_bot_message(BOB, after=russian)
    assert reply.photo is not None
    assert "цена для победы за GPU" in reply.text
    unknown = await bot.ask(ALICE, "/stats H100", expect="history")
    assert "Models with history: RTX 3090, RTX 4090" in unknown.text
    usage = await bot.ask(ALICE, "/chart", expect="Send /chart")
    assert "/chart 4090 2 30d" in usage.text
