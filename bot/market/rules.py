"""Watch rules: parse, format canonically, and a plain reference evaluator.

A rule is conditions separated by spaces, `KEY OP VALUE` each, e.g.
`gpu="RTX 4090" gpus>=2 price<=120 rel>=97 cc=DE,NL`. See docs/market-contract.md for the
meaning of every key; the choices the contract leaves open are documented on the README and
repeated where they are made below.

`rule_matches` is deliberately slow and literal: the bulk matcher is tested against it.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from bot.i18n import Say
from bot.market.history import SeriesKey, deal_percent, series_key
from bot.market.snapshot import Server

EPS = 1e-9

TEXT_KEYS = ("gpu", "cpu")  # "contains", case-insensitive, runs of whitespace folded
CODE_KEYS = ("cc",)  # equality, case-insensitive
ID_KEYS = ("host", "server")  # integer ids
NUMERIC_KEYS = (
    "gpus", "price", "pergpu", "deal", "rel", "ram", "cores", "threads", "energy", "hours",
)  # fmt: skip
VERSION_KEYS = ("cuda",)
FLAG_KEYS = ("online", "working", "rented")
FLAG_DEFAULTS = {"online": "yes", "working": "yes", "rented": "no"}
FLAG_VALUES = ("yes", "no", "any")

# The canonical order of conditions in `format_rule`.
KEY_ORDER = (
    "gpu", "gpus", "price", "pergpu", "deal", "rel", "cc", "cuda", "ram", "cpu", "cores", "threads",
    "energy", "hours", "host", "server", "online", "working", "rented",
)  # fmt: skip
LIST_OPS = ("=", "!=")
NUMERIC_OPS = ("=", ">=", "<=", ">", "<")
OP_ORDER = ("=", "!=", ">=", ">", "<=", "<")
OPS_BY_KEY: dict[str, tuple[str, ...]] = {
    **{key: LIST_OPS for key in (*TEXT_KEYS, *CODE_KEYS, *ID_KEYS)},
    **{key: NUMERIC_OPS for key in (*NUMERIC_KEYS, *VERSION_KEYS)},
    **{key: ("=",) for key in FLAG_KEYS},
}

_CONDITION = re.compile(r"([A-Za-z_]+)(>=|<=|!=|==|=>|=<|=|>|<)(.*)", re.DOTALL)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_VERSION = re.compile(r"\d+(?:\.\d+)*")
_INTEGER = re.compile(r"\d+")


class RuleError(ValueError):
    """A rule that cannot be saved; `condition` is the offending condition's text."""

    def __init__(self, message: Say, condition: str) -> None:
        super().__init__(message.english())
        self.say = message  # for the user, in their language
        self.condition = condition


class Condition(NamedTuple):  # a tuple: hashing and comparing run in C (the matcher does lots)
    key: str
    op: str
    # numeric keys: (float,); cuda: (version tuple,); lists: the items, sorted, no repeats
    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Rule:
    conditions: tuple[Condition, ...] = ()
    online: str = "yes"
    working: str = "yes"
    rented: str = "no"


def fold(text: str) -> str:
    """Case- and whitespace-insensitive form of a model name or a searched text."""
    return " ".join(text.split()).lower()


def parse_version(text: str) -> tuple[int, ...] | None:
    text = text.strip()
    if not _VERSION.fullmatch(text):
        return None
    return tuple(int(part) for part in text.split("."))


def version_key(version: tuple[int, ...], width: int) -> tuple[int, ...]:
    """Pad with zeros so that 12 == 12.0 and 12 < 12.1."""
    return version + (0,) * (width - len(version))


# ---------------------------------------------------------------------------- parsing


def _split(text: str) -> list[str]:
    """Split on whitespace outside quotes; each piece is one condition's raw text."""
    if '"' not in text and "'" not in text:
        return text.split()
    pieces: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        while i < n and not text[i].isspace():
            if text[i] in "\"'":
                quote, i = text[i], i + 1
                while i < n and text[i] != quote:
                    i += 2 if quote == '"' and text[i] == "\\" else 1
                if i >= n:
                    raise RuleError(
                        Say("{condition}: unclosed quote", condition=text[start:].strip()),
                        text[start:],
                    )
            i += 1
        pieces.append(text[start:i])
    return pieces


def unquote(value: str) -> str:
    """Remove quotes (already checked closed), resolving `\\` escapes inside double quotes."""
    if '"' not in value and "'" not in value:
        return value
    out, i, n = [], 0, len(value)
    while i < n:
        char = value[i]
        if char not in "\"'":
            out.append(char)
            i += 1
            continue
        i += 1
        while value[i] != char:
            if char == '"' and value[i] == "\\":
                i += 1
            out.append(value[i])
            i += 1
        i += 1
    return "".join(out)


