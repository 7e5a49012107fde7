"""Smoke tests of the performance harness (benchmarks/): every script runs on the toy family and writes a
well-formed result file that benchmarks.report can render.  Not timing tests: only structure and
sanity (positive rates, the rows the script promises) are checked."""
from __future__ import annotations

import json
import math

import pytest

from benchmarks import (baselines_walltime, encoders, generation, loading, memory, profile_stage, report, scoring,
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
    assert generation.main(["--families", "toy", "--repeats", "1", "--workers", "2", "--core-sizes", "default",
                            "--pool-sizes", "default", "tiny", "--pool-chunks", "2", "--out-dir", str(out),
                            "--skip", "scaling", *TOY]) == 0
    data = _read(out, "generation")
    titles = [t["title"] for t in data["tables"]]
    assert any("per core" in t for t in titles) and any("all workers and on one" in t for t in titles)
    core = data["tables"][0]
    assert all(r > 0 and math.isfinite(r) for r in _column(core, "true events/s"))
    # all train domains of the toy family = nominal + shifted: two rows per event
    assert _column(core, "n domains") == [1, 2]
    assert _column(core, "true events per chunk") == [16, 16]  # the preset's own chunk size
    pool = data["tables"][1]
    toy = get_family("toy").source("generated").make_generator()
    whole = sum(toy.sizes["default"].values())
    chunks = sum(len(toy.chunks("default", split)) for split in ("train", "validation", "test"))
    # the default preset whole, on 2 workers and on 1; of "tiny" the first shard: never fewer than one
    # chunk per split (shard 0/N holds chunk 0 of each), so 3 although --pool-chunks asked for 2
    assert [r[1:6] for r in pool["rows"] if r[1] == "default"] == [["default", "0/1", chunks, whole, 2],
                                                                    ["default", "0/1", chunks, whole, 1]]
    tiny = [r for r in pool["rows"] if r[1] == "tiny"]
    assert tiny and all(r[3] == 3 for r in tiny)
    assert all(r > 0 for r in _column(pool, "disk MB (data files)"))


@pytest.mark.slow
def test_plain_pythia_comparison_runs_both_generators():
    pytest.importorskip("pythia8mc")
    rows = generation.plain_pythia_ratio(n_jets=3, repeats=1)
    assert [r[0] for r in rows] == ["top", "QCD"]
    assert all(r[3] > 0 and r[5] > 0 and r[6] > 0 for r in rows)


def test_loading(out):
    assert loading.main(["--families", "toy", "--batch-size", "8", "--repeats", "1",
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
    assert encoders.main(["--families", "toy", "--sizes", "default", "--repeats", "1", "--out-dir", str(out),
                          *TOY]) == 0
    data = _read(out, "encoders")
    t = data["tables"][0]
    assert all(x > 0 for x in _column(t, "train events/s") + _column(t, "inference events/s"))
    # the baselines' own batch sizes (training defaults of the family), not a harness constant
    train_batch, infer_batch = encoders.baseline_batch_sizes("toy", "default")
    assert _column(t, "train batch") == [train_batch] and _column(t, "inference batch") == [infer_batch]


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


def test_scoring_runs_the_encoder_once_per_test_set(out, tmp_path, toy_cache):
    import shutil

    import yaml

    method = tmp_path / "classifier"
    shutil.copytree(ROOT / "baselines" / "classifier", method)
    spec = yaml.safe_load((method / "method.yaml").read_text())
    (method / "method.yaml").write_text(yaml.safe_dump({**spec, "families": ["toy"]}))
    assert scoring.main(["--families", "toy", "--methods", str(method), "--cache-dir", str(toy_cache),
                         "--out-dir", str(out), *TOY]) == 0
    table, = _read(out, "scoring")["tables"]
    n = _column(table, "test domains")[0]
    assert n == len(get_family("toy").source(None).domains)
    assert _column(table, "separate: encoder passes") == [2 * n] and _column(table, "shared: encoder passes") == [n]
    assert all(s > 0 for s in _column(table, "shared s") + _column(table, "separate s"))


def test_scoring_projects_its_saving_onto_the_grid_run_time_table():
    grid = {"tables": [{"title": "Run time of the grid's finished seeds (each fit counted once)", "rows": [
        ["linear_probe", "sfgd", "linear_probe+robustness", 3, 0.01],
        ["classifier", "sfgd", "linear_probe+robustness", 3, 1.0],
        ["simclr", "sfgd", "domain_shift_xtalk_000", 3, 2.0],
        ["simclr", "sfgd", "linear_probe+robustness", 3, 3.0],
        ["classifier", "ndlar", "linear_probe+robustness", 3, 4.0],
        ["all", "", "", 15, 10.01]]}]}
    saving = {("classifier", "sfgd"): 600.0, ("simclr", "sfgd"): 1200.0, ("classifier", "ndlar"): 1800.0}
    rows, before, after = scoring.project_grid(saving, grid, jobs=2)
    by = {(r[0], r[1]): r for r in rows}
    assert ("linear_probe", "sfgd") not in by                 # not a torch encoder: nothing to save
    assert by["classifier", "sfgd"][4:] == [0.5, 0.5]          # 600 s x 3 fits
    assert by["simclr", "sfgd"][4:] == [1.0, 2.0]              # its own saving, its domain_shift fit untouched
    assert by["classifier", "ndlar"][4:] == [1.5, 2.5]
    assert by["all (whole grid)", ""][2:] == [15, 10.01, 3.0, 7.01]
    # pairs longest first to the first free of two processes: 5 + 0.01 | 4 + 1; after: 4 | 2.5 + 0.5 + 0.01
    assert before == pytest.approx(5.01) and after == pytest.approx(4.0)
    with pytest.raises(ValueError, match="jets"):
        scoring.project_grid(saving, {"tables": [{**grid["tables"][0], "rows": [
            ["classifier", "jets", "linear_probe+robustness", 3, 1.0]]}]})


def test_scoring_project_only_reprojects_a_stored_measurement(tmp_path):
    """--project-only measures nothing: it reads the savings of a stored result and the committed grid."""
    columns = ["family", "method", "separate s", "shared s"]
    rows = [["ndlar", "classifier", 300.0, 100.0], ["sfgd", "classifier", 30.0, 20.0], ["jets", "classifier", 9.0, 6.0]]
    stored = {"benchmark": "scoring", "tables": [{"title": "measured", "columns": columns, "rows": rows, "note": ""}]}
    (tmp_path / "scoring.json").write_text(json.dumps(stored))
    assert scoring.main(["--project-only", "--grid-rev", "working-tree", "--out-dir", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "scoring.json").read_text())
    measured, projection = data["tables"]
    assert measured["rows"] == rows and projection["title"] == scoring.PROJECTION
    whole = projection["rows"][-1]
    n_ndlar = sum(r[2] for r in projection["rows"] if r[1] == "ndlar")
    assert whole[0] == "all (whole grid)" and whole[4] >= n_ndlar * 200 / 3600 - 1e-3
    assert data["grid_wall_jobs2_h"]["projected"] < data["grid_wall_jobs2_h"]["before"]
    # a revision git cannot show: the projection is skipped with the reason, the measurement kept
    assert scoring.main(["--project-only", "--grid-rev", "0" * 40, "--out-dir", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "scoring.json").read_text())
    assert [t["title"] for t in data["tables"]] == ["measured"] and "cannot read" in data["skipped"][-1]


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
    for name, load, busy in (("encoders", 1.9, 0.02), ("loading", 0.1, 0.9)):
        r = Result(name, ["--repeats", "1"])
        r.table(f"{name} table", ["what", "events/s"], [["x", 12.5]])
        r.note(f"{name} note")
        r.write(res_dir)
        data = json.loads((res_dir / f"{name}.json").read_text())
        data["load_average_before"] = [load, load, load]
        data["load_average_after"] = [load, load, load]
        data["cpu_busy_before"] = busy  # what decides: other work's CPU use before, not the load average
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


def test_tables_keep_the_sign_of_a_signed_margin():
    """A margin written "+0.012" is printed so (tabulate's number parsing would print 0.012); the other
    columns are still right-aligned numbers."""
    from benchmarks.common import render_table

    text = render_table([["sfgd", 0.6591, "+0.012", "-0.038"], ["jets", 0.96, "-0.002", "+0.015"]],
                        ["family", "floor", "margin nominal", "margin shifted"])
    assert "+0.012" in text and "+0.015" in text and "-0.002" in text
    assert "|  0.6591 |" in text and "|  0.96   |" in text


def test_report_says_how_far_the_previous_figures_were_off():
    new = {"columns": ["family", "batch", "events/s", "s"], "rows": [["sfgd", 64, 100.0, 2.0], ["jets", 128, 50.0, 4.0],
                                                                  ["ndlar", 64, 10.0, 1.0]]}
    old = {"columns": ["family", "batch", "events/s", "s"], "rows": [["sfgd", 64, 25.0, 8.0], ["jets", 128, 25.0, 8.0],
                                                                  ["ndlar", 32, 1.0, 1.0]]}  # other batch: no match
    line = report.compare_tables(new, old)
    assert "events/s x0.38 (0.25-0.5)" in line and "; s x3 (2-4)" in line
    assert report.compare_tables(new, {"columns": ["family"], "rows": [["x"]]}) is None


def test_report_does_not_compare_a_result_file_with_itself():
    """--previous REV: a result file not re-made since REV is said to be unchanged, instead of a comparison
    of every table with itself; a re-made one is compared."""
    def result(created, value):
        return {"benchmark": "loading", "command": "python -m benchmarks.loading", "created": created,
                "machine": {"cores": 2}, "wall_s": 1.0, "load_average_before": [0, 0, 0],
                "load_average_after": [0, 0, 0], "cpu_busy_before": 0.0, "notes": [], "skipped": [],
                "tables": [{"title": "t", "columns": ["family", "events/s"], "rows": [["sfgd", value]], "note": ""}]}

    old = {"loading": result("2026-12-01T00:00:00", 100.0)}
    same = report.render([result("2026-12-01T00:00:00", 100.0)], old, "abc1234")
    assert "Unchanged since `abc1234` (the same result file)." in same and "x1" not in same
    remade = report.render([result("2026-12-02T00:00:00", 200.0)], old, "abc1234")
    assert "Unchanged since" not in remade and "events/s x0.5" in remade


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


def test_preset_costs_derive_from_the_measured_files(tmp_path):
    """Core-hours from the per-core rate and the preset's chunk cost, wall hours with the default preset's
    measured parallel efficiency, disk by rows; training from the baselines' own epochs and the measured
    step rates (no constants of its own)."""
    from benchmarks import preset_costs
    from benchmark.training.hparams import training_defaults

    gen = Result("generation", [])
    gen.table("Generation per core at each preset's chunk size (train split, one process, one thread)",
              ["family", "preset", "domains", "true events per chunk", "steady s per chunk"],
              [["sfgd", "default", "all train domains", 200, 2.0], ["sfgd", "full", "all train domains", 200, 4.0]])
    gen.table("Generation of a preset on all workers and on one (materialise.generate, HDF5 + card)",
              ["family", "preset", "shard", "chunks", "workers", "s", "speed-up over 1 worker", "disk MB (data files)"],
              [["sfgd", "default", "0/1", 130, 2, 100.0, 1.6, 500.0], ["sfgd", "default", "0/1", 130, 1, 160.0, 1.0, 500.0]])
    gen.write(tmp_path)
    enc = Result("encoders", [])
    enc.table("Encoder throughput (cpu, 1 thread(s))", ["family", "size", "train events/s", "inference events/s"],
              [["sfgd", "default", 1000.0, 4000.0], ["sfgd", "full", 100.0, 400.0]])
    enc.write(tmp_path)
    assert preset_costs.main(["--out-dir", str(tmp_path)]) == 0
    data = _read(tmp_path, "preset_costs")
    presets = {(r[0], r[1]): dict(zip(data["tables"][0]["columns"], r)) for r in data["tables"][0]["rows"]}
    d, f = presets[("sfgd", "default")], presets[("sfgd", "full")]
    sfgd = get_family("sfgd").source("generated").make_generator()
    train_domains = [x.name for x in sfgd.domains() if "train" in x.splits]
    units_per_s = sfgd.chunk_cost(200, train_domains) / 2.0
    shape_d, shape_f = preset_costs.preset_shape("sfgd", "default"), preset_costs.preset_shape("sfgd", "full")
    assert d["basis"] == "measured (whole preset)" and d["generation wall h on all workers"] == pytest.approx(100 / 3600, rel=1e-2)
    assert d["generation core-hours"] == pytest.approx(shape_d["units"] / units_per_s / 3600, rel=1e-2)
    assert d["disk GB"] == pytest.approx(0.5, rel=1e-2)
    core_f = shape_f["units"] / (units_per_s / 2) / 3600   # the full per-core row is twice as slow
    assert f["generation core-hours"] == pytest.approx(core_f, rel=1e-2)
    assert f["basis"].startswith("EXTRAPOLATED") and f["generation wall h on all workers"] == pytest.approx(
        core_f / (2 * 0.8), rel=1e-2)
    assert f["disk GB"] == pytest.approx(0.5 * sum(shape_f["rows"].values()) / sum(shape_d["rows"].values()), rel=1e-2)
    assert presets[("ndlar", "default")]["generation core-hours"] is None
    train = {(r[0], r[1], r[2]): dict(zip(data["tables"][1]["columns"], r)) for r in data["tables"][1]["rows"]}
    c = train[("sfgd", "full", "classifier")]
    assert c["epochs"] == training_defaults("sfgd", "full")["epochs"]
    assert c["training h per seed"] == pytest.approx(c["epochs"] * shape_f["events"]["train"] / 100.0 / 3600, rel=1e-2)
    assert train[("sfgd", "full", "simclr")]["events per sample (views)"] == 2
    assert train[("ndlar", "default", "classifier")]["basis"] == "encoder size not measured"


def test_grid_run_time_counts_a_shared_fit_once(tmp_path):
    """Two protocols scored from one fit record its time twice; the grid's run time counts it once."""
    from benchmarks.run_baseline_grid import _run_time_rows

    def done(baseline, protocol, seed, fit_s, score_s, shared):
        path = tmp_path / baseline / "sfgd" / protocol / f"seed{seed}" / "done.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"fit_time_s": fit_s, "score_time_s": score_s, "wall_time_s": fit_s + score_s,
                                    "fit_shared_with": shared}))

    for seed in (0, 1):
        done("simclr", "robustness", seed, 3000.0, 300.0, ["linear_probe"])
        done("simclr", "linear_probe", seed, 3000.0, 600.0, ["robustness"])
        done("simclr", "domain_shift_xtalk_000", seed, 1800.0, 0.0, [])   # its own fit
    rows = {(r[0], r[1], r[2]): r for r in _run_time_rows(tmp_path, {})}
    # one row per fit: the shared one (3000 s + 300 + 600 of scoring per seed), domain_shift's own (1800 s)
    assert rows[("simclr", "sfgd", "linear_probe+robustness")][3:] == [2, round(7800 / 3600, 3)]
    assert rows[("simclr", "sfgd", "domain_shift_xtalk_000")][3:] == [2, round(3600 / 3600, 3)]
    assert rows[("all", "", "")][3:] == [4, round(11400 / 3600, 2)]


