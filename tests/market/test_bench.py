from __future__ import annotations

from bot import cli


def test_bench_runs_small_and_reports_every_figure(capsys) -> None:
    assert cli.main(["bench", "--servers", "120", "--rules", "60", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    for label in ("json.loads", "full evaluation", "incremental cycle", "idle cycle", "peak RSS"):
        assert label in out
    assert "120 servers" in out and "60 rules" in out


def test_bench_on_files(tmp_path, capsys) -> None:
    from bot.market.generate import generate_rules, generate_snapshot

    (tmp_path / "s.json").write_bytes(generate_snapshot(80, 2))
    (tmp_path / "r.txt").write_text("# rules\n" + "\n".join(generate_rules(30, 2)) + "\n")
    argv = ["bench", "--snapshot", str(tmp_path / "s.json"), "--rules", str(tmp_path / "r.txt")]
    assert cli.main([*argv, "--repeat", "1"]) == 0
    assert "30 rules" in capsys.readouterr().out
