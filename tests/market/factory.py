"""Hand-made servers and snapshots in the wire format, for readable tests."""

from __future__ import annotations

import copy
import json
from typing import Any

from bot.market.snapshot import Server, Snapshot, decode_snapshot

BASE_SERVER: dict[str, Any] = {
    "bids": [],
    "on_demand_rented": False,
    "online": True,
    "cpu": "AMD EPYC 7542 32-Core Processor",
    "cores": 32,
    "threads": 64,
    "ram": 128.5,
    "gpus": [],
    "working_properly": True,
    "cuda": "12.4",
    "max_rental_length": 864000,
    "cc": "DE",
    "host": 7,
    "reliability": 0.98,
    "min_bid": 10.0,
    "energy_price": 0.1,
}


def gpu(model: str = "RTX 4090", pl: tuple[float, float] = (150, 450)) -> dict[str, Any]:
    return {"model": model, "pl": list(pl), "mem_lock": [405, 10501], "core_lock": [210, 2450]}


def bid(owner: int, price: float, pl: float = 300, active: bool = True, id: int = 0):
    return {"owner": owner, "id": id or owner * 1000 + int(price * 10), "active": active,
            "price": price, "pl": pl, "currency": "CLORE-Blockchain"}  # fmt: skip


def server_dict(**overrides: Any) -> dict[str, Any]:
    server = copy.deepcopy(BASE_SERVER)
    server["gpus"] = [gpu()]
    server.update(overrides)
    return server


def server(**overrides: Any) -> Server:
    return snapshot({"1": server_dict(**overrides)}).servers["1"]


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def snapshot(document: dict[str, Any], previous: Snapshot | None = None) -> Snapshot:
    return decode_snapshot(encode(document), previous)
