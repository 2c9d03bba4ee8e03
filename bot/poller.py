"""Polls clore for a new snapshot every POLL_INTERVAL_SECONDS and runs one cycle each time."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

from bot.clore.errors import CloreAuthError
from bot.clore.fetcher import SnapshotFetcher
from bot.db.repositories import actions, outbox
from bot.services import alert_state
from bot.services.cycle import Cycle, CycleReport

log = logging.getLogger(__name__)

# Delivered messages and used buttons are kept a week (for support questions), then pruned.
# Longer than any outbox dedupe key can recur: keys name a snapshot URL, which never repeats.
KEEP_FOR = timedelta(days=7)
PRUNE_EVERY = timedelta(hours=1)


class Poller:
    def __init__(self, fetcher: SnapshotFetcher, cycle: Cycle, interval: float) -> None:
        self.fetcher = fetcher
        self.cycle = cycle
        self.interval = interval
        self.cycles = 0
        self._pruned_at: float | None = None

    async def run_once(self) -> CycleReport:
        poll = await self.fetcher.poll()
        if isinstance(poll.failure, CloreAuthError):
            log.error("clore.ai rejects CLORE_API_TOKEN: no market data until it is fixed")
        elif poll.error:
            log.warning("snapshot not refreshed: %s", poll.error)
        report = await self.cycle.run(poll)
        self.cycles += 1
        if report.applied:
            await alert_state.checkpoint_if_due(self.cycle.ctx)
        await self._prune()
        if report.applied:
            log.info(
                "snapshot applied: %d servers, %d match alerts, %d outbid alerts",
                len(poll.snapshot.servers) if poll.snapshot else 0,
                report.match_alerts,
                report.outbid_alerts,
            )
        return report

    async def _prune(self) -> None:
        if (
            self._pruned_at is not None
            and time.monotonic() - self._pruned_at < PRUNE_EVERY.total_seconds()
        ):
            return
        self._pruned_at = time.monotonic()
        ctx = self.cycle.ctx
        cutoff = ctx.clock() - KEEP_FOR
        async with ctx.sessions() as s, s.begin():
            done = await outbox.prune(s, older_than=cutoff)
            used = await actions.prune(s, older_than=cutoff)
        if done or used:
            log.info("pruned %d delivered messages and %d old buttons", done, used)

    async def run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.run_once()
            except Exception:
                log.exception("poll cycle failed; the next one will try again")
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))