def test_grid_wall_time_hands_each_job_to_the_first_free_process():
    """The grid's computed wall time: jobs in order to the first free of the processes."""
    from benchmarks.run_baseline_grid import makespan

    assert makespan([3.0, 1.0, 1.0, 1.0], 2) == 3.0          # 3 | 1+1+1
    assert makespan([1.0, 1.0, 3.0], 2) == 4.0               # 1+3 | 1: the long job last sets the tail
    assert makespan([1.0, 2.0], 1) == 3.0 and makespan([], 2) == 0.0


def test_grid_hands_the_longest_recorded_pairs_first():
    """The grid runs pairs longest first by their recorded run time, unrecorded ones before them."""
    from benchmarks.run_baseline_grid import pair_hours, schedule

    rows = [["a", "x", "lp", 3, 1.0], ["b", "x", "lp", 3, 1.0], ["b", "x", "ds", 3, 3.0], ["c", "y", "lp", 3, 2.0],
            ["all", "", "", 9, 7.0]]
    hours = pair_hours(rows)
    assert hours == {("a", "x"): 1.0, ("b", "x"): 4.0, ("c", "y"): 2.0}
    pairs = [("a", "x"), ("new", "x"), ("b", "x"), ("c", "y")]
    assert schedule(pairs, hours) == [("new", "x"), ("b", "x"), ("c", "y"), ("a", "x")]


