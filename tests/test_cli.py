"""The command line: help everywhere, names checked, real work done through it."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import benchmark
from benchmark.cli import build_parser, main
from benchmark.evaluation import save_predictions

COMMANDS = ["list", "info", "generate", "release", "fetch", "run", "study", "evaluate", "submit", "leaderboard", "card"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_module_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "benchmark", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and benchmark.__version__ in out.stdout


def test_misspelled_family_names_valid_ones(capsys):
    with pytest.raises(SystemExit):
        main(["info", "ndlr"])
    err = capsys.readouterr().err
    assert "unknown family 'ndlr'" in err and "Did you mean 'ndlar'" in err and "jets" in err


def test_generate_info_and_evaluate_through_cli(tmp_path, capsys):
    assert main(["generate", "toy", "--size", "tiny", "--workers", "1", "--quiet", "--cache-dir", str(tmp_path)]) == 0
    assert "complete: True" in capsys.readouterr().out
    assert main(["info", "toy", "--size", "tiny", "--cache-dir", str(tmp_path)]) == 0
    info = capsys.readouterr().out
    assert "generator version 1" in info and "data/nominal/test-00000.h5" in info
    # predictions written by "another program": the true class from the dataset, to check wiring
    preds = tmp_path / "preds"
    for domain in ("nominal", "shifted", "scan_2"):
        ds = benchmark.load_dataset("toy", domain, split="test", size="tiny", cache_dir=tmp_path)
        save_predictions(preds / f"{domain}.npz", ds["event_id"], np.eye(3)[ds["label"]])
    assert main(["evaluate", "toy", str(preds), "--size", "tiny", "--cache-dir", str(tmp_path),
                 "--output", str(tmp_path / "m.json")]) == 0
    report = json.loads((tmp_path / "m.json").read_text())
    assert report["per_domain"]["shifted"]["accuracy"] == 1.0
    assert main(["evaluate", "toy", str(preds), "--protocol", "robustnes", "--size", "tiny",
                 "--cache-dir", str(tmp_path)]) == 1
    assert "Did you mean 'robustness'" in capsys.readouterr().err


def test_unknown_domain_in_generate(tmp_path, capsys):
    assert main(["generate", "toy", "--domains", "nominl", "--cache-dir", str(tmp_path), "--quiet"]) == 1
    assert "Did you mean 'nominal'" in capsys.readouterr().err


def test_list_shows_protocols_and_baselines(capsys):
    assert main(["list", "--family", "toy"]) == 0
    out = capsys.readouterr().out
    for word in ("robustness", "domain_shift", "linear_probe", "scan_2", "baselines/linear_probe"):
        assert word in out


def test_parser_knows_all_commands():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(COMMANDS)


def test_run_takes_several_protocols_and_runs_only_those(toy_cache, tmp_path):
    """``run --protocol a b``: exactly those protocols (sharing one fit per seed where entitled)."""
    folder = tmp_path / "floor"
    folder.mkdir()
    (folder / "method.yaml").write_text(
        "name: floor\nframework: sklearn\nfamilies: [toy]\nprotocols: [robustness, domain_shift, linear_probe]\n"
        "entry: benchmark.methods.features:PhysicsFeatureLinear\n")
    out = tmp_path / "out"
    assert main(["run", str(folder), "--dataset", "toy", "--protocol", "robustness", "linear_probe", "--seeds", "0",
                 "--out", str(out), "--cache-dir", str(toy_cache)]) == 0
    assert sorted(p.parent.name for p in out.glob("*/result.json")) == ["linear_probe", "robustness"]
    assert build_parser().parse_args(["run", str(folder), "--protocol", "robustness"]).protocol == ["robustness"]
