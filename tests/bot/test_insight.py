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
    chart = insight.Chart("RTX 4090", 2, "30d", points(n), NOW - 40 * 86400, NOW, 52.5)
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
        ("4090 180d 2", insight.Query("4090", 2, "180d")),
        ("A100 PCIe 80GB", insight.Query("A100 PCIe 80GB", None, "7d")),
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
    assert "Now per server (1 GPU): median 49.50 · min 47.00" in stats.text
    rig = await bot.ask(ALICE, "/stats 3090 2", expect="CLORE/day")
    assert "Now: median <b>15.00</b>" in rig.html  # 30.00 CLORE/day for two GPUs
    assert "Now per server (2 GPUs): median 30.00 · min 30.00" in rig.text
    russian = bot.telegram.user_message(BOB, "/chart 3090 2 7d", language_code="ru")
    reply = await bot.telegram.await_bot_message(BOB, after=russian)
    assert reply.photo is not None
    assert "цена для победы за GPU" in reply.text
    unknown = await bot.ask(ALICE, "/stats H100", expect="history")
    assert "Models with history: RTX 3090, RTX 4090" in unknown.text
    usage = await bot.ask(ALICE, "/chart", expect="Send /chart")
    assert "/chart 4090 2 30d" in usage.text


async def seed_history(bot: BotHarness, model: str, count: int, median: float, days: int) -> None:
    """Hourly aggregates of earlier days (as an earlier run of the bot left them)."""
    from sqlalchemy import insert, update

    from bot.db.models import PricePoint, PriceSeries
    from bot.db.repositories import price_history as repo

    now = int(bot.clock().timestamp())
    ctx = bot.ctx
    async with ctx.sessions() as s, s.begin():
        known = {found.key: found for found in await repo.all_series(s)}
        if (model, count) in known:
            series = known[(model, count)]
            await s.execute(update(PriceSeries).where(PriceSeries.id == series.id)
                            .values(first_at=now - days * 86400))  # fmt: skip
        else:
            (series,) = await repo.add_series(s, [(model, count)], now - days * 86400)
        await s.execute(insert(PricePoint), [
            {"series_id": series.id, "span": repo.HOUR, "at": now - h * 3600, "rentable": 5,
             "available": 4, "low": round(median * 800), "p25": round(median * 900),
             "median": round(median * 1000), "p90": round(median * 1200)}
            for h in range(1, days * 24)
        ])  # fmt: skip


async def test_price_context_and_deal_after_a_day_of_history(bot_factory) -> None:
    bot = await bot_factory()
    set_market(bot, 40.0)  # RTX 4090 x1 at 40..45.00 CLORE/day
    await bot.publish_and_cycle()
    before = await bot.ask(ALICE, "/market gpu=4090", expect="machines match")
    assert "vs 7-day median" not in before.text  # no history yet
    early = await bot.ask(ALICE, "/market gpu=4090 deal>=15", expect="deal")
    assert "No machine matches right now" in early.text
    assert "deal needs a day of price history" in early.text
    await seed_history(bot, "RTX 4090", 1, 50.0, days=3)
    await bot.restart()
    await bot.cycle()
    market = await bot.ask(ALICE, "/market gpu=4090", expect="machines match")
    line = next(line for line in market.html.splitlines() if line.startswith("<b>#10</b>"))
    assert line.endswith("<b>40.00</b> CLORE/day (40.00/GPU) · DE · 99.0% · -20% vs 7-day median")
    saved = await bot.ask(ALICE, "/watch gpu=4090 deal>=15", expect="saved")
    assert "<b>3</b> machines match now" in saved.html  # 40, 41 and 42: at least 15% below 50
    assert "needs a day of price history" not in saved.text
    with bot.clore.lock:
        bot.clore.market["30"] = make_server(min_bid=30.0)
    mark = bot.telegram.mark()
    await bot.publish_and_cycle()
    alert = "\n".join(bot.sent_texts(ALICE, since=mark))
    assert "#30" in alert and "-40% vs 7-day median" in alert
    no_deal = await bot.ask(ALICE, "/market gpu=3090 deal>=0", expect="matches")
    assert "No machine matches right now" in no_deal.text  # the 3090 has no history
