"""Several `gigaspot-bot run` processes on one database behave as one bot.

Who leads. Exactly one process (the leader) polls clore, runs cycles and delivers the
outbox; every process answers Telegram (commands, taps). On PostgreSQL the leader holds a
session-level advisory lock on a connection of its own (`PostgresLeadership`); the others
try to take it every half poll interval, and PostgreSQL frees it the moment the leader's
connection ends (a crash, kill -9, a lost network), so another one leads within one poll
interval. Every write transaction of the leader's cycles and deliveries is fenced
(`bot.db.engine.fenced`): it checks, under the global write lock, that the lock is still
held by that connection, so a process that lost it commits nothing more. Money locks (one
per user and server) are advisory locks too (`SharedMoneyLocks`), so taps on different
replicas and automatic raises on the leader act on one order one after the other. SQLite
serves one process: a lock file next to the database refuses a second one
(`SingleProcess`).

What every replica knows. The leader's matcher and alert memory must also learn what the
other replicas changed (a rule saved, paused or deleted, an account linked), and a
follower's must follow the leader's cycles, so that previews, `/bids` and taps see the
market. `ReplicaSync.catch_up` reads the database: the active rules (registered or removed
where they differ from what this process registered) and the linked owners, both only when
the `watch` write count moved (`bot.services.watch_reads`), the alert memory
records written since the last look (applied in id order, which is commit order on both
engines; a new checkpoint means a rebuild from it), and, on a follower, the baseline
snapshot the leader's last cycle committed. The leader catches up before every cycle, a
follower every poll interval, and a follower that becomes the leader once more before it
starts polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.config import ConfigError
from bot.db import alert_codec
from bot.db.engine import LEADER_LOCK, LOCK_SPACE, is_sqlite, lock_options, money_lock_key
from bot.db.repositories import alert_memory as records
from bot.db.repositories.rules import ActiveRule
from bot.market.alert_memory import AlertMemory
from bot.market.rules import Rule, RuleError, parse_rule
from bot.market.snapshot import SnapshotError, decode_snapshot
from bot.services import alert_state
from bot.services.context import ServiceContext
from bot.services.locks import MoneyLocks

log = logging.getLogger(__name__)


class AlreadyRunning(ConfigError):
    """Another process serves this SQLite database."""


class SingleProcess:
    """SQLite: this process is the only one, hence always the leader."""

    pid: int | None = None
    leading = True
    shared = False  # nothing to catch up with

    def __init__(self, database: Path | None) -> None:
        self.path = None if database is None else database.with_name(database.name + ".lock")
        self._file: IO[str] | None = None

    def claim(self) -> None:
        """Take the lock file or raise AlreadyRunning. Call before touching the database."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise AlreadyRunning(
                f"another gigaspot-bot process is running on {self.path.with_suffix('')} "
                f"(it holds {self.path}). SQLite serves one process: stop the other one, or "
                "run several replicas on PostgreSQL (DATABASE_URL=postgresql+asyncpg://...)."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle

    async def acquire(self) -> None:
        return

    async def try_acquire(self) -> bool:
        return True

    async def lost(self) -> None:
        await asyncio.Event().wait()  # never

    async def close(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class PostgresLeadership:
    """The leader lock on a connection of its own (autocommit, outside the write lock)."""

    shared = True

    def __init__(self, engine: AsyncEngine, interval: float) -> None:
        self.engine = engine
        self.interval = interval  # seconds between tries, and between liveness checks
        self.pid: int | None = None
        self.leading = False
        self._connection: AsyncConnection | None = None

    def claim(self) -> None:
        return

    async def _connect(self) -> AsyncConnection:
        if self._connection is None:
            connection = await self.engine.connect()
            await connection.run_sync(lock_options)
            self._connection = connection
        return self._connection

    async def _drop(self) -> None:
        connection, self._connection, self.pid, self.leading = self._connection, None, None, False
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.invalidate()  # never back to the pool with a lock on it
            with contextlib.suppress(Exception):
                await connection.close()

    async def try_acquire(self) -> bool:
        try:
            connection = await self._connect()
            got = await connection.scalar(
                text(f"SELECT pg_try_advisory_lock({LOCK_SPACE}, {LEADER_LOCK})")
            )
            if got:
                self.pid = await connection.scalar(text("SELECT pg_backend_pid()"))
                self.leading = True
            return bool(got)
        except Exception as exc:
            log.warning("leader lock: %s: %s", type(exc).__name__, exc)
            await self._drop()
            return False

    async def acquire(self) -> None:
        while True:
            if self.leading or await self.try_acquire():
                return
            await asyncio.sleep(self.interval)

    async def lost(self) -> None:
        """Returns when the lock is no longer ours (its connection failed)."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                assert self._connection is not None
                await self._connection.scalar(text("SELECT 1"))
            except Exception as exc:
                log.warning("leader connection lost: %s: %s", type(exc).__name__, exc)
                await self._drop()
                return

    async def close(self) -> None:
        if self._connection is not None and self.leading:
            with contextlib.suppress(Exception):
                await self._connection.scalar(
                    text(f"SELECT pg_advisory_unlock({LOCK_SPACE}, {LEADER_LOCK})")
                )
        connection, self._connection, self.pid, self.leading = self._connection, None, None, False
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()


Leadership = SingleProcess | PostgresLeadership


class SharedMoneyLocks(MoneyLocks):
    """PostgreSQL: the (user, server) money lock holds across replicas, so a Raise tapped
    on one replica and an automatic raise (or a tap) on another act one after the other.
    The in-process lock comes first, so waiting taps of one process use no connection."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__()
        self.engine = engine

    @contextlib.asynccontextmanager
    async def hold(self, user_id: int, server_id: str) -> AsyncIterator[None]:
        async with super().hold(user_id, server_id), self.engine.connect() as connection:
            await connection.run_sync(lock_options)
            key = {"key": money_lock_key(user_id, server_id)}
            await connection.execute(text("SELECT pg_advisory_lock(:key)"), key)
            try:
                yield
            finally:
                # A connection that failed has lost the lock with its session anyway.
                with contextlib.suppress(Exception):
                    await connection.execute(text("SELECT pg_advisory_unlock(:key)"), key)


def leadership_for(engine: AsyncEngine, database: Path | None, interval: float) -> Leadership:
    if is_sqlite(engine):
        return SingleProcess(database)
    # Half a poll interval between tries: a successor leads within one interval.
    return PostgresLeadership(engine, max(0.2, interval / 2))


class ReplicaSync:
    """Brings this process's matcher and alert memory up to what the database says."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.seen_record = 0  # highest alert memory record applied
        self.registered: dict[int, tuple[str, int | None]] = {}  # rule id -> (text, owner)
        # The rules and linked owners the last catch-up applied: the watch reads hand back
        # the very same list while no rule, user or template was written, and then neither
        # is read or compared again (the leader catches up before every cycle).
        self._applied: tuple[list[ActiveRule], set[int | None]] | None = None
        ctx.market.own_records = set()

    async def start(self) -> None:
        """Before `alert_state.restore`: what the restore will have applied (records
        written meanwhile are applied again, which changes nothing)."""
        async with self.ctx.reads() as s:
            self.seen_record = await records.last_id(s)
            active, _ = await self.ctx.watch_reads.read(s)
            self.registered = {r.rule_id: (r.text, r.clore_user_id) for r in active}

    async def _register(self, active: list[ActiveRule], owners: set[int | None]) -> None:
        """Register what differs from what this process registered. Caller holds the lock."""
        market = self.ctx.market
        wanted = {r.rule_id: (r.text, r.clore_user_id) for r in active}
        changed: list[tuple[int, Rule, int | None]] = []
        for rule_id, (rule_text, owner) in wanted.items():
            if self.registered.get(rule_id) != (rule_text, owner):
                try:
                    changed.append((rule_id, parse_rule(rule_text), owner))
                except RuleError:
                    continue
        await market.set_rules(changed)
        for rule_id in self.registered.keys() - wanted.keys():
            await market.remove_rule(rule_id)
        self.registered = wanted
        await market.track_owners(owner for owner in owners if owner is not None)
        self._applied = (active, owners)

    async def _apply_records(self, new_records: list[records.StoredRecord]) -> None:
        """Apply records in id order (commit order). This process's own records at the head
        are in its memory already (the leader's cycles write one each): skipped. After any
        other replica's record, the rest is applied again, own ones too, so the memory ends
        as the records' order says. Caller holds the lock."""
        market, own = self.ctx.market, self.ctx.market.own_records or set()
        head = True
        for record in new_records:
            if head and record.id in own:
                continue
            head = False
            change = await asyncio.to_thread(alert_codec.decode_change, record.body)
            market.memory.apply(alert_state.loaded(change, market.matcher))

    async def catch_up(self, *, baseline: bool) -> None:
        ctx, market = self.ctx, self.ctx.market
        async with ctx.reads() as s:
            active, _ = await ctx.watch_reads.read(s)
            unchanged = self._applied is not None and self._applied[0] is active
            owners = (
                self._applied[1]
                if self._applied is not None and unchanged
                else {u.clore_user_id for u in await ctx.watch_reads.linked(s)}
            )
            new_records = await records.records_after(s, self.seen_record)
            stored = await records.load_baseline(s) if baseline else None
            if any(r.kind == records.CHECKPOINT for r in new_records):
                bodies = await records.replay(s)
            else:
                bodies = None
        async with market.lock:
            if stored is not None and stored.snapshot_url != market.snapshot_url:
                try:
                    data = await asyncio.to_thread(alert_codec.decompress_snapshot, stored.body)
                    snapshot = await asyncio.to_thread(decode_snapshot, data)
                except (SnapshotError, ValueError) as exc:
                    log.warning("baseline snapshot unreadable: %s", exc)
                else:
                    await market.apply(snapshot, stored.clore_price, stored.snapshot_url)
                    market.ready = True  # polled by the leader a moment ago
            if not unchanged:
                await self._register(active, owners)
            if bodies is not None:  # a checkpoint replaced the log: rebuild the memory
                market.memory = AlertMemory()
                for body in bodies:
                    change = await asyncio.to_thread(alert_codec.decode_change, body)
                    market.memory.apply(alert_state.loaded(change, market.matcher))
            else:
                await self._apply_records(new_records)
            if new_records:
                self.seen_record = new_records[-1].id
            own = market.own_records
            if own:
                market.own_records = {i for i in own if i > self.seen_record}
