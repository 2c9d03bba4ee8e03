"""What /chart and /stats show: a series' history over a period, and now against 24 hours
and 7 days ago. Typed results; the Telegram layer renders them (bot.telegram.render.insight).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.db.repositories import price_history as repo
from bot.market.history import ALL_COUNTS
from bot.services.context import ServiceContext

PERIODS = {"24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400, "180d": 180 * 86400}
DEFAULT_PERIOD = "7d"
MAX_COUNT = 32  # a bare number up to this is a GPU count ("/chart 4090 2"), above: a model
_COUNT = re.compile(r"(?:x|×)?(\d{1,2})(?:x|×)?", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Query:
    gpu: str
    count: int | None  # None: every count
    period: str


@dataclass(frozen=True, slots=True)
class Usage:
    """The arguments could not be read."""

    command: str


@dataclass(frozen=True, slots=True)
class NoSeries:
    gpu: str
    count: int | None
    known: list[str]  # models with history, for a hint


@dataclass(frozen=True, slots=True)
class Ambiguous:
    gpu: str
    models: list[str]


@dataclass(frozen=True, slots=True)
class Chart:
    model: str
    count: int | None
    period: str
    points: list[repo.Point]
    first_at: int  # history of the series exists since
    now: int
    median_7d: float | None = None  # what deal and price context compare with


@dataclass(frozen=True, slots=True)
class Stats:
    model: str
    count: int | None
    now_point: repo.Point | None
    day_ago: repo.Point | None
    week_ago: repo.Point | None
    median_7d: float | None  # None: less than a day of history
    first_at: int
    now: int


def parse_query(text: str, *, with_period: bool) -> Query | None:
    """`<gpu words> [count] [period]` (the period may come anywhere); None when no GPU is
    named."""
    words = text.split()
    period = DEFAULT_PERIOD
    if with_period:  # anywhere: "/chart 4090 7d 2" too
        periods = [w.lower() for w in words if w.lower() in PERIODS]
        period = periods[-1] if periods else period
        words = [w for w in words if w.lower() not in PERIODS]
    count = None
    if len(words) > 1 and (match := _COUNT.fullmatch(words[-1])):
        number = int(match.group(1))
        if 0 < number <= MAX_COUNT:
            count = number
            words.pop()
    if not words:
        return None
    return Query(" ".join(words), count, period)


def _pick(ctx: ServiceContext, query: Query) -> repo.Series | NoSeries | Ambiguous:
    found = ctx.history.find(query.gpu, query.count)
    if not found:
        known = sorted({s.model for s in ctx.history.series.values()})
        return NoSeries(query.gpu, query.count, known)
    if len(found) > 1:
        return Ambiguous(query.gpu, [s.model for s in found])
    return found[0]


async def chart(ctx: ServiceContext, query: Query) -> Chart | NoSeries | Ambiguous:
    picked = _pick(ctx, query)
    if not isinstance(picked, repo.Series):
        return picked
    now = int(ctx.clock().timestamp())
    seconds = PERIODS[query.period]
    # the last day from every snapshot; longer periods from the hourly aggregates
    span = repo.SNAPSHOT if seconds <= 86400 else repo.HOUR
    async with ctx.reads() as s:
        points = await repo.points(s, picked.id, span, now - seconds)
    count = None if picked.gpu_count == ALL_COUNTS else picked.gpu_count
    median = ctx.history.medians.get(picked.key)
    return Chart(picked.model, count, query.period, points, picked.first_at, now, median)


async def stats(ctx: ServiceContext, query: Query) -> Stats | NoSeries | Ambiguous:
    picked = _pick(ctx, query)
    if not isinstance(picked, repo.Series):
        return picked
    now = int(ctx.clock().timestamp())
    async with ctx.reads() as s:
        current = await repo.point_near(s, picked.id, now)
        day = await repo.point_near(s, picked.id, now - 86400)
        week = await repo.point_near(s, picked.id, now - 7 * 86400)
    count = None if picked.gpu_count == ALL_COUNTS else picked.gpu_count
    median = ctx.history.medians.get(picked.key)
    return Stats(picked.model, count, current, day, week, median, picked.first_at, now)