def test_grid_runs_its_pairs_in_the_scheduled_order(tmp_path, monkeypatch):
    """run_baseline_grid starts the pairs longest first by the run times recorded in its previous result."""
    from benchmarks import common, run_baseline_grid as grid

    previous = {"tables": [{"title": grid.RUN_TIME, "rows": [
        ["linear_probe", "sfgd", "linear_probe+robustness", 3, 0.01],
        ["classifier", "sfgd", "linear_probe+robustness", 3, 0.2],
        ["simclr", "sfgd", "linear_probe+robustness", 3, 0.6], ["all", "", "", 9, 0.81]]}]}
    (tmp_path / "baseline_grid.json").write_text(json.dumps(previous))
    monkeypatch.setattr(common, "RESULTS_DIR", tmp_path)
    started = []
    monkeypatch.setattr(grid, "run_one", lambda b, f, out, protocols: started.append((b, f)) or
                        {"baseline": b, "family": f, "rc": 0})
    grid.main(["--families", "sfgd", "--baselines", "linear_probe", "classifier", "supcon", "simclr",
               "--jobs", "1", "--out", str(tmp_path / "runs")])
    assert started == [("supcon", "sfgd"), ("simclr", "sfgd"), ("classifier", "sfgd"), ("linear_probe", "sfgd")]


