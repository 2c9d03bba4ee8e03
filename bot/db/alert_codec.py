"""Bytes for what the bot must remember across a restart: alert memory records and the
baseline snapshot. Compact and fast: numeric columns are byte-shuffled (the i-th byte of
every value together, so runs of equal high bytes compress to nothing) and zstd-compressed.

Format 1, which every later version must keep reading (migrations write it too).
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import numpy as np
import zstandard

FORMAT = 1
_LEVEL = 1  # fastest: a record is written inside a poll cycle


class _Record(msgspec.Struct, frozen=True):
    format: int
    server_ids: list[str]  # distinct servers the entries name
    rule_ids: bytes  # <i8 per entry
    servers: bytes  # <u4 per entry: index into server_ids
    announced: bytes  # <f8 per entry: price shown
    stopped_at: bytes  # <f8 per entry: unix time it stopped matching, NaN while matching
    purged_rules: list[int]


class _RecordView(msgspec.Struct, frozen=True):
    """`_Record` as decoded: the columns are views of the decompressed bytes, not copies
    (tens of MB for a first cycle's record)."""

    format: int
    server_ids: list[str]
    rule_ids: memoryview
    servers: memoryview
    announced: memoryview
    stopped_at: memoryview
    purged_rules: list[int]


@dataclass(frozen=True, slots=True)
class StoredChange:
    """An alert memory change keyed by server id (matcher rows do not survive a restart)."""

    rule_ids: np.ndarray
    server_ids: list[str]
    servers: np.ndarray  # index into server_ids, per entry
    announced: np.ndarray
    stopped_at: np.ndarray
    purged_rules: list[int]

    def __len__(self) -> int:
        return int(self.rule_ids.size) + len(self.purged_rules)


def _shuffle(values: np.ndarray, dtype: str) -> bytes:
    array = np.ascontiguousarray(values, dtype=dtype)
    return array.view(np.uint8).reshape(-1, array.itemsize).T.tobytes()


def _unshuffle(data: bytes | memoryview, dtype: str) -> np.ndarray:
    kind = np.dtype(dtype)
    count = len(data) // kind.itemsize
    planes = np.frombuffer(data, dtype=np.uint8).reshape(kind.itemsize, count)
    values = np.ascontiguousarray(planes.T).view(kind).reshape(count)
    # a copy, except for 0 or 1 values, where the transpose is already contiguous and still
    # a view of the (read-only) bytes: the memory writes into the arrays it adopts, and the
    # decompressed bytes are not kept alive by the views
    return values if values.flags.writeable else values.copy()


def encode_change(change: StoredChange) -> bytes:
    record = _Record(
        FORMAT,
        change.server_ids,
        _shuffle(change.rule_ids, "<i8"),
        _shuffle(change.servers, "<u4"),
        _shuffle(change.announced, "<f8"),
        _shuffle(change.stopped_at, "<f8"),
        change.purged_rules,
    )
    return zstandard.ZstdCompressor(level=_LEVEL).compress(msgspec.msgpack.encode(record))


def decode_change(data: bytes) -> StoredChange:
    raw = zstandard.ZstdDecompressor().decompress(data)
    record = msgspec.msgpack.decode(raw, type=_RecordView)
    if record.format != FORMAT:
        raise ValueError(f"alert memory record format {record.format} is not known")
    # astype(copy=False): on a little-endian machine the planes already are native arrays
    return StoredChange(
        _unshuffle(record.rule_ids, "<i8").astype(np.int64, copy=False),
        record.server_ids,
        _unshuffle(record.servers, "<u4").astype(np.int64),
        _unshuffle(record.announced, "<f8").astype(np.float64, copy=False),
        _unshuffle(record.stopped_at, "<f8").astype(np.float64, copy=False),
        record.purged_rules,
    )


def compress_snapshot(source: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=_LEVEL).compress(source)


def decompress_snapshot(data: bytes) -> bytes:
    return zstandard.ZstdDecompressor().decompress(data)
