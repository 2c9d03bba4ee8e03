"""`gigaspot-bot bench`: the matcher's cost measured against `json.loads` of the same bytes.

Every figure is the best of `--repeat` runs, measured in this process, and also given as a
ratio to `json.loads` so that it means something on any machine. The generated snapshot is
built in a child process so its Python objects do not count in this process's peak RSS.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from bot import runtime
from bot.market.generate import generate_rules, mutate_snapshot
from bot.market.matcher import Matcher
from bot.market.rules import Rule, RuleError, parse_rule
from bot.market.snapshot import Snapshot, SnapshotError, decode_snapshot

HELP = "measure the matcher against json.loads"
CHURN = 0.10
# With 10,000 generated servers, this share of broad rules gives about 2.4 M matches for
# 10,000 rules: what a community's first rules look like ("any 4090").
BROAD = 0.13
LINKED_ACCOUNTS = 300


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--servers", type=int, default=10_000, help="generated servers")
    parser.add_argument(
        "--rules", default="10000", metavar="N|FILE",
        help="number of generated rules, or a rules file (with --snapshot)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--snapshot", metavar="FILE", help="a snapshot file instead")
    parser.add_argument("--clore-price", type=float, default=0.02, help="USD per CLORE")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (best counts)")
    parser.add_argument(
        "--broad", type=float, default=BROAD,
        help="share of generated rules that are broad ('any 4090'); 0 for narrow rules only",
    )  # fmt: skip
    parser.add_argument(
        "--cycle", action="store_true",
        help="measure the whole poll cycle (database, alert memory, outbox) instead",
    )  # fmt: skip
    parser.add_argument("--users", type=int, default=2_000, help="with --cycle: users")
    parser.add_argument(
        "--linked", type=float, default=0.5,
        help="share of rules whose owner has a linked clore account (bids tracked)",
    )  # fmt: skip


def generated_snapshot(servers: int, seed: int) -> bytes:
    code = (
        "import sys; from bot.market.generate import generate_snapshot; "
        f"sys.stdout.buffer.write(generate_snapshot({servers}, {seed}))"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout


def generated_mutation(data: bytes, seed: int) -> bytes:
    code = (
        "import sys; from bot.market.generate import mutate_snapshot; "
        f"sys.stdout.buffer.write(mutate_snapshot(sys.stdin.buffer.read(), {CHURN}, {seed}))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], input=data, capture_output=True, check=True
    ).stdout


def _loads_in_child(data: bytes) -> float:
    from bot.bench_cycle import loads_in_child  # that module imports the whole bot

    return loads_in_child(data)


def _best(repeat: int, run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def inputs(args: argparse.Namespace) -> tuple[bytes, bytes, list[str], str]:
    """(snapshot, a copy with CHURN of its servers changed, rule lines, where from)."""
    if args.snapshot:
        with open(args.snapshot, "rb") as file:
            data = file.read()
        with open(args.rules, encoding="utf-8") as file:
            lines = [ln.strip() for ln in file if ln.strip() and not ln.strip().startswith("#")]
        return data, mutate_snapshot(data, CHURN, args.seed), lines, args.snapshot
    if not args.rules.isdigit():
        raise ValueError("--rules is a number unless --snapshot is given")
    data = generated_snapshot(args.servers, args.seed)
    return (
        data,
        generated_mutation(data, args.seed + 1),
        generate_rules(int(args.rules), args.seed, args.broad),
        f"generated, seed {args.seed}",
    )


def _owners(data: bytes, rules: list[Rule], share: float, seed: int) -> list[int | None]:
    """Rule owners: `share` of the rules belong to users whose clore account is linked,
    drawn from the busiest bidders (whose own bids then stay out of their competition)."""
    counts: dict[int, int] = {}
    for server in decode_snapshot(data).servers.values():
        for bid in server.bids:
            counts[bid.owner] = counts.get(bid.owner, 0) + 1
    bidders = sorted(counts, key=lambda owner: -counts[owner])[:LINKED_ACCOUNTS]
    rng = random.Random(seed)
    return [rng.choice(bidders) if bidders and rng.random() < share else None for _ in rules]


def _full(
    data: bytes, rules: list[Rule], owners: list[int | None], clore_price: float
) -> tuple[Matcher, Snapshot, int]:
    snapshot = decode_snapshot(data)
    matcher = Matcher()
    matcher.track_owners({owner for owner in owners if owner is not None})
    for rule_id, (rule, owner) in enumerate(zip(rules, owners, strict=True)):
        matcher.set_rule(rule_id, rule, owner)
    return matcher, snapshot, len(matcher.update(snapshot, clore_price).started)


def main(args: argparse.Namespace) -> int:
    if args.cycle:
        from bot import bench_cycle  # imports the whole bot; the matcher bench needs none of it

        return bench_cycle.main(args)
    runtime.tune()  # as `gigaspot-bot run` does
    try:
        data, changed, lines, source = inputs(args)
        start = time.perf_counter()
        rules = [parse_rule(line) for line in lines]
        parse_time = time.perf_counter() - start
    except (OSError, ValueError, RuleError, subprocess.CalledProcessError) as exc:
        print(f"gigaspot-bot bench: {exc}", file=sys.stderr)
        return 2
    clore, repeat = args.clore_price, max(1, args.repeat)
    try:
        owners = _owners(data, rules, args.linked, args.seed)
        full = _best(repeat, lambda: _full(data, rules, owners, clore))
        matcher, snapshot, n_matches = _full(data, rules, owners, clore)
    except SnapshotError as exc:
        print(f"gigaspot-bot bench: {exc}", file=sys.stderr)
        return 2

    # Alternate between the two documents: every cycle changes about CHURN of the servers.
    state: dict[str, Any] = {
        "snapshot": snapshot, "next": changed, "other": data, "transitions": 0
    }

    def incremental() -> None:
        new = decode_snapshot(state["next"], state["snapshot"])
        found = matcher.update(new, clore)
        state["transitions"] = len(found.started) + len(found.stopped) + len(found.repriced)
        state["snapshot"], state["next"], state["other"] = new, state["other"], state["next"]

    incremental_time = _best(repeat, incremental)
    transitions = state["transitions"]

    # The same document downloaded again: equal bytes, but a new object (no identity shortcut).
    copies = [bytes(bytearray(state["snapshot"].source)) for _ in range(repeat)]

    def idle() -> None:
        new = decode_snapshot(copies.pop(), state["snapshot"])
        matcher.update(new, clore)

    idle_time = _best(repeat, idle)
    # json.loads last: its Python objects would otherwise set the peak of the matcher's run.
    matcher_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    loads = _best(repeat, lambda: json.loads(data))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def line(label: str, seconds: float, note: str = "") -> None:
        ratio = seconds / loads if loads else float("nan")
        print(f"{label:<34} {seconds * 1000:9.1f} ms  {ratio:6.3f}x json.loads  {note}".rstrip())

    print(
        f"snapshot: {source}, {len(snapshot.servers)} servers, {len(data) / 1e6:.1f} MB; "
        f"{len(rules)} rules (parsed in {parse_time * 1000:.0f} ms), "
        f"{sum(o is not None for o in owners)} of them of {len(set(owners) - {None})} linked "
        f"accounts whose bids are tracked; best of {repeat}"
    )
    line("json.loads", loads)
    line("full evaluation (decode + rules)", full, f"{n_matches} matches")
    line(f"incremental cycle ({CHURN:.0%} changed)", incremental_time,
         f"{transitions} transitions")  # fmt: skip
    line("idle cycle (same bytes)", idle_time)
    # A plain script's json.loads: Python's default settings, whose garbage collections make
    # it slower than the in-process figure above (the bot's settings): the lenient ratios.
    fresh = _loads_in_child(data)
    print(f"{'json.loads in a fresh process':<34} {fresh * 1000:9.1f} ms  full "
          f"{full / fresh:.3f}x, incremental {incremental_time / fresh:.3f}x against it")
    print(f"{'peak RSS before json.loads':<34} {matcher_peak_mb:9.1f} MB")
    print(f"{'peak RSS':<34} {peak_mb:9.1f} MB")
    return 0
