"""Seeded, realistic GigaSPOT snapshots and watch rules for tests and the benchmark.

Pure: everything comes from `random.Random(seed)`, the output is bytes/strings, nothing is
read or written. Figures follow the seed snapshot and common clore.ai listings closely enough
that rules match a realistic share of servers (most rules a few dozen, a few many).
"""

from __future__ import annotations

import json
import random
from typing import Any

# model, (min pl, max pl) in W, typical price to win per GPU in CLORE/day, weight
GPU_MODELS: list[tuple[str, tuple[int, int], float, int]] = [
    ("RTX 4090", (150, 450), 60.0, 14),
    ("RTX 3090", (100, 350), 30.0, 14),
    ("RTX 3080", (100, 320), 20.0, 10),
    ("RTX 3070", (100, 220), 12.0, 8),
    ("RTX 3060", (100, 170), 8.0, 8),
    ("RTX 3060 Ti", (100, 200), 10.0, 5),
    ("RTX 4080 SUPER", (150, 320), 45.0, 5),
    ("RTX 4070 Ti", (100, 285), 30.0, 4),
    ("RTX A5000", (100, 230), 28.0, 3),
    ("RTX A6000", (100, 300), 50.0, 2),
    ("A100 PCIe 80GB", (150, 300), 150.0, 2),
    ("H100 PCIe", (200, 350), 300.0, 1),
    ("Tesla V100-SXM2-16GB", (100, 300), 25.0, 2),
    ("GTX 1660 SUPER", (70, 100), 3.0, 8),
    ("GTX 1080 Ti", (125, 300), 5.0, 4),
]
GPU_COUNTS = [1, 1, 1, 2, 2, 3, 4, 4, 6, 8, 8]
COUNTRIES = ["DE", "US", "NL", "PL", "RU", "KZ", "UA", "FR", "GB", "CA", "FI", "CZ", "VN", "BR"]
CUDAS = ["11.6", "11.8", "12.0", "12.2", "12.4", "12.6", "12.8", "12.9", "12.10"]
CPUS = [
    "Intel(R) Celeron(R) CPU B815 @ 1.60GHz",
    "Intel(R) Xeon(R) CPU E5-2698 v3 @ 2.30GHz",
    "AMD Ryzen 9 7950X 16-Core Processor",
    "AMD EPYC 7542 32-Core Processor",
    "Intel(R) Core(TM) i9-13900K",
    "AMD Ryzen 5 3600 6-Core Processor",
]


def _gpu(rng: random.Random, model: str, pl: tuple[int, int]) -> dict[str, Any]:
    low, high = pl
    return {
        "pl": [low, high - rng.choice([0, 0, 0, 10, 20])],
        "mem_lock": [405, 10501],
        "core_lock": [210, 2450],
        "mem_offset": [-2000, 2000],
        "core_offset": [-1000, 200],
        "model": model,
    }


def _bids(
    rng: random.Random, owners: list[int], n_gpus: int, per_gpu: float, pl: int, next_id: list[int]
) -> list[dict[str, Any]]:
    bids = []
    for _ in range(rng.choice([0, 0, 1, 1, 2, 3, 5])):
        next_id[0] += 1
        bids.append(
            {
                "owner": rng.choice(owners),
                "id": next_id[0],
                "active": rng.random() < 0.9,
                "to_cache": rng.random() < 0.5,
                "cached": rng.random() < 0.3,
                "price": round(per_gpu * n_gpus * rng.uniform(0.3, 1.4), 4),
                "currency": "CLORE-Blockchain",
                "pl": int(pl * rng.uniform(0.6, 1.0)),
            }
        )
    return bids


