"""Polls clore for a new snapshot every POLL_INTERVAL_SECONDS and runs one cycle each time.

A failure that repeats poll after poll (clore down, a snapshot that cannot be decoded or
applied, the database) is logged when it starts or changes, not on every poll, and its end is
logged once. A snapshot the cycle cannot apply is rejected (the previous one stays in force)
and the cycle runs again as one without new data, so staleness is still judged and announced.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

from bot.clore.client import safe_url
from bot.clore.errors import CloreAuthError
from bot.clore.fetcher import PollResult, SnapshotFetcher
from bot.db.repositories import actions, outbox
from bot.services import alert_state
from bot.services.cycle import Cycle, CycleReport, SnapshotNotApplied

log = logging.getLogger(__name__)

# Delivered messages and used buttons are kept a week (for support questions), then pruned.
# Longer than any outbox dedupe key can recur: keys name a snapshot URL, which never repeats.
KEEP_FOR = timedelta(days=7)
PRUNE_EVERY = timedelta(hours=1)


class Poller:
    def __init__(
        self,
        fetcher: SnapshotFetcher,
        cycle: Cycle,
        interval: float,
        *,
        before_cycle: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.fetcher = fetcher
        self.cycle = cycle
        self.interval = interval
        # Replicas: learn what the other processes changed (rules, memory) first.
        self.before_cycle = before_cycle
        self.cycles = 0
        self.last_cycle_at: float | None = None  # time.time() of the last finished cycle
        self.last_cycle_seconds: float | None = None
        self._pruned_at: float | None = None
        self._failure: str | None = None  # what the last poll or cycle failed with
        self._failed_polls = 0

    async def run_once(self) -> CycleReport:
        started = time.monotonic()
        if self.before_cycle is not None:
            await self.before_cycle()
        poll = await self.fetcher.poll()
        if poll.failure is not None:
            self._failed(_poll_failure(poll), poll.failure)
        try:
            report = await self.cycle.run(poll)
        except SnapshotNotApplied as exc:  # not what fails after the commit (raises)
            self._failed(f"snapshot {_url(poll)} could not be applied: {exc}", exc, trace=True)
            poll = self.fetcher.reject(poll, exc)
            report = await self.cycle.run(poll)
        if poll.failure is None:
            self._recovered()
        self.cycles += 1
        self.last_cycle_at = time.time()
        self.last_cycle_seconds = time.monotonic() - started
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
            except Exception as exc:
                self._failed(f"poll cycle failed: {type(exc).__name__}: {exc}", exc, trace=True)
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))

    def _failed(self, what: str, exc: Exception, *, trace: bool = False) -> None:
        self._failed_polls += 1
        if what == self._failure:
            log.debug("%s (again)", what)
            return
        self._failure = what
        if isinstance(exc, CloreAuthError):
            log.error("clore.ai rejects CLORE_API_TOKEN: no market data until it is fixed")
        else:
            log.warning("%s; the next poll will try again", what, exc_info=exc if trace else None)

    def _recovered(self) -> None:
        if self._failure is not None:
            log.info("market data flows again after %d failed polls", self._failed_polls)
        self._failure, self._failed_polls = None, 0


def _url(poll: PollResult) -> str:
    url = poll.info.snapshot_url if poll.info is not None else poll.snapshot_url
    return safe_url(url) if url else "(none)"


def _poll_failure(poll: PollResult) -> str:
    if poll.info is None:
        return f"get_gigaspot failed: {poll.error}"
    return f"snapshot {_url(poll)} not refreshed: {poll.error}"
