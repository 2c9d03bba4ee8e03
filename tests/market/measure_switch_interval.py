"""How much a busy event loop slows the matcher's thread, at several GIL switch intervals.

The matcher's update is thousands of short numpy calls, each giving up the GIL and taking it
back. While another thread runs Python (the event loop rendering answers for a busy chat),
every take-back can wait up to `sys.getswitchinterval()`. This times one full update at
10,000 generated servers x 10,000 rules alone, then beside a thread that spins in Python,
once per interval. Run from the repository root (about a minute):

    .venv/bin/python -m tests.market.measure_switch_interval [--servers 10000]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

from bot import runtime
from bot.bench import BROAD, LINKED_ACCOUNTS, _owners, generated_snapshot
from bot.market.generate import generate_rules
from bot.market.matcher import Matcher
from bot.market.rules import Rule, parse_rule
from bot.market.snapshot import decode_snapshot


def _spin(stop: threading.Event) -> None:
    total = 0
    while not stop.is_set():
        for i in range(1000):
            total += i


def _update_seconds(data: bytes, rules: list[Rule], owners: list[int | None], busy: bool) -> float:
    matcher = Matcher()
    matcher.track_owners({owner for owner in owners if owner is not None})
    for rule_id, (rule, owner) in enumerate(zip(rules, owners, strict=True)):
        matcher.set_rule(rule_id, rule, owner)
    snapshot = decode_snapshot(data)
    stop = threading.Event()
    spinner = threading.Thread(target=_spin, args=(stop,))
    if busy:
        spinner.start()
    try:
        start = time.perf_counter()
        matcher.update(snapshot, 0.02)
        return time.perf_counter() - start
    finally:
        stop.set()
        if busy:
            spinner.join()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--servers", type=int, default=10_000)
    parser.add_argument("--rules", type=int, default=10_000)
    args = parser.parse_args()
    runtime.tune()
    data = generated_snapshot(args.servers, 1)
    rules = [parse_rule(line) for line in generate_rules(args.rules, 1, BROAD)]
    owners = _owners(data, rules, 0.5, 1)
    print(f"{args.servers} servers x {args.rules} rules, {LINKED_ACCOUNTS} tracked bidders")
    for interval in (0.005, 0.001, runtime.SWITCH_INTERVAL, 0.0002):
        sys.setswitchinterval(interval)
        alone = _update_seconds(data, rules, owners, busy=False)
        busy = _update_seconds(data, rules, owners, busy=True)
        print(f"switch interval {interval * 1000:5.2f} ms: update alone {alone * 1000:7.0f} ms, "
              f"beside a busy Python thread {busy * 1000:7.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
