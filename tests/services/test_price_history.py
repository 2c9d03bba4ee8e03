"""Price history over a simulated week: recorded per snapshot, downsampled per hour, pruned,
and the 7-day medians `deal` and price context use (the clock injected, never waited for)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from bot.clore.client import CloreClient
from bot.config import load_settings
from bot.db.engine import create_engine, session_factory
from bot.db.migrate import upgrade_to_head
from bot.db.models import PricePoint
from bot.db.repositories import price_history as repo
from bot.market.snapshot import Snapshot
from bot.secrets import KeyBox
from bot.services.context import ServiceContext
from bot.services.market_state import MarketState
from tests.market.factory import gpu, server_dict, snapshot

T0 = datetime(2026, 6, 1, tzinfo=UTC)  # a whole hour
SECRET = Fernet.generate_key().decode()
STEP = timedelta(minutes=20)


def price_at(hour: int) -> float:
    return 40.0 + hour % 24  # a daily cycle: 40 at midnight up to 63 at 23:00


def market(hour: int, *, offline_3090: bool = False) -> Snapshot:
    p = price_at(hour)
    return snapshot({
        "1": server_dict(min_bid=p, gpus=[gpu()]),
        "2": server_dict(min_bid=p + 10, gpus=[gpu()]),
        "3": server_dict(min_bid=50.0, gpus=[gpu("RTX 3090")] * 2, online=not offline_3090),
        "4": server_dict(min_bid=5.0, gpus=[gpu("RTX 3090"), gpu("RTX 3060")]),  # mixed: none
    })  # fmt: skip


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[tuple[ServiceContext, list[datetime]]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    await upgrade_to_head(url)
    engine = create_engine(url)
    clock = [T0]
    settings = load_settings(telegram_bot_token="0:test", clore_api_token="test",
                             database_url=url, secret_key=SECRET)  # fmt: skip
    context = ServiceContext(
        settings=settings, sessions=session_factory(engine),
        reads=session_factory(engine, read_only=True), keybox=KeyBox(SECRET),
        clore=CloreClient("http://127.0.0.1:9", interval=0), market=MarketState(),
        clock=lambda: clock[0],
    )  # fmt: skip
    await context.history.load(context)
    yield context, clock
    await context.clore.aclose()
    await engine.dispose()


async def _count(ctx: ServiceContext, span: int, before: int | None = None) -> int:
    query = select(func.count()).select_from(PricePoint).where(PricePoint.span == span)
    if before is not None:
        query = query.where(PricePoint.at < before)
    async with ctx.reads() as s:
        return int(await s.scalar(query) or 0)


async def test_a_week_recorded_downsampled_and_pruned(ctx) -> None:
    context, clock = ctx
    history = context.history
    steps = int(timedelta(days=7, hours=1) / STEP)
    medians_after_a_day = None
    for n in range(steps + 1):
        clock[0] = T0 + n * STEP
        hour = n * STEP // timedelta(hours=1)
        await context.market.apply(market(hour, offline_3090=hour % 2 == 1), None, f"u{n}")
        await history.record(context)
        if clock[0] == T0 + timedelta(hours=23):
            assert history.medians == {}  # less than a day of history: no medians yet
        if clock[0] == T0 + timedelta(hours=25):
            medians_after_a_day = dict(history.medians)
    assert medians_after_a_day is not None and ("RTX 4090", 1) in medians_after_a_day
    now = int(clock[0].timestamp())
    assert await _count(context, repo.SNAPSHOT, before=now - 48 * 3600) == 0  # pruned
    # 48 h of points, three per hour, for 4090 x1, 4090 (all), 3090 x2 and 3090 (all)
    assert await _count(context, repo.SNAPSHOT) == (48 * 3 + 1) * 4
    async with context.reads() as s:
        series = {found.key: found for found in await repo.all_series(s)}
        assert set(series) == {("RTX 4090", 1), ("RTX 4090", 0), ("RTX 3090", 2), ("RTX 3090", 0)}
        hourly = await repo.points(s, series[("RTX 4090", 1)].id, repo.HOUR, 0)
        gpu3090 = await repo.points(s, series[("RTX 3090", 2)].id, repo.HOUR, 0)
    assert len(hourly) == 7 * 24 + 1  # every finished hour, none twice
    for k, point in enumerate(hourly):
        assert point.at == int((T0 + timedelta(hours=k)).timestamp())
        p = price_at(k)
        assert (point.rentable, point.available) == (2, 2)
        assert point.low == p and point.p25 == p + 2.5 and point.median == p + 5
        assert point.p90 == pytest.approx(p + 9)
    # the 3090 rig is offline every other hour: rentable, not available, no price then
    assert [(p.available, p.median) for p in gpu3090[:2]] == [(1, 25.0), (0, None)]
    assert all(p.rentable == 1 for p in gpu3090)
    # 7-day median of the hourly medians: hours 40..63 (+5) equally often -> 56.5
    assert history.medians[("RTX 4090", 1)] == 56.5
    assert history.medians[("RTX 3090", 2)] == 25.0
    assert context.market.matcher.medians == {("RTX 4090", 1): 56.5, ("RTX 3090", 2): 25.0}
    server = market(0).servers["1"]
    assert history.versus_median(server, 45.2) == pytest.approx(-20.0)


async def test_a_restart_continues_where_downsampling_stopped(ctx) -> None:
    context, clock = ctx
    for n in range(7):  # 2 hours of snapshots
        clock[0] = T0 + n * STEP
        await context.market.apply(market(n // 3), None, f"u{n}")
        await context.history.record(context)
    assert await _count(context, repo.HOUR) == 8  # hours 0 and 1, four series each
    context.history = type(context.history)()  # what a new process starts with
    await context.history.load(context)
    assert context.history.next_hour == int((T0 + timedelta(hours=2)).timestamp())
    assert context.history.last_at == int((T0 + 6 * STEP).timestamp())
    points = await _count(context, repo.SNAPSHOT)
    await context.history.record(context)  # the same second again: one point per second
    assert await _count(context, repo.SNAPSHOT) == points
    clock[0] = T0 + timedelta(hours=3, minutes=1)
    await context.history.record(context)
    assert await _count(context, repo.HOUR) == 12  # hour 2, once


async def test_a_failed_record_loses_that_point_only(ctx, monkeypatch) -> None:
    context, clock = ctx
    await context.market.apply(market(0), None, "u0")

    async def broken(*args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(repo, "record", broken)
    await context.history.record(context)  # logged, never raised: the cycle goes on
    assert context.history.series == {}  # the series' rows were rolled back with it
    monkeypatch.undo()
    clock[0] = T0 + STEP
    await context.history.record(context)
    assert await _count(context, repo.SNAPSHOT) == 4
    async with context.reads() as s:
        assert len(await repo.all_series(s)) == 4