def test_grid_margin_over_the_floor_uses_the_same_protocol_and_twice_the_seed_std():
    """Each learned row is compared with the floor of its own family and protocol (domain_shift: same
    target), and passes only with a margin above twice its own seed standard deviation."""
    from benchmarks.run_baseline_grid import _floor_margin_rows

    def row(baseline, protocol, nominal, shifted, family="sfgd"):
        return [baseline, family, protocol, "accuracy", 3, nominal, shifted, "", "", 1.0]

    rows = [row("linear_probe", "robustness", "0.660 ± 0.000", "0.600 ± 0.000"),
            row("linear_probe", "domain_shift_xtalk_000", "0.650 ± 0.000", "0.400 ± 0.000"),
            row("classifier", "robustness", "0.670 ± 0.004", "0.500 ± 0.001"),
            row("dann", "domain_shift_xtalk_000", "0.640 ± 0.010", "0.450 ± 0.010"),
            row("simclr", "linear_probe", "0.700 ± 0.001", "0.700 ± 0.001"),     # no floor under this protocol
            row("classifier", "robustness", "0.700 ± 0.001", "0.700 ± 0.001", family="jets")]
    # unrounded values win over the rounded cells where recorded
    values = {"classifier/sfgd/robustness": {"nominal": {"mean": 0.6701, "std": 0.0049},
                                             "mean_shifted": {"mean": 0.5, "std": 0.001}}}
    out = {(r[0], r[1], r[2]): r[4:] for r in _floor_margin_rows(rows, values)}
    assert ("linear_probe", "sfgd", "robustness") not in out           # the floor is not compared with itself
    assert out[("classifier", "sfgd", "robustness")] == ["0.660", "+0.010", "yes", "0.600", "-0.100", "no (by 0.102)"]
    # against the domain_shift floor (0.650 / 0.400), not the robustness one
    assert out[("dann", "sfgd", "domain_shift_xtalk_000")] == ["0.650", "-0.010", "no (by 0.030)",
                                                               "0.400", "+0.050", "yes"]
    assert out[("simclr", "sfgd", "linear_probe")] == ["–"] * 6
    assert out[("classifier", "jets", "robustness")] == ["–"] * 6       # no jets floor in these rows
    values["classifier/sfgd/robustness"]["nominal"]["std"] = 0.0051        # margin 0.0101 < 2 x 0.0051
    assert _floor_margin_rows(rows, values)[0][6] == "no (by 0.000)"


