"""`gigaspot-bot history export`: the price history as CSV or JSON, for your own analysis.

`gigaspot-bot history export [--gpu G] [--since 7d] [--format csv|json] [--database-url URL]`
writes to stdout. Prices are CLORE/day per GPU (the price to win, every bid competing, energy
at the snapshot's CLORE price); `span` 0 is one snapshot, 3600 an hourly aggregate starting
at `at`. The JSON is what `gigaspot-bot scan --history FILE` reads
(`bot.market.history.read_medians`).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.engine import make_url

from bot.config import ConfigError, load_database_settings
from bot.db.engine import create_engine, session_factory
from bot.db.repositories import price_history as repo
from bot.market.history import EXPORT_FORMAT

HELP = "export the market's price history (CSV or JSON)"
FORMAT_VERSION = 1
_SINCE = re.compile(r"(\d{1,5})([hd])")
FIELDS = ("model", "gpu_count", "span", "at", "time_utc", "rentable", "available", "low",
          "p25", "median", "p90")  # fmt: skip


def since_seconds(text: str) -> int:
    match = _SINCE.fullmatch(text.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a period like 24h or 7d")
    return int(match.group(1)) * (3600 if match.group(2) == "h" else 86400)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    export = actions.add_parser("export", help=HELP, description=HELP)
    export.add_argument("--gpu", help="only models containing this text (case-insensitive)")
    export.add_argument("--since", type=since_seconds, default=180 * 86400, metavar="PERIOD",
                        help="how far back, e.g. 24h or 7d (default 180d: everything)")
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    export.add_argument("--database-url",
                        help="SQLAlchemy async URL (default: DATABASE_URL from the environment)")


async def export(
    database_url: str, gpu: str | None, since: int, now: int, fmt: str, out: TextIO
) -> None:
    """Write every series (of models containing `gpu`) with its points since `now - since`,
    one series at a time (a long history never sits in memory whole)."""
    engine = create_engine(database_url)
    wanted = " ".join((gpu or "").split()).lower()
    writer = csv.writer(out, lineterminator="\n")
    try:
        async with session_factory(engine, read_only=True)() as s:
            series = [found for found in await repo.all_series(s)
                      if wanted in found.model.lower()]  # fmt: skip
            if fmt == "json":
                head = {"format": EXPORT_FORMAT, "version": FORMAT_VERSION, "exported_at": now,
                        "units": "CLORE/day per GPU"}  # fmt: skip
                out.write(json.dumps(head, separators=(",", ":"))[:-1] + ',"series":[')
            else:
                writer.writerow(FIELDS)
            for number, found in enumerate(series):
                points = [
                    {"span": span, **point_dict(p)}
                    for span in (repo.HOUR, repo.SNAPSHOT)
                    for p in await repo.points(s, found.id, span, now - since)
                ]
                entry = {"model": found.model, "gpu_count": found.gpu_count,
                         "first_at": found.first_at, "points": points}  # fmt: skip
                if fmt == "json":
                    out.write(("," if number else "") + json.dumps(entry, separators=(",", ":")))
                else:
                    write_rows(writer, entry)
            if fmt == "json":
                out.write("]}\n")
    finally:
        await engine.dispose()


def point_dict(p: repo.Point) -> dict[str, Any]:
    return {"at": p.at, "rentable": p.rentable, "available": p.available, "low": p.low,
            "p25": p.p25, "median": p.median, "p90": p.p90}  # fmt: skip


def write_rows(writer: Any, series: Mapping[str, Any]) -> None:
    for p in series["points"]:
        when = datetime.fromtimestamp(p["at"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        writer.writerow([
            series["model"], series["gpu_count"], p["span"], p["at"], when, p["rentable"],
            p["available"], *("" if p[k] is None else p[k] for k in FIELDS[7:]),
        ])  # fmt: skip


def main(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        database_url = args.database_url or load_database_settings().database_url
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    now = int(datetime.now(UTC).timestamp())
    url = make_url(database_url)
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        print(f"gigaspot-bot history: no database at {shown}", file=sys.stderr)
        return 2
    try:
        asyncio.run(export(database_url, args.gpu, args.since, now, args.format, out))
    except Exception as exc:  # e.g. a database from before the history: one line
        reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
        print(f"gigaspot-bot history: cannot read {shown}: {reason}", file=sys.stderr)
        return 2
    return 0
