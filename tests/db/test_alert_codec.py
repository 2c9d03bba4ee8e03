"""Alert memory records survive the bytes: what is encoded decodes to equal, writable arrays
(the memory adopts them and writes into them), whatever the number of entries."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.db.alert_codec import StoredChange, decode_change, encode_change

_prices = st.floats(min_value=0, max_value=1e6, allow_nan=False) | st.just(float("nan"))


@st.composite
def changes(draw: st.DrawFn) -> StoredChange:
    n = draw(st.integers(0, 40))
    servers = draw(st.lists(st.integers(1, 10**9).map(str), min_size=1, max_size=8, unique=True))
    return StoredChange(
        np.array(draw(st.lists(st.integers(0, 2**40), min_size=n, max_size=n)), dtype=np.int64),
        servers,
        np.array(
            draw(st.lists(st.integers(0, len(servers) - 1), min_size=n, max_size=n)),
            dtype=np.int64,
        ),
        np.array(draw(st.lists(_prices, min_size=n, max_size=n)), dtype=np.float64),
        np.array(draw(st.lists(_prices, min_size=n, max_size=n)), dtype=np.float64),
        draw(st.lists(st.integers(0, 10**6), max_size=3)),
    )


@settings(max_examples=60, deadline=None)
@given(changes())
def test_a_change_decodes_to_what_was_encoded(change: StoredChange) -> None:
    back = decode_change(encode_change(change))
    assert back.server_ids == change.server_ids
    assert back.purged_rules == change.purged_rules
    for name in ("rule_ids", "servers", "announced", "stopped_at"):
        got, want = getattr(back, name), getattr(change, name)
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype
        got[...] = 0  # the memory writes into what it adopts
