"""The slow, obvious way: every rule against every server with the reference evaluator."""

from __future__ import annotations

import random

from bot.market.generate import COUNTRIES, CPUS, CUDAS
from bot.market.ranking import price_to_win
from bot.market.rules import Rule, parse_rule, rule_matches
from bot.market.snapshot import Snapshot

RuleSet = dict[int, tuple[Rule, int | None]]


def reference_matches(snapshot: Snapshot, rules: RuleSet, clore: float | None):
    """{(rule id, server id): price to win} of every match."""
    found: dict[tuple[int, str], float] = {}
    for server_id, server in snapshot.servers.items():
        for rule_id, (rule, owner) in rules.items():
            ptw = price_to_win(server, clore, owner)
            if rule_matches(rule, server, ptw, server_id):
                found[(rule_id, server_id)] = ptw
    return found


_NEEDLES = ["4090", "rtx  3090", "RTX", "a100", "1660 super", "3060 Ti", "Tesla", "H100", "xx"]
_OPS = ["=", ">=", "<=", ">", "<"]


def random_rule(rng: random.Random, server_ids: list[str]) -> Rule:
    """A rule drawing on every key and operator, with thresholds near real values."""
    parts: list[str] = []
    for _ in range(rng.randint(1, 4)):
        key = rng.choice(
            ["gpu", "gpu", "gpu", "gpus", "price", "price", "pergpu", "rel", "cc", "cuda", "ram",
             "cpu", "cores", "threads", "energy", "hours", "host", "server", "flag"]
        )  # fmt: skip
        op = rng.choice(_OPS)
        if key == "gpu":
            texts = ",".join(f'"{n}"' for n in rng.sample(_NEEDLES, rng.randint(1, 2)))
            parts.append(f"gpu{rng.choice(['=', '=', '!='])}{texts}")
        elif key == "gpus":
            parts.append(f"gpus{op}{rng.randint(0, 8)}")
        elif key == "price":
            parts.append(f"price{op}{rng.choice([rng.uniform(1, 300), 10.0, 13.5])}")
        elif key == "pergpu":
            parts.append(f"pergpu{op}{rng.uniform(1, 60)}")
        elif key == "rel":
            parts.append(f"rel{op}{rng.choice([0.9, 0.95, 90, 97, 1, 0.5])}")
        elif key == "cc":
            parts.append(f"cc{rng.choice(['=', '!='])}" + ",".join(rng.sample(COUNTRIES, 2)))
        elif key == "cuda":
            parts.append(f"cuda{op}{rng.choice([*CUDAS, '12', '11'])}")
        elif key in ("ram", "cores", "threads"):
            parts.append(f"{key}{op}{rng.choice([8, 16, 32, 64, 128])}")
        elif key == "cpu":
            parts.append(f"cpu{rng.choice(['=', '!='])}'{rng.choice(CPUS).split()[1]}'")
        elif key == "energy":
            parts.append(f"energy{op}{rng.choice([0.05, 0.1, 0.2])}")
        elif key == "hours":
            parts.append(f"hours{op}{rng.choice([24, 72, 240])}")
        elif key == "host":
            hosts = f"{rng.randrange(1, 400)},{rng.randrange(400)}"
            parts.append(f"host{rng.choice(['=', '!='])}{hosts}")
        elif key == "server" and server_ids:
            parts.append(f"server{rng.choice(['=', '!='])}" + ",".join(rng.sample(server_ids, 1)))
        else:
            parts.append(rng.choice(["online=any", "working=any", "rented=any", "online=no"]))
    text = " ".join(parts)
    try:
        return parse_rule(text)
    except ValueError:  # e.g. two different settings of one flag
        return parse_rule(parts[0])
