"""Verifying a result against this benchmark's data: the one implementation ``submit`` and
``leaderboard --check`` share.

* :func:`data_errors`: the recorded test-split sha256 of every scored domain equals the locally
  materialised data's (``benchmark.data.provenance.split_digest``), and ``n_events`` equals the
  event count the data's provenance records for that split;
* :func:`metric_errors`: the official evaluator recomputes every per-seed metric and summary value
  from the predictions and the test labels; each must match within :data:`METRIC_TOLERANCE`.
"""
from __future__ import annotations

import os

import numpy as np

from benchmark.results.io import json_normal

METRIC_TOLERANCE = 1e-6
_MAX_REASONS_PER_SEED = 12


def _has_test_splits(folder, domains) -> bool:
    from benchmark.data.provenance import split_files

    try:
        return all(split_files(folder, d, "test") for d in domains)
    except (FileNotFoundError, KeyError, ValueError):
        return False


def data_folder(result: dict, cache_dir, generate_missing: bool = False):
    """The materialised dataset folder of ``result``, with the test split of every scored domain
    (a generated family's test splits are generated when asked: deterministic, so the digests can be
    compared); returns ``(folder, None)`` or ``(None, reason)``."""
    from benchmark.data.loader import DatasetNotMaterialised, resolve_folder

    ds = result["dataset"]
    try:
        folder = resolve_folder(ds["family"], ds["source"], ds["size"], cache_dir)
        if _has_test_splits(folder, result["domains"]):
            return folder, None
        problem = f"the test data of {ds['family']}/{ds['source']}/{ds['size']} are not completely materialised"
    except DatasetNotMaterialised as exc:
        problem = f"cannot check the data: {exc}; then try again"
    if not generate_missing or ds["source"] != "generated":
        return None, problem
    from benchmark.data.materialise import generate

    seed = 0 if ds.get("seed") is None else int(ds["seed"])
    folder = generate(ds["family"], size=ds["size"], seed=seed, cache_dir=cache_dir, progress=False,
                      splits=("test",))
    if not _has_test_splits(folder, result["domains"]):  # pragma: no cover - a partial folder not readable
        folder = generate(ds["family"], size=ds["size"], seed=seed, cache_dir=cache_dir, progress=False)
    return folder, None


def data_errors(result: dict, cache_dir, generate_missing: bool = False) -> list[str]:
    """Test-split digests and event counts of ``result`` against the local data."""
    from benchmark.data.provenance import split_digest, split_files

    folder, problem = data_folder(result, cache_dir, generate_missing)
    if problem:
        return [problem]
    ds = result["dataset"]
    reasons = []
    for d in result["domains"]:
        try:
            local = split_digest(folder, d, "test")
        except FileNotFoundError as exc:
            reasons.append(f"cannot check the test data of domain {d!r}: {exc}")
            continue
        if ds["test_sha256"][d] != local:
            reasons.append(f"dataset.test_sha256.{d} = {ds['test_sha256'][d][:16]}... but this benchmark's test "
                           f"data of {ds['family']}/{ds['source']}/{ds['size']} domain {d!r} have "
                           f"{local[:16]}...: the result was computed on other data (another generator "
                           f"version, seed or size); rerun the method on the data in {folder}")
            continue
        n = sum(int(rec.get("n_events", 0)) for rec in split_files(folder, d, "test").values())
        for entry in result["per_seed"]:
            if entry["per_domain"][d]["n_events"] != n:
                reasons.append(f"per_seed seed {entry['seed']}: per_domain.{d}.n_events = "
                               f"{entry['per_domain'][d]['n_events']}, but the test split holds {n} events")
    return reasons


def differences(reported, official, where: str) -> list[str]:
    """Where ``reported`` and the evaluator's ``official`` values differ (numbers: > tolerance)."""
    if isinstance(official, float) and not np.isfinite(official):
        official = None  # result files carry undefined metrics as null
    if isinstance(official, dict):
        if not isinstance(reported, dict):
            return [f"{where}: reported {reported!r}, the evaluator gives a mapping"]
        out = [f"{where}.{k}: reported but not produced by the official evaluator"
               for k in reported if k not in official]
        for k, v in official.items():
            if k not in reported:
                out.append(f"{where}.{k}: missing (the evaluator gives {v!r})")
            else:
                out += differences(reported[k], v, f"{where}.{k}")
        return out
    if isinstance(official, list):
        if not isinstance(reported, list) or len(reported) != len(official):
            return [f"{where}: reported {reported!r}, the evaluator gives {official!r}"]
        return [m for i, (r, o) in enumerate(zip(reported, official)) for m in differences(r, o, f"{where}[{i}]")]
    if isinstance(official, (int, float)) and not isinstance(official, bool) \
            and isinstance(reported, (int, float)) and not isinstance(reported, bool):
        if abs(reported - official) <= METRIC_TOLERANCE:
            return []
        return [f"{where}: reported {reported!r}, recomputed from the predictions {official!r}"]
    return [] if reported == official else [f"{where}: reported {reported!r}, the evaluator gives {official!r}"]


def task_of(result: dict, cache_dir: str | os.PathLike | None):
    """The task ``run`` scored ``result`` with (it holds the test labels)."""
    from benchmark.tasks import get_task

    ds = result["dataset"]
    return get_task(result["protocol"], ds["family"], source=ds["source"], size=ds["size"],
                    source_domain=result["source_domain"], target_domain=result["target_domain"],
                    domains=None if result["protocol"] == "domain_shift" else result["domains"], cache_dir=cache_dir)


def metric_errors(result: dict, predictions: dict[int, dict[str, tuple]], cache_dir) -> list[str]:
    """Recompute every seed's metrics from ``predictions[seed][domain] = (event_id, scores)``."""
    from benchmark.data.loader import DatasetNotMaterialised
    from benchmark.evaluation.predictions import PredictionError

    try:
        task = task_of(result, cache_dir)
    except (DatasetNotMaterialised, ValueError) as exc:
        return [f"cannot recompute the metrics: {exc}"]
    reasons = []
    for entry in result["per_seed"]:
        seed = entry["seed"]
        try:
            official = json_normal(task.evaluate(predictions[seed]))  # NaN stays NaN here
        except PredictionError as exc:
            problems = [f"seed {seed}: predictions rejected by the evaluator: {exc}"]
        else:
            problems = differences(entry["per_domain"], official["per_domain"], f"seed {seed}: per_domain")
            if official["summary"] is not None:
                problems += differences(entry["summary"], official["summary"], f"seed {seed}: summary")
        if len(problems) > _MAX_REASONS_PER_SEED:
            problems = problems[:_MAX_REASONS_PER_SEED] + [
                f"seed {seed}: ... and {len(problems) - _MAX_REASONS_PER_SEED} more differences"]
        reasons += problems
    return reasons
