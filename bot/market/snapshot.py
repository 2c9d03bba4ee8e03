"""The GigaSPOT snapshot: typed, validated per server, decoded incrementally.

The document maps server id -> server. It is split first into raw JSON per server (cheap),
and only servers whose bytes changed since the previous snapshot are decoded again: an
unchanged server keeps the very same `Server` object, so `a is b` means "unchanged".
A server entry with a missing or mistyped field is skipped and recorded, never fatal; the
document is rejected only when it is not a JSON object or none of its entries looks like a
server (a numeric id mapping to an object), e.g. the get_gigaspot reply instead of the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

Range = tuple[float, float]


class SnapshotError(ValueError):
    """The document is not valid JSON or not a GigaSPOT snapshot."""


# gc=False: these structs hold only numbers, strings and each other, never a cycle, so the
# garbage collector need not track them (decoding and every later collection get cheaper).
class Gpu(msgspec.Struct, frozen=True, gc=False):
    model: str
    pl: Range
    mem_lock: Range | None = None
    core_lock: Range | None = None
    mem_offset: Range | None = None
    core_offset: Range | None = None


class Bid(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    owner: int
    # The order id; not among the fields the market contract uses, so a bid without one is
    # kept (as 0) rather than costing the whole server. Real snapshots always carry it.
    id: int = 0
    active: bool
    price: float
    pl: float
    currency: str = "CLORE-Blockchain"
    to_cache: bool = False
    cached: bool = False


class Server(msgspec.Struct, frozen=True, gc=False):
    bids: tuple[Bid, ...]
    on_demand_rented: bool
    online: bool
    cpu: str
    cores: int
    threads: int
    ram: float
    gpus: tuple[Gpu, ...]
    working_properly: bool
    cuda: str
    max_rental_length: int
    cc: str
    host: int
    reliability: float
    min_bid: float
    energy_price: float


_split = msgspec.json.Decoder(dict[str, msgspec.Raw])
_server = msgspec.json.Decoder(Server)


@dataclass(frozen=True, slots=True)
class Snapshot:
    servers: dict[str, Server]
    # each server's JSON: slices of `source` (no copies), compared with the next document's
    raw: dict[str, msgspec.Raw]
    skipped: dict[str, str] = field(default_factory=dict)
    source: bytes = b""

    def sorted_ids(self) -> list[str]:
        return sorted(self.servers, key=int)


EMPTY = Snapshot(servers={}, raw={})


def decode_snapshot(data: bytes, previous: Snapshot | None = None) -> Snapshot:
    """Decode `data`, reusing the decoded servers of `previous` whose bytes are unchanged."""
    if previous is not None and previous.source and data == previous.source:
        return previous
    try:
        parts = _split.decode(data)
    except msgspec.ValidationError as exc:
        raise SnapshotError(f"not a GigaSPOT snapshot: {exc}") from None
    except msgspec.DecodeError as exc:
        raise SnapshotError(f"snapshot is not valid JSON: {exc}") from None
    old_raw = previous.raw if previous is not None else {}
    old_servers = previous.servers if previous is not None else {}
    servers: dict[str, Server] = {}
    raw: dict[str, msgspec.Raw] = {}
    skipped: dict[str, str] = {}
    server_like = False  # some entry is a numeric id mapping to an object
    for server_id, part in parts.items():
        if not (server_id.isascii() and server_id.isdigit()):
            skipped[server_id] = "server id is not a number"
            continue
        if old_raw.get(server_id) == part and server_id in old_servers:
            servers[server_id] = old_servers[server_id]
            raw[server_id] = part
            continue
        server_like = server_like or bytes(memoryview(part)[:1]) == b"{"  # no leading space
        try:
            servers[server_id] = _server.decode(part)
        except msgspec.ValidationError as exc:
            skipped[server_id] = " ".join(str(exc).split())
            continue
        raw[server_id] = part
    if parts and not servers and not server_like:
        raise SnapshotError(
            f"not a GigaSPOT snapshot: none of its {len(parts)} entries is a server"
        )
    return Snapshot(servers=servers, raw=raw, skipped=skipped, source=data)


def changed_servers(old: Snapshot, new: Snapshot) -> tuple[list[str], list[str]]:
    """Ids added or changed in `new`, and ids gone from it, compared with `old`."""
    old_servers = old.servers
    changed = [
        sid for sid, server in new.servers.items() if old_servers.get(sid) is not server
    ]
    removed = [sid for sid in old_servers if sid not in new.servers]
    return changed, removed
