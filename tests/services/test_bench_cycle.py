"""`gigaspot-bot bench --cycle` runs the real cycle and prints every figure it promises."""

from __future__ import annotations

import re

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
