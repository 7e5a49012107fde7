"""Smoke tests of the performance harness (benchmarks/): every script runs on the toy family and writes a
well-formed result file that benchmarks.report can render.  Not timing tests: only structure and
sanity (positive rates, the rows the script promises) are checked."""
from __future__ import annotations

import json
import math

import pytest

from benchmarks import (baselines_walltime, encoders, generation, loading, memory, profile_stage, report,
                        sparse_vs_dense)
from benchmark.data.registry import get_family
from benchmarks.common import ENVELOPE_KEYS, REPO_ROOT as ROOT, Result

TOY = ["--family-ref", "toyfamily:FAMILY", "--allow-busy"]  # the test suite itself keeps the machine busy


def _read(out, name):
    data = json.loads((out / f"{name}.json").read_text())
    for key in ENVELOPE_KEYS:
        assert key in data, key
    assert data["benchmark"] == name
    assert len(data["load_average_before"]) == 3
    for key in ("cpu_model", "cores", "ram_gib", "torch", "numpy", "git_commit"):
        assert key in data["machine"]
    for t in data["tables"]:
        assert t["rows"], t["title"]
        assert all(len(r) == len(t["columns"]) for r in t["rows"])
    return data


def _column(table, name):
    i = table["columns"].index(name)
    return [r[i] for r in table["rows"]]


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return tmp_path_factory.mktemp("bench-results")


def test_generation(out):
    assert generation.main(["--families", "toy", "--events", "8", "--repeats", "1", "--workers", "1",
                            "--out-dir", str(out), "--skip", "scaling", *TOY]) == 0
    data = _read(out, "generation")
    titles = [t["title"] for t in data["tables"]]
    assert any("per core" in t for t in titles) and any("process pool" in t for t in titles)
    core = data["tables"][0]
    assert all(r > 0 and math.isfinite(r) for r in _column(core, "true events/s"))
    # all train domains of the toy family = nominal + shifted: two rows per event
    assert _column(core, "n domains") == [1, 2]
    pool = data["tables"][1]
    assert _column(pool, "true events")[0] > 0


def test_loading(out):
    assert loading.main(["--families", "toy", "--shard", "0/1", "--batch-size", "8", "--repeats", "1",
                         "--out-dir", str(out), *TOY]) == 0
    data = _read(out, "loading")
    rows = data["tables"][0]["rows"]
    paths = [r[2] for r in rows]
    assert any(p.startswith("plain h5py read + collate") for p in paths)
    assert any(p.startswith("training step") for p in paths)
    check = data["checks"][0]
    assert check["family"] == "toy" and isinstance(check["loading_at_least_10x_training"], bool)
    assert check["ratio"] > 0


def test_h5py_read_matches_loader(toy_cache):
    from benchmark.data.loader import load_events, resolve_folder

    ev = load_events("toy", "nominal", "train", cache_dir=toy_cache)
    h5 = loading.h5py_read(resolve_folder("toy", "generated", "default", toy_cache), "nominal", "train", "sparse3d")
    order_a, order_b = ev.event_id.argsort(), h5.event_id.argsort()
    assert (ev.event_id[order_a] == h5.event_id[order_b]).all()
    assert (ev.sizes()[order_a] == h5.sizes()[order_b]).all()
    assert h5.charge.sum() == pytest.approx(ev.charge.sum(), rel=1e-5)


def test_encoders(out):
    assert encoders.main(["--families", "toy", "--batch-size", "6", "--repeats", "1", "--out-dir", str(out),
                          *TOY]) == 0
    data = _read(out, "encoders")
    t = data["tables"][0]
    assert all(x > 0 for x in _column(t, "train events/s") + _column(t, "inference events/s"))


def test_sparse_vs_dense(out):
    assert sparse_vs_dense.main(["--family", "toy", "--grids", "16", "--batch-size", "2", "--repeats", "1",
                                 "--out-dir", str(out), *TOY]) == 0
    data = _read(out, "sparse_vs_dense")
    t = data["tables"][0]
    assert _column(t, "grid G") == [16]
    assert _column(t, "dense/sparse train")[0] > 0
    assert {r["impl"] for r in data["raw"]} == {"sparse", "dense"}


def test_dense_twin_matches_layers():
    from benchmark.models import build_encoder

    enc = build_encoder("sparse3d", "default")
    dense = sparse_vs_dense.dense_model(enc.cfg)
    n_s = sum(p.numel() for p in enc.parameters())
    n_d = sum(p.numel() for p in dense.parameters())
    assert abs(n_s - n_d) / n_s < 0.01
    import torch

    h = dense(torch.rand(2, 1, 16, 16, 16))
    assert h.shape == (2, enc.out_dim)


def test_memory(out):
    assert memory.main(["--families", "toy", "--loading-family", "toy", "--training-family", "toy",
                        "--batch-size", "4", "--steps", "1", "--out-dir", str(out), *TOY]) == 0
    data = _read(out, "memory")
    stages = _column(data["tables"][0], "stage")
    assert {"floor", "generation", "loading", "training"} <= set(stages)
    assert all(x > 0 for x in _column(data["tables"][0], "peak RSS MiB"))
    assert any(str(h).startswith("EXTRAPOLATED") for h in _column(data["tables"][0], "how"))


