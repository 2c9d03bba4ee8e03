"""The alert memory across restarts: what a cycle or a rule change records, and the start.

Design (the README's "Alert memory" says the same for users of the bot):
- what matches lives only in the matcher; what was announced lives in `market.memory`
  (`bot.market.alert_memory`), both in memory, both grown with matches, neither written
  row by row;
- a cycle commits, in one transaction with the messages it queues, one compact change
  record (only the pairs whose memory changed) and the snapshot it applied (the baseline);
- on start the matcher is rebuilt from the baseline and the memory from the latest
  checkpoint plus the changes after it; the next snapshot is then compared with what was
  committed, so nothing is announced twice and nothing the last cycles missed is lost;
- when the changes since the last checkpoint outgrow the memory, a new checkpoint replaces
  them, after dropping entries that no longer change any decision.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import alert_codec
from bot.db.repositories import alert_memory as records
from bot.market.alert_memory import AlertMemory, MemoryChange, key_rows, key_rules, pair_keys
from bot.market.matcher import Matcher
from bot.market.snapshot import Snapshot, SnapshotError, decode_snapshot
from bot.services.context import ServiceContext

log = logging.getLogger(__name__)

MIN_CHECKPOINT_ENTRIES = 50_000  # below this, changes are cheap to replay


@dataclass(frozen=True, slots=True)
class Restored:
    snapshot_url: str | None  # the baseline's, None without one
    entries: int  # in the memory


def stored(change: MemoryChange, matcher: Matcher) -> alert_codec.StoredChange:
    """Rows mean nothing after a restart: name servers by id."""
    rows = key_rows(change.keys)
    seen = np.zeros(max(int(rows.max()) + 1 if rows.size else 0, 1), dtype=bool)
    seen[rows] = True
    distinct = np.flatnonzero(seen)  # linear, unlike np.unique's sort
    position = np.cumsum(seen) - 1
    index = position[rows]
    ids = matcher.server_ids(distinct)
    return alert_codec.StoredChange(
        key_rules(change.keys), ids, index, change.announced,
        change.stopped_at, change.purged_rules.tolist(),
    )  # fmt: skip


def loaded(change: alert_codec.StoredChange, matcher: Matcher) -> MemoryChange:
    return loaded_at(change, matcher.rows_of(change.server_ids))


def loaded_at(change: alert_codec.StoredChange, server_rows: np.ndarray) -> MemoryChange:
    """`loaded`, given the matcher's rows of `change.server_ids` (pure: runs in a thread)."""
    rows = server_rows[change.servers]
    keys = pair_keys(change.rule_ids, rows)
    purged = np.array(change.purged_rules, dtype=np.int64)
    if keys.size < 2 or bool((keys[1:] > keys[:-1]).all()):
        # already in key order (rows are given in server id order, as records name them):
        # no sort and no copies of millions of entries
        return MemoryChange(keys, change.announced, change.stopped_at, purged)
    order = np.argsort(keys, kind="stable")
    return MemoryChange(keys[order], change.announced[order], change.stopped_at[order], purged)


def encoding(change: MemoryChange, matcher: Matcher) -> asyncio.Future[bytes]:
    """`encode`, started now in a worker thread (it overlaps what the caller does next).
    Caller holds the market lock while this is called (rows are read off the matcher)."""
    record = stored(change, matcher)
    return asyncio.get_running_loop().run_in_executor(None, alert_codec.encode_change, record)


async def encode(change: MemoryChange, matcher: Matcher) -> bytes:
    """Caller holds the market lock (rows are read off the matcher)."""
    record = stored(change, matcher)
    return await asyncio.to_thread(alert_codec.encode_change, record)


async def record_change(
    ctx: ServiceContext, s: AsyncSession, change: MemoryChange, body: bytes
) -> int | None:
    """Append an encoded change in the caller's transaction (apply it after the commit, then
    tell `market.applied_own` its id); None when there is nothing to record."""
    if not len(change):
        return None
    return await records.append_change(s, body, len(change), ctx.clock())


