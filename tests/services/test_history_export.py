"""`gigaspot-bot history export` (CSV, JSON) and `scan --history` with the `deal` key,
through the real command line over a database the history service filled."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.market.history import HistoryFileError, read_medians
from tests.market.factory import encode, gpu, server_dict
from tests.services.test_price_history import ctx, market  # noqa: F401  (fixture)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True,
                          text=True, timeout=60)  # fmt: skip


async def test_export_then_scan_with_deal(ctx, tmp_path: Path) -> None:  # noqa: F811
    context, clock = ctx
    now = datetime.now(UTC)
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=30)
    for n in range(61):  # 30 hours, every half hour
        clock[0] = start + n * timedelta(minutes=30)
        await context.market.apply(market(n // 2), None, f"u{n}")
        await context.history.record(context)
    url = context.settings.database_url
    exported = cli("history", "export", "--format", "json", "--database-url", url)
    assert exported.returncode == 0, exported.stderr
    document = json.loads(exported.stdout)
    keys = {(s["model"], s["gpu_count"]) for s in document["series"]}
    assert keys == {("RTX 4090", 1), ("RTX 4090", 0), ("RTX 3090", 2), ("RTX 3090", 0)}
    medians, _ = read_medians(exported.stdout)
    expected = dict(context.history.medians)  # what the bot itself compares with
    assert medians == {k: v for k, v in expected.items() if k[1] != 0}
    median_4090 = medians[("RTX 4090", 1)]

    as_csv = cli("history", "export", "--gpu", "3090", "--since", "2h", "--database-url", url)
    assert as_csv.returncode == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert rows and {r["model"] for r in rows} == {"RTX 3090"}
    assert {r["span"] for r in rows} == {"0", "3600"}

    history = tmp_path / "history.json"
    history.write_text(exported.stdout)
    snapshot = tmp_path / "snapshot.json"
    cheap, fair = round(median_4090 * 0.8, 2), round(median_4090 * 0.95, 2)
    snapshot.write_bytes(encode({
        "1": server_dict(min_bid=cheap, gpus=[gpu()]),
        "2": server_dict(min_bid=fair, gpus=[gpu()]),
        "3": server_dict(min_bid=1.0, gpus=[gpu("RTX 3060")]),  # no history: never a deal
    }))  # fmt: skip
    rules = tmp_path / "rules.txt"
    rules.write_text("# deals\ndeal>=15\ndeal>=3\n")
    found = cli("scan", "--snapshot", str(snapshot), "--rules", str(rules), "--format", "tsv",
                "--history", str(history))  # fmt: skip
    assert found.returncode == 0, found.stderr
    assert found.stdout == f"2\t1\t{cheap:.4f}\n3\t1\t{cheap:.4f}\n3\t2\t{fair:.4f}\n"

    refused = cli("scan", "--snapshot", str(snapshot), "--rules", str(rules))
    assert refused.returncode == 2 and refused.stdout == ""
    assert "rules on line(s) 2, 3 of" in refused.stderr
    assert "use deal, which needs price history: add --history FILE" in refused.stderr


def test_a_history_file_that_is_not_one() -> None:
    with pytest.raises(HistoryFileError, match="not a price history export"):
        read_medians('{"servers": {}}')
    with pytest.raises(HistoryFileError, match="not a valid"):
        read_medians("[1, 2")
