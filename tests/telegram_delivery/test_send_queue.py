"""The sender's in-memory queue: urgent first across chats, one in flight per chat, held
rows keep their chat's order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.send_queue import Queued, SendQueue

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def row(row_id: int, chat: int, priority: int = 20, due: datetime = T0) -> Queued:
    return Queued(row_id, chat, chat, "match" if priority == 20 else "outbid", priority,
                  T0, due, None)


def ready(_chat: int) -> float:
    return 0.0


def drain(queue: SendQueue, now: datetime = T0) -> list[int]:
    """Pick, send and finish one row at a time; the ids in the order they went."""
    order = []
    while (picked := queue.pick(now, ready)[0]) is not None:
        queue.start(picked)
        queue.forget(picked, now)
        queue.finish(picked, now)
        order.append(picked.id)
    return order


def test_most_urgent_first_across_chats_then_oldest() -> None:
    queue = SendQueue()
    queue.add([row(1, 10), row(2, 11), row(3, 10), row(4, 12, priority=10)], T0)
    assert drain(queue) == [4, 1, 2, 3]


def test_a_busy_chat_is_skipped_and_its_new_urgent_row_goes_next() -> None:
    queue = SendQueue()
    queue.add([row(1, 10), row(2, 10), row(3, 11)], T0)
    first, _ = queue.pick(T0, ready)
    assert first is not None and first.id == 1
    queue.start(first)
    second, _ = queue.pick(T0, ready)
    assert second is not None and second.id == 3  # chat 10 has one in flight
    queue.start(second)
    queue.add([row(4, 10, priority=10)], T0)  # an outbid alert while 1 is in flight
    assert queue.pick(T0, ready)[0] is None
    queue.forget(first, T0)
    queue.finish(first, T0)
    nxt, _ = queue.pick(T0, ready)
    assert nxt is not None and nxt.id == 4


def test_a_held_first_row_holds_its_chat_until_due() -> None:
    later = T0 + timedelta(seconds=30)
    queue = SendQueue()
    queue.add([row(1, 10, due=later), row(2, 10), row(3, 11)], T0)
    assert drain(queue) == [3]
    assert queue.next_due() == later
    assert drain(queue, later) == [1, 2]


def test_pacing_waits_are_reported_and_the_chat_is_kept() -> None:
    queue = SendQueue()
    queue.add([row(1, 10)], T0)
    picked, pacing = queue.pick(T0, lambda chat: 0.4)
    assert picked is None and pacing == 0.4
    assert drain(queue) == [1]


def test_forgetting_a_user_frees_the_chat_for_nobody_else() -> None:
    queue = SendQueue()
    queue.add([row(1, 10), row(2, 10), row(3, 11)], T0)
    queue.forget_user(10, T0)
    assert len(queue) == 1 and drain(queue) == [3]


def test_rows_older_than_a_cutoff_except_the_one_in_flight() -> None:
    queue = SendQueue()
    queue.add([row(1, 10), row(2, 10), row(3, 11)], T0)
    picked, _ = queue.pick(T0, ready)
    assert picked is not None
    queue.start(picked)
    assert sorted(r.id for r in queue.older_than(T0)) == [2, 3]
