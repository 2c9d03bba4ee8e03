"""The servers of the applied snapshot as numpy columns, for bulk matching.

Every server id gets a row for good (rows are never reused, so a row number means one server
for the matcher's lifetime). Text-like fields (GPU list, cc, cpu, cuda, host, server id) are
interned to small integer codes: conditions on them are evaluated once per distinct value
(there are few) and then gathered per server with numpy.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from bot.market import ranking
from bot.market.compiled import contains
from bot.market.snapshot import Server

# lead_ptw: the best bidder's own price to win (NaN without bids); `leader` holds who it is
FLOAT_COLUMNS = ("ptw", "lead_ptw", "pergpu", "rel", "ram", "cores", "threads", "energy", "hours")
BOOL_COLUMNS = ("rentable", "online", "working", "rented")
CODE_KINDS = ("gpus", "cc", "cpu", "cuda", "host", "server")
_INT64_MAX = 2**63 - 1


class Interner:
    """Distinct values of one kind, each with a code, and per-signature tables over them."""

    def __init__(self, evaluate: Callable[[Any, Any], Any]) -> None:
        self.codes: dict[Hashable, int] = {}
        self.values: list[Any] = []
        self._evaluate = evaluate  # (signature, value) -> table entry
        self._tables: dict[Hashable, list[Any]] = {}
        self._arrays: dict[Hashable, tuple[int, np.ndarray]] = {}

    def code(self, value: Hashable) -> int:
        code = self.codes.get(value)
        if code is None:
            code = self.codes[value] = len(self.values)
            self.values.append(value)
        return code

    def table(self, signature: Hashable, dtype: Any = bool) -> np.ndarray:
        """Entry per code for `signature`; extended (not recomputed) as new values appear."""
        cached = self._arrays.get(signature)
        if cached is not None and cached[0] == len(self.values):
            return cached[1]
        entries = self._tables.setdefault(signature, [])
        entries.extend(self._evaluate(signature, v) for v in self.values[len(entries) :])
        array = np.array(entries, dtype=dtype) if entries else np.zeros(0, dtype=dtype)
        self._arrays[signature] = (len(self.values), array)
        return array


class IdInterner(Interner):
    """Integer ids (host, server): a signature's table is a set lookup, done by numpy."""

    def __init__(self) -> None:
        super().__init__(lambda signature, value: None)
        self._cache: dict[Hashable, tuple[int, np.ndarray]] = {}

    def table(self, signature: Hashable, dtype: Any = bool) -> np.ndarray:
        cached = self._cache.get(signature)
        if cached is not None and cached[0] == len(self.values):
            return cached[1]
        values = np.array(self.values, dtype=object)
        fits = np.ones(len(self.values), dtype=bool)
        for condition in signature:  # type: ignore[attr-defined]
            found = np.isin(values, list(condition.values))
            fits &= found == (condition.op == "=")
        self._cache[signature] = (len(self.values), fits)
        return fits


class GpuListInterner(Interner):
    """GPU lists (tuples of model names); tables say how many GPUs `gpus` counts, -1 = no fit.

    Distinct models are few, so a signature is evaluated once per model and combined over
    every GPU list with one matrix product (lists x models).
    """

    def __init__(self) -> None:
        super().__init__(lambda signature, value: None)
        self._models: dict[str, int] = {}
        self._cells: list[tuple[int, int, int]] = []  # (list code, model code, count)
        self._matrix = np.zeros((0, 0))
        self._cache: dict[Hashable, tuple[int, np.ndarray]] = {}

    def code(self, value: Hashable) -> int:
        known = len(self.values)
        code = super().code(value)
        if code == known:
            counts: dict[str, int] = {}
            for model in value:  # type: ignore[attr-defined]
                counts[model] = counts.get(model, 0) + 1
            for model, count in counts.items():
                model_code = self._models.setdefault(model, len(self._models))
                self._cells.append((code, model_code, count))
        return code

    def table(self, signature: Hashable, dtype: Any = np.float64) -> np.ndarray:
        cached = self._cache.get(signature)
        if cached is not None and cached[0] == len(self.values):
            return cached[1]
        if self._matrix.shape != (len(self.values), len(self._models)):
            self._matrix = np.zeros((len(self.values), len(self._models)))
            for list_code, model_code, count in self._cells:
                self._matrix[list_code, model_code] = count
        models, counts = list(self._models), self._matrix
        present = (counts > 0).astype(np.float64)
        fits = np.ones(len(self.values), dtype=bool)
        counted = np.ones(len(models), dtype=bool)
        for condition in signature:  # type: ignore[attr-defined]
            has = np.array([contains(condition.values, m) for m in models], dtype=bool)
            found = present @ has > 0 if models else np.zeros(len(self.values), dtype=bool)
            fits &= found == (condition.op == "=")
            if condition.op == "=":
                counted &= has
        table = np.where(fits, counts @ counted if models else 0.0, -1.0)
        self._cache[signature] = (len(self.values), table)
        return table


