"""What every poll cycle reads about rules and users: the active rules, who can bid from
an alert, whose bids are tracked, and users' alert settings. Ten thousand rules cost tens
of milliseconds to read and run beside the matcher's own work, so all of it is read again
only when the database's `watch` write count moved (`bot.db.models.ChangeCounter`:
triggers count every write to rules, users and templates, from this process or any
other). Without the counter or its triggers, every cycle reads.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import OrderTemplate, User
from bot.db.repositories import change_counts, users
from bot.db.repositories import rules as rules_repo
from bot.db.repositories.rules import ActiveRule
from bot.services.alert_prefs import AlertPrefs

log = logging.getLogger(__name__)


class WatchReads:
    def __init__(self) -> None:
        self._count: int | None = None
        self._read: tuple[list[ActiveRule], dict[int, User]] | None = None
        self._prefs: dict[int, AlertPrefs] = {}  # users' alert settings read at `_prefs_count`
        self._prefs_count: int | None = None
        self._linked: list[User] | None = None  # `users.list_linked` read at `_linked_count`
        self._linked_count: int | None = None
        self._triggers_ok: bool | None = None  # checked once per process
        self.reads = 0  # how many times the rules were read (for tests and the bench)

    async def read(self, s: AsyncSession) -> tuple[list[ActiveRule], dict[int, User]]:
        """(active rules by id, users who can bid: id -> user), as committed when `s`
        reads. The count is read before the rows: a write landing between the two is
        counted after what was read, so the next cycle reads again."""
        count = await self._usable_count(s)
        if count is not None and count == self._count and self._read is not None:
            return self._read
        self._read = (await rules_repo.active_rules(s), await bidders(s))
        self._count = count
        self.reads += 1
        return self._read

    async def linked(self, s: AsyncSession) -> list[User]:
        """`users.list_linked` (whose bids are tracked), as committed when `s` reads."""
        count = await self._usable_count(s)
        if count is None or count != self._linked_count or self._linked is None:
            found = await users.list_linked(s)
            for user in found:  # kept across sessions: a rollback of `s` must not expire them
                s.expunge(user)
            self._linked, self._linked_count = found, count
        return list(self._linked)  # a copy: callers may filter it

    async def prefs(self, s: AsyncSession, user_ids: Iterable[int]) -> dict[int, AlertPrefs]:
        """Alert settings of these users (those that exist), as committed when `s` reads."""
        count = await self._usable_count(s)
        if count is None:
            return await users.prefs_for(s, user_ids)
        if count != self._prefs_count:
            self._prefs, self._prefs_count = {}, count
        known = self._prefs
        wanted = set(user_ids)
        if missing := wanted - known.keys():
            known.update(await users.prefs_for(s, missing))
        return {user_id: known[user_id] for user_id in wanted if user_id in known}

    async def _usable_count(self, s: AsyncSession) -> int | None:
        if self._triggers_ok is None:
            missing = await change_counts.missing_triggers(s)
            self._triggers_ok = not missing
            if missing:
                log.warning(
                    "the rules are read at every cycle: triggers missing (%s); a migration "
                    "that rebuilt a table must create them again", ", ".join(missing)
                )  # fmt: skip
        if not self._triggers_ok:
            return None
        return await change_counts.watch_count(s)


async def bidders(s: AsyncSession) -> dict[int, User]:
    """Users who can bid from an alert (linked key and a template): id -> user."""
    found = await s.scalars(
        select(User)
        .join(OrderTemplate, OrderTemplate.user_id == User.id)
        .where(User.api_key_encrypted.is_not(None), User.clore_user_id.is_not(None))
    )
    return {user.id: user for user in found}
