"""`gigaspot-bot scan`: match a file of watch rules against a snapshot file.

Exit status 0 on success, 2 on a bad rule, an unreadable file or a document that is not a
GigaSPOT snapshot. `--format tsv` is the machine contract of docs/market-contract.md:
`LINE<TAB>SERVER_ID<TAB>PRICE_TO_WIN`, sorted by line, then server id as a number.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Mapping
from typing import TextIO

from bot.market.history import HistoryFileError, SeriesKey, read_medians
from bot.market.matcher import Match, Matcher
from bot.market.rules import Rule, RuleError, parse_rule, uses_deal
from bot.market.snapshot import Server, Snapshot, SnapshotError, decode_snapshot

HELP = "match rules against a snapshot file"


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive price")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--snapshot", required=True, metavar="FILE", help="snapshot JSON file")
    parser.add_argument("--rules", required=True, metavar="FILE", help="one rule per line")
    parser.add_argument("--format", choices=("table", "tsv"), default="table")
    parser.add_argument(
        "--clore-price", type=_positive, metavar="USD", help="USD per CLORE (energy is 0 without)"
    )
    parser.add_argument(
        "--user-id", type=int, metavar="ID", help="clore user id whose bids do not compete"
    )
    parser.add_argument(
        "--history", metavar="FILE",
        help="price history for `deal` (gigaspot-bot history export --format json)",
    )  # fmt: skip


class ScanError(Exception):
    """Reported as one line on stderr with exit status 2."""


def read_rules(text: str, source: str = "rules") -> list[tuple[int, Rule]]:
    """(line number, rule) for every rule line; ScanError listing every bad line."""
    rules, problems = [], []
    # Lines end at \n, \r\n or \r, as when a text file is read line by line.
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            rules.append((number, parse_rule(stripped)))
        except RuleError as exc:
            problems.append(f"bad rule on line {number} of {source}: {exc}")
    if problems:
        raise ScanError(*problems)
    return rules


def scan(snapshot: Snapshot, rules: list[tuple[int, Rule]], clore_price: float | None,
         user_id: int | None, medians: Mapping[SeriesKey, float] | None = None,
         ) -> list[Match]:  # fmt: skip
    """Matches sorted by rule line, then server id as a number (rule_id is the line).
    `medians`: the 7-day medians `deal` compares with."""
    matcher = Matcher()
    matcher.set_medians(medians or {})
    for number, rule in rules:
        matcher.set_rule(number, rule, user_id)
    return matcher.update(snapshot, clore_price).started.sorted().matches()


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as exc:
        raise ScanError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def _load(args: argparse.Namespace, err: TextIO) -> tuple[Snapshot, list[tuple[int, Rule]]]:
    try:
        text = _read(args.rules, "rules file").decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ScanError(f"rules file {args.rules} is not UTF-8 text") from None
    rules = read_rules(text, args.rules)
    try:
        snapshot = decode_snapshot(_read(args.snapshot, "snapshot"))
    except SnapshotError as exc:
        first_line = " ".join(str(exc).split())
        raise ScanError(f"{args.snapshot}: {first_line}") from None
    for server_id, reason in sorted(snapshot.skipped.items(), key=_id_order):
        print(f"warning: server {server_id} skipped: {reason}", file=err)
    return snapshot, rules


def _medians(args: argparse.Namespace, rules: list[tuple[int, Rule]]) -> dict[SeriesKey, float]:
    """The medians of --history; without it, a rule using `deal` is an error."""
    if args.history is None:
        needing = [str(number) for number, rule in rules if uses_deal(rule)]
        if needing:
            raise ScanError(
                f"rules on line(s) {', '.join(needing)} of {args.rules} use deal, which needs "
                "price history: add --history FILE (written by gigaspot-bot history export "
                "--format json)"
            )
        return {}
    try:
        return read_medians(_read(args.history, "history file"))[0]
    except HistoryFileError as exc:
        raise ScanError(f"{args.history}: {exc}") from None


def _id_order(item: tuple[str, str]) -> tuple[int, int, str]:
    server_id = item[0]
    numeric = server_id.isascii() and server_id.isdigit()
    return (0, int(server_id), "") if numeric else (1, 0, server_id)


def _gpus(server: Server) -> str:
    models: dict[str, int] = {}
    for gpu in server.gpus:
        models[gpu.model] = models.get(gpu.model, 0) + 1
    return " + ".join(f"{n}x {model}" for model, n in models.items()) or "no GPU"


def _table(matches: list[Match], snapshot: Snapshot, out: TextIO) -> None:
    header = ("rule", "server", "GPUs", "price to win", "cc", "reliability", "CUDA")
    rows = [header]
    for match in matches:
        server = snapshot.servers[match.server_id]
        rows.append((
            str(match.rule_id), match.server_id, _gpus(server), f"{match.price_to_win:.4f}",
            server.cc, f"{server.reliability * 100:.1f}%", server.cuda,
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    right = {0, 1, 3, 5}
    for row in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in
                 enumerate(zip(row, widths, strict=True))]  # fmt: skip
        print("  ".join(cells).rstrip(), file=out)
    print(f"{len(matches)} match(es)", file=out)


def main(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        snapshot, rules = _load(args, err)
        medians = _medians(args, rules)
    except ScanError as exc:
        for problem in exc.args:
            print(f"gigaspot-bot scan: {problem}", file=err)
        return 2
    matches = scan(snapshot, rules, args.clore_price, args.user_id, medians)
    if args.format == "tsv":
        out.write("".join(f"{m.rule_id}\t{m.server_id}\t{m.price_to_win + 0.0:.4f}\n"
                          for m in matches))  # fmt: skip
    else:
        _table(matches, snapshot, out)
    return 0
