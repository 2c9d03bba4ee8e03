"""When an order ends, and when to warn about it.

Pure. clore's GigaSPOT pages say an order lasts at most 20 days, and a machine's
`max_rental_length` (seconds) caps it further. An order's start is read from
`GET /v1/my_orders` (`ct`, creation time) when clore gives it; otherwise the bot uses the
moment it first saw the order in a snapshot, which is later than the real start (by up to
a poll interval for orders placed while the bot runs, by any amount for orders that were
there before it started tracking): the end is then an upper bound and the warning may come
late. `EndEstimate.source` says which one was used, and the alert says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

MAX_ORDER_LIFETIME = timedelta(days=20)
DEFAULT_WARN_AHEAD = timedelta(hours=12)
MIN_WARN_AHEAD = timedelta(hours=1)
MAX_WARN_AHEAD = timedelta(days=10)

Source = Literal["created", "first_seen"]


@dataclass(frozen=True, slots=True)
class EndEstimate:
    ends_at: datetime
    source: Source  # "created": from clore's creation time; "first_seen": the bot's


def lifetime(max_rental_length: int) -> timedelta:
    """How long an order on a machine can run: min(max_rental_length, 20 days)."""
    return min(timedelta(seconds=max(0, max_rental_length)), MAX_ORDER_LIFETIME)


def order_end(
    max_rental_length: int, *, created_at: datetime | None, first_seen_at: datetime
) -> EndEstimate:
    if created_at is not None:
        return EndEstimate(created_at + lifetime(max_rental_length), "created")
    return EndEstimate(first_seen_at + lifetime(max_rental_length), "first_seen")


def warning_due(end: datetime, now: datetime, ahead: timedelta) -> bool:
    """Warn once `now` is within `ahead` of the end (and before it)."""
    return end - ahead <= now < end


def creation_time(value: Any) -> datetime | None:
    """clore's `ct` as a UTC datetime: unix seconds (or milliseconds), or ISO 8601 text;
    None when absent or unreadable (the caller falls back to first seen)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        if not math.isfinite(value) or value <= 0:
            return None
        seconds = value / 1000 if value > 1e11 else value  # milliseconds are 13 digits
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        text = value.strip()
        if text.replace(".", "", 1).isdigit():
            return creation_time(float(text))
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return None


def creation_times(orders: list[dict[str, Any]]) -> dict[int, datetime]:
    """order id -> creation time, for the entries of a my_orders reply that carry both."""
    found: dict[int, datetime] = {}
    for order in orders:
        order_id = order.get("id")
        if isinstance(order_id, str) and order_id.isdigit():
            order_id = int(order_id)
        if not isinstance(order_id, int) or isinstance(order_id, bool):
            continue
        created = creation_time(order.get("ct"))
        if created is not None:
            found[order_id] = created
    return found


def parse_duration(text: str) -> timedelta:
    """`12h`, `90m`, `2d`, `1d12h` or a bare number of hours; ValueError in plain words."""
    value = text.strip().lower().replace(" ", "")
    if not value:
        raise ValueError("give a duration like 12h, 90m or 2d")
    if value.replace(".", "", 1).isdigit():
        value += "h"
    total = timedelta()
    number = ""
    units = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}
    for char in value:
        if char.isdigit() or char == ".":
            number += char
            continue
        if char not in units or not number or number.count(".") > 1:
            raise ValueError(f"{text.strip()[:20]!r} is not a duration like 12h, 90m or 2d")
        total += float(number) * units[char]
        number = ""
    if number:
        raise ValueError(f"{text.strip()[:20]!r} is not a duration like 12h, 90m or 2d")
    return total
