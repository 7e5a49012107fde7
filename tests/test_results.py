"""Result files and leaderboard submission: a valid entry goes in, every kind of bad one is refused
with its reason.

The tests use the shared toy family (``tests/toyfamily.py``, registered by ``conftest.py``: 3
classes, domains ``nominal``, ``shifted`` and the test-only ``scan_2``) materialised with the real
writer, so they depend on no real family.
"""
from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from benchmark.data.registry import get_family

FAMILY_NAME = "toy"
DOMAINS = ("nominal", "shifted", "scan_2")
SEEDS = [0, 1, 2]


@pytest.fixture(scope="session")
def tiny_data(toy_cache):
    """(cache_dir, folder) of the materialised toy dataset."""
    from benchmark.data.paths import dataset_folder

    return toy_cache, dataset_folder(FAMILY_NAME, "generated", "default", toy_cache)


@pytest.fixture(scope="session")
def truth(tiny_data):
    from benchmark.data.loader import load_events

    cache, _ = tiny_data
    out = {}
    for d in DOMAINS:
        ev = load_events(FAMILY_NAME, d, "test", cache_dir=cache)
        out[d] = (ev.event_id, ev.labels)
    return out


def make_run(tiny_data, truth, out_dir: Path, name: str = "Tiny method", seeds=SEEDS, quality: float = 0.6,
             **method) -> Path:
    """What ``python -m benchmark run`` does, in small: predictions per seed and domain, metrics from
    the official evaluator, a result file next to a ``predictions/`` folder.  Returns the result path."""
    from benchmark.data.provenance import split_digest
    from benchmark.evaluation.evaluator import Evaluator, save_predictions
    from benchmark.results import build_result, describe_hardware, prediction_relpath, write_result

    _, folder = tiny_data
    family = get_family(FAMILY_NAME)
    result_path = out_dir / "result.json"
    per_seed, preds = [], {}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        scores = {}
        for d in DOMAINS:
            ids, labels = truth[d]
            s = rng.normal(size=(len(ids), 3)).astype(np.float32)
            s[np.arange(len(ids)), labels] += quality * (2.0 if d == "nominal" else 1.0)
            save_predictions(result_path.parent / prediction_relpath(seed, d), ids, s)
            scores[d] = (ids, s)
        per_seed.append(Evaluator(family).eval_domains(truth, scores, "nominal"))
        preds[f"seed{seed}"] = {d: prediction_relpath(seed, d) for d in DOMAINS}
    info = {"name": name, "description": "a test method", "code_url": "https://example.org/code",
            "framework": "numpy", "n_parameters": 3, "standard": True, **method}
    result = build_result(
        method=info,
        dataset={"family": FAMILY_NAME, "source": "generated", "version": family.source().make_generator.version,
                 "size": "default",
                 "test_sha256": {d: split_digest(folder, d, "test") for d in DOMAINS}},
        protocol="robustness", source_domain="nominal", target_domain=None, domains=list(DOMAINS),
        domain_parameters={d: family.source().domain(d).parameters for d in DOMAINS},
        seeds=list(seeds), per_seed=per_seed, hardware=describe_hardware(), wall_time_s=1.5, predictions=preds)
    write_result(result_path, result)
    return result_path


@pytest.fixture(scope="session")
def template_run(tiny_data, truth, tmp_path_factory):
    return make_run(tiny_data, truth, tmp_path_factory.mktemp("template"))


@pytest.fixture
def run_dir(template_run, tmp_path):
    """A fresh copy of a valid run (result file + predictions/) that a test may damage."""
    shutil.copytree(template_run.parent, tmp_path / "run")
    return tmp_path / "run" / template_run.name


def edit(path: Path, change, recompute_aggregate: bool = True) -> Path:
    """Rewrite a result file with ``change(result)`` applied (bypassing write_result's validation)."""
    from benchmark.results import compute_aggregate

    result = json.loads(path.read_text())
    change(result)
    if recompute_aggregate:
        result["aggregate"] = compute_aggregate(result["per_seed"])
    path.write_text(json.dumps(result))
    return path


def refused(path, **kwargs) -> list[str]:
    from benchmark.results import SubmissionError, submit

    with pytest.raises(SubmissionError) as info:
        submit(path, dry_run=True, **kwargs)
    assert str(path) in str(info.value)
    return info.value.reasons


# ----------------------------------------------------------------------------------- result files

