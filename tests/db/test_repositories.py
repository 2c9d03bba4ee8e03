from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.repositories import actions, alert_memory, alerts, audit, outbox, rules, state, users
from bot.db.repositories.alerts import BidState
from bot.db.repositories.outbox import NewMessage

Sessions = async_sessionmaker[AsyncSession]
T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


async def _user(sessions: Sessions, telegram_id: int = 100) -> int:
    async with sessions() as session, session.begin():
        return (await users.get_or_create(session, telegram_id=telegram_id, chat_id=telegram_id)).id


async def test_users_get_or_create_settings_and_linking(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        first = await users.get_or_create(session, telegram_id=5_000_000_000, chat_id=1)
        again = await users.get_or_create(session, telegram_id=5_000_000_000, chat_id=2)
        assert again.id == first.id and again.chat_id == 2
        assert await users.set_active(session, first.id, False)
        await users.set_api_key(session, first.id, api_key_encrypted="enc", clore_user_id=3)
        await users.set_raise_step(session, first.id, 1.5)
        await users.set_price_cap(session, first.id, 40.0)
        await users.set_alerts_paused(session, first.id, True)
        with pytest.raises(ValueError):
            await users.set_raise_step(session, first.id, 0)
    async with sessions() as session, session.begin():
        user = await users.get_by_telegram_id(session, 5_000_000_000)
        assert user is not None
        assert (user.active, user.clore_user_id, user.api_key_encrypted) == (False, 3, "enc")
        assert (user.raise_step, user.price_cap, user.alerts_paused) == (1.5, 40.0, True)
        assert await users.list_linked(session) == []  # inactive
        await users.get_or_create(session, telegram_id=5_000_000_000, chat_id=2)  # came back
        assert [u.id for u in await users.list_linked(session)] == [user.id]
        await users.clear_api_key(session, user.id)
        assert await users.list_linked(session) == []
        assert not await users.set_active(session, 999, True)


async def test_rules_are_owned_and_active_rules_skip_paused_and_blocked(
    sessions: Sessions,
) -> None:
    alice, bob = await _user(sessions, 1), await _user(sessions, 2)
    async with sessions() as session, session.begin():
        a1 = await rules.add(session, alice, "gpu=4090")
        a2 = await rules.add(session, alice, "gpu=3090")
        b1 = await rules.add(session, bob, "cc=DE")
        assert await rules.get(session, a1.id, bob) is None
        assert not await rules.set_paused(session, a1.id, bob, True)
        assert not await rules.delete(session, a1.id, bob)
        assert await rules.set_paused(session, a2.id, alice, True)
        assert await rules.count_for_user(session, alice) == 2
        assert [r.rule_id for r in await rules.active_rules(session)] == [a1.id, b1.id]
        await users.set_active(session, bob, False)
        assert [r.rule_id for r in await rules.active_rules(session)] == [a1.id]
        assert await rules.delete(session, a1.id, alice)
        assert [r.id for r in await rules.list_for_user(session, alice)] == [a2.id]


async def test_alert_memory_log_replays_latest_checkpoint_then_later_changes(
    sessions: Sessions,
) -> None:
    async with sessions() as session, session.begin():
        first = await alert_memory.append_change(session, b"one", 3, T0)
        second = await alert_memory.append_change(session, b"two", 2, T0)
        assert await alert_memory.entries_since_checkpoint(session) == 5
        await alert_memory.write_checkpoint(session, b"whole@1", 4, first, T0)
        third = await alert_memory.append_change(session, b"three", 1, T0)
        assert first < second < third
    async with sessions() as session:
        assert await alert_memory.replay(session) == [b"whole@1", b"two", b"three"]
        assert await alert_memory.entries_since_checkpoint(session) == 3
        assert await alert_memory.last_id(session) == third
    async with sessions() as session, session.begin():
        await alert_memory.write_checkpoint(session, b"whole@3", 5, third, T0)
    async with sessions() as session:
        assert await alert_memory.replay(session) == [b"whole@3"]
        assert await alert_memory.entries_since_checkpoint(session) == 0
    async with sessions() as session, session.begin():  # ids never go back (AUTOINCREMENT)
        assert await alert_memory.append_change(session, b"four", 1, T0) > third
    async with sessions() as session:
        assert await alert_memory.replay(session) == [b"whole@3", b"four"]


async def test_baseline_is_one_row_replaced_in_place(sessions: Sessions) -> None:
    async with sessions() as session:
        assert await alert_memory.load_baseline(session) is None
    async with sessions() as session, session.begin():
        await alert_memory.save_baseline(session, "u1", None, b"a" * 10, T0)
        await alert_memory.save_baseline(session, "u2", 0.02, b"b", T0)
    async with sessions() as session:
        assert await alert_memory.load_baseline(session) == alert_memory.Baseline("u2", 0.02, b"b")


async def test_bid_state_upsert_validates_standing(sessions: Sessions) -> None:
    user = await _user(sessions)
    async with sessions() as session, session.begin():
        await alerts.upsert_bid_states(session, [BidState(user, 9, "7", "leading")])
        await alerts.upsert_bid_states(session, [BidState(user, 9, "7", "outbid", 12.5)])
        with pytest.raises(ValueError):
            await alerts.upsert_bid_states(session, [BidState(user, 9, "7", "winning")])  # type: ignore[arg-type]
    async with sessions() as session, session.begin():
        found = await alerts.bid_states_for_users(session, [user])
        assert found == {(user, 9): BidState(user, 9, "7", "outbid", 12.5)}
        assert await alerts.delete_bid_states(session, [9]) == 1


def _message(user: int, kind: str, text: str, key: str | None = None) -> NewMessage:
    return NewMessage(user_id=user, chat_id=user, kind=kind, text=text, dedupe_key=key)  # type: ignore[arg-type]


async def test_outbox_dedupe_and_priority_order(sessions: Sessions) -> None:
    user = await _user(sessions)
    async with sessions() as session, session.begin():
        queued = await outbox.enqueue_many(
            session,
            [
                _message(user, "match", "m1", "cycle1:m"),
                _message(user, "outbid", "o1", "cycle1:o"),
                _message(user, "match", "m1 again", "cycle1:m"),  # same batch
                _message(user, "status", "s1"),
                _message(user, "match", "m2"),
            ],
            now=T0,
        )
        assert queued == [True, True, False, True, True]
    async with sessions() as session, session.begin():
        again = await outbox.enqueue_many(session, [_message(user, "match", "x", "cycle1:m")])
        assert again == [False]  # a later transaction, e.g. after a restart
        due = await outbox.next_due(session, limit=10, now=T0)
        assert [m.text for m in due] == ["o1", "m1", "m2", "s1"]
        assert [m.text for m in await outbox.next_due(session, limit=2, now=T0)] == ["o1", "m1"]


async def test_outbox_sent_retry_failed_and_prune(sessions: Sessions) -> None:
    user = await _user(sessions)
    async with sessions() as session, session.begin():
        a, b, c = [
            await outbox.enqueue(session, _message(user, "match", t), now=T0) for t in "abc"
        ]
        assert a and b and c and a < b < c
        assert await outbox.mark_sent(session, a, message_id=77, now=T0)
        assert not await outbox.mark_sent(session, a, message_id=78, now=T0)  # once only
        await outbox.mark_retry(session, b, error="429", retry_at=T0 + timedelta(seconds=30))
        await outbox.mark_failed(session, c, error="403 blocked", now=T0)
    async with sessions() as session, session.begin():
        assert await outbox.next_due(session, limit=10, now=T0) == []
        later = await outbox.next_due(session, limit=10, now=T0 + timedelta(seconds=30))
        assert [(m.id, m.attempts, m.last_error) for m in later] == [(b, 1, "429")]
        assert await outbox.pending_count(session) == 1
        assert await outbox.fail_pending_for_user(session, user, error="blocked") == 1
        assert await outbox.prune(session, older_than=T0 + timedelta(days=1)) == 3


async def test_claim_acts_once_only_for_owner_and_before_expiry(sessions: Sessions) -> None:
    alice, bob = await _user(sessions, 1), await _user(sessions, 2)
    async with sessions() as session, session.begin():
        live = await actions.create(
            session,
            user_id=alice,
            kind="raise",
            payload={"order_id": 9, "price": 21.5},
            expires_at=T0 + timedelta(minutes=10),
            now=T0,
        )
        old = await actions.create(
            session, user_id=alice, kind="cancel", payload={}, expires_at=T0, now=T0
        )
        assert len(live.id) <= 22
    async with sessions() as session, session.begin():
        assert await actions.claim(session, live.id, bob, now=T0) is None
        why = actions.why_unclaimable(await actions.get(session, live.id), bob, now=T0)
        assert why == "not_owner"
        assert await actions.claim(session, old.id, alice, now=T0) is None
        why = actions.why_unclaimable(await actions.get(session, old.id), alice, now=T0)
        assert why == "expired"
        claimed = await actions.claim(session, live.id, alice, now=T0)
        assert claimed is not None and claimed.payload_data() == {"order_id": 9, "price": 21.5}
        assert await actions.claim(session, live.id, alice, now=T0) is None
        assert actions.why_unclaimable(await actions.get(session, "nope"), alice) == "missing"


async def test_concurrent_claims_exactly_one_wins(sessions: Sessions) -> None:
    user = await _user(sessions)
    async with sessions() as session, session.begin():
        action = await actions.create(
            session, user_id=user, kind="raise", payload={}, expires_at=T0 + timedelta(hours=1)
        )

    async def tap() -> bool:
        async with sessions() as session, session.begin():
            return await actions.claim(session, action.id, user, now=T0) is not None

    results = await asyncio.gather(*(tap() for _ in range(8)))
    assert sorted(results) == [False] * 7 + [True]


async def test_audit_and_bot_state(sessions: Sessions) -> None:
    user = await _user(sessions)
    async with sessions() as session, session.begin():
        await audit.add(session, user_id=user, action="raise", outcome="ok", price=20.0)
        await audit.add(
            session, user_id=user, action="cancel", outcome="ambiguous", detail="timeout"
        )
        with pytest.raises(ValueError):
            await audit.add(session, user_id=user, action="raise", outcome="maybe")  # type: ignore[arg-type]
        assert await state.get_value(session, state.LAST_SNAPSHOT_URL) is None
        await state.set_value(session, state.LAST_SNAPSHOT_URL, "https://cdn/a.json")
        await state.set_value(session, state.LAST_SNAPSHOT_URL, "https://cdn/b.json")
    async with sessions() as session, session.begin():
        recent = await audit.recent_for_user(session, user, limit=5)
        assert [(e.action, e.outcome) for e in recent] == [("cancel", "ambiguous"), ("raise", "ok")]
        assert await state.get_value(session, state.LAST_SNAPSHOT_URL) == "https://cdn/b.json"
        assert await state.delete_value(session, state.LAST_SNAPSHOT_URL)
