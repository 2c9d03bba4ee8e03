"""Help for people learning the rule language: pure functions, no I/O.

- `unmatched_values`: `gpu`, `cpu` and `cc` values of a rule that no machine in the market
  has, each with the closest values that do exist (`RTX4090` -> `RTX 4090`).
- `nearest_key`: the key someone meant (`pric` -> `price`).
- `guess_rule`: a rule for free text (`4090 under 30` -> `gpu=4090 price<30`).
- `gpu_models`: the GPU models in the market, how many machines are rentable, and the
  cheapest price to win among them.

Names are compared in a normal form: lower case, spaces, dashes and underscores removed
("RTX 4090", "rtx-4090" and "RTX4090" are one name), so a value typed without spaces finds
the model written with them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.market.rules import KEY_ORDER, Rule, fold
from bot.market.snapshot import Server

MAX_SUGGESTIONS = 3
_SQUASH = re.compile(r"[\s\-_]+")


def squash(text: str) -> str:
    """The normal form names are compared in."""
    return _SQUASH.sub("", text.lower())


@dataclass(frozen=True, slots=True)
class Unmatched:
    """A value of a rule that nothing in the market has, and what does exist nearby."""

    key: str  # gpu | cpu | cc
    value: str
    suggestions: tuple[str, ...]  # full values as the market writes them, best first


@dataclass(frozen=True, slots=True)
class GpuModel:
    model: str  # as the market writes it (runs of spaces folded)
    rentable: int  # machines that are online, working, not rented and rentable at all
    cheapest: float | None  # the lowest price to win among those (None: no price known)


def condition_text(key: str, value: str) -> str:
    """`gpu="RTX 4090"`: a condition as the rule language writes it."""
    if any(c.isspace() or c in "\"'\\," for c in value):
        value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{key}={value}"


def market_values(servers: Iterable[Server]) -> dict[str, set[str]]:
    """Every GPU model, CPU model and country code in the market (spaces folded)."""
    found: dict[str, set[str]] = {"gpu": set(), "cpu": set(), "cc": set()}
    for server in servers:
        for gpu in server.gpus:
            found["gpu"].add(" ".join(gpu.model.split()))
        found["cpu"].add(" ".join(server.cpu.split()))
        found["cc"].add(server.cc.strip().upper())
    return found


# Country names people type for the codes the market uses (cc values are ISO codes).
COUNTRY_CODES = {
    "germany": "DE", "deutschland": "DE", "германия": "DE", "russia": "RU", "россия": "RU",
    "kazakhstan": "KZ", "казахстан": "KZ", "netherlands": "NL", "holland": "NL",
    "нидерланды": "NL", "usa": "US", "america": "US", "сша": "US", "poland": "PL",
    "польша": "PL", "finland": "FI", "финляндия": "FI", "france": "FR", "франция": "FR",
    "ukraine": "UA", "украина": "UA", "belarus": "BY", "беларусь": "BY", "china": "CN",
    "китай": "CN", "canada": "CA", "канада": "CA", "czechia": "CZ", "чехия": "CZ",
    "uk": "GB", "britain": "GB", "england": "GB", "sweden": "SE", "norway": "NO",
    "spain": "ES", "italy": "IT", "turkey": "TR", "турция": "TR", "georgia": "GE",
    "armenia": "AM", "serbia": "RS", "latvia": "LV", "lithuania": "LT", "estonia": "EE",
}  # fmt: skip


def _exists(key: str, value: str, values: set[str]) -> bool:
    if key == "cc":
        return value.upper() in values
    wanted = fold(value)  # what the matcher does: the model contains the text
    return any(wanted in fold(v) for v in values)


def closest(value: str, values: Iterable[str], limit: int = MAX_SUGGESTIONS) -> list[str]:
    """The market's values closest to `value`: those whose normal form contains it first
    (shortest first: `4090` -> `RTX 4090` before `RTX 4090 D`), then by similarity."""
    wanted = squash(value)
    pool = sorted(set(values))
    if not wanted or not pool:
        return []
    containing = sorted((v for v in pool if wanted in squash(v)), key=lambda v: (len(v), v))
    by_form: dict[str, list[str]] = {}
    for v in pool:
        by_form.setdefault(squash(v), []).append(v)
    similar = difflib.get_close_matches(wanted, list(by_form), n=limit * 2, cutoff=0.5)
    ranked = containing + [v for form in similar for v in by_form[form]]
    out: list[str] = []
    for v in ranked:
        if v not in out:
            out.append(v)
    return out[:limit]


def unmatched_values(rule: Rule, values: Mapping[str, set[str]]) -> list[Unmatched]:
    """The rule's `gpu`, `cpu` and `cc` values (of `=` conditions) that no machine in the
    market has, each with the closest existing values."""
    found: list[Unmatched] = []
    for condition in rule.conditions:
        if condition.key not in ("gpu", "cpu", "cc") or condition.op != "=":
            continue
        pool = values.get(condition.key, set())
        for value in condition.values:
            if _exists(condition.key, str(value), pool):
                continue
            named = COUNTRY_CODES.get(str(value).lower()) if condition.key == "cc" else None
            hints = [named] if named else closest(str(value), pool)
            found.append(Unmatched(condition.key, str(value), tuple(hints)))
    return found


def nearest_key(word: str) -> str | None:
    """The rule key closest to a mistyped one (`pric` -> `price`), or None."""
    word = word.lower()
    aliases = {"country": "cc", "gpu_count": "gpus", "count": "gpus", "reliability": "rel",
               "model": "gpu", "card": "gpu", "cost": "price", "per_gpu": "pergpu"}  # fmt: skip
    if word in aliases:
        return aliases[word]
    found = difflib.get_close_matches(word, KEY_ORDER, n=1, cutoff=0.6)
    return found[0] if found else None


_KEY_OF_CONDITION = re.compile(r"^\s*([A-Za-z_]+)\s*(>=|<=|!=|==|=>|=<|=|>|<)")
_PRICE_WORDS = re.compile(
    r"(?:under|below|less than|max|up to|<=?|до|дешевле|меньше|не дороже)\s*(\d+(?:[.,]\d+)?)",
    re.IGNORECASE,
)
_COUNT = re.compile(r"(?:\b(\d{1,2})\s*[x×](?![a-z])|(?<![a-z])[x×]\s*(\d{1,2})\b)",
                    re.IGNORECASE)  # fmt: skip
_RELIABILITY = re.compile(r"(\d+(?:\.\d+)?)\s*%")
_COUNTRY = re.compile(r"\b(?:in|from|в)\s+([A-Za-z]{2})\b")
_MODEL = re.compile(r"\b((?:rtx|gtx|rx|a|h|l|v)?\s?-?\d{3,4}(?:\s?(?:ti|super|xt|d))?)\b",
                    re.IGNORECASE)  # fmt: skip


def guess_rule(text: str) -> str | None:
    """A rule for free text, when one can be guessed: a GPU model number, a price ceiling
    ("under 30"), a count ("2x"), a reliability ("97%"), a country ("in DE")."""
    rest = text.strip()
    if not rest:
        return None
    parts: list[str] = []
    if count := _COUNT.search(rest):
        parts.append(f"gpus>={count.group(1) or count.group(2)}")
        rest = rest[: count.start()] + " " + rest[count.end() :]
    price = _PRICE_WORDS.search(rest)
    if price:
        rest = rest[: price.start()] + " " + rest[price.end() :]
    model = _MODEL.search(rest)
    if model:
        name = " ".join(model.group(1).split()).replace("-", "")
        parts.insert(0, f"gpu={name}" if " " not in name else f'gpu="{name}"')
    if price:
        parts.append(f"price<{price.group(1).replace(',', '.')}")
    if reliability := _RELIABILITY.search(rest):
        parts.append(f"rel>={reliability.group(1)}")
    if country := _COUNTRY.search(rest):
        parts.append(f"cc={country.group(1).upper()}")
    if not model and not price:
        return None
    return " ".join(parts)


def mistyped_key(text: str) -> tuple[str, str] | None:
    """For a condition whose key is unknown: (the key as typed, the nearest key)."""
    found = _KEY_OF_CONDITION.match(text)
    if found is None:
        return None
    typed = found.group(1).lower()
    if typed in KEY_ORDER:
        return None
    nearest = nearest_key(typed)
    return (typed, nearest) if nearest else None


def gpu_models(
    servers: Mapping[str, Server], prices: Mapping[str, float]
) -> list[GpuModel]:
    """GPU models with the machines that can be rented now (online, working, not rented,
    `max_rental_length` above 0) and the cheapest price to win among them (`prices`:
    server id -> price to win). Most rentable first."""
    counts: dict[str, int] = {}
    cheapest: dict[str, float] = {}
    for server_id, server in servers.items():
        rentable = (server.online and server.working_properly and not server.on_demand_rented
                    and server.max_rental_length > 0)  # fmt: skip
        for model in {" ".join(g.model.split()) for g in server.gpus}:
            counts.setdefault(model, 0)
            if not rentable:
                continue
            counts[model] += 1
            price = prices.get(server_id)
            if price is not None and (model not in cheapest or price < cheapest[model]):
                cheapest[model] = price
    models = [GpuModel(m, n, cheapest.get(m)) for m, n in counts.items()]
    return sorted(models, key=lambda g: (-g.rentable, g.model))
