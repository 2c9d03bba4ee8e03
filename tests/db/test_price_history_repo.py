"""The price history's SQL (record, downsample, prune, read) on a migrated database: the
`sessions` fixture, so it also runs on PostgreSQL where the suite is set up for it."""

from __future__ import annotations

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.repositories import price_history as repo
from bot.market.history import Aggregate

HOUR0 = 1_800_000_000  # a whole hour


def figures(median: float, available: int = 2) -> Aggregate:
    """Both series alike, except that the all-counts one has no median; nothing available:
    no prices at all."""
    nan = np.array([np.nan, np.nan])

    def pair(value: float) -> np.ndarray:
        return np.array([value, value]) if available else nan

    return Aggregate(
        keys=[("RTX 4090", 1), ("RTX 4090", 0)],
        rentable=np.array([3, 3]),
        available=np.array([available, available]),
        low=pair(median - 5),
        p25=pair(median - 2.5),
        median=np.array([median, np.nan]) if available else nan,
        p90=pair(median + 4.0),
    )


async def test_record_downsample_prune_and_read(sessions: async_sessionmaker[AsyncSession]):
    async with sessions() as s, s.begin():
        series = await repo.add_series(s, [("RTX 4090", 1), ("RTX 4090", 0)], HOUR0)
        ids = [found.id for found in series]
        # hour 0: medians 40, 44, 48 (every 20 minutes); hour 1: 50, then nothing available
        for k, median in enumerate([40.0, 44.0, 48.0]):
            await repo.record(s, ids, figures(median), HOUR0 + k * 1200)
        await repo.record(s, ids, figures(50.0), HOUR0 + 3600)
        await repo.record(s, ids, figures(0.0, available=0), HOUR0 + 4800)
    async with sessions() as s, s.begin():
        await repo.downsample(s, ids, HOUR0, HOUR0 + 2 * 3600)
    async with sessions() as s:
        assert [x.key for x in await repo.all_series(s)] == [("RTX 4090", 1), ("RTX 4090", 0)]
        hourly = await repo.points(s, ids[0], repo.HOUR, 0)
        assert hourly == [
            repo.Point(HOUR0, 3, 2, 35.0, 41.5, 44.0, 48.0),
            repo.Point(HOUR0 + 3600, 3, 1, 45.0, 47.5, 50.0, 54.0),  # counts: means, rounded
        ]
        assert (await repo.points(s, ids[1], repo.HOUR, 0))[0].median is None
        assert await repo.hourly_medians(s, ids, HOUR0) == {ids[0]: [44.0, 50.0]}
        assert await repo.hourly_medians(s, ids, HOUR0 + 1) == {ids[0]: [50.0]}
        assert await repo.latest_at(s) == HOUR0 + 4800
        near = await repo.point_near(s, ids[0], HOUR0 + 1300)
        assert near is not None and near.at == HOUR0 + 1200 and near.median == 44.0
        assert await repo.point_near(s, ids[0], HOUR0 - 1) is None
    async with sessions() as s, s.begin():
        await repo.prune(s, ids, HOUR0 + 48 * 3600 + 2400)  # snapshot points before +40 min
    async with sessions() as s:
        kept = await repo.points(s, ids[0], repo.SNAPSHOT, 0)
        assert [p.at for p in kept] == [HOUR0 + 2400, HOUR0 + 3600, HOUR0 + 4800]
        assert len(await repo.points(s, ids[0], repo.HOUR, 0)) == 2  # kept 180 days
    async with sessions() as s, s.begin():
        await repo.prune(s, ids, HOUR0 + 180 * 86400 + 3600)
    async with sessions() as s:
        assert [p.at for p in await repo.points(s, ids[0], repo.HOUR, 0)] == [HOUR0 + 3600]