def test_build_result_aggregates_over_seeds(run_dir):
    from benchmark.results import load_result

    r = load_result(run_dir)
    acc = [e["per_domain"]["shifted"]["accuracy"] for e in r["per_seed"]]
    agg = r["aggregate"]["per_domain"]["shifted"]["accuracy"]
    assert agg["mean"] == pytest.approx(np.mean(acc))
    assert agg["std"] == pytest.approx(np.std(acc, ddof=1))
    drop = [e["summary"]["drop"] for e in r["per_seed"]]
    assert r["aggregate"]["summary"]["drop"]["std"] == pytest.approx(np.std(drop, ddof=1))
    cm = np.array([e["per_domain"]["nominal"]["confusion_matrix"] for e in r["per_seed"]], dtype=float)
    assert np.allclose(r["aggregate"]["per_domain"]["nominal"]["confusion_matrix"]["mean"], cm.mean(axis=0))
    assert "worst_domain" not in r["aggregate"]["summary"]  # strings have no mean
    assert r["created"].endswith("Z") and r["format"] == "simshift-result/1"
    assert r["domain_parameters"]["shifted"] == {"gain": 0.5}


def test_undefined_metric_is_stored_as_null_and_left_out_of_the_aggregate(run_dir):
    from benchmark.results import build_result, load_result

    r = load_result(run_dir)
    r["per_seed"][0]["per_domain"]["shifted"]["auc"] = float("nan")
    keys = ("method", "dataset", "protocol", "source_domain", "target_domain", "domains", "domain_parameters",
            "seeds", "per_seed", "hardware", "wall_time_s", "predictions")
    rebuilt = build_result(**{k: r[k] for k in keys})
    assert rebuilt["per_seed"][0]["per_domain"]["shifted"]["auc"] is None
    assert "auc" not in rebuilt["aggregate"]["per_domain"]["shifted"]
    assert "auc" in rebuilt["aggregate"]["per_domain"]["scan_2"]


def test_single_seed_result_has_null_std(tiny_data, truth, tmp_path):
    from benchmark.results import load_result

    r = load_result(make_run(tiny_data, truth, tmp_path, seeds=[5]))
    assert r["aggregate"]["per_domain"]["nominal"]["accuracy"]["std"] is None


def test_write_result_refuses_nan_and_leaves_no_temp_files(run_dir, tmp_path):
    from benchmark.results import ResultFileError, load_result, write_result

    r = load_result(run_dir)
    r["per_seed"][0]["per_domain"]["nominal"]["auc"] = float("nan")
    target = tmp_path / "out" / "r.json"
    with pytest.raises(ResultFileError, match=r"per_seed\.0\.per_domain\.nominal\.auc: NaN"):
        write_result(target, r)
    assert not target.exists()
    r = load_result(run_dir)
    write_result(target, r)
    assert load_result(target) == r
    assert [p.name for p in target.parent.iterdir()] == ["r.json"]


def test_schema_is_a_valid_draft_2020_12_schema(run_dir):
    import jsonschema

    from benchmark.results import load_schema

    schema = load_schema()
    assert schema["$schema"].endswith("2020-12/schema")
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(json.loads(run_dir.read_text()))


def test_schema_protocols_are_the_task_protocols():
    from benchmark.results import load_schema
    from benchmark.tasks import PROTOCOLS

    assert set(load_schema()["properties"]["protocol"]["enum"]) == set(PROTOCOLS)


# ------------------------------------------------------------------------------------- submission

def test_valid_submission_is_verified_and_stored_under_a_safe_name(tiny_data, truth, tmp_path):
    from benchmark.results import submit

    cache, _ = tiny_data
    path = make_run(tiny_data, truth, tmp_path / "run", name="My Mëthod (v2)")
    report = submit(path, dry_run=True, cache_dir=cache)
    assert report.metrics_verified and report.stored_path is None
    board = tmp_path / "board"
    (board / "submissions").mkdir(parents=True)
    report = submit(path, predictions=path.parent / "predictions", leaderboard_dir=board, cache_dir=cache)
    stored = report.stored_path
    assert stored.parent == board / "submissions"
    assert stored.name.startswith(f"{FAMILY_NAME}__robustness__my-method-v2__") and stored.suffix == ".json"
    assert stored.read_bytes() == path.read_bytes()
    assert {p.name for p in report.pages} == {"README.md", "index.html"}
    assert "My Mëthod (v2)" in (board / "README.md").read_text()
    assert "My Mëthod (v2)" in (board / "index.html").read_text()
    again = submit(path, leaderboard_dir=board, cache_dir=cache)
    assert again.already_present and len(list((board / "submissions").glob("*.json"))) == 1