def test_grid_keeps_rows_of_protocols_not_tabulated_this_time():
    """A grid run in several sittings: a table's rows of (baseline, family, protocol) with no result under
    --out are kept from the previous result file; the re-run protocols' rows and the old total are replaced.
    A run-time row covers the protocols scored from one fit: re-running any of them replaces it."""
    from benchmarks.run_baseline_grid import HEADLINE, RUN_TIME, _fit_protocols, _kept

    previous = {"tables": [
        {"title": RUN_TIME, "rows": [["classifier", "sfgd", "linear_probe+robustness", 3, 0.2],
                                     ["simclr", "ndlar", "linear_probe+robustness", 3, 1.0],
                                     ["simclr", "ndlar", "domain_shift_electronics_2", 3, 0.9],
                                     ["all", "", "", 9, 2.1]]},
        {"title": HEADLINE, "rows": [["simclr", "ndlar", "robustness"], ["simclr", "ndlar", "linear_probe"],
                                     ["simclr", "ndlar", "domain_shift_electronics_2"]]}]}
    # only simclr's domain_shift on ndlar re-run: its robustness and linear_probe rows stay
    ran = {("simclr", "ndlar", "domain_shift_electronics_2")}
    assert _kept(previous, HEADLINE, ran) == [["simclr", "ndlar", "robustness"], ["simclr", "ndlar", "linear_probe"]]
    assert _kept(previous, RUN_TIME, ran, _fit_protocols) == [["classifier", "sfgd", "linear_probe+robustness", 3, 0.2],
                                                              ["simclr", "ndlar", "linear_probe+robustness", 3, 1.0]]
    # re-running robustness alone replaces the fit it shared with linear_probe
    assert [r[:3] for r in _kept(previous, RUN_TIME, {("simclr", "ndlar", "robustness")}, _fit_protocols)] == [
        ["classifier", "sfgd", "linear_probe+robustness"], ["simclr", "ndlar", "domain_shift_electronics_2"]]
    assert _kept(previous, "Another table", set()) == [] and _kept(None, RUN_TIME, set()) == []