def _server(rng: random.Random, owners: list[int], next_id: list[int]) -> dict[str, Any]:
    model, pl, per_gpu, _ = rng.choices(GPU_MODELS, weights=[m[3] for m in GPU_MODELS])[0]
    n_gpus = rng.choice(GPU_COUNTS)
    gpus = [_gpu(rng, model, pl) for _ in range(n_gpus)]
    if rng.random() < 0.03:  # a few mixed rigs
        other, other_pl, _, _ = rng.choice(GPU_MODELS)
        gpus.append(_gpu(rng, other, other_pl))
    max_pl = sum(g["pl"][1] for g in gpus)
    return {
        "bids": _bids(rng, owners, len(gpus), per_gpu, max_pl, next_id),
        "on_demand_rented": rng.random() < 0.1,
        "online": rng.random() < 0.9,
        "cpu": rng.choice(CPUS),
        "cores": (cores := rng.choice([2, 6, 8, 16, 32, 64])),
        "threads": cores * 2,
        "ram": round(rng.uniform(4, 512), 4),
        "gpus": gpus,
        "working_properly": rng.random() < 0.95,
        "cuda": rng.choice(CUDAS),
        "max_rental_length": rng.choice([0, 86400, 259200, 792000, 864000, 864000]),
        "cc": rng.choice(COUNTRIES),
        "host": rng.randrange(1, 400),
        "reliability": round(rng.betavariate(8, 1), 4),
        "min_bid": round(per_gpu * len(gpus) * rng.uniform(0.2, 0.5), 4),
        "energy_price": round(rng.uniform(0.03, 0.3), 3),
    }


