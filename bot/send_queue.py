"""The sender's picture of the outbox: pending rows per chat, and which chat goes next.

Pure and in memory (no I/O, no clock of its own). Each chat's rows are kept in (priority, id)
order; a heap holds every chat's first row, and a second heap the first rows that are not due
yet. `pick` answers "which row now?" in O(log chats): the most urgent first row of a chat
that is not busy, is due, and can take a message (as `chat_wait` says). Heap entries are not
removed when a chat changes; they are checked, and dropped when stale, as they come up.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(slots=True)
class Queued:
    id: int
    user_id: int
    chat_id: int
    kind: str
    priority: int
    created_at: datetime
    due: datetime  # not tried again before this
    last_error: str | None

    @property
    def key(self) -> tuple[int, int]:
        return (self.priority, self.id)


class SendQueue:
    def __init__(self) -> None:
        self._chats: dict[int, list[Queued]] = {}
        self._heads: list[tuple[int, int, int]] = []  # (priority, id, chat)
        self._later: list[tuple[datetime, int, int]] = []  # (due, id, chat)
        self.sending: dict[int, int] = {}  # chat -> id of its row in flight

    def clear(self) -> None:
        self._chats.clear()
        self._heads.clear()
        self._later.clear()

    def add(self, rows: Iterable[Queued], now: datetime) -> None:
        touched: set[int] = set()
        for row in rows:
            bisect.insort(self._chats.setdefault(row.chat_id, []), row, key=lambda q: q.key)
            touched.add(row.chat_id)
        for chat_id in touched:
            self._push_head(chat_id, now)

    def pick(self, now: datetime,
             chat_wait: Callable[[int], float]) -> tuple[Queued | None, float | None]:
        """The most urgent row that can go now (not yet marked as sending), and, when some
        chat was only waiting for its pacing, the shortest such wait in seconds."""
        while self._later and self._later[0][0] <= now:
            _, _, chat_id = heapq.heappop(self._later)
            self._push_head(chat_id, now)
        paced: list[tuple[int, int, int]] = []
        pacing: float | None = None
        picked: Queued | None = None
        while self._heads:
            entry = heapq.heappop(self._heads)
            _, row_id, chat_id = entry
            rows = self._chats.get(chat_id)
            if chat_id in self.sending or not rows or rows[0].id != row_id:
                continue  # stale: re-pushed when the chat is answered or changes
            if rows[0].due > now:
                heapq.heappush(self._later, (rows[0].due, row_id, chat_id))
                continue
            wait = chat_wait(chat_id)
            if wait > 0:
                paced.append(entry)
                pacing = wait if pacing is None else min(pacing, wait)
                continue
            picked = rows[0]
            break
        for entry in paced:
            heapq.heappush(self._heads, entry)
        return picked, pacing

    def put_back(self, row: Queued) -> None:
        """A picked row that was not sent after all."""
        heapq.heappush(self._heads, (row.priority, row.id, row.chat_id))

    def start(self, row: Queued) -> None:
        self.sending[row.chat_id] = row.id

    def finish(self, row: Queued, now: datetime) -> None:
        """Its call is over (whatever the outcome): the chat may take its next row."""
        if self.sending.get(row.chat_id) == row.id:
            del self.sending[row.chat_id]
        self._push_head(row.chat_id, now)

    def forget(self, row: Queued, now: datetime) -> None:
        rows = self._chats.get(row.chat_id, [])
        for index, queued in enumerate(rows):
            if queued.id == row.id:
                del rows[index]
                break
        if not rows:
            self._chats.pop(row.chat_id, None)
        self._push_head(row.chat_id, now)

    def forget_user(self, user_id: int, now: datetime) -> None:
        for chat_id, rows in list(self._chats.items()):
            kept = [r for r in rows if r.user_id != user_id]
            if len(kept) == len(rows):
                continue
            if kept:
                self._chats[chat_id] = kept
            else:
                del self._chats[chat_id]
            self._push_head(chat_id, now)

    def older_than(self, cutoff: datetime) -> list[Queued]:
        """Rows created at or before `cutoff`, except those in flight."""
        in_flight = set(self.sending.values())
        return [r for rows in self._chats.values() for r in rows
                if r.created_at <= cutoff and r.id not in in_flight]

    def next_due(self) -> datetime | None:
        return self._later[0][0] if self._later else None

    def __len__(self) -> int:
        return sum(len(rows) for rows in self._chats.values())

    def _push_head(self, chat_id: int, now: datetime) -> None:
        rows = self._chats.get(chat_id)
        if not rows or chat_id in self.sending:
            return
        head = rows[0]
        if head.due <= now:
            heapq.heappush(self._heads, (head.priority, head.id, chat_id))
        else:
            heapq.heappush(self._later, (head.due, head.id, chat_id))
