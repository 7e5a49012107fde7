"""The evaluator against hand-computed metrics, and each malformed-input error."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmark.data.registry import FamilySpec
from benchmark.evaluation import Evaluator, PredictionError, load_predictions, save_predictions
from benchmark.evaluation.metrics import as_probabilities, background_rejection, robustness_summary

BINARY = FamilySpec(name="binary", title="binary test family", description="", event_kind="jets",
                    class_names=("background", "signal"), columns=(), sources={}, primary_metric="auc")

# binary toy: 4 signal, 4 background, hand-ranked scores
Y = np.array([1, 1, 1, 1, 0, 0, 0, 0])
S = np.array([0.9, 0.8, 0.35, 0.3, 0.7, 0.2, 0.1, 0.05])


def test_binary_metrics_by_hand():
    ev = Evaluator(BINARY)
    m = ev.eval({"y_true": Y, "y_score": np.stack([1 - S, S], axis=1)})
    # accuracy at argmax (threshold 0.5): signals 0.9, 0.8 right; backgrounds: 0.7 wrong, others right -> 5/8
    assert m["accuracy"] == pytest.approx(5 / 8)
    # AUC = fraction of (signal, background) pairs ranked right: 0.9,0.8 beat all 4 (8);
    # 0.35 and 0.3 beat 0.2, 0.1, 0.05 (6) -> 14/16
    assert m["auc"] == pytest.approx(14 / 16)
    # ROC points (fpr, tpr): (0,0) (0,.25) (0,.5) (.25,.5) (.25,.75) (.25,1) ...
    # eps_S = 0.5 is reached exactly at (0, .5): eps_B = 0 -> set to 1/N_B = 1/4 -> rejection 4
    assert m["rejection_at_50"] == pytest.approx(4.0)
    assert m["rejection_at_30"] == pytest.approx(4.0)
    assert m["confusion_matrix"] == [[3, 1], [2, 2]]
    assert m["n_events"] == 8


def test_rejection_interpolates_linearly():
    y = np.array([1, 1, 0, 1, 0, 0])
    s = np.array([6, 5, 4, 3, 2, 1], dtype=float)
    # roc points (fpr, tpr): (0,0) (0,1/3) (0,2/3) (1/3,2/3) (1/3,1) (2/3,1) (1,1)
    # eps_S = 0.3 lies between (0,0) and (0,1/3): eps_B = 0 -> 1/N_B = 3
    assert background_rejection(y, s, 0.3) == pytest.approx(3.0)
    # eps_S = 0.8 lies between tpr 2/3 (fpr 1/3) and tpr 1 (fpr 1/3): eps_B = 1/3
    assert background_rejection(y, s, 0.8) == pytest.approx(3.0)
    y3 = np.array([1, 0, 0, 1])
    s3 = np.array([4, 3, 2, 1], dtype=float)
    # points (0,0) (0,.5) (.5,.5) (1,.5) (1,1); eps_S = .75 halfway from (1,.5) to (1,1): eps_B = 1
    assert background_rejection(y3, s3, 0.75) == pytest.approx(1.0)
    # eps_S = .25 halfway between (0,0) and (0,.5): eps_B 0 -> 1/N_B
    assert background_rejection(y3, s3, 0.25) == pytest.approx(2.0)
    y4 = np.array([1, 0, 1, 0, 0, 0])
    s4 = np.array([6, 5, 4, 3, 2, 1], dtype=float)
    # points (0,0) (0,.5) (.25,.5) (.25,1) ...; eps_S = .75 between (.25,.5) and (.25,1): eps_B = .25
    assert background_rejection(y4, s4, 0.75) == pytest.approx(4.0)
    y5 = np.array([0, 1, 1, 0])
    s5 = np.array([4, 3, 2, 1], dtype=float)
    # points (0,0) (.5,0) (.5,.5) (.5,1) (1,1); eps_S = .3: between (.5,0) and (.5,.5): eps_B = .5
    assert background_rejection(y5, s5, 0.3) == pytest.approx(2.0)
    # tied scores give a sloped ROC segment (0,0) -> (1,1): eps_S = .3 -> eps_B = .3
    assert background_rejection(np.array([1, 0]), np.array([1.0, 1.0]), 0.3) == pytest.approx(1 / 0.3)
    y2 = np.array([1, 0, 1, 0])
    s2 = np.array([4, 3, 2, 1], dtype=float)
    # points (0,0) (0,.5) (.5,.5) (.5,1) (1,1); eps_S = .75 -> first tpr >= .75 segment: (.5,.5)->(.5,1): eps_B .5
    assert background_rejection(y2, s2, 0.75) == pytest.approx(2.0)


def test_multiclass_auc_is_ovr_macro_and_logits_are_softmaxed():
    y = np.array([0, 1, 2, 0, 1, 2])
    logits = np.array([[3, 0, 0], [0, 2, 1], [0, 1, 2], [1, 2, 0], [0, 3, 0], [2, 0, 1]], dtype=float)
    from benchmark.evaluation.metrics import classification_metrics
    from sklearn.metrics import roc_auc_score

    out = classification_metrics(y, logits, 3)
    p = as_probabilities(logits)
    assert np.allclose(p.sum(1), 1)
    expect = np.mean([roc_auc_score(y == k, p[:, k]) for k in range(3)])
    assert out["auc"] == pytest.approx(expect)
    assert out["accuracy"] == pytest.approx(4 / 6)  # rows 3 and 5 wrong
    assert "rejection_at_30" not in out


def test_robustness_summary_by_hand():
    per = {"nominal": {"accuracy": 0.9}, "a": {"accuracy": 0.8}, "b": {"accuracy": 0.6}}
    s = robustness_summary(per, "accuracy", "nominal", {"a": 0.95, "b": 0.75})
    assert s["mean_shifted"] == pytest.approx(0.7) and s["worst"] == 0.6 and s["worst_domain"] == "b"
    assert s["drop"] == pytest.approx(0.2)
    assert s["spread"] == pytest.approx(np.std([0.9, 0.8, 0.6]))
    assert s["agreement"] == pytest.approx(0.85)


def _truth():
    ids = np.array([10, 11, 12, 13, 14, 15, 16, 17])
    return {"nominal": (ids, Y), "shifted": (ids, Y)}


def _scores(flip=()):
    s = S.copy()
    s[list(flip)] = 1 - s[list(flip)]
    return np.stack([1 - s, s], axis=1)


def test_eval_domains_aligns_by_event_id_and_measures_agreement():
    ids = np.array([10, 11, 12, 13, 14, 15, 16, 17])
    perm = np.array([3, 0, 7, 1, 6, 2, 5, 4])
    preds = {"nominal": (ids[perm], _scores()[perm]), "shifted": (ids, _scores(flip=(0, 4)))}
    out = Evaluator(BINARY).eval_domains(_truth(), preds)
    assert out["per_domain"]["nominal"]["accuracy"] == pytest.approx(5 / 8)
    # flipping event 0 (right -> wrong) and event 4 (wrong -> right) keeps accuracy, changes 2 of 8 decisions
    assert out["per_domain"]["shifted"]["accuracy"] == pytest.approx(5 / 8)
    assert out["summary"]["agreement"] == pytest.approx(6 / 8)


@pytest.mark.parametrize("case, message", [
    ("missing", "have no scores"),
    ("duplicate", "duplicate event_id"),
    ("unknown", "not in this split"),
    ("nan", "NaN or inf"),
    ("shape", "columns, expected 2"),
    ("length", "must have shape"),
    ("domain", "unknown domain"),
    ("nodomain", "no predictions for domain"),
])
def test_malformed_predictions_are_refused(case, message):
    ids = np.arange(10, 18)
    sc = _scores()
    nominal = {
        "missing": (ids[:-1], sc[:-1]),
        "duplicate": (np.r_[ids[:-1], 10], sc),
        "unknown": (np.r_[ids[:-1], 99], sc),
        "nan": (ids, np.where(np.arange(8)[:, None] == 2, np.nan, sc)),
        "shape": (ids, np.ones((8, 3))),
        "length": (ids, sc[:5]),
    }.get(case, (ids, sc))
    preds = {"nominal": nominal, "shifted": (ids, sc)}
    if case == "domain":
        preds["bogus"] = (ids, sc)
    if case == "nodomain":
        del preds["shifted"]
    with pytest.raises(PredictionError, match=message):
        Evaluator(BINARY).eval_domains(_truth(), preds)


def test_prediction_files_npz_and_parquet_roundtrip(tmp_path):
    ids = np.arange(10, 18)
    save_predictions(tmp_path / "preds" / "nominal.npz", ids, _scores())
    df = pd.DataFrame({"event_id": ids, "score_0": 1 - S, "score_1": S})
    df.to_parquet(tmp_path / "preds" / "shifted.parquet")
    preds = load_predictions(tmp_path / "preds")
    out = Evaluator(BINARY).eval_domains(_truth(), preds)
    assert out["per_domain"]["shifted"]["auc"] == pytest.approx(14 / 16)
    np.savez(tmp_path / "bad.npz", ids=ids)
    with pytest.raises(PredictionError, match=r"missing array\(s\) \['event_id', 'scores'\]"):
        load_predictions(tmp_path / "bad.npz")
