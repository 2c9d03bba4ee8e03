"""Rules compiled for bulk matching: numeric bounds, signatures, and groups of rules.

Every numeric condition becomes a closed interval [lo, hi] that reproduces `rules.compare`
exactly (strict comparisons step to the next float), so the bulk matcher and the reference
evaluator agree to the last bit. Conditions on text-like fields become "signatures" (the
tuple of conditions on that field) that are evaluated once per distinct field value.

Rules are grouped by their GPU conditions and default-condition settings: a group is checked
only against servers whose GPU list satisfies its GPU conditions.
"""

from __future__ import annotations

import collections
import functools
import math
from dataclasses import dataclass, field

import msgspec
import numpy as np

from bot.market.rules import (
    EPS,
    NUMERIC_KEYS,
    Condition,
    Rule,
    compare_versions,
    fold,
    parse_version,
    threshold,
)

Signature = tuple[Condition, ...]
GroupKey = tuple[Signature, str, str, str]


@functools.lru_cache(maxsize=1 << 16)
def condition_bounds(condition: Condition) -> tuple[float, float]:
    """[lo, hi] such that `lo <= x <= hi` exactly when `rules.compare` holds."""
    wanted, op = threshold(condition), condition.op
    if op == "=":
        return wanted - EPS, wanted + EPS
    if op == ">=":
        return wanted - EPS, math.inf
    if op == "<=":
        return -math.inf, wanted + EPS
    if op == ">":
        return math.nextafter(wanted + EPS, math.inf), math.inf
    return -math.inf, math.nextafter(wanted - EPS, -math.inf)


_NUMERIC = frozenset(NUMERIC_KEYS)


class Member(msgspec.Struct, frozen=True, gc=False):
    """A rule as the matcher holds it (a Struct: cheap to build, one per rule)."""

    rule_id: int
    rule: Rule
    owner: int | None


def group_key(rule: Rule) -> GroupKey:
    """Rules sharing GPU conditions and default-condition settings are checked together."""
    conditions = rule.conditions  # in canonical order: gpu conditions come first
    count = 0
    while count < len(conditions) and conditions[count].key == "gpu":
        count += 1
    gpu = conditions[:count]
    return gpu, rule.online, rule.working, rule.rented


# ---------------------------------------------------------------- per-value evaluation


@functools.lru_cache(maxsize=1 << 16)
def contains(texts: tuple[str, ...], model: str) -> bool:
    folded = fold(model)
    return any(fold(text) in folded for text in texts)


@functools.lru_cache(maxsize=1 << 12)
def _model_counts(models: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    return tuple(collections.Counter(models).items())


def category_entry(signature: Signature, value: object) -> bool:
    for condition in signature:
        key, values = condition.key, condition.values
        if key == "cuda":
            version = parse_version(str(value))
            if version is None or not compare_versions(version, condition.op, values[0]):
                return False
            continue
        if key == "cpu":
            folded = fold(str(value))
            found = any(fold(text) in folded for text in values)
        elif key == "cc":
            found = str(value).strip().upper() in values
        else:
            found = value in values
        if found != (condition.op == "="):
            return False
    return True


# ---------------------------------------------------------------------------- groups


@dataclass(slots=True)
class RuleGroup:
    key: GroupKey
    rule_ids: np.ndarray  # int64
    rules: list[Member]
    numeric: dict[str, tuple[np.ndarray, np.ndarray]]  # key -> (lo, hi) per rule
    categories: dict[str, tuple[list[Signature], np.ndarray]]  # kind -> (signatures, index)
    having: dict[str, np.ndarray]  # numeric key or category -> positions of rules that use it
    owned_owner: np.ndarray  # the owner of each rule that has one (int64) ...
    owned_local: np.ndarray  # ... and that rule's position in the group
    owners: np.ndarray  # the distinct owners, sorted
    # kind -> (interned values then, signatures x values table): the matcher's cache
    stacked: dict[str, tuple[int, np.ndarray]] = field(default_factory=dict)


def build_group(key: GroupKey, rules: list[Member]) -> RuleGroup:
    """Compile the rules of one group into per-condition arrays (one pass over conditions)."""
    n = len(rules)
    lows: dict[str, list[float]] = {}  # lists: item assignment is far cheaper than numpy's
    highs: dict[str, list[float]] = {}
    having: dict[str, list[int]] = {}
    signature_index: dict[str, dict[Signature, int]] = {}
    positions: dict[str, np.ndarray] = {}
    owners: dict[int, list[int]] = {}
    for i, member in enumerate(rules):
        rule, owner = member.rule, member.owner
        signatures: dict[str, Signature] = {}
        for condition in rule.conditions:
            name = condition.key
            if name == "gpu":
                continue
            if name not in _NUMERIC:
                signatures[name] = (*signatures.get(name, ()), condition)
                continue
            lo, hi = condition_bounds(condition)
            if name not in lows:
                lows[name], highs[name] = [-math.inf] * n, [math.inf] * n
                having[name] = []
            if having[name] and having[name][-1] == i:  # several conditions on one key
                lo, hi = max(lo, lows[name][i]), min(hi, highs[name][i])
            else:
                having[name].append(i)
            lows[name][i], highs[name][i] = lo, hi
        for kind, signature in signatures.items():
            if kind not in positions:
                positions[kind], signature_index[kind] = np.zeros(n, np.int64), {(): 0}
                having[kind] = []
            index = signature_index[kind]
            positions[kind][i] = index.setdefault(signature, len(index))
            having[kind].append(i)
        if owner is not None:
            owners.setdefault(owner, []).append(i)
    return RuleGroup(
        key=key,
        rule_ids=np.array([member.rule_id for member in rules], dtype=np.int64),
        rules=rules,
        numeric={
            name: (np.array(lows[name]), np.array(highs[name]))
            for name in NUMERIC_KEYS
            if name in lows
        },
        categories={k: (list(signature_index[k]), positions[k]) for k in positions},
        having={name: np.array(rows, dtype=np.int64) for name, rows in having.items()},
        owned_owner=np.array([o for o, p in owners.items() for _ in p], dtype=np.int64),
        owned_local=np.array([i for p in owners.values() for i in p], dtype=np.int64),
        owners=np.array(sorted(owners), dtype=np.int64),
    )