def test_profile_stage(out):
    assert profile_stage.main(["--family", "toy", "--events", "8", "--top", "5", "--out-dir", str(out), *TOY]) == 0
    data = _read(out, "profile_stage")
    assert len(data["tables"]) == 2 and len(data["tables"][1]["rows"]) == 5
    assert (out / "profile_stage.pstats").exists()
    assert any("generate_chunk" in r[0] for r in data["tables"][1]["rows"])


def test_profile_stage_baseline_run(out, tmp_path, toy_cache):
    import shutil

    import yaml

    method = tmp_path / "classifier"
    shutil.copytree(ROOT / "baselines" / "classifier", method)
    spec = yaml.safe_load((method / "method.yaml").read_text())
    (method / "method.yaml").write_text(yaml.safe_dump({**spec, "families": ["toy"]}))
    assert profile_stage.main(["--stage", "baseline_run", "--family", "toy", "--baseline", str(method),
                               "--epochs", "1", "--top", "30", "--tag", "run", "--cache-dir", str(toy_cache),
                               "--out-dir", str(out), *TOY]) == 0
    data = _read(out, "profile_stage_run")
    assert (out / "profile_stage_run.pstats").exists()
    assert any("run_fit_seed" in r[0] for r in data["tables"][1]["rows"])
    # every domain of the toy family is resolved through datasets once, not once per read
    n_domains = len(get_family("toy").source(None).domains)
    calls = [n for n in data["notes"] if n.startswith("datasets.load_dataset:")]
    assert calls and int(calls[0].split()[1]) <= n_domains


def test_baselines_selection(tmp_path):
    for name, fams in (("a", "[ndlar, jets]"), ("b", "[sfgd]")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "method.yaml").write_text(f"name: {name}\nfamilies: {fams}\n")
    found = baselines_walltime.discover(tmp_path)
    assert found == {"a": ["ndlar", "jets"], "b": ["sfgd"]}
    assert baselines_walltime.select(found, ["a:jets", "b"]) == [("a", "jets"), ("b", "sfgd")]
    assert len(baselines_walltime.select(found, None)) == 3
    with pytest.raises(SystemExit, match="does not list family"):
        baselines_walltime.select(found, ["b:jets"])
    with pytest.raises(SystemExit, match="no baselines/c"):
        baselines_walltime.select(found, ["c"])


def test_baselines_walltime_without_baselines(tmp_path):
    out = tmp_path / "res"
    assert baselines_walltime.main(["--baselines-dir", str(tmp_path), "--out-dir", str(out), "--allow-busy"]) == 1
    data = _read(out, "baselines_walltime")
    assert data["skipped"] and not data["tables"]


def test_a_busy_machine_is_refused(monkeypatch):
    from benchmarks import common

    monkeypatch.setattr(common, "cpu_busy_fraction", lambda seconds=2.0: 0.5)
    with pytest.raises(SystemExit, match="the machine is busy"):
        common.require_quiet(max_busy=0.1, wait_s=0.0, sample_s=0.0)
    monkeypatch.setattr(common, "cpu_busy_fraction", lambda seconds=2.0: 0.02)
    assert common.require_quiet(max_busy=0.1) == 0.02


def test_report_renders_every_result(tmp_path):
    res_dir = tmp_path / "results"
    for name, load in (("encoders", 0.0), ("loading", 99.0)):
        r = Result(name, ["--repeats", "1"])
        r.table(f"{name} table", ["what", "events/s"], [["x", 12.5]])
        r.note(f"{name} note")
        r.write(res_dir)
        data = json.loads((res_dir / f"{name}.json").read_text())
        data["load_average_before"] = [load, load, load]
        data["load_average_after"] = [load, load, load]
        (res_dir / f"{name}.json").write_text(json.dumps(data))
    md = tmp_path / "BENCHMARKS.md"
    assert report.main(["--results-dir", str(res_dir), "--output", str(md)]) == 0
    text = md.read_text()
    for name in ("encoders", "loading"):
        assert f"python -m benchmarks.{name} --repeats 1" in text
        assert f"{name} table" in text and f"{name} note" in text
    assert "| x      |       12.5 |" in text
    # only the busy run is flagged
    assert text.count("SHARED/BUSY MACHINE (other") == 1
    assert text.index("## encoders") < text.index("## loading")  # harness order, not alphabetical


def test_report_lists_the_committed_gpu_checks(tmp_path):
    """The GPU-check records (benchmarks/results/gpu/) render with their command, beside the harness files."""
    res_dir = tmp_path / "results"
    Result("encoders", []).write(res_dir)
    (res_dir / "gpu").mkdir()
    for f in (ROOT / "benchmarks" / "results" / "gpu").glob("*.json"):
        (res_dir / "gpu" / f.name).write_text(f.read_text())
    md = tmp_path / "BENCHMARKS.md"
    assert report.main(["--results-dir", str(res_dir), "--output", str(md)]) == 0
    text = md.read_text()
    records = [json.loads(f.read_text()) for f in sorted((res_dir / "gpu").glob("*.json"))]
    assert records, "no GPU-check records committed under benchmarks/results/gpu"
    for rec in records:
        assert f"`{rec['command']}`" in text
        for run in rec["runs"]:
            assert run["label"] in text and run["rc"] == 0
    assert "## GPU checks" in text and text.index("## encoders") < text.index("## GPU checks")


def test_report_rejects_foreign_json(tmp_path):
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ValueError, match="not a harness result file"):
        report.load_results(tmp_path)


def test_result_rejects_ragged_rows():
    r = Result("x", [])
    with pytest.raises(ValueError, match="cells"):
        r.table("t", ["a", "b"], [[1]])
