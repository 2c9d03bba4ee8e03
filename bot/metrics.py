"""Prometheus metrics and the health check, on `METRICS_PORT` (`GET /metrics`, `GET /healthz`).

Counters that code increments as things happen (Telegram 429s and 403s, clore calls) live
in `bot.counters` for the whole process. Everything else is read when scraped (`BotCollector`):
this replica's state (leader or not, last cycle, snapshot age, servers and rules in the
matcher, the sender's counters) and what the database says for the whole bot (users, rules,
outbox depth by kind, money actions by kind and outcome), refreshed every REFRESH seconds
by `Operations.run`, never inside a scrape.

`/healthz` answers 200 when this replica is healthy and 503 otherwise, with a JSON body:
the leader must have finished a cycle within three poll intervals and its sender must be
running; every replica needs market data no older than `STALE_AFTER_SECONDS` (a follower's
comes from the leader's commits, so a stuck leader makes every replica unhealthy).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from bot.clore.fetcher import snapshot_timestamp
from bot.counters import REGISTRY
from bot.db.models import AuditEntry, Outbox, Rule, User

log = logging.getLogger(__name__)

REFRESH = 15.0  # seconds between reads of the database's counts


@dataclass
class Counts:
    """The database's view, shared by every replica."""

    users: int = 0
    rules: int = 0
    outbox: dict[str, int] = field(default_factory=dict)
    money: dict[tuple[str, str], int] = field(default_factory=dict)


@dataclass
class Operations:
    """What metrics and health read: set by the composition root as the bot runs."""

    ctx: Any  # ServiceContext
    poller: Any  # Poller
    role: Any  # Leadership
    sender: Callable[[], Any]  # the current Sender
    delivering: Callable[[], bool]  # the leader's sender task is running
    counts: Counts = field(default_factory=Counts)

    def health(self) -> tuple[bool, dict[str, object]]:
        settings = self.ctx.settings
        now = time.time()
        url = self.ctx.market.snapshot_url
        taken = snapshot_timestamp(url) if url else None
        age = None if taken is None else max(0.0, now - taken)
        last = self.poller.last_cycle_at
        cycle_age = None if last is None else now - last
        leader = bool(self.role.leading)
        polling = cycle_age is not None and cycle_age <= 3 * settings.poll_interval_seconds
        delivering = self.delivering()
        fresh = age is not None and age <= settings.stale_after_seconds
        healthy = fresh and (not leader or (polling and delivering))
        return healthy, {
            "status": "ok" if healthy else "unhealthy",
            "leader": leader,
            "polling": polling if leader else None,
            "delivering": delivering if leader else None,
            "snapshot_age_seconds": None if age is None else round(age, 1),
            "stale_after_seconds": settings.stale_after_seconds,
            "last_cycle_seconds_ago": None if cycle_age is None else round(cycle_age, 1),
        }

    async def refresh(self) -> None:
        async with self.ctx.reads() as s:
            users = await s.scalar(select(func.count()).select_from(User).where(User.active))
            rules = await s.scalar(select(func.count()).select_from(Rule).where(~Rule.paused))
            outbox = await s.execute(
                select(Outbox.kind, func.count())
                .where(Outbox.sent_at.is_(None), Outbox.failed_at.is_(None))
                .group_by(Outbox.kind)
            )
            money = await s.execute(
                select(AuditEntry.action, AuditEntry.outcome, func.count())
                .group_by(AuditEntry.action, AuditEntry.outcome)
            )
            self.counts = Counts(
                int(users or 0), int(rules or 0), {k: int(n) for k, n in outbox},
                {(a, o): int(n) for a, o, n in money},
            )  # fmt: skip

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception as exc:  # a busy or unreachable database: keep the old counts
                log.debug("metrics refresh failed: %s", exc)
            await asyncio.sleep(REFRESH)


class BotCollector(Collector):
    def __init__(self, ops: Operations) -> None:
        self.ops = ops

    def collect(self) -> Iterator[Any]:
        ops, market = self.ops, self.ops.ctx.market
        _, health = ops.health()
        yield _gauge("gigaspot_leader", "1 when this replica polls clore and delivers",
                     int(bool(ops.role.leading)))  # fmt: skip
        if ops.poller.last_cycle_seconds is not None:
            yield _gauge("gigaspot_cycle_duration_seconds", "duration of the last poll cycle",
                         ops.poller.last_cycle_seconds)  # fmt: skip
        age = health["snapshot_age_seconds"]
        if isinstance(age, int | float):
            yield _gauge("gigaspot_snapshot_age_seconds", "age of the market data in force", age)
        servers = len(market.snapshot.servers) if market.snapshot is not None else 0
        yield _gauge("gigaspot_servers", "servers in the snapshot in force", servers)
        yield _gauge("gigaspot_rules_registered", "rules in this replica's matcher",
                     len(market.matcher.rule_ids))  # fmt: skip
        yield _gauge("gigaspot_users", "active users (database)", ops.counts.users)
        yield _gauge("gigaspot_rules", "active rules (database)", ops.counts.rules)
        depth = GaugeMetricFamily("gigaspot_outbox_depth", "messages waiting, by kind",
                                  labels=["kind"])  # fmt: skip
        for kind in sorted({"outbid", "match", "status", "action", *ops.counts.outbox}):
            depth.add_metric([kind], ops.counts.outbox.get(kind, 0))
        yield depth
        money = GaugeMetricFamily(
            "gigaspot_money_actions", "money actions recorded (database), by kind and outcome",
            labels=["kind", "outcome"],
        )
        for (kind, outcome), n in sorted(ops.counts.money.items()):
            money.add_metric([kind, outcome], n)
        yield money
        stats = ops.sender().stats
        messages = CounterMetricFamily("gigaspot_messages", "outbox messages by this replica",
                                       labels=["outcome"])  # fmt: skip
        for outcome in ("sent", "retried", "failed", "blocked", "given_up"):
            messages.add_metric([outcome], getattr(stats, outcome))
        yield messages


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


async def serve_http(ops: Operations, host: str, port: int) -> asyncio.Server:
    """A tiny HTTP/1.0 server: GET /metrics and GET /healthz, nothing else."""
    collector = BotCollector(ops)
    registry = CollectorRegistry()
    registry.register(collector)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                request = await reader.readline()
                while (await reader.readline()).strip():
                    pass  # headers: not needed
            parts = request.decode("latin-1").split()
            path = parts[1].split("?")[0] if len(parts) >= 2 else ""
            if path == "/metrics":
                status = 200
                body = generate_latest(REGISTRY) + generate_latest(registry)
                kind = "text/plain; version=0.0.4; charset=utf-8"
            elif path == "/healthz":
                healthy, detail = ops.health()
                status, body, kind = (200 if healthy else 503), json.dumps(detail).encode(), (
                    "application/json"
                )
            else:
                status, body, kind = 404, b"not found\n", "text/plain"
            reason = {200: "OK", 503: "Service Unavailable", 404: "Not Found"}[status]
            writer.write(
                f"HTTP/1.0 {status} {reason}\r\nContent-Type: {kind}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    return await asyncio.start_server(handle, host, port)
