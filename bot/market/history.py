"""Price history of the market, per series: one GPU model with one GPU count ("RTX 4090 x 2").

Pure and vectorised: `aggregate` turns the matcher's server columns (`columns.ServerTable`,
the price to win there counts every active bid, with energy at the snapshot's CLORE price)
into one row per series, in a few milliseconds for 10,000 servers. A server belongs to the
series of its GPU model and count when all its GPUs are of one model, and to that model's
all-counts series (count 0, `ALL_COUNTS`); a machine mixing models belongs to none.

Per series and snapshot: machines `rentable` (in the snapshot, `max_rental_length > 0`),
machines `available` (the default rule conditions hold: online, working, not rented) and,
over the available ones, the price to win per GPU as minimum, 25th percentile, median and
90th percentile (numpy's linear interpolation). Per server it is per GPU x count (a fixed
count scales every order statistic), so only per GPU is stored.

`deal_percent` is how far a price per GPU lies below a median: what the `deal` rule key
compares.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from bot.market.columns import ServerTable

ALL_COUNTS = 0  # the count of a model's all-counts series
SeriesKey = tuple[str, int]  # (GPU model, GPU count); count 0 = every count
QUANTILES = (0.25, 0.5, 0.9)


def normal_model(model: str) -> str:
    """A GPU model as series name it: runs of spaces folded, case kept."""
    return " ".join(model.split())


def series_key(models: Iterable[str]) -> SeriesKey | None:
    """The series of a machine with these GPU models; None without GPUs or with mixed ones."""
    names = list(models)
    if not names:
        return None
    first = names[0]
    if any(name != first for name in names):  # rare: mixed, or spaced differently
        folded = [normal_model(m) for m in names]
        if any(name != folded[0] for name in folded):
            return None
    return normal_model(first), len(names)


def deal_percent(per_gpu: float, median: float | None) -> float:
    """Percent below `median` (negative: above); NaN without a usable median."""
    if median is None or not median > 0 or per_gpu != per_gpu:
        return float("nan")
    return (median - per_gpu) / median * 100


@dataclass(frozen=True, slots=True)
class Aggregate:
    """One snapshot's figures, one entry per series with a rentable machine.

    Prices are CLORE/day per GPU; NaN where no machine of the series is available.
    """

    keys: list[SeriesKey]
    rentable: np.ndarray  # int64
    available: np.ndarray  # int64
    low: np.ndarray
    p25: np.ndarray
    median: np.ndarray
    p90: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)


class SeriesIndex:
    """GPU-list codes of the matcher's interner -> dense series indexes (cached, extended
    as new GPU lists appear; the lists are few)."""

    def __init__(self) -> None:
        self.keys: list[SeriesKey] = []
        self._index: dict[SeriesKey, int] = {}
        self._fixed: list[int] = []  # per GPU-list code: its (model, count) series, -1 none
        self._all: list[int] = []  # per GPU-list code: its (model, 0) series, -1 none

    def _of(self, key: SeriesKey) -> int:
        found = self._index.get(key)
        if found is None:
            found = self._index[key] = len(self.keys)
            self.keys.append(key)
        return found

    def arrays(self, gpu_lists: list[tuple[str, ...]]) -> tuple[np.ndarray, np.ndarray]:
        """Per GPU-list code: (its fixed-count series, its all-counts series), -1 for none."""
        for models in gpu_lists[len(self._fixed) :]:
            key = series_key(models)
            if key is None:
                self._fixed.append(-1)
                self._all.append(-1)
            else:
                self._fixed.append(self._of(key))
                self._all.append(self._of((key[0], ALL_COUNTS)))
        return np.array(self._fixed, dtype=np.int64), np.array(self._all, dtype=np.int64)


def aggregate(
    table: ServerTable, gpu_lists: list[tuple[str, ...]], index: SeriesIndex
) -> Aggregate:
    """The figures of every series in the table's live servers (see the module docstring).

    `gpu_lists` is the GPU-list interner's values (code -> models).
    """
    n = table.size
    bools = table.bools
    rentable = bools["alive"][:n] & bools["rentable"][:n]
    available = rentable & bools["online"][:n] & bools["working"][:n] & ~bools["rented"][:n]
    fixed, every = index.arrays(gpu_lists)
    size = len(index.keys)
    if not size or not rentable.any():
        return _empty()
    codes = table.codes["gpus"][:n]
    member = np.concatenate([fixed[codes], every[codes]])
    both_rentable = np.concatenate([rentable, rentable]) & (member >= 0)
    both_available = np.concatenate([available, available]) & (member >= 0)
    n_rentable = np.bincount(member[both_rentable], minlength=size)
    n_available = np.bincount(member[both_available], minlength=size)
    per_gpu = table.floats["pergpu"][:n]
    keys = member[both_available]
    values = np.concatenate([per_gpu, per_gpu])[both_available]
    stats = _group_quantiles(keys, values, size)
    present = np.flatnonzero(n_rentable > 0)
    return Aggregate(
        keys=[index.keys[i] for i in present.tolist()],
        rentable=n_rentable[present],
        available=n_available[present],
        low=stats[0][present],
        p25=stats[1][present],
        median=stats[2][present],
        p90=stats[3][present],
    )


def _group_quantiles(keys: np.ndarray, values: np.ndarray, size: int) -> list[np.ndarray]:
    """[minimum, *QUANTILES] of `values` per key in 0..size-1 (NaN for empty keys), like
    np.quantile's default (linear) method, for every key at once: one sort."""
    order = np.lexsort((values, keys))
    values = values[order]
    counts = np.bincount(keys, minlength=size)
    starts = np.cumsum(counts) - counts
    has = counts > 0
    out = [np.full(size, np.nan) for _ in range(1 + len(QUANTILES))]
    out[0][has] = values[starts[has]]
    for slot, q in enumerate(QUANTILES, start=1):
        position = starts[has] + q * (counts[has] - 1)
        below = np.floor(position).astype(np.int64)
        above = np.ceil(position).astype(np.int64)
        fraction = position - below
        out[slot][has] = values[below] + (values[above] - values[below]) * fraction
    return out