class ServerTable:
    """Columns of every server the matcher has seen; `alive` marks those in the snapshot."""

    def __init__(self, interners: dict[str, Interner]) -> None:
        self.rows: dict[str, int] = {}
        self.ids: list[str] = []
        self.servers: list[Server | None] = []
        self.interners = interners
        self.size = 0
        self._capacity = 0
        self.floats: dict[str, np.ndarray] = {}
        self.bools: dict[str, np.ndarray] = {}
        self.codes: dict[str, np.ndarray] = {}
        self.sid_number = np.zeros(0, dtype=np.int64)
        self.ngpus = np.zeros(0, dtype=np.float64)
        self.leader = np.zeros(0, dtype=np.int64)  # owner of the best active bid, -1: none
        self._grow(1024)

    def _grow(self, capacity: int) -> None:
        def grown(array: np.ndarray | None, dtype: Any) -> np.ndarray:
            new = np.zeros(capacity, dtype=dtype)
            if array is not None:
                new[: self.size] = array[: self.size]
            return new

        for name in FLOAT_COLUMNS:
            self.floats[name] = grown(self.floats.get(name), np.float64)
        for name in ("alive", *BOOL_COLUMNS):
            self.bools[name] = grown(self.bools.get(name), bool)
        for name in CODE_KINDS:
            self.codes[name] = grown(self.codes.get(name), np.int64)
        self.sid_number = grown(self.sid_number, np.int64)
        self.ngpus = grown(self.ngpus, np.float64)
        self.leader = grown(self.leader, np.int64)
        self._capacity = capacity

    def add(self, server_ids: list[str]) -> None:
        """Give rows to servers never seen before."""
        new = [sid for sid in server_ids if sid not in self.rows]
        if not new:
            return
        while self.size + len(new) > self._capacity:
            self._grow(self._capacity * 2)
        first = self.size
        numbers = [int(sid) for sid in new]
        server_code = self.interners["server"].code
        rows = range(first, first + len(new))
        self.rows.update(zip(new, rows, strict=True))
        self.ids.extend(new)
        self.servers.extend([None] * len(new))
        self.sid_number[first : first + len(new)] = [min(n, _INT64_MAX) for n in numbers]
        self.codes["server"][first : first + len(new)] = [server_code(n) for n in numbers]
        self.size += len(new)

    def remove(self, row: int) -> None:
        self.bools["alive"][row] = False
        self.servers[row] = None

    def put(self, rows: list[int], servers: list[Server], clore_price: float | None) -> None:
        """Fill `rows` from `servers` (the price to win counts every active bid)."""
        model_of = operator.attrgetter("model")
        for row, server in zip(rows, servers, strict=True):
            self.servers[row] = server
        # one tuple per server, transposed into columns by zip (C speed)
        records = [
            (
                len(s.gpus), s.reliability, s.ram, s.cores,
                s.threads, s.energy_price, s.max_rental_length / 3600, s.max_rental_length > 0,
                s.online, s.working_properly, s.on_demand_rented,
                tuple(map(model_of, s.gpus)), s.cc, s.cpu, s.cuda, s.host,
            )
            for s in servers
        ]  # fmt: skip
        if not records:
            return
        (ngpus, rel, ram, cores, threads, energy, hours, rentable, online, working, rented,
         models, cc, cpu, cuda, host) = zip(*records, strict=True)  # fmt: skip
        ptw, leader, lead_ptw = zip(*ranking.prices_to_win(servers, clore_price), strict=True)
        index = np.array(rows, dtype=np.int64)
        prices, counts = np.array(ptw, dtype=np.float64), np.array(ngpus, dtype=np.float64)
        pergpu = np.full(len(rows), np.nan)
        np.divide(prices, counts, out=pergpu, where=counts > 0)
        floats = {"ptw": prices, "lead_ptw": lead_ptw, "pergpu": pergpu, "rel": rel,
                  "ram": ram, "cores": cores, "threads": threads, "energy": energy,
                  "hours": hours}  # fmt: skip
        for name, values in floats.items():
            self.floats[name][index] = values
        bools = {"rentable": rentable, "online": online, "working": working, "rented": rented}
        for name, flags in bools.items():
            self.bools[name][index] = flags
        kinds = {"gpus": models, "cc": cc, "cpu": cpu, "cuda": cuda, "host": host}
        for name, values in kinds.items():
            interner = self.interners[name]
            for value in set(values) - interner.codes.keys():
                interner.code(value)
            self.codes[name][index] = list(map(interner.codes.__getitem__, values))
        self.ngpus[index] = counts
        self.leader[index] = leader
        self.bools["alive"][index] = True