def generate_snapshot_dict(n_servers: int, seed: int = 0) -> dict[str, dict[str, Any]]:
    rng = random.Random(seed)
    owners = [rng.randrange(1, 1_000_000) for _ in range(max(3, n_servers // 20))]
    ids = rng.sample(range(1000, 1000 + n_servers * 10), n_servers)
    next_id = [500_000]
    return {str(sid): _server(rng, owners, next_id) for sid in ids}


def generate_snapshot(n_servers: int, seed: int = 0) -> bytes:
    """A snapshot of `n_servers` servers in the wire format (compact JSON)."""
    return encode(generate_snapshot_dict(n_servers, seed))


def encode(document: dict[str, dict[str, Any]]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def owners_in(document: dict[str, dict[str, Any]]) -> list[int]:
    """Bid owners of a generated document, most frequent first (for tracked-owner tests)."""
    counts: dict[int, int] = {}
    for server in document.values():
        for bid in server["bids"]:
            counts[bid["owner"]] = counts.get(bid["owner"], 0) + 1
    return sorted(counts, key=lambda owner: (-counts[owner], owner))


def mutate_document(
    document: dict[str, dict[str, Any]], share: float, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """A copy where about `share` of the servers changed: bids, prices, online, a few gone/new."""
    rng = random.Random(seed)
    out = {sid: server for sid, server in document.items()}
    ids = [sid for sid, server in out.items() if isinstance(server, dict) and _mutable(server)]
    n_changed = round(len(ids) * share)
    owners = owners_in(document) or [1, 2, 3]
    next_id = [10_000_000 + rng.randrange(1_000_000)]
    for sid in rng.sample(ids, n_changed):
        server = json.loads(json.dumps(out[sid]))
        roll = rng.random()
        if roll < 0.02:
            del out[sid]
            continue
        if roll < 0.04:
            out[str(int(sid) + 1_000_000 + rng.randrange(1000))] = _server(rng, owners, next_id)
        elif roll < 0.5:
            if server["bids"] and rng.random() < 0.5:
                bid = rng.choice(server["bids"])
                bid["price"] = round(bid["price"] * rng.uniform(0.8, 1.3), 4)
            else:
                per_gpu = server["min_bid"] / max(1, len(server["gpus"])) * 3
                pl = sum(g["pl"][1] for g in server["gpus"])
                server["bids"] = _bids(rng, owners, len(server["gpus"]), per_gpu, pl, next_id)
        elif roll < 0.7:
            server["online"] = not server["online"]
        elif roll < 0.8:
            server["on_demand_rented"] = not server["on_demand_rented"]
        elif roll < 0.9:
            server["min_bid"] = round(server["min_bid"] * rng.uniform(0.8, 1.25), 4)
        else:
            server["reliability"] = round(rng.uniform(0.5, 1.0), 4)
        out[sid] = server
    return out


def _mutable(server: dict[str, Any]) -> bool:
    wanted: dict[str, type | tuple[type, ...]] = {
        "bids": list, "gpus": list, "min_bid": (int, float), "online": bool
    }
    return all(isinstance(server.get(key), kind) for key, kind in wanted.items())


def mutate_snapshot(data: bytes, share: float, seed: int = 0) -> bytes:
    """`data` with about `share` of its servers changed (see `mutate_document`)."""
    return encode(mutate_document(json.loads(data), share, seed))


_NEEDLES = [
    "4090", "3090", "3080", "3070", "3060", '"RTX 4090"', '"RTX 3090"', "A100", "H100",
    "1660", "4080", "A5000", "A6000", "V100", "1080", '"RTX 3060 Ti"', "4090,3090",
    "A100,H100", '"4070 Ti"',
]  # fmt: skip
_NEEDLE_PRICE = {"4090": 60, "3090": 30, "3080": 20, "3070": 12, "3060": 8, "A100": 150,
                 "H100": 300, "1660": 3, "4080": 45, "A5000": 28, "A6000": 50, "V100": 25,
                 "1080": 5, "4070": 30}  # fmt: skip


def _needle_price(needle: str) -> float:
    return min((p for key, p in _NEEDLE_PRICE.items() if key in needle), default=30.0)


_BROAD = [
    "gpu={needle}", "gpu={needle} gpus>=1", "gpus>=1 ram>=32 gpu={needle}",
    "gpu={needle} rel>=90", "gpu={needle} cc!=RU", "gpu={needle},{other}", "gpus>=2",
    "price<={cap} rel>=0.8", "gpu={needle} cuda>=11.8",
]  # fmt: skip


def broad_rule(rng: random.Random) -> str:
    """A rule as renters often write it first: a model and little else ("any 4090")."""
    needle, other = rng.sample(_NEEDLES, 2)
    return rng.choice(_BROAD).format(needle=needle, other=other, cap=rng.choice([100, 200, 500]))


def generate_rules(n_rules: int, seed: int = 0, broad: float = 0.0) -> list[str]:
    """Watch rules as a renter writes them: mostly a GPU and a price cap, some extras;
    `broad` of them (a share) with hardly any condition, matching hundreds of machines."""
    rng = random.Random(seed)
    rules = []
    for _ in range(n_rules):
        if broad and rng.random() < broad:
            rules.append(broad_rule(rng))
            continue
        parts: list[str] = []
        per_gpu = 4.0  # rules without a wanted GPU hunt for bargains
        if rng.random() < 0.95:
            needle = rng.choice(_NEEDLES)
            if rng.random() < 0.03:
                parts.append("gpu!=" + needle)
            else:
                parts.append("gpu=" + needle)
                per_gpu = _needle_price(needle)
        gpus = rng.choice([1, 1, 1, 2, 4, 8])
        if gpus > 1 or rng.random() < 0.3:
            parts.append(f"gpus{rng.choice(['>=', '>=', '='])}{gpus}")
        if rng.random() < 0.95:
            if rng.random() < 0.7:
                parts.append(f"price<={per_gpu * gpus * rng.uniform(0.15, 0.45):.2f}")
            else:
                parts.append(f"pergpu<{per_gpu * rng.uniform(0.15, 0.45):.2f}")
        if rng.random() < 0.4:
            parts.append(f"rel>={rng.choice([90, 95, 97, 99, 0.9, 0.95])}")
        if rng.random() < 0.25:
            ccs = ",".join(rng.sample(COUNTRIES, rng.choice([1, 1, 2, 3])))
            parts.append(("cc!=" if rng.random() < 0.2 else "cc=") + ccs)
        if rng.random() < 0.15:
            parts.append(f"cuda>={rng.choice(['11.8', '12', '12.4', '12.9'])}")
        if rng.random() < 0.05:
            parts.append(f"ram>={rng.choice([16, 32, 64])}")
        if rng.random() < 0.03:
            parts.append(f"hours>={rng.choice([24, 72, 200])}")
        if rng.random() < 0.03:
            parts.append(f"energy<={rng.choice([0.1, 0.15, 0.2])}")
        if rng.random() < 0.02:
            parts.append('cpu="' + rng.choice(["EPYC", "Ryzen 9", "Xeon"]) + '"')
        if rng.random() < 0.02:
            parts.append(f"threads>={rng.choice([8, 16, 64])}")
        if rng.random() < 0.01:
            parts.append(f"host!={rng.randrange(1, 400)}")
        if rng.random() < 0.02:
            parts.append(rng.choice(["online=any", "rented=any", "working=any"]))
        if not parts:
            parts.append(f"price<={rng.uniform(5, 100):.2f}")
        rng.shuffle(parts)
        rules.append(" ".join(parts))
    return rules