def _empty() -> Aggregate:
    none = np.zeros(0, dtype=np.int64)
    nan = np.zeros(0)
    return Aggregate([], none, none, nan, nan, nan, nan)


def median_table(
    gpu_lists: list[tuple[str, ...]], medians: Mapping[SeriesKey, float]
) -> np.ndarray:
    """Per GPU-list code, the median of its fixed-count series (NaN: none known)."""
    table = np.full(len(gpu_lists), np.nan)
    for code, models in enumerate(gpu_lists):
        key = series_key(models)
        if key is not None and (median := medians.get(key)) is not None and median > 0:
            table[code] = median
    return table


MEDIAN_WINDOW = 7 * 86400  # `deal` and price context compare with the median of 7 days...
MIN_COVERAGE = 86400  # ...of a series with at least a day of history


def seven_day_medians(
    hourly: Mapping[SeriesKey, list[float]], first_at: Mapping[SeriesKey, int], now: int
) -> dict[SeriesKey, float]:
    """The median of each series' hourly medians of the last 7 days (`hourly`: those
    values), for the series whose history began at least a day before `now`."""
    return {
        key: float(np.median(values))
        for key, values in hourly.items()
        if values and key in first_at and first_at[key] <= now - MIN_COVERAGE
    }


EXPORT_FORMAT = "gigaspot-price-history"  # the JSON of `gigaspot-bot history export`


class HistoryFileError(ValueError):
    """A --history file that is not a history export."""


def read_medians(text: str | bytes) -> tuple[dict[SeriesKey, float], int]:
    """The 7-day medians `deal` compares with, from an export's JSON, as of its export
    time: (medians of the series with a day of history, exported_at)."""
    try:
        document = json.loads(text)
        if document.get("format") != EXPORT_FORMAT:
            raise HistoryFileError("not a price history export (gigaspot-bot history export "
                                   "--format json writes one)")  # fmt: skip
        now = int(document["exported_at"])
        hourly: dict[SeriesKey, list[float]] = {}
        first_at: dict[SeriesKey, int] = {}
        for series in document["series"]:
            key = (str(series["model"]), int(series["gpu_count"]))
            if key[1] == ALL_COUNTS:
                continue
            first_at[key] = int(series["first_at"])
            hourly[key] = [
                float(p["median"]) for p in series["points"]
                if p["span"] == 3600 and p["median"] is not None
                and now - MEDIAN_WINDOW <= p["at"] <= now
            ]  # fmt: skip
    except HistoryFileError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise HistoryFileError(f"not a valid price history export: {exc!r}") from None
    return seven_day_medians(hourly, first_at, now), now