def test_learning_curve_variant_wins_over_the_methods_per_family_entry():
    """A measured variant must train with what it says, even where the method's ``per_family`` entry for
    the family (applied last) sets the same key: the augmented classifier's ND-LAr ``encoder``."""
    from functools import partial

    from benchmark.methods.base import load_method_spec
    from benchmark.methods.torch import COMMON, AugmentedClassifier
    from benchmark.methods.torch import effective_config as effective
    from benchmarks.learning_curves import with_variant

    effective_config = partial(effective, allowed={**COMMON, **AugmentedClassifier.EXTRA})
    spec = load_method_spec(ROOT / "baselines" / "augmented_classifier")
    base = spec.resolved_config("default")
    variant = {"encoder": {"pooling": "mean", "align": True}}
    assert effective_config({**base, **variant}, "ndlar", "default")["encoder"] != variant["encoder"]
    eff = effective_config(with_variant(base, "ndlar", variant), "ndlar", "default")
    assert eff["encoder"] == variant["encoder"]
    full_entry = effective_config(base, "ndlar", "default")
    assert eff["augment"] == full_entry["augment"] and eff["refit_head"] == full_entry["refit_head"]  # the rest stays
    assert with_variant(base, "ndlar", None) is base


def test_learning_curve_command_is_retypable_and_has_no_machine_paths():
    """The command stored beside a learning curve must run when pasted into a shell (the ``--config`` JSON
    quoted) and must not carry this machine's scratch or cache folders, which a reader does not have."""
    import shlex

    from benchmarks.learning_curves import recorded_command

    config = '{"encoder": {"pooling": "mean"}, "eval_batch_size": 64}'
    cmd = recorded_command(["--family", "ndlar", "--workdir", "/work/x/lc", "--cache-dir=/tmp/c",
                            "--events", "1000", "--config", config])
    assert "/work/x" not in cmd and "/tmp/c" not in cmd and "--workdir" not in cmd
    assert shlex.split(cmd)[3:] == ["--family", "ndlar", "--events", "1000", "--config", config]


