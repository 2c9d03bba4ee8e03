"""`matcher._common` finds the keys two unique key arrays share, as np.intersect1d does."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.market.matcher import _common

unique_keys = st.lists(st.integers(0, 2**40), unique=True, max_size=300)


@settings(max_examples=200, deadline=None)
@given(unique_keys, unique_keys)
def test_common_keys_are_those_intersect1d_finds_in_the_same_order(
    old: list[int], new: list[int]
) -> None:
    a, b = np.array(old, dtype=np.int64), np.array(new, dtype=np.int64)
    _, want_old, want_new = np.intersect1d(a, b, assume_unique=True, return_indices=True)
    got_old, got_new = _common(a, b)
    assert got_old.tolist() == want_old.tolist()
    assert got_new.tolist() == want_new.tolist()