async def restore(ctx: ServiceContext, meanwhile: Awaitable[object] | None = None) -> Restored:
    """Rebuild the matcher's baseline and the alert memory from the database.

    Call once at start, before the first cycle. The rules must be registered before the
    baseline is applied: `meanwhile` (start-up work that registers them, or None when they
    already are) runs while what is stored is read and decoded in worker threads.
    """
    market = ctx.market
    stored = asyncio.ensure_future(_read_stored(ctx))
    try:
        if meanwhile is not None:
            await meanwhile
        baseline, snapshot, decoded = await stored
    finally:  # a failure of `meanwhile`: the reads are not left running unobserved
        stored.cancel()
        await asyncio.gather(stored, return_exceptions=True)
    async with market.lock:
        # Every row the records name exists before the matcher's thread starts (it adds
        # rows itself otherwise): the baseline's servers first, in id order, as applying
        # it would give them, then servers only the records name.
        if snapshot is not None:
            market.matcher.rows_of(list(snapshot.servers))
        server_rows = [market.matcher.rows_of(change.server_ids) for change in decoded]
        registered = np.array(sorted(market.matcher.rule_ids), dtype=np.int64)
        stale = (ctx.clock().timestamp(), ctx.settings.realert_after_seconds, registered)
        # The memory is rebuilt in a thread while the matcher applies the baseline in its own
        # (numpy releases the GIL, so the two use both cores).
        rebuilding = asyncio.to_thread(_rebuild, market.memory, decoded, server_rows, stale)
        if baseline is not None and snapshot is not None:
            applying = market.apply(snapshot, baseline.clore_price, baseline.snapshot_url)
            await _both(applying, rebuilding)
        else:
            await rebuilding
        entries = len(market.memory)
    return Restored(baseline.snapshot_url if baseline is not None else None, entries)


async def _read_stored(
    ctx: ServiceContext,
) -> tuple[records.Baseline | None, Snapshot | None, list[alert_codec.StoredChange]]:
    """(baseline, its snapshot, the memory's change records), decoded in worker threads:
    the records while the baseline is decompressed and decoded."""
    async with ctx.reads() as s:
        baseline = await records.load_baseline(s)
        bodies = await records.replay(s)
    decoding = [asyncio.to_thread(alert_codec.decode_change, body) for body in bodies]
    changes = asyncio.ensure_future(asyncio.gather(*decoding))
    try:
        snapshot = None
        if baseline is not None:
            try:
                data = await asyncio.to_thread(alert_codec.decompress_snapshot, baseline.body)
                snapshot = await asyncio.to_thread(decode_snapshot, data)
            except (SnapshotError, ValueError) as exc:  # zstd raises a ValueError subclass
                log.warning("baseline snapshot unreadable (%s); starting without it", exc)
                baseline = None
        return baseline, snapshot, await changes
    finally:
        changes.cancel()
        await asyncio.gather(changes, return_exceptions=True)


def _rebuild(
    memory: AlertMemory,
    changes: list[alert_codec.StoredChange],
    server_rows: list[np.ndarray],
    stale: tuple[float, float, np.ndarray],
) -> None:
    """The memory from its records, then without what no longer changes a decision (`stale`:
    `AlertMemory.forget_stale`'s arguments)."""
    for change, rows in zip(changes, server_rows, strict=True):
        memory.apply(loaded_at(change, rows))
    memory.forget_stale(*stale)


async def _both(first: Awaitable[object], second: Awaitable[object]) -> None:
    """Await both; when one fails, the other still finishes (threads cannot be cancelled, and
    the caller's lock must not be released under them) before the failure is raised."""
    results = await asyncio.gather(first, second, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


async def checkpoint_if_due(ctx: ServiceContext) -> bool:
    """Replace the change log by one checkpoint when replaying it costs twice as much as
    the memory itself (so a checkpoint's cost is spread over many cycles). Holds the market
    lock only to copy the memory; the poller calls it after a cycle, off the alert path."""
    async with ctx.reads() as s:
        pending = await records.entries_since_checkpoint(s)
    if pending <= 2 * max(MIN_CHECKPOINT_ENTRIES, len(ctx.market.memory)):
        return False  # a first cycle's one change is as good as a checkpoint
    await checkpoint(ctx)
    return True


async def checkpoint(ctx: ServiceContext) -> None:
    """Write the whole memory as one record in place of everything before it."""
    market = ctx.market
    async with market.lock:
        registered = np.array(sorted(market.matcher.rule_ids), dtype=np.int64)
        market.memory.forget_stale(
            ctx.clock().timestamp(), ctx.settings.realert_after_seconds, registered
        )
        whole = market.memory.snapshot()
        record = stored(whole, market.matcher)
        async with ctx.reads() as s:
            upto = await records.last_id(s)
    body = await asyncio.to_thread(alert_codec.encode_change, record)
    async with ctx.sessions() as s, s.begin():
        await records.write_checkpoint(s, body, len(whole), upto, ctx.clock())