def test_learning_curve_docs_lead_with_and_plot_the_current_recipe(tmp_path, monkeypatch):
    """docs/learning_curves.md lists each family's current-recipe curve first and the plot draws it, not
    the family's first (stale) recipe stored under the plain key."""
    import benchmarks.learning_curves as lc

    store = json.loads((ROOT / "docs" / "learning_curves.json").read_text())
    small = {"sfgd": store["sfgd"], "sfgd/variant": store["sfgd/align"], "sfgd/align": store["sfgd/align"]}
    (tmp_path / "learning_curves.json").write_text(json.dumps(small))
    monkeypatch.setattr(lc, "DOCS", tmp_path)
    monkeypatch.setattr(lc, "CURRENT_RECIPE", {"sfgd": "sfgd/align"})
    titles = []
    import matplotlib.axes

    monkeypatch.setattr(matplotlib.axes.Axes, "set_title", lambda self, t, **kw: titles.append(t))
    lc.write_docs()
    md = (tmp_path / "learning_curves.md").read_text()
    order = [md.index(f"### Learning curve ({k})") for k in ("sfgd/align", "sfgd", "sfgd/variant")]
    assert order == sorted(order)
    assert titles == ["sfgd: current default recipe (sfgd/align)"]
    assert (tmp_path / "learning_curves.png").stat().st_size > 0


def test_class_recall_rows_are_the_seed_mean_of_each_true_class(tmp_path):
    """The per-class recall table: seed mean of diagonal / row sum on the source test set, only the grid's
    entries (a baseline, default size, trained on nominal, a family with more than two classes)."""
    from benchmarks.run_baseline_grid import _class_recall_rows

    def entry(name, cms, family="ndlar", size="default", source="nominal", protocol="robustness"):
        return {"dataset": {"family": family, "size": size}, "method": {"name": name}, "protocol": protocol,
                "source_domain": source, "target_domain": None,
                "per_seed": [{"per_domain": {source: {"confusion_matrix": cm}}} for cm in cms]}

    eye = [[10 if i == j else 0 for j in range(5)] for i in range(5)]
    mixed = [row[:] for row in eye]
    mixed[0] = [5, 5, 0, 0, 0]          # half of the electrons called photons
    files = {"a": entry("simclr", [eye, mixed]), "b": entry("simclr", [mixed], size="large"),
             "c": entry("classifier", [mixed], source="electronics_2"), "d": entry("my_method", [mixed]),
             "e": entry("classifier", [[[9, 1], [2, 8]]], family="jets")}
    for stem, r in files.items():
        (tmp_path / f"{stem}.json").write_text(json.dumps(r))
    rows = _class_recall_rows(tmp_path)
    assert rows == [["simclr", "ndlar", "robustness", 2,
                     "electron 0.75, gamma 1.00, muon 1.00, charged_pion 1.00, proton 1.00"]]
