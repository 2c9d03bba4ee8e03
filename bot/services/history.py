"""The market's price history: recorded after every applied snapshot, read by /chart,
/stats, price context, the `deal` rule key and `gigaspot-bot history export`.

Every cycle that applied a snapshot records one point per series (`bot.market.history`,
a few milliseconds of numpy over the matcher's columns) in its own short transaction right
after the cycle's commit. When the clock enters a new hour, the finished hours are
downsampled into hourly aggregates, old points are pruned (both in the database) and the
7-day medians are refreshed: the medians go to the matcher (for `deal`) and to price context
("-18% vs 7-day median"). A series counts for either only once it has a day of history.
A failure here is logged and never fails the cycle: history is a by-product.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.db.repositories import price_history as repo
from bot.db.repositories import state
from bot.market.history import (
    ALL_COUNTS,
    MEDIAN_WINDOW,
    SeriesIndex,
    SeriesKey,
    deal_percent,
    series_key,
    seven_day_medians,
)
from bot.market.snapshot import Server

if TYPE_CHECKING:
    from bot.services.context import ServiceContext

log = logging.getLogger(__name__)

NEXT_HOUR = "price_history_next_hour"  # bot_state: the first hour not yet downsampled


@dataclass(slots=True)
class PriceHistory:
    index: SeriesIndex = field(default_factory=SeriesIndex)
    series: dict[SeriesKey, repo.Series] = field(default_factory=dict)
    medians: dict[SeriesKey, float] = field(default_factory=dict)  # 7-day, covered series only
    next_hour: int | None = None
    last_at: int | None = None  # newest point: one per second at most (the key has seconds)
    loaded: bool = False

    async def load(self, ctx: ServiceContext) -> None:
        """At start: the known series, the downsampling mark and the medians."""
        async with ctx.reads() as s:
            self.series = {found.key: found for found in await repo.all_series(s)}
            mark = await state.get_value(s, NEXT_HOUR)
            self.last_at = await repo.latest_at(s)
        self.next_hour = int(mark) if mark else None
        self.loaded = True
        await self.refresh_medians(ctx, int(ctx.clock().timestamp()))

    async def record(self, ctx: ServiceContext) -> None:
        """One point per series for the snapshot in force; hourly upkeep when due."""
        try:
            await self._record(ctx)
        except Exception:
            log.exception("price history not recorded")

    async def _record(self, ctx: ServiceContext) -> None:
        if not self.loaded:
            await self.load(ctx)
        now = int(ctx.clock().timestamp())
        if self.last_at is not None and now <= self.last_at:
            return  # a second snapshot within the same second (or the clock went back)
        figures = ctx.market.matcher.history(self.index)  # sync, a few ms: no lock needed
        hour = now - now % 3600
        due = self.next_hour is not None and hour > self.next_hour
        async with ctx.sessions() as s, s.begin():
            new = [key for key in figures.keys if key not in self.series]
            existing: dict[SeriesKey, repo.Series] = {}
            if new:  # another replica may have added them since this one loaded
                existing = {found.key: found for found in await repo.all_series(s)}
                new = [key for key in new if key not in existing]
            added = {found.key: found for found in await repo.add_series(s, new, now)}
            known = {**existing, **added}
            ids = [(self.series.get(key) or known[key]).id for key in figures.keys]
            await repo.record(s, ids, figures, now)
            if self.next_hour is None:
                await state.set_value(s, NEXT_HOUR, str(hour))
        self.series.update(known)  # only once committed: a rollback takes their ids back
        self.last_at = now
        if self.next_hour is None:
            self.next_hour = hour
        if due:
            await self._hourly(ctx, now, hour)

    async def _hourly(self, ctx: ServiceContext, now: int, hour: int) -> None:
        ids = [found.id for found in self.series.values()]
        async with ctx.sessions() as s, s.begin():
            await repo.downsample(s, ids, self.next_hour or hour, hour)
            await state.set_value(s, NEXT_HOUR, str(hour))
        self.next_hour = hour
        async with ctx.sessions() as s, s.begin():
            await repo.prune(s, ids, now)
        await self.refresh_medians(ctx, now)

    async def refresh_medians(self, ctx: ServiceContext, now: int) -> None:
        by_id = {found.id: found for found in self.series.values()}
        async with ctx.reads() as s:
            hourly = await repo.hourly_medians(s, list(by_id), now - MEDIAN_WINDOW)
        found = [by_id[i] for i in hourly if i in by_id]
        self.medians = seven_day_medians(
            {f.key: hourly[f.id] for f in found}, {f.key: f.first_at for f in found}, now
        )
        ctx.market.matcher.set_medians(
            {key: value for key, value in self.medians.items() if key[1] != ALL_COUNTS}
        )

    def versus_median(self, server: Server, price_to_win: float) -> float | None:
        """Percent of a price to win per GPU against its series' 7-day median: -18.0 means
        18% below. None while the series has less than a day of history."""
        if not self.medians:  # the first day: no series has a median yet
            return None
        key = series_key(g.model for g in server.gpus)
        if key is None or key not in self.medians:
            return None
        return -deal_percent(price_to_win / key[1], self.medians[key])

    def find(self, text: str, count: int | None) -> list[repo.Series]:
        """Series whose model contains `text` (case and spaces folded), of `count` GPUs (None:
        the all-counts series). An exact model name wins over names that contain it."""
        wanted = " ".join(text.split()).lower()
        count = ALL_COUNTS if count is None else count
        found = [
            s for s in self.series.values() if s.gpu_count == count and wanted in s.model.lower()
        ]
        exact = [s for s in found if s.model.lower() == wanted]
        return exact or sorted(found, key=lambda s: s.model)
