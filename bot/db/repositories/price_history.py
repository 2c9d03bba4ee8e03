"""Price history rows (`price_series`, `price_points`): record, downsample, prune, read.

Prices are stored per GPU in thousandths of a CLORE/day (`SCALE`), NULL when no machine of
the series was available. Downsampling and pruning run in the database with portable SQL
(SQLite and PostgreSQL), one statement per series so that each one is a range of the
primary key (series, span, at) rather than a scan of the table.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import PricePoint, PriceSeries
from bot.market.history import Aggregate, SeriesKey

SCALE = 1000  # stored price = CLORE/day per GPU x SCALE, rounded
SNAPSHOT = 0  # span of a point taken at one snapshot
HOUR = 3600  # span of an hourly aggregate
KEEP_SNAPSHOTS = 48 * 3600
KEEP_HOURS = 180 * 86400


@dataclass(frozen=True, slots=True)
class Series:
    id: int
    model: str
    gpu_count: int
    first_at: int

    @property
    def key(self) -> SeriesKey:
        return self.model, self.gpu_count


@dataclass(frozen=True, slots=True)
class Point:
    at: int
    rentable: int
    available: int
    low: float | None  # CLORE/day per GPU
    p25: float | None
    median: float | None
    p90: float | None


def _stored(value: float) -> int | None:
    return None if math.isnan(value) else round(value * SCALE)


def _price(value: int | float | None) -> float | None:
    return None if value is None else float(value) / SCALE


async def all_series(s: AsyncSession) -> list[Series]:
    rows = await s.execute(select(PriceSeries).order_by(PriceSeries.id))
    return [Series(r.id, r.model, r.gpu_count, r.first_at) for r in rows.scalars()]


async def latest_at(s: AsyncSession) -> int | None:
    """The time of the newest snapshot point (one index lookup per series)."""
    newest = (
        select(PricePoint.at)
        .where(PricePoint.series_id == PriceSeries.id, PricePoint.span == SNAPSHOT)
        .order_by(PricePoint.at.desc())
        .limit(1)
        .correlate(PriceSeries)
        .scalar_subquery()
    )
    rows = await s.execute(select(newest).select_from(PriceSeries))
    found = [at for at in rows.scalars() if at is not None]
    return max(found, default=None)


async def add_series(s: AsyncSession, keys: Iterable[SeriesKey], at: int) -> list[Series]:
    """New series (none of `keys` exists yet), first seen at `at`."""
    added = [PriceSeries(model=model, gpu_count=count, first_at=at) for model, count in keys]
    s.add_all(added)
    await s.flush()
    return [Series(r.id, r.model, r.gpu_count, r.first_at) for r in added]


async def record(s: AsyncSession, ids: Sequence[int], figures: Aggregate, at: int) -> None:
    """One snapshot's points; `ids[i]` is the series of `figures.keys[i]`."""
    if not ids:
        return
    rows = [
        {
            "series_id": series_id, "span": SNAPSHOT, "at": at, "rentable": rentable,
            "available": available, "low": _stored(low), "p25": _stored(p25),
            "median": _stored(median), "p90": _stored(p90),
        }
        for series_id, rentable, available, low, p25, median, p90 in zip(
            ids, figures.rentable.tolist(), figures.available.tolist(), figures.low.tolist(),
            figures.p25.tolist(), figures.median.tolist(), figures.p90.tolist(), strict=True,
        )
    ]  # fmt: skip
    await s.execute(insert(PricePoint), rows)


# The hour is a literal, not a parameter: PostgreSQL cannot infer a parameter's type in an
# INSERT ... SELECT list (it would become text).
_DOWNSAMPLE = text(
    "INSERT INTO price_points "
    "(series_id, span, at, rentable, available, low, p25, median, p90) "
    f"SELECT series_id, {HOUR}, (at / {HOUR}) * {HOUR}, "
    "CAST(ROUND(AVG(rentable)) AS INTEGER), CAST(ROUND(AVG(available)) AS INTEGER), "
    "MIN(low), CAST(ROUND(AVG(p25)) AS INTEGER), CAST(ROUND(AVG(median)) AS INTEGER), "
    "CAST(ROUND(AVG(p90)) AS INTEGER) "
    "FROM price_points WHERE series_id = :series AND span = 0 AND at >= :start AND at < :end "
    f"GROUP BY series_id, (at / {HOUR}) * {HOUR}"
)
_PRUNE = text(
    "DELETE FROM price_points WHERE series_id = :series AND span = :span AND at < :before"
)


async def downsample(s: AsyncSession, series_ids: Sequence[int], start: int, end: int) -> None:
    """Hourly aggregates of the snapshot points in whole hours [start, end): counts and
    quantiles are the hour's means, the minimum its minimum."""
    if series_ids and end > start:
        await s.execute(
            _DOWNSAMPLE,
            [{"series": i, "start": start, "end": end} for i in series_ids],
        )


async def prune(s: AsyncSession, series_ids: Sequence[int], now: int) -> None:
    """Snapshot points older than 48 hours, hourly aggregates older than 180 days."""
    if not series_ids:
        return
    params = [
        {"series": i, "span": span, "before": now - keep}
        for i in series_ids
        for span, keep in ((SNAPSHOT, KEEP_SNAPSHOTS), (HOUR, KEEP_HOURS))
    ]
    await s.execute(_PRUNE, params)


async def hourly_medians(
    s: AsyncSession, series_ids: Sequence[int], since: int
) -> dict[int, list[float]]:
    """series id -> the medians (CLORE/day per GPU) of its hourly aggregates since `since`
    (`series_id IN (...)`: a range of the primary key per series, not a scan)."""
    found: dict[int, list[float]] = {}
    if not series_ids:
        return found
    rows = await s.execute(
        select(PricePoint.series_id, PricePoint.median).where(
            PricePoint.series_id.in_(series_ids), PricePoint.span == HOUR,
            PricePoint.at >= since, PricePoint.median.is_not(None),
        )
    )  # fmt: skip
    for series_id, median in rows:
        if median is not None:  # filtered by the query too
            found.setdefault(series_id, []).append(median / SCALE)
    return found


_COLUMNS = (PricePoint.at, PricePoint.rentable, PricePoint.available, PricePoint.low,
            PricePoint.p25, PricePoint.median, PricePoint.p90)  # fmt: skip


async def points(s: AsyncSession, series_id: int, span: int, since: int) -> list[Point]:
    rows = await s.execute(
        select(*_COLUMNS)  # plain rows: thousands of ORM objects would cost more than the query
        .where(PricePoint.series_id == series_id, PricePoint.span == span, PricePoint.at >= since)
        .order_by(PricePoint.at)
    )
    return [
        Point(at, rentable, available, _price(low), _price(p25), _price(median), _price(p90))
        for at, rentable, available, low, p25, median, p90 in rows
    ]


def _point(r: PricePoint) -> Point:
    return Point(
        r.at, r.rentable, r.available, _price(r.low), _price(r.p25), _price(r.median),
        _price(r.p90),
    )


async def point_near(s: AsyncSession, series_id: int, at: int) -> Point | None:
    """The latest point (snapshot or, older than that, hourly) at or before `at`."""
    for span in (SNAPSHOT, HOUR):
        row = await s.scalar(
            select(PricePoint)
            .where(PricePoint.series_id == series_id, PricePoint.span == span)
            .where(PricePoint.at <= at)
            .order_by(PricePoint.at.desc())
            .limit(1)
        )
        if row is not None and at - row.at <= 2 * HOUR:  # else: no data near that time
            return _point(row)
    return None
