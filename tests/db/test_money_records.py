"""Money intents in the audit log, released buttons, pending orders written before the call,
and the per-(user, server) lock, on a real SQLite file."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import AuditEntry
from bot.db.repositories import actions, audit, pending_orders, protections, users
from bot.market.snapshot import Bid
from bot.services.locks import MoneyLocks
from bot.services.money import shown

Sessions = async_sessionmaker[AsyncSession]
T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
URL_A, URL_B = "https://cdn/prod_1_100.json", "https://cdn/prod_2_200.json"


async def _user(sessions: Sessions) -> int:
    async with sessions() as s, s.begin():
        return (await users.get_or_create(s, telegram_id=1, chat_id=1)).id


async def test_an_intent_is_pending_until_settled_once(sessions: Sessions) -> None:
    user = await _user(sessions)
    async with sessions() as s, s.begin():
        entry = await audit.add(s, user_id=user, action="raise", outcome="pending",
                                order_id=9, server_id="3", price=20.5, snapshot_url=URL_A)
    async with sessions() as s, s.begin():
        assert [e.id for e in await audit.pending(s)] == [entry.id]
        with pytest.raises(ValueError):
            await audit.settle(s, entry.id, "pending")
        assert await audit.settle(s, entry.id, "ok")
        assert not await audit.settle(s, entry.id, "error", "too late")  # never twice
    async with sessions() as s:
        assert await audit.pending(s) == []
        [row] = await audit.for_order_since(s, user, 9, T0 - timedelta(days=3650))
        assert (row.outcome, row.snapshot_url, row.detail) == ("ok", URL_A, None)


async def test_a_pending_automatic_raise_counts_against_budget_and_rate(
    sessions: Sessions,
) -> None:
    user = await _user(sessions)
    async with sessions() as s, s.begin():
        await audit.add(s, user_id=user, action="raise", outcome="pending", automatic=True,
                        order_id=9, server_id="3", price=61.5,
                        detail=protections.raise_detail(60.0), now=T0)
    async with sessions() as s:
        since = T0 - timedelta(hours=1)
        assert await protections.automatic_spending_since(s, user, since) == pytest.approx(1.5)
        assert len(await protections.automatic_raises_since(s, user, 9, since)) == 1


async def test_release_undoes_only_its_own_claim(sessions: Sessions) -> None:
    user = await _user(sessions)
    async with sessions() as s, s.begin():
        action = await actions.create(s, user_id=user, kind="raise", payload={},
                                      expires_at=T0 + timedelta(days=2), now=T0)
    async with sessions() as s, s.begin():
        assert await actions.claim(s, action.id, user, now=T0) is not None
        assert not await actions.release(s, action.id, user, claimed_at=T0 + timedelta(1))
        assert await actions.release(s, action.id, user, claimed_at=T0)
    async with sessions() as s, s.begin():
        assert await actions.claim(s, action.id, user, now=T0) is not None  # usable again


async def test_a_pending_order_is_discarded_when_nothing_was_placed(sessions: Sessions) -> None:
    user = await _user(sessions)
    async with sessions() as s, s.begin():
        kept = await pending_orders.add(s, user_id=user, server_id="3", price=12.5,
                                        known_order_ids=[1])
        refused = await pending_orders.add(s, user_id=user, server_id="3", price=13.0,
                                           known_order_ids=[1])
        await pending_orders.add(s, user_id=user, server_id="4", price=9.0, known_order_ids=[])
    async with sessions() as s, s.begin():
        assert await pending_orders.discard(s, refused.id)
        assert [r.id for r in await pending_orders.on_server(s, user, "3")] == [kept.id]


def _entry(action: str, price: float | None, url: str = URL_A) -> AuditEntry:
    return AuditEntry(action=action, outcome="ok", price=price, snapshot_url=url)


def test_an_action_is_shown_only_by_a_later_snapshot_with_its_effect() -> None:
    before = Bid(owner=7, id=9, active=True, price=15.0, pl=300)
    after = Bid(owner=7, id=9, active=True, price=20.5, pl=300)
    raised = _entry("raise", 20.5)
    assert not shown(raised, URL_A, after)  # decided on this very snapshot
    assert not shown(raised, URL_B, before)  # a later URL, published before the edit
    assert shown(raised, URL_B, after)
    assert shown(raised, URL_B, None)  # the order is gone: nothing left to overlay
    cancelled = _entry("cancel", None)
    assert not shown(cancelled, URL_B, before)
    assert shown(cancelled, URL_B, None)


async def test_money_locks_serialise_one_key_and_are_dropped_when_free() -> None:
    locks, order = MoneyLocks(), []
    entered, release = asyncio.Event(), asyncio.Event()

    async def act(name: str, server: str) -> None:
        async with locks.hold(1, server):
            order.append(f"{name} in")
            if name == "first":
                entered.set()
                await release.wait()
            order.append(f"{name} out")

    first = asyncio.create_task(act("first", "3"))
    await entered.wait()
    second = asyncio.create_task(act("second", "3"))
    other = asyncio.create_task(act("other", "4"))  # another server does not wait
    await other
    assert order == ["first in", "other in", "other out"]
    release.set()
    await asyncio.gather(first, second)
    assert order[3:] == ["first out", "second in", "second out"]
    assert len(locks) == 0
