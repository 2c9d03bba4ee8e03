from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.orders.expiry import (
    DEFAULT_WARN_AHEAD,
    creation_time,
    creation_times,
    lifetime,
    order_end,
    parse_duration,
    warning_due,
)

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_lifetime_is_capped_at_twenty_days() -> None:
    assert lifetime(86400) == timedelta(days=1)
    assert lifetime(30 * 86400) == timedelta(days=20)
    assert lifetime(0) == timedelta()


def test_end_prefers_clore_creation_time_over_first_seen() -> None:
    created = order_end(3 * 86400, created_at=T0, first_seen_at=T0 + timedelta(hours=5))
    assert (created.ends_at, created.source) == (T0 + timedelta(days=3), "created")
    seen = order_end(3 * 86400, created_at=None, first_seen_at=T0 + timedelta(hours=5))
    assert (seen.ends_at, seen.source) == (T0 + timedelta(days=3, hours=5), "first_seen")
    capped = order_end(60 * 86400, created_at=T0, first_seen_at=T0)
    assert capped.ends_at == T0 + timedelta(days=20)


def test_warning_is_due_within_the_setting_before_the_end() -> None:
    end = T0 + timedelta(days=1)
    assert not warning_due(end, end - timedelta(hours=12, seconds=1), DEFAULT_WARN_AHEAD)
    assert warning_due(end, end - timedelta(hours=12), DEFAULT_WARN_AHEAD)
    assert warning_due(end, end - timedelta(seconds=1), DEFAULT_WARN_AHEAD)
    assert not warning_due(end, end, DEFAULT_WARN_AHEAD)  # over: that is "lost", not a warning


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1764576000, datetime(2025, 12, 1, 8, 0, tzinfo=UTC)),
        (1764576000000, datetime(2025, 12, 1, 8, 0, tzinfo=UTC)),
        ("1764576000", datetime(2025, 12, 1, 8, 0, tzinfo=UTC)),
        ("2025-12-01T08:00:00Z", datetime(2025, 12, 1, 8, 0, tzinfo=UTC)),
        ("2025-12-01 10:00:00+02:00", datetime(2025, 12, 1, 8, 0, tzinfo=UTC)),
        (None, None), (True, None), ("soon", None), (-5, None), (float("nan"), None), ([], None),
    ],
)
def test_creation_time_reads_what_clore_may_send(value: object, expected: datetime | None) -> None:
    assert creation_time(value) == expected


def test_creation_times_skip_entries_without_id_or_time() -> None:
    orders = [{"id": 5, "ct": 1764576000}, {"id": "6", "ct": 1764576000}, {"id": 7},
              {"ct": 1764576000}, {"id": True, "ct": 1764576000}]
    assert set(creation_times(orders)) == {5, 6}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("12h", timedelta(hours=12)), ("90m", timedelta(minutes=90)), ("2d", timedelta(days=2)),
     ("1d12h", timedelta(hours=36)), ("24", timedelta(hours=24)), ("1.5h", timedelta(minutes=90))],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "h", "12x", "1..2h", "12h5"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)