def test_predictions_as_zip_are_checked(run_dir, tiny_data, tmp_path):
    from benchmark.results import submit

    archive = tmp_path / "preds.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted((run_dir.parent / "predictions").rglob("*.npz")):
            zf.write(f, f.relative_to(run_dir.parent).as_posix())
    assert submit(run_dir, predictions=archive, dry_run=True, cache_dir=tiny_data[0]).metrics_verified
    # a wrong metric is caught through the archive as well
    edit(run_dir, lambda r: r["per_seed"][2]["per_domain"]["scan_2"].update(auc=0.123))
    reasons = refused(run_dir, predictions=archive, cache_dir=tiny_data[0])
    assert any("seed 2: per_domain.scan_2.auc: reported 0.123" in r for r in reasons)


def test_metrics_that_do_not_match_the_predictions_are_refused(run_dir, tiny_data):
    """Values no other field determines (AUC) are checked against the predictions themselves."""
    def change(r):
        m = r["per_seed"][1]["per_domain"]["shifted"]
        m["auc"] = round(m["auc"] + 0.01, 6)
        r["per_seed"][0]["per_domain"]["nominal"]["auc"] -= 1e-3

    edit(run_dir, change)
    reasons = refused(run_dir, cache_dir=tiny_data[0])  # predictions/ next to the file is used
    assert any(r.startswith("seed 1: per_domain.shifted.auc: reported") for r in reasons)
    assert any(r.startswith("seed 0: per_domain.nominal.auc: reported") for r in reasons)
    assert len(reasons) == 2


def test_bad_schema_is_refused_with_the_field(run_dir, tiny_data):
    def change(r):
        del r["method"]["code_url"]
        r["wall_time_s"] = "fast"

    reasons = refused(edit(run_dir, change), cache_dir=tiny_data[0])
    assert any("'code_url' is a required property" in r for r in reasons)
    assert any(r.startswith("wall_time_s:") for r in reasons)


def test_not_json_is_refused(tmp_path, tiny_data):
    path = tmp_path / "r.json"
    path.write_text("{not json")
    assert any("not valid JSON" in r for r in refused(path, cache_dir=tiny_data[0]))


def test_wrong_test_hash_is_refused(run_dir, tiny_data):
    edit(run_dir, lambda r: r["dataset"]["test_sha256"].update(scan_2="0" * 64))
    reasons = refused(run_dir, cache_dir=tiny_data[0])
    assert any(r.startswith("dataset.test_sha256.scan_2") and "other data" in r for r in reasons)


def test_every_reason_is_reported_at_once(tiny_data, truth, tmp_path):
    path = make_run(tiny_data, truth, tmp_path, seeds=[0, 1])
    edit(path, lambda r: r["dataset"]["test_sha256"].update(nominal="1" * 64))
    reasons = refused(path, cache_dir=tiny_data[0])
    assert any("2 seed(s)" in r and "at least 3" in r for r in reasons)
    assert any(r.startswith("dataset.test_sha256.nominal") for r in reasons)


def test_too_few_seeds_is_refused(tiny_data, truth, tmp_path):
    reasons = refused(make_run(tiny_data, truth, tmp_path, seeds=[0, 1]), cache_dir=tiny_data[0])
    assert reasons == ["seeds: 2 seed(s) [0, 1]; a leaderboard entry needs at least 3 (run with --seeds 0 1 2)"]


def test_nan_is_refused(run_dir, tiny_data):
    text = run_dir.read_text()
    r = json.loads(text)
    value = r["per_seed"][0]["per_domain"]["shifted"]["auc"]
    run_dir.write_text(text.replace(json.dumps(value), "NaN", 1))
    reasons = refused(run_dir, cache_dir=tiny_data[0])
    assert any("NaN or infinity" in r for r in reasons)


@pytest.mark.parametrize("name", ["../../etc/passwd", "a\\b", "tab\there", "bell\x07"])
def test_method_names_with_path_separators_or_control_characters_are_refused(run_dir, tiny_data, name):
    reasons = refused(edit(run_dir, lambda r: r["method"].update(name=name)), cache_dir=tiny_data[0])
    assert any("must not contain path separators" in r for r in reasons)


