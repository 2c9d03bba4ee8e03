"""Wallet arithmetic: what the leading bids cost per day and how long the balance lasts.

Pure. A bid that leads (or ties: a tie counts as leading) is the one the host runs, so it
is the one being paid for; an outbid bid costs nothing while it is behind. Prices are CLORE
per day for the whole server, so the daily cost is the sum of the leading bids' prices in
the wallet's currency. A balance "lasts" balance / cost days; with nothing leading it lasts
indefinitely (None).

The low-balance alert fires once per crossing: when the balance goes from covering at least
the user's threshold to covering less. It is re-armed only when the balance covers the
threshold again, so a balance hovering below it is announced once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.market.ranking import BidStanding

CLORE = "CLORE-Blockchain"
READ_EVERY = timedelta(minutes=10)  # a user's wallets are read at most this often
DEFAULT_LOW_BALANCE = timedelta(hours=24)
MAX_LOW_BALANCE = timedelta(days=60)


@dataclass(frozen=True, slots=True)
class WalletLine:
    name: str
    balance: float


@dataclass(frozen=True, slots=True)
class Runway:
    balance: float  # CLORE
    cost_per_day: float  # CLORE/day of the leading bids
    leading: int  # how many bids that is

    @property
    def lasts(self) -> timedelta | None:
        """How long the balance pays for the leading bids; None: nothing is being paid."""
        if not self.cost_per_day > 0:
            return None
        days = max(0.0, self.balance) / self.cost_per_day
        return timedelta(days=min(days, 36_500.0))  # a century is "forever" in a timedelta


def daily_cost(
    standings: Iterable[BidStanding], currencies: dict[tuple[str, int], str] | None = None,
    currency: str = CLORE,
) -> tuple[float, int]:
    """(sum of the prices of the bids in front, how many), in `currency`. `currencies`:
    (server id, order id) -> the bid's currency when known; unknown counts as CLORE."""
    total, count = 0.0, 0
    for st in standings:
        if st.state == "outbid":
            continue
        if (currencies or {}).get((st.server_id, st.order_id), CLORE) != currency:
            continue
        total += st.price
        count += 1
    return total, count


def clore_balance(wallets: Sequence[WalletLine]) -> float | None:
    """The CLORE wallet's balance; None when the account has no CLORE wallet."""
    for wallet in wallets:
        if wallet.name == CLORE and math.isfinite(wallet.balance):
            return wallet.balance
    return None


def is_low(runway: Runway, threshold: timedelta) -> bool:
    lasts = runway.lasts
    return lasts is not None and lasts < threshold


def crossed_low(was_low: bool, runway: Runway, threshold: timedelta) -> tuple[bool, bool]:
    """(low now, alert now): alert only on the step from not low to low."""
    low = is_low(runway, threshold)
    return low, low and not was_low


def read_due(last_attempt: datetime | None, now: datetime, every: timedelta = READ_EVERY) -> bool:
    """A user's wallets may be read again (a failed read counts as a read: it is retried
    at the next slot, never hammered)."""
    return last_attempt is None or now - last_attempt >= every
