"""What every poll cycle reads about the rules: the active rules and who can bid from an
alert. Ten thousand rules cost tens of milliseconds to read and run beside the matcher's
own work, so they are read again only when the database's `watch` write count moved
(`bot.db.models.ChangeCounter`: triggers count every write to rules, users and templates,
from this process or any other). Without the counter or its triggers, every cycle reads.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import OrderTemplate, User
from bot.db.repositories import change_counts
from bot.db.repositories import rules as rules_repo
from bot.db.repositories.rules import ActiveRule

log = logging.getLogger(__name__)


class RuleReads:
    def __init__(self) -> None:
        self._count: int | None = None
        self._read: tuple[list[ActiveRule], dict[int, User]] | None = None
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