def test_code_url_must_be_http(run_dir, tiny_data):
    reasons = refused(edit(run_dir, lambda r: r["method"].update(code_url="javascript:alert(1)")),
                      cache_dir=tiny_data[0])
    assert any(r.startswith("method.code_url:") for r in reasons)


def test_oversized_file_is_refused(run_dir, tiny_data):
    from benchmark.results import MAX_RESULT_BYTES

    edit(run_dir, lambda r: r["method"].update(description="x" * (MAX_RESULT_BYTES + 1)))
    reasons = refused(run_dir, cache_dir=tiny_data[0])
    assert len(reasons) == 1 and "more than the 5242880 allowed" in reasons[0]


def test_doctored_aggregate_is_refused(run_dir, tiny_data):
    def change(r):
        r["aggregate"]["per_domain"]["nominal"]["accuracy"]["mean"] = 0.99

    reasons = refused(edit(run_dir, change, recompute_aggregate=False), cache_dir=tiny_data[0])
    assert any(r.startswith("aggregate does not match") for r in reasons)


def test_unknown_names_and_wrong_domain_parameters_are_refused(run_dir, tiny_data):
    def change(r):
        for block in (r["per_seed"][0]["per_domain"], r["per_seed"][1]["per_domain"], r["per_seed"][2]["per_domain"],
                      r["dataset"]["test_sha256"], r["domain_parameters"]):
            block["scan_9"] = block.pop("scan_2")
        for e in r["per_seed"]:
            paired = e["summary"]["agreement_per_domain"]
            paired["scan_9"] = paired.pop("scan_2")
            e["summary"]["agreement_per_domain"] = dict(sorted(paired.items()))
        r["domains"] = ["nominal", "shifted", "scan_9"]
        r["domain_parameters"]["shifted"] = {"gain": 0.7}

    reasons = refused(edit(run_dir, change), cache_dir=tiny_data[0])
    assert any("'scan_9' is not a domain of toy/generated" in r for r in reasons)
    assert any(r.startswith("domain_parameters.shifted differ") for r in reasons)
    reasons = refused(edit(run_dir, lambda r: r["dataset"].update(family="nosuchfam")), cache_dir=tiny_data[0])
    assert any("unknown family 'nosuchfam'" in r for r in reasons)


def test_missing_local_data_says_how_to_make_it(run_dir, tmp_path):
    reasons = refused(run_dir, cache_dir=tmp_path / "empty-cache")
    assert any("python -m benchmark generate toy" in r for r in reasons)


def test_pickled_prediction_files_are_never_loaded(run_dir, tiny_data):
    target = run_dir.parent / "predictions" / "seed0" / "shifted.npz"
    with np.load(target) as z:
        ids = z["event_id"]
    np.savez(target, event_id=ids, scores=np.array([{"evil": 1}] * len(ids), dtype=object))
    reasons = refused(run_dir, cache_dir=tiny_data[0])
    assert any("seed 0:" in r and "pickled arrays are refused" in r for r in reasons)


def test_missing_prediction_file_is_reported(run_dir, tiny_data):
    (run_dir.parent / "predictions" / "seed1" / "nominal.npz").unlink()
    reasons = refused(run_dir, cache_dir=tiny_data[0])
    assert any("seed 1: missing prediction file" in r for r in reasons)



def test_result_written_by_the_runner_is_accepted_with_verified_metrics(toy_cache, tmp_path):
    """The real path: `run` writes result + predictions, `submit` recomputes and stores, pages list it."""
    import yaml

    from benchmark.results import submit
    from benchmark.runner import run_method

    method = tmp_path / "method"
    shutil.copytree(Path(__file__).resolve().parents[1] / "docs/examples/external_numpy", method)
    spec = yaml.safe_load((method / "method.yaml").read_text())
    (method / "method.yaml").write_text(yaml.safe_dump({**spec, "families": [FAMILY_NAME]}))
    [path] = run_method(method, protocols=["robustness"], seeds=[0, 1, 2], cache_dir=toy_cache,
                        out=tmp_path / "out", progress=False)
    board = tmp_path / "board"
    report = submit(path, leaderboard_dir=board, cache_dir=toy_cache)
    assert report.metrics_verified and report.stored_path.exists()
    name = json.loads(path.read_text())["method"]["name"]
    readme, page = (p.read_text() for p in report.pages)
    assert name.replace("_", "\\_") in readme and f">{name}<" in page
