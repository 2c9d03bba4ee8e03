"""`gigaspot-bot bench --cycle` runs the real cycle and prints every figure it promises."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from bot import cli
from bot.bench_cycle import LABELS


def test_bench_cycle_prints_each_figure_once(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench", "--cycle", "--servers", "150", "--rules", "120", "--users",
                     "30"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    for label in LABELS:
        (line,) = [ln for ln in out.splitlines() if ln.startswith(label + " ")]
        assert re.search(r"\d+\.\d ms +\d+\.\d{3}x json\.loads$", line), line
    for label in ("slowest chat answer", "peak RSS", "database size"):
        assert any(ln.startswith(label) for ln in out.splitlines()), label
    counts = dict(re.findall(r"^(matches|outbox rows) +(\d+)$", out, re.M))
    assert int(counts["matches"]) > 0 and int(counts["outbox rows"]) > 0


def test_bench_cycle_rejects_a_rules_count_that_is_no_number(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["bench", "--cycle", "--rules", "rules.txt"]) == 2
    assert "--rules is a number" in capsys.readouterr().err


def test_cycle_stages_script_times_every_stage_of_each_scenario() -> None:
    # A subprocess: the script wraps the bot's functions in timers for its whole process.
    done = subprocess.run(
        [sys.executable, "-m", "tests.services.measure_cycle_stages", "--servers", "150",
         "--rules", "120", "--users", "30"],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    sections = re.split(r"^\n", done.stdout, flags=re.M)
    titles = [section.splitlines()[0] for section in sections if section.strip()]
    assert [re.sub(r": [\d.]+ ms$", "", t) for t in titles if not t.startswith("raw")] == [
        "first cycle",
        "10% of servers changed",
        "restart, then first cycle (child process, as the benchmark times it)",
    ]
    first = next(s for s in sections if s.startswith("first cycle"))
    for stage in ("matcher update (thread)", "decide", "write transaction",
                  "render match alerts", "queue messages"):  # fmt: skip
        (line,) = [ln for ln in first.splitlines() if ln.strip().startswith(stage + " ")]
        assert re.search(r" [\d.]+ ms +[1-9]\d* calls ", line), line
    restart = sections[-1]
    assert "start: register rules" in restart and "start: rebuild memory" in restart
    assert re.search(r"^raw sqlite3 executemany of the [1-9]\d* rows", done.stdout, re.M)
