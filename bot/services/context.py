"""What every service needs, built once by the composition root (`bot.app`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clore.client import CloreClient
from bot.config import Settings
from bot.i18n import Say
from bot.secrets import KeyBox
from bot.services.history import PriceHistory
from bot.services.locks import MoneyLocks
from bot.services.market_state import MarketState
from bot.services.watch_reads import WatchReads


class UserError(Exception):
    """Something to tell the user plainly; nothing was changed.

    Carries a `Say` (English message id and values): the Telegram layer says it in the
    user's language. `str(exc)` is the English text, for logs and tests.
    """

    def __init__(self, text: str | Say, /, **params: object) -> None:
        self.say = text if isinstance(text, Say) else Say(text, **params)
        super().__init__(self.say.english())


@dataclass(slots=True)
class ServiceContext:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]  # write transactions (BEGIN IMMEDIATE)
    reads: async_sessionmaker[AsyncSession]
    keybox: KeyBox
    clore: CloreClient
    market: MarketState
    kick_sender: Callable[[], None] = lambda: None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    money_locks: MoneyLocks = field(default_factory=MoneyLocks)  # see bot.services.locks
    history: PriceHistory = field(default_factory=PriceHistory)  # see bot.services.history
    watch_reads: WatchReads = field(default_factory=WatchReads)  # see bot.services.watch_reads
