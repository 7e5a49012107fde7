"""Every malformed evaluator input is refused with a message naming the field, the expected form and
what was found (issue 14); the binary single-column rule; bounded, unambiguous prediction files."""
from __future__ import annotations

import tracemalloc
import zipfile

import numpy as np
import pytest

from benchmark.data.registry import FamilySpec
from benchmark.evaluation import Evaluator, PredictionArchive, PredictionError, load_predictions, save_predictions
from benchmark.evaluation.metrics import robustness_summary

BINARY = FamilySpec(name="binary", title="binary test family", description="", event_kind="jets",
                    class_names=("background", "signal"), columns=(), sources={}, primary_metric="auc")
Y = np.array([1, 1, 1, 1, 0, 0, 0, 0])
P = np.array([0.9, 0.8, 0.35, 0.3, 0.7, 0.2, 0.1, 0.05])


def ev(**kw):
    return Evaluator(BINARY).eval({"y_true": Y, "y_score": np.stack([1 - P, P], 1), **kw})


@pytest.mark.parametrize("field, value, message", [
    ("y_true", Y.astype(str), r"y_true: must be integer class indices 0\.\.1, found dtype <U\d+"),
    ("y_true", Y + 0.7, r"y_true: must be integer class indices 0\.\.1, found dtype float64"),
    ("y_true", np.eye(2, dtype=int)[Y], r"y_true: must be 1-D class indices 0\.\.1, found shape \(8, 2\) \(one-hot"),
    ("y_true", np.array([], dtype=int), None),
    ("y_score", np.stack([1 - P, P], 1) + 0j, r"y_score: scores must be a real-valued .* found dtype complex128"),
    ("sample_weight", -np.ones(8), r"sample_weight: weights must be finite, non-negative .* found min -1"),
    ("sample_weight", np.ones(3), r"sample_weight: must be a real 1-D array of 8 weights, found dtype float64 shape \(3,\)"),
])
def test_bad_inputs_are_refused_with_the_field(field, value, message):
    if value.size == 0:  # empty: labels and scores both empty
        with pytest.raises(PredictionError, match=r"y_true: no events \(empty array\)"):
            Evaluator(BINARY).eval({"y_true": value, "y_score": np.empty((0, 2))})
        return
    with pytest.raises(PredictionError, match=message):
        ev(**{field: value})


def test_a_single_binary_column_is_always_the_probability_of_class_1():
    m = Evaluator(BINARY).eval({"y_true": Y, "y_score": P})
    assert m["accuracy"] == pytest.approx(5 / 8)
    # one logit of -0.01 used to switch the whole column to logits (accuracy 0.5 -> 1.0)
    with pytest.raises(PredictionError, match=r"single score column is the probability of class 1 and must lie "
                                              r"in \[0, 1\]; found values from -0.01 to 0.9"):
        Evaluator(BINARY).eval({"y_true": Y, "y_score": np.r_[P[:-1], -0.01]})


def test_undefined_agreement_is_null():
    per = {"nominal": {"accuracy": 0.9}, "variant": {"accuracy": 0.8}}
    assert robustness_summary(per, "accuracy", "nominal", {})["agreement"] is None
    truth = {"nominal": (np.arange(8), Y), "variant": (np.arange(8) + 100, Y)}  # no shared events
    preds = {d: (ids, np.stack([1 - P, P], 1)) for d, (ids, _) in truth.items()}
    out = Evaluator(BINARY).eval_domains(truth, preds)
    assert out["summary"]["agreement"] is None and out["summary"]["agreement_per_domain"] == {}


def test_two_files_for_one_domain_are_an_error(tmp_path):
    save_predictions(tmp_path / "nominal.npz", np.arange(8), np.stack([1 - P, P], 1))
    import pandas as pd

    pd.DataFrame({"event_id": np.arange(8), "score_0": 1 - P, "score_1": P}).to_parquet(tmp_path / "nominal.parquet")
    with pytest.raises(PredictionError, match=r"domain 'nominal' has 2 prediction files \(nominal.npz, nominal.parquet\)"):
        load_predictions(tmp_path)


def test_two_zip_members_for_one_domain_are_an_error(tmp_path):
    one = tmp_path / "a.npz"
    save_predictions(one, np.arange(8), np.stack([1 - P, P], 1))
    archive = tmp_path / "preds.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(one, "predictions/seed0/nominal.npz")
        zf.write(one, "other/seed0/nominal.npz")
    with pytest.raises(PredictionError, match=r"two members for seed 0 domain 'nominal'"):
        PredictionArchive(archive)


def test_decompressed_size_is_bounded_before_arrays_are_read(tmp_path, monkeypatch):
    from benchmark.evaluation import predictions

    bomb = tmp_path / "nominal.npz"
    n = 4_000_000  # 64 MB of zeros compress to ~60 KB
    np.savez_compressed(bomb, event_id=np.zeros(n, dtype=np.int64), scores=np.zeros((n, 2)))
    assert bomb.stat().st_size < 1_000_000
    monkeypatch.setattr(predictions, "MAX_ARRAY_BYTES", 8 * 1024 * 1024)
    tracemalloc.start()
    try:
        with pytest.raises(PredictionError, match=r"event_id would take 32000\d+ bytes decompressed .* refused "
                                                  r"before reading it"):
            load_predictions(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024


def test_saved_predictions_are_float32_and_deterministic(tmp_path):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    for p in (a, b):
        save_predictions(p, np.arange(8), np.stack([1 - P, P], 1))
    assert a.read_bytes() == b.read_bytes()
    with np.load(a) as z:
        assert z["scores"].dtype == np.float32 and z["event_id"].dtype == np.int64
    with pytest.raises(PredictionError, match="beyond float32"):
        save_predictions(a, np.arange(8), np.full((8, 2), 1e300))
