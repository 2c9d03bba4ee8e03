"""Migration 0002 and the repositories of templates, protections, budgets, pending orders
and the audit log, on a real SQLite file."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.migrate import current_revision, downgrade_to, head_revision, upgrade_to_head
from bot.db.models import User
from bot.db.repositories import audit, pending_orders, protections, templates, users
from bot.i18n import translator
from bot.telegram.render.orders import history_line

Sessions = async_sessionmaker[AsyncSession]
T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
NEW_TABLES = {"order_templates", "bid_protections", "user_budgets", "pending_orders"}


def _tables(db_url: str) -> set[str]:
    with sqlite3.connect(Path(db_url.removeprefix("sqlite+aiosqlite:///"))) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
    return {name for (name,) in rows}


async def _user(sessions: Sessions, telegram_id: int) -> int:
    async with sessions() as session, session.begin():
        return (await users.get_or_create(session, telegram_id=telegram_id, chat_id=telegram_id)).id


async def test_0002_up_down_up_keeps_existing_data(db_url: str) -> None:
    await upgrade_to_head(db_url)
    assert await current_revision(db_url) == head_revision()
    assert NEW_TABLES <= _tables(db_url)
    db_file = Path(db_url.removeprefix("sqlite+aiosqlite:///"))
    with sqlite3.connect(db_file) as conn:
        conn.execute(
            "INSERT INTO users (id, telegram_id, chat_id, alerts_paused, active, created_at,"
            " updated_at) VALUES (1, 10, 10, 0, 1, '2025-01-01', '2025-01-01')"
        )
        conn.execute(
            "INSERT INTO order_templates (user_id, text, updated_at)"
            " VALUES (1, 'image=ubuntu', '2025-01-01')"
        )
    await downgrade_to(db_url, "0001")
    assert await current_revision(db_url) == "0001"
    tables = _tables(db_url)
    assert not NEW_TABLES & tables and "users" in tables
    with sqlite3.connect(db_file) as conn:
        assert conn.execute("SELECT telegram_id FROM users").fetchall() == [(10,)]
    await upgrade_to_head(db_url)
    assert NEW_TABLES <= _tables(db_url)


async def test_templates_one_per_user(sessions: Sessions) -> None:
    alice, bob = await _user(sessions, 1), await _user(sessions, 2)
    async with sessions() as s, s.begin():
        assert await templates.get_text(s, alice) is None
        await templates.set_text(s, alice, "image=ubuntu pl=min", now=T0)
        await templates.set_text(s, alice, "image=hiveos pl=200", now=T0)
        await templates.set_text(s, bob, "image=ubuntu pl=min")
    async with sessions() as s, s.begin():
        assert await templates.get_text(s, alice) == "image=hiveos pl=200"
        assert await templates.delete(s, alice)
        assert not await templates.delete(s, alice)
        assert await templates.get_text(s, alice) is None
        assert await templates.get_text(s, bob) == "image=ubuntu pl=min"


async def test_protections_are_owned_and_listed(sessions: Sessions) -> None:
    alice, bob = await _user(sessions, 1), await _user(sessions, 2)
    async with sessions() as s, s.begin():
        first = await protections.enable(
            s, user_id=alice, order_id=100, server_id="7", cap=20.0, max_raises_per_hour=3, now=T0
        )
        await protections.enable(
            s, user_id=alice, order_id=101, server_id="8", cap=30.0, max_raises_per_hour=1
        )
        await protections.enable(
            s, user_id=bob, order_id=200, server_id="7", cap=5.0, max_raises_per_hour=2
        )
        with pytest.raises(ValueError):
            await protections.enable(
                s, user_id=bob, order_id=201, server_id="7", cap=0, max_raises_per_hour=2
            )
        with pytest.raises(ValueError):
            await protections.enable(
                s, user_id=bob, order_id=201, server_id="7", cap=3, max_raises_per_hour=0
            )
        assert first.enabled and first.created_at == T0
    async with sessions() as s, s.begin():
        assert not await protections.set_enabled(s, bob, 100, False)  # not bob's
        assert await protections.set_enabled(s, alice, 100, False)
        again = await protections.enable(
            s, user_id=alice, order_id=100, server_id="7", cap=22.0, max_raises_per_hour=2
        )
        assert (again.enabled, again.cap, again.created_at) == (True, 22.0, T0)
        assert await protections.set_enabled(s, alice, 101, False)
        assert [(p.user_id, p.order_id) for p in await protections.list_enabled(s)] == [
            (alice, 100),
            (bob, 200),
        ]
        assert await protections.get(s, bob, 100) is None
        assert not await protections.delete(s, bob, 100)
        await users.set_active(s, bob, False)  # blocked the bot: nothing to protect for now
        assert [p.order_id for p in await protections.list_enabled(s)] == [100]
        assert await protections.delete_missing(s, alice, [101, 555]) == [100]
        assert [p.order_id for p in await protections.list_for_user(s, alice)] == [101]
        assert [p.order_id for p in await protections.list_for_user(s, bob)] == [200]
        assert await protections.delete(s, alice, 101)


async def test_budget_set_change_and_remove(sessions: Sessions) -> None:
    alice, bob = await _user(sessions, 1), await _user(sessions, 2)
    async with sessions() as s, s.begin():
        assert await protections.get_budget(s, alice) is None
        await protections.set_budget(s, alice, 10.0)
        await protections.set_budget(s, alice, 12.5)
        await protections.set_budget(s, bob, 0.0)
        with pytest.raises(ValueError):
            await protections.set_budget(s, bob, -1.0)
    async with sessions() as s, s.begin():
        assert await protections.get_budget(s, alice) == 12.5
        assert await protections.get_budget(s, bob) == 0.0
        await protections.set_budget(s, alice, None)
        assert await protections.get_budget(s, alice) is None


async def test_automatic_raises_and_spending(sessions: Sessions) -> None:
    alice, bob = await _user(sessions, 1), await _user(sessions, 2)
    async with sessions() as s, s.begin():
        attempts = [  # (user, order, from, to, outcome, reason, when)
            (alice, 100, 10.0, 11.0, "ok", None, T0 - timedelta(hours=25)),
            (alice, 100, 11.0, 12.5, "ok", None, T0 - timedelta(hours=2)),
            (alice, 101, 20.0, 20.25, "ambiguous", "ReadTimeout", T0 - timedelta(minutes=30)),
            (alice, 100, 12.5, 14.0, "rejected", "too low for clore", T0),
            (bob, 200, 1.0, 9.0, "ok", None, T0),
        ]
        for user_id, order_id, from_price, to_price, outcome, reason, when in attempts:
            await protections.record_automatic_raise(
                s, user_id=user_id, order_id=order_id, server_id="7", from_price=from_price,
                to_price=to_price, outcome=outcome, reason=reason, now=when,
            )  # fmt: skip
        # A manual raise is in the history but neither rate-limited nor budgeted.
        await audit.add(s, user_id=alice, action="raise", outcome="ok", order_id=100,
                        price=30.0, now=T0)  # fmt: skip
    async with sessions() as s, s.begin():
        day = await protections.automatic_raises_since(s, alice, None, T0 - timedelta(hours=24))
        assert [(r.order_id, r.from_price, r.to_price, r.outcome) for r in day] == [
            (100, 11.0, 12.5, "ok"),
            (101, 20.0, 20.25, "ambiguous"),
            (100, 12.5, 14.0, "rejected"),
        ]
        hour = await protections.automatic_raises_since(s, alice, 100, T0 - timedelta(hours=1))
        assert [r.created_at for r in hour] == [T0]
        # ok and ambiguous raises count; the rejected one and the old one do not.
        spent = await protections.automatic_spending_since(s, alice, T0 - timedelta(hours=24))
        assert spent == pytest.approx(1.5 + 0.25)
        history = await audit.recent_for_user(s, alice)
        assert len(history) == 5 and [e.automatic for e in history][:2] == [False, True]
        assert protections.parse_raise_detail(history[1].detail) == (12.5, "too low for clore")
        assert protections.parse_raise_detail("ReadTimeout") == (None, "ReadTimeout")


async def test_pending_orders_resolve_once_and_give_up(sessions: Sessions) -> None:
    alice, bob = await _user(sessions, 1), await _user(sessions, 2)
    async with sessions() as s, s.begin():
        first = await pending_orders.add(
            s, user_id=alice, server_id="7", price=14.5, known_order_ids=[3, 1, 3],
            action_id="tap-1", now=T0,
        )  # fmt: skip
        second = await pending_orders.add(
            s, user_id=alice, server_id="8", price=9.0, known_order_ids=[], action_id="tap-2",
            now=T0 + timedelta(minutes=1),
        )  # fmt: skip
        theirs = await pending_orders.add(
            s, user_id=bob, server_id="7", price=15.0, known_order_ids=[], now=T0
        )
        assert pending_orders.known_order_ids(first) == {1, 3}
    with pytest.raises(IntegrityError):  # one tap, one order
        async with sessions() as s, s.begin():
            await pending_orders.add(
                s, user_id=alice, server_id="7", price=14.5, known_order_ids=[], action_id="tap-1"
            )
    async with sessions() as s, s.begin():
        assert [p.id for p in await pending_orders.unresolved(s, alice)] == [first.id, second.id]
        assert not await pending_orders.resolve(s, first.id, bob, 500)  # not bob's
        assert await pending_orders.resolve(s, first.id, alice, 500, now=T0 + timedelta(minutes=2))
        assert not await pending_orders.resolve(s, first.id, alice, 501)  # already resolved
        assert await pending_orders.taken_order_ids(s, alice) == {500}
        assert await pending_orders.taken_order_ids(s, bob) == set()
        resolved = await pending_orders.get(s, first.id, alice)
        assert resolved is not None and resolved.order_id == 500
        assert resolved.resolved_at == T0 + timedelta(minutes=2)
        assert await pending_orders.get(s, first.id, bob) is None
    async with sessions() as s, s.begin():
        later = T0 + timedelta(minutes=30)
        gone = await pending_orders.give_up(s, created_before=T0 + timedelta(seconds=30), now=later)
        assert [p.id for p in gone] == [theirs.id]
        assert gone[0].resolved_at == later and gone[0].order_id is None
        assert [p.id for p in await pending_orders.unresolved(s)] == [second.id]


async def test_deleting_a_user_removes_their_order_rows(sessions: Sessions) -> None:
    alice = await _user(sessions, 1)
    async with sessions() as s, s.begin():
        await templates.set_text(s, alice, "image=ubuntu")
        await protections.enable(
            s, user_id=alice, order_id=1, server_id="7", cap=2.0, max_raises_per_hour=1
        )
        await protections.set_budget(s, alice, 3.0)
        await pending_orders.add(s, user_id=alice, server_id="7", price=1.0, known_order_ids=[])
    async with sessions() as s, s.begin():
        await s.execute(delete(User).where(User.id == alice))
    async with sessions() as s, s.begin():
        assert await templates.get_text(s, alice) is None
        assert await protections.list_for_user(s, alice) == []
        assert await protections.get_budget(s, alice) is None
        assert await pending_orders.unresolved(s, alice) == []


async def test_history_lines_show_manual_and_automatic_actions(sessions: Sessions) -> None:
    alice = await _user(sessions, 1)
    async with sessions() as s, s.begin():
        await protections.record_automatic_raise(
            s, user_id=alice, order_id=100, server_id="7", from_price=11.0, to_price=12.5,
            outcome="ok", now=T0,
        )  # fmt: skip
        await audit.add(
            s, user_id=alice, action="create", outcome="rejected", server_id="8", price=14.0,
            detail="too_low_bids_servers", now=T0 + timedelta(minutes=1),
        )  # fmt: skip
        lines = [history_line(translator("en"), e) for e in await audit.recent_for_user(s, alice)]
    assert lines == [
        "2025-06-01 12:01 UTC  create on #8 at 14.00 CLORE/day: refused by clore.ai "
        "(too_low_bids_servers)",
        "2025-06-01 12:00 UTC  auto raise order 100 on #7 11.00 → 12.50 CLORE/day: done",
    ]