def _number(raw: str, value: str) -> float:
    if not _NUMBER.fullmatch(value.strip()) or not math.isfinite(number := float(value)):
        raise RuleError(Say("{raw}: {value} is not a number", raw=raw, value=repr(value)), raw)
    return number


def _items(raw: str, value: str) -> list[str]:
    items = value.split(",")
    if any(not item.strip() for item in items):
        raise RuleError(Say("{raw}: empty list or list item", raw=raw), raw)
    return items


@functools.lru_cache(maxsize=1 << 16)
def _condition(raw: str) -> Condition | tuple[str, str]:
    """One condition (cached: a community's rules share most of theirs; the results are
    immutable, and a bad condition raises, which is not cached)."""
    match = _CONDITION.fullmatch(raw)
    if match is None:
        raise RuleError(Say("{raw}: not a condition (like gpu=4090 or price<=50)", raw=raw), raw)
    key, op, value = match.group(1).lower(), match.group(2), unquote(match.group(3))
    if key not in OPS_BY_KEY:
        raise RuleError(
            Say(
                "{raw}: unknown key {key} (keys: {keys})",
                raw=raw,
                key=repr(key),
                keys=", ".join(KEY_ORDER),
            ),
            raw,
        )
    if op not in OPS_BY_KEY[key]:
        allowed = " ".join(OPS_BY_KEY[key])
        raise RuleError(
            Say(
                "{raw}: {key} does not take {op} (only {allowed})",
                raw=raw,
                key=key,
                op=repr(op),
                allowed=allowed,
            ),
            raw,
        )
    if key in FLAG_KEYS:
        if value.strip().lower() not in FLAG_VALUES:
            raise RuleError(Say("{raw}: {key} is yes, no or any", raw=raw, key=key), raw)
        return key, value.strip().lower()
    if key in NUMERIC_KEYS:
        return Condition(key, op, (_number(raw, value),))
    if key in VERSION_KEYS:
        version = parse_version(value)
        if version is None:
            raise RuleError(
                Say("{raw}: {value} is not a version number", raw=raw, value=repr(value)), raw
            )
        return Condition(key, op, (version,))
    items = _items(raw, value)
    if key in TEXT_KEYS:
        values: tuple[Any, ...] = tuple(sorted({" ".join(item.split()) for item in items}))
    elif key in CODE_KEYS:
        values = tuple(sorted({item.strip().upper() for item in items}))
    else:
        for item in items:
            if not _INTEGER.fullmatch(item.strip()):
                raise RuleError(
                    Say(
                        "{raw}: {item} is not a number ({key} ids are)",
                        raw=raw,
                        item=repr(item),
                        key=key,
                    ),
                    raw,
                )
        values = tuple(sorted({int(item) for item in items}))
    return Condition(key, op, values)


def _sort_key(condition: Condition) -> tuple[int, int, tuple[Any, ...]]:
    return KEY_ORDER.index(condition.key), OP_ORDER.index(condition.op), condition.values


def parse_rule(text: str) -> Rule:
    """Parse one rule; raise RuleError naming the first offending condition."""
    pieces = _split(text)
    if not pieces:
        raise RuleError(Say("a rule needs at least one condition"), text)
    conditions: set[Condition] = set()
    flags = dict(FLAG_DEFAULTS)
    seen_flags: dict[str, str] = {}
    for raw in pieces:
        parsed = _condition(raw)
        if isinstance(parsed, Condition):
            conditions.add(parsed)
            continue
        key, value = parsed
        if seen_flags.get(key, value) != value:
            raise RuleError(
                Say("{raw}: contradicts {key}={value}", raw=raw, key=key, value=seen_flags[key]),
                raw,
            )
        seen_flags[key] = flags[key] = value
    return Rule(tuple(sorted(conditions, key=_sort_key)), **flags)


# ---------------------------------------------------------------------------- formatting


def _format_number(number: float) -> str:
    text = repr(float(number))
    return text[:-2] if text.endswith(".0") else text


