"""Method folders: the Python-class and external-program forms, method.yaml checks, resume."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from benchmark.methods.base import MethodConfigError, load_method_spec
from benchmark.results import load_result
from benchmark.runner import run_method

ROOT = Path(__file__).resolve().parents[1]


def _copy_for_toy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    spec = yaml.safe_load((dst / "method.yaml").read_text())
    spec["families"] = ["toy"]
    (dst / "method.yaml").write_text(yaml.safe_dump(spec))
    return dst


@pytest.mark.parametrize("example", ["docs/examples/sklearn_forest", "docs/examples/external_numpy",
                                     "baselines/linear_probe"])
def test_examples_run_end_to_end(example, toy_cache, tmp_path):
    folder = _copy_for_toy(ROOT / example, tmp_path / "method")
    paths = run_method(folder, seeds=[0, 1, 2], cache_dir=toy_cache, out=tmp_path / "out", progress=False)
    for path in paths:
        result = load_result(path)  # validates against the schema
        assert result["dataset"]["family"] == "toy" and result["seeds"] == [0, 1, 2]
        nominal = result["aggregate"]["per_domain"]["nominal"]["accuracy"]["mean"]
        assert nominal > 0.6, f"{example}: nominal accuracy {nominal} is no better than chance"
        for seed in (0, 1, 2):
            for domain in result["domains"]:
                assert (path.parent / f"predictions/seed{seed}/{domain}.npz").exists()


def test_interrupted_run_resumes_finished_seeds(toy_cache, tmp_path):
    folder = _copy_for_toy(ROOT / "baselines/linear_probe", tmp_path / "m")
    run_method(folder, protocols=["robustness"], seeds=[0], cache_dir=toy_cache, out=tmp_path / "o", progress=False)
    done = tmp_path / "o/robustness/seed0/done.json"
    record = json.loads(done.read_text())
    record["marker"] = "kept"
    done.write_text(json.dumps(record))
    run_method(folder, protocols=["robustness"], seeds=[0, 1], cache_dir=toy_cache, out=tmp_path / "o", progress=False)
    assert json.loads(done.read_text())["marker"] == "kept"  # seed 0 was not recomputed
    assert (tmp_path / "o/robustness/seed1/done.json").exists()


@pytest.mark.parametrize("content, message", [
    ({"protocols": ["robustnes"], "entry": "x:Y"}, "protocols must be"),
    ({"protocols": ["robustness"]}, "exactly one of 'entry'"),
    ({"protocols": ["robustness"], "entry": "a:B", "command": ["x"]}, "exactly one of 'entry'"),
    ({"name": "../evil", "protocols": ["robustness"], "entry": "a:B"}, "may only use"),
])
def test_malformed_method_yaml_is_refused(tmp_path, content, message):
    (tmp_path / "method.yaml").write_text(yaml.safe_dump(content))
    with pytest.raises(MethodConfigError, match=message):
        load_method_spec(tmp_path)


def test_folder_without_method_yaml(tmp_path):
    with pytest.raises(MethodConfigError, match="no method.yaml"):
        load_method_spec(tmp_path)
