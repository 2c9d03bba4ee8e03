"""Watch rules. Every function taking `user_id` acts only on that user's rules."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import delete as sql_delete
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Rule, User
from bot.db.repositories._rows import rowcount
from bot.services.alert_prefs import AlertPrefs, match_muted, parse_modes


class ActiveRule(NamedTuple):
    """A rule the matcher should evaluate, with what alerting needs about its owner.

    A named tuple: a cycle reads every active rule, and building one costs a third of a
    frozen dataclass's."""

    rule_id: int
    user_id: int
    text: str
    clore_user_id: int | None  # whose bids are not competitors; None: all bids are
    chat_id: int
    alerts_paused: bool  # /pause: see `paused_until`
    language: str | None = None  # the owner's (bot.i18n), for the alert's text
    paused_until: datetime | None = None
    alert_modes: str | None = None  # `User.alert_modes`
    number: int = 0  # the rule's number for its user (`Rule.number`)

    def match_muted(self, now: datetime) -> bool:
        """The owner wants no match alerts now (paused, or match alerts off)."""
        return match_muted(
            AlertPrefs(parse_modes(self.alert_modes), self.alerts_paused, self.paused_until),
            now,
        )


async def add(session: AsyncSession, user_id: int, text: str) -> Rule:
    """`text` must already be the canonical form of a parsed, valid rule. Its number is the
    user's highest plus one (writes are serialised, so two adds cannot take the same one)."""
    highest = await session.scalar(select(func.max(Rule.number)).where(Rule.user_id == user_id))
    rule = Rule(user_id=user_id, number=int(highest or 0) + 1, text=text)
    session.add(rule)
    await session.flush()
    return rule


async def list_for_user(session: AsyncSession, user_id: int) -> list[Rule]:
    result = await session.scalars(select(Rule).where(Rule.user_id == user_id).order_by(Rule.id))
    return list(result)


async def count_for_user(session: AsyncSession, user_id: int) -> int:
    count = await session.scalar(select(func.count(Rule.id)).where(Rule.user_id == user_id))
    return int(count or 0)


async def get(session: AsyncSession, rule_id: int, user_id: int) -> Rule | None:
    return await session.scalar(select(Rule).where(Rule.id == rule_id, Rule.user_id == user_id))


async def get_by_number(session: AsyncSession, user_id: int, number: int) -> Rule | None:
    return await session.scalar(
        select(Rule).where(Rule.user_id == user_id, Rule.number == number)
    )


async def find_text(session: AsyncSession, user_id: int, text: str) -> Rule | None:
    """The user's rule with this canonical text, if any (a duplicate would add nothing)."""
    return await session.scalar(
        select(Rule).where(Rule.user_id == user_id, Rule.text == text).limit(1)
    )


async def set_text(session: AsyncSession, rule_id: int, user_id: int, text: str) -> bool:
    result = await session.execute(
        update(Rule)
        .where(Rule.id == rule_id, Rule.user_id == user_id)
        .values(text=text)
        .execution_options(synchronize_session="fetch")
    )
    return rowcount(result) == 1


async def set_paused(session: AsyncSession, rule_id: int, user_id: int, paused: bool) -> bool:
    """False when the rule does not exist or is not this user's."""
    result = await session.execute(
        update(Rule)
        .where(Rule.id == rule_id, Rule.user_id == user_id)
        .values(paused=paused)
        .execution_options(synchronize_session="fetch")
    )
    return rowcount(result) == 1


async def delete(session: AsyncSession, rule_id: int, user_id: int) -> bool:
    """Deletes the rule and, by cascade, its alert state."""
    result = await session.execute(
        sql_delete(Rule)
        .where(Rule.id == rule_id, Rule.user_id == user_id)
        .execution_options(synchronize_session="fetch")
    )
    return rowcount(result) == 1


async def active_rules(session: AsyncSession) -> list[ActiveRule]:
    """Unpaused rules of users who have not blocked the bot, by rule id.

    Rules of users with alerts paused are included (flagged) so that the alert state stays
    current and resuming does not flood the user with old news.
    """
    # Core rows (no ORM loading): ten thousand of them every cycle
    connection = await session.connection()
    rows = await connection.execute(
        select(
            Rule.id, Rule.user_id, Rule.text, User.clore_user_id, User.chat_id,
            User.alerts_paused, User.language, User.paused_until, User.alert_modes, Rule.number,
        )
        .join(User, User.id == Rule.user_id)
        .where(Rule.paused.is_(False), User.active.is_(True))
        .order_by(Rule.id)
    )  # fmt: skip
    return list(map(ActiveRule._make, rows.all()))