def _quote(text: str) -> str:
    if text and text[0] not in "=<>!" and not any(c.isspace() or c in "\"'\\" for c in text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _format_values(condition: Condition) -> str:
    key, values = condition.key, condition.values
    if key in NUMERIC_KEYS:
        return _format_number(values[0])
    if key in VERSION_KEYS:
        return ".".join(str(part) for part in values[0])
    return ",".join(_quote(str(value)) for value in values)


def format_rule(rule: Rule) -> str:
    """Canonical text: lower-case keys, fixed order, quotes only where needed."""
    parts = [f"{c.key}{c.op}{_format_values(c)}" for c in rule.conditions]
    for key in FLAG_KEYS:
        if getattr(rule, key) != FLAG_DEFAULTS[key]:
            parts.append(f"{key}={getattr(rule, key)}")
    return " ".join(parts) or "online=yes"  # the match-everything rule still needs a condition


# ---------------------------------------------------------------------------- reference


def compare(actual: float, op: str, wanted: float) -> bool:
    """Numeric comparison with the contract's 1e-9 tolerance (NaN never matches)."""
    if op == "=":
        return wanted - EPS <= actual <= wanted + EPS
    if op == ">=":
        return actual >= wanted - EPS
    if op == ">":
        return actual > wanted + EPS
    if op == "<=":
        return actual <= wanted + EPS
    return actual < wanted - EPS


def threshold(condition: Condition) -> float:
    """The number a numeric condition compares with (`rel` above 1 is a percentage)."""
    value = float(condition.values[0])
    return value / 100 if condition.key == "rel" and value > 1 else value


def compare_versions(actual: tuple[int, ...], op: str, wanted: tuple[int, ...]) -> bool:
    width = max(len(actual), len(wanted))
    a, w = version_key(actual, width), version_key(wanted, width)
    return {"=": a == w, ">=": a >= w, ">": a > w, "<=": a <= w, "<": a < w}[op]


def flag_holds(setting: str, value: bool) -> bool:
    return setting == "any" or (setting == "yes") == value


def gpu_satisfies(model: str, gpu_conditions: list[Condition]) -> bool:
    """A GPU satisfies every `gpu=` condition: its model contains one text of each."""
    folded = fold(model)
    return all(any(fold(text) in folded for text in c.values) for c in gpu_conditions)


def numeric_value(
    key: str,
    server: Server,
    price_to_win: float,
    counted_gpus: int,
    medians: Mapping[SeriesKey, float] | None = None,
) -> float:
    if key == "deal":
        # percent below the 7-day median per GPU of the machine's model and count
        found = series_key(g.model for g in server.gpus)
        median = (medians or {}).get(found) if found is not None else None
        return deal_percent(price_to_win / len(server.gpus), median) if server.gpus else math.nan
    if key == "gpus":
        return counted_gpus
    if key == "price":
        return price_to_win
    if key == "pergpu":
        return price_to_win / len(server.gpus) if server.gpus else math.nan
    if key == "rel":
        return server.reliability
    if key == "energy":
        return server.energy_price
    if key == "hours":
        return server.max_rental_length / 3600
    return float(getattr(server, key))  # ram, cores, threads


def _holds(
    condition: Condition,
    server: Server,
    server_id: int,
    ptw: float,
    counted: int,
    medians: Mapping[SeriesKey, float] | None,
) -> bool:
    key, op, values = condition.key, condition.op, condition.values
    if key in NUMERIC_KEYS:
        value = numeric_value(key, server, ptw, counted, medians)
        return compare(value, op, threshold(condition))
    if key in VERSION_KEYS:
        version = parse_version(server.cuda)
        return version is not None and compare_versions(version, op, values[0])
    if key in TEXT_KEYS:
        models = [fold(g.model) for g in server.gpus] if key == "gpu" else [fold(server.cpu)]
        found = any(fold(text) in model for text in values for model in models)
    elif key in CODE_KEYS:
        found = server.cc.strip().upper() in values
    else:
        found = (server.host if key == "host" else server_id) in values
    return found if op == "=" else not found


def rule_matches(
    rule: Rule,
    server: Server,
    price_to_win: float,
    server_id: str = "0",
    medians: Mapping[SeriesKey, float] | None = None,
) -> bool:
    """Does `server` (with this price to win for the rule's owner) satisfy `rule`?

    `server_id` is needed only by `server=` conditions; `medians` (7-day median price to win
    per GPU of each series, only those with a day of history) only by `deal`.
    """
    if server.max_rental_length <= 0:
        return False
    if not (
        flag_holds(rule.online, server.online)
        and flag_holds(rule.working, server.working_properly)
        and flag_holds(rule.rented, server.on_demand_rented)
    ):
        return False
    gpu_conditions = [c for c in rule.conditions if c.key == "gpu" and c.op == "="]
    counted = sum(1 for g in server.gpus if gpu_satisfies(g.model, gpu_conditions))
    sid = int(server_id)
    return all(_holds(c, server, sid, price_to_win, counted, medians) for c in rule.conditions)


def uses_deal(rule: Rule) -> bool:
    """Does the rule compare with the price history (`deal`)?"""
    return any(condition.key == "deal" for condition in rule.conditions)
