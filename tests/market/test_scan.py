from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot import cli
from bot.market.generate import generate_rules, generate_snapshot
from bot.market.ranking import price_to_win
from bot.market.rules import parse_rule, rule_matches
from bot.market.snapshot import decode_snapshot
from tests.market.factory import bid, gpu, server_dict

SEED = Path(__file__).resolve().parents[1] / "data" / "seed-snapshot.json"
ROOT = Path(__file__).resolve().parents[2]


def run(tmp_path: Path, capsys, document, rules: str, *extra: str) -> tuple[int, str, str]:
    snap = tmp_path / "snapshot.json"
    snap.write_bytes(document if isinstance(document, bytes) else json.dumps(document).encode())
    rules_file = tmp_path / "rules.txt"
    rules_file.write_text(rules)
    code = cli.main(["scan", "--snapshot", str(snap), "--rules", str(rules_file), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def tsv(tmp_path, capsys, document, rules, *extra):
    return run(tmp_path, capsys, document, rules, "--format", "tsv", *extra)


@pytest.mark.skipif(not SEED.exists(), reason="seed snapshot not present")
def test_subprocess_scan_of_the_seed_snapshot(tmp_path: Path) -> None:
    rules = tmp_path / "rules.txt"
    rules.write_text("# seed\n\ngpu=1660 rel>=97\ngpu=4090 online=any\nprice<=13.5\n")
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "scan", "--snapshot", str(SEED), "--rules", str(rules),
         "--format", "tsv"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "3\t35083\t13.5067\n4\t40329\t13.4796\n"


def test_sorted_by_line_then_numeric_server_id_with_4_decimals(tmp_path, capsys) -> None:
    doc = {
        "10": server_dict(min_bid=2.0),
        "9": server_dict(min_bid=1.23456),
        "100": server_dict(min_bid=3.0, gpus=[gpu("RTX 3090")]),
    }
    code, out, err = tsv(tmp_path, capsys, doc, "gpu=3090\n\n# all\nprice>0\n")
    assert (code, err) == (0, "")
    assert out.splitlines() == ["1\t100\t3.0000", "4\t9\t1.2346", "4\t10\t2.0000", "4\t100\t3.0000"]


def test_line_numbers_count_every_line_ending(tmp_path, capsys) -> None:
    rules = "\ufeff# c\r\n\r\n  \t\ngpu=4090\rprice>0\x0cfoo=1\n"
    code, out, err = tsv(tmp_path, capsys, {"1": server_dict()}, rules)
    assert (code, out) == (2, "")
    assert "line 5" in err and "foo=1" in err  # a form feed does not end a line


def test_clore_price_and_user_id(tmp_path, capsys) -> None:
    doc = {"1": server_dict(min_bid=1.0, energy_price=0.1, bids=[bid(7, 20, pl=500)])}
    assert tsv(tmp_path, capsys, doc, "price>0\n")[1] == "1\t1\t20.0000\n"
    # energy(500) = 24 at 0.05 USD/CLORE: score -4; + energy(150 W base) 7.2 -> 3.2
    assert tsv(tmp_path, capsys, doc, "price>0\n", "--clore-price", "0.05")[1] == "1\t1\t3.2000\n"
    assert tsv(tmp_path, capsys, doc, "price>0\n", "--user-id", "7")[1] == "1\t1\t1.0000\n"


def test_bad_rule_exit_2_nothing_on_stdout(tmp_path, capsys) -> None:
    code, out, err = tsv(tmp_path, capsys, {"1": server_dict()}, "gpu=4090\n\n# x\nfoo=1 gpu=4\n")
    assert (code, out) == (2, "")
    assert "line 4" in err and "foo=1" in err and "Traceback" not in err
    code, out, err = tsv(tmp_path, capsys, {"1": server_dict()}, 'cc=DE,,\ngpu="RTX\n')
    assert (code, out) == (2, "")
    assert "line 1" in err and "cc=DE,," in err and "line 2" in err and 'gpu="RTX' in err


@pytest.mark.parametrize(
    "document",
    [b"{not json", b"", b"[1, 2]", b'"text"', b'{"my_user_id": 3, "code": 0}', b"\xff\xfe"],
)
def test_bad_snapshot_one_line_exit_2(tmp_path, capsys, document: bytes) -> None:
    code, out, err = tsv(tmp_path, capsys, document, "gpu=4090\n")
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1 and "snapshot" in err and "Traceback" not in err


def test_missing_snapshot_file(tmp_path, capsys) -> None:
    rules = tmp_path / "rules.txt"
    rules.write_text("gpu=4090\n")
    code = cli.main(["scan", "--snapshot", str(tmp_path / "nope.json"), "--rules", str(rules)])
    _, err = capsys.readouterr()
    assert code == 2 and len(err.splitlines()) == 1


def test_bad_servers_are_skipped_with_a_warning_unknown_fields_ignored(tmp_path, capsys) -> None:
    lacking = server_dict()
    del lacking["cores"]
    doc = {
        "1": server_dict(extra_field={"new": True}),
        "2": lacking,
        "3": server_dict(online="yes"),
        "4": server_dict(bids=[{"owner": 1, "id": 2, "active": True, "price": "5", "pl": 1}]),
        "5": server_dict(gpus=[{"model": "RTX 4090"}]),
    }
    code, out, err = tsv(tmp_path, capsys, doc, "gpu=4090\n")
    assert (code, out) == (0, "1\t1\t10.0000\n")
    warned = [line.split()[2] for line in err.splitlines()]
    assert warned == ["2", "3", "4", "5"]
    assert all(line.startswith("warning: server ") for line in err.splitlines())


def test_a_snapshot_with_only_the_fields_the_contract_uses(tmp_path, capsys) -> None:
    minimal = {
        "bids": [{"owner": 1, "active": True, "price": 12.5, "pl": 200}],
        "on_demand_rented": False, "online": True, "cpu": "x", "cores": 1, "threads": 2,
        "ram": 8, "gpus": [{"model": "RTX 4090", "pl": [150, 450]}], "working_properly": True,
        "cuda": "12.4", "max_rental_length": 3600, "cc": "DE", "host": 1, "reliability": 1,
        "min_bid": 3, "energy_price": 0.1,
    }  # fmt: skip
    assert tsv(tmp_path, capsys, {"7": minimal}, "gpu=4090\n") == (0, "1\t7\t12.5000\n", "")


def test_only_broken_servers_still_scans(tmp_path, capsys) -> None:
    lacking = server_dict()
    del lacking["bids"]
    code, out, err = tsv(tmp_path, capsys, {"1": lacking}, "gpu=4090\n")
    assert (code, out) == (0, "") and "server 1" in err


def test_table_format_is_readable(tmp_path, capsys) -> None:
    doc = {"5": server_dict(gpus=[gpu("RTX 4090")] * 2, cc="NL", reliability=0.975)}
    code, out, _ = run(tmp_path, capsys, doc, "gpu=4090\n")
    assert code == 0
    header, row, total = out.splitlines()
    assert header.split()[:3] == ["rule", "server", "GPUs"]
    assert "2x RTX 4090" in row and "10.0000" in row and "NL" in row and "97.5%" in row
    assert total == "1 match(es)"


def test_scan_of_a_generated_snapshot_equals_the_reference(tmp_path, capsys) -> None:
    data = generate_snapshot(150, 11)
    texts = generate_rules(40, 11)
    code, out, _ = tsv(tmp_path, capsys, data, "\n".join(texts) + "\n", "--clore-price", "0.03")
    assert code == 0
    snap = decode_snapshot(data)
    expected = [
        f"{line}\t{sid}\t{price_to_win(snap.servers[sid], 0.03, None):.4f}"
        for line, text in enumerate(texts, start=1)
        for sid in snap.sorted_ids()
        if rule_matches(parse_rule(text), snap.servers[sid],
                        price_to_win(snap.servers[sid], 0.03, None), sid)
    ]
    assert out.splitlines() == expected and expected


def test_bad_clore_price_is_a_usage_error(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        tsv(tmp_path, capsys, {"1": server_dict()}, "gpu=4090\n", "--clore-price", "0")
    assert exit_.value.code == 2
