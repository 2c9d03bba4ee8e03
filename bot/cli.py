"""The `gigaspot-bot` command: run, migrate, copy-db, scan, bench, demo, history.

Each subcommand lives in its own module exposing `HELP`, `add_arguments(parser)` and
`main(args) -> int`. Modules are imported only when their subcommand runs, so `scan` does not
pay for importing the Telegram stack.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "run": ("bot.app", "run the bot (polls clore, serves Telegram)"),
    "migrate": ("bot.db.migrate", "apply database migrations and exit"),
    "copy-db": ("bot.db.copy", "copy a database to another (SQLite -> PostgreSQL), verified"),
    "scan": ("bot.scan", "match rules against a snapshot file"),
    "bench": ("bot.bench", "measure the matcher against json.loads"),
    "demo": ("bot.simulated.demo", "the bot on a simulated market, in a browser"),
    "history": ("bot.history_export", "export the market's price history (CSV or JSON)"),
}


def _usage() -> str:
    lines = ["usage: gigaspot-bot COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<9} {help_}" for name, (_, help_) in SUBCOMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in {"-h", "--help"}:
        print(_usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"gigaspot-bot: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[name][0])
    parser = argparse.ArgumentParser(prog=f"gigaspot-bot {name}", description=module.HELP)
    module.add_arguments(parser)
    return int(module.main(parser.parse_args(rest)) or 0)


if __name__ == "__main__":
    sys.exit(main())
