"""Metrics: scikit-learn where it has them, with the conventions written down.

Inputs (anything else is refused with a :class:`PredictionError` naming the field, the expected
form and what was found; nothing is cast silently)
    ``labels``: 1-D integer class indices ``0 .. C-1`` (not floats, strings or one-hot rows), at least
    one event.  ``sample_weight``: optional, 1-D, finite, non-negative, positive sum.

Scores (scored at float32, the precision prediction files store)
    ``(N, C)`` with one column per class: used as probabilities when every value lies in [0, 1] and
    every row sums to 1 within 1e-5; otherwise the rows are logits and go through a softmax.  The
    choice is made for the whole array and only matters for AUC and the binary signal score, never for
    accuracy, which uses the argmax.
    A binary family may instead give one column, ``(N,)`` or ``(N, 1)``: it is always the probability of
    class 1 (signal) and must lie in [0, 1] (logits must be given as two columns); class 1 is predicted
    where it exceeds 0.5.

AUC
    Binary: ``roc_auc_score`` of the class-1 probability.  Multi-class: one-vs-rest macro average,
    computed per class with ``roc_auc_score`` and averaged over the classes present in the labels
    (sklearn's ``multi_class="ovr"`` refuses a class missing from the labels).

Background rejection ``1/eps_B`` at signal efficiency ``eps_S`` (binary only)
    From ``roc_curve`` (all thresholds kept): if a ROC point has exactly ``tpr = eps_S``, ``eps_B`` is
    the smallest ``fpr`` among such points (the best working point); otherwise it is linearly
    interpolated between the two ROC points that bracket ``eps_S``.  If no background event passes (``eps_B = 0``), ``eps_B``
    is set to one background event, ``1/N_B`` (weighted: the smallest background weight over the
    total), so the rejection reported is the finite lower bound ``N_B`` of an unmeasurably large
    value; JSON result files never contain infinities.
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, roc_auc_score, roc_curve

from benchmark.evaluation.predictions import PredictionError, as_scores

SIGNAL_EFFICIENCIES = {"rejection_at_30": 0.3, "rejection_at_50": 0.5}
PROBABILITY_ROW_TOLERANCE = 1e-5


def as_probabilities(scores, where: str = "scores") -> np.ndarray:
    """Class probabilities ``(N, C)`` from scores, by the rule in the module docstring."""
    scores = as_scores(scores, where).astype(np.float64)
    if scores.ndim == 1:
        scores = scores[:, None]
    if scores.shape[1] == 1:  # a binary class-1 probability, never a logit
        s = scores[:, 0]
        if len(s) and (s.min() < 0 or s.max() > 1):
            raise PredictionError(f"{where}: a single score column is the probability of class 1 and must lie "
                                  f"in [0, 1]; found values from {s.min():.6g} to {s.max():.6g} (give logits "
                                  f"as two columns (N, 2), one per class)")
        return np.stack([1 - s, s], axis=1)
    if np.all((scores >= 0) & (scores <= 1)) and np.allclose(scores.sum(axis=1), 1.0, rtol=0,
                                                             atol=PROBABILITY_ROW_TOLERANCE):
        return scores
    z = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def accuracy(labels, probs, sample_weight=None) -> float:
    return float(accuracy_score(labels, np.argmax(probs, axis=1), sample_weight=sample_weight))


def auc(labels, probs, sample_weight=None) -> float:
    labels = np.asarray(labels)
    if probs.shape[1] == 2:
        if len(np.unique(labels)) < 2:
            return float("nan")
        return float(roc_auc_score(labels, probs[:, 1], sample_weight=sample_weight))
    per_class = [roc_auc_score(labels == k, probs[:, k], sample_weight=sample_weight)
                 for k in range(probs.shape[1]) if 0 < np.sum(labels == k) < len(labels)]
    return float(np.mean(per_class)) if per_class else float("nan")


def background_rejection(labels, signal_score, eps_s: float, sample_weight=None) -> float:
    labels = np.asarray(labels)
    fpr, tpr, _ = roc_curve(labels, signal_score, sample_weight=sample_weight, drop_intermediate=False)
    # first ROC point reaching eps_S; on a vertical ROC segment this is the lowest eps_B there
    i = int(np.searchsorted(tpr, eps_s, side="left"))
    if i == 0 or tpr[i] == eps_s:
        eps_b = float(fpr[i])
    else:  # linear interpolation between the neighbouring ROC points
        t = (eps_s - tpr[i - 1]) / (tpr[i] - tpr[i - 1])
        eps_b = float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))
    if eps_b <= 0:
        bkg = labels == 0
        if sample_weight is None:
            eps_b = 1.0 / max(int(bkg.sum()), 1)
        else:
            w = np.asarray(sample_weight, dtype=np.float64)[bkg]
            eps_b = float(w[w > 0].min() / w.sum()) if np.any(w > 0) else 1.0
    return 1.0 / eps_b


def check_labels(labels, num_classes: int, where: str = "labels") -> np.ndarray:
    """``labels`` as int64 class indices, or a :class:`PredictionError` saying what is wrong."""
    arr = np.asarray(labels)
    if arr.ndim == 2 and arr.shape[1] == num_classes:
        raise PredictionError(f"{where}: must be 1-D class indices 0..{num_classes - 1}, found shape {arr.shape} "
                              f"(one-hot rows? pass labels.argmax(axis=1))")
    if arr.ndim != 1:
        raise PredictionError(f"{where}: must be 1-D class indices 0..{num_classes - 1}, found shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise PredictionError(f"{where}: must be integer class indices 0..{num_classes - 1}, found dtype "
                              f"{arr.dtype} (floats are not truncated, strings not looked up)")
    if len(arr) == 0:
        raise PredictionError(f"{where}: no events (empty array); a domain needs at least one event")
    if arr.min() < 0 or arr.max() >= num_classes:
        raise PredictionError(f"{where}: class indices must lie in 0..{num_classes - 1}, found values from "
                              f"{arr.min()} to {arr.max()}")
    return arr.astype(np.int64, copy=False)


def check_weights(sample_weight, n: int, where: str = "sample_weight") -> np.ndarray | None:
    """Event weights as float64 ``(n,)`` (finite, non-negative, positive sum), or ``None``."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight)
    if w.dtype.kind not in "fiu" or w.shape != (n,):
        raise PredictionError(f"{where}: must be a real 1-D array of {n} weights, found dtype {w.dtype} "
                              f"shape {w.shape}")
    w = w.astype(np.float64)
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise PredictionError(f"{where}: weights must be finite, non-negative and not all zero; found min "
                              f"{np.nanmin(w):.6g}, sum {np.nansum(w):.6g}")
    return w


def classification_metrics(labels, scores, num_classes: int, sample_weight=None) -> dict:
    """Per-domain metrics dict: accuracy, auc, confusion_matrix, n_events (+ rejections if binary).

    ``sum_of_weights`` is added when weights other than 1 are used: accuracy is then weighted while
    the confusion matrix still counts events, so the two are only comparable without it."""
    labels = check_labels(labels, num_classes)
    sample_weight = check_weights(sample_weight, len(labels))
    probs = as_probabilities(scores)
    if probs.shape != (len(labels), num_classes):
        raise PredictionError(f"scores: expected shape ({len(labels)}, {num_classes}), found {probs.shape}")
    if sample_weight is not None and np.all(sample_weight == 1):
        sample_weight = None
    out = {
        "accuracy": accuracy(labels, probs, sample_weight),
        "auc": auc(labels, probs, sample_weight),
        "confusion_matrix": confusion_matrix(labels, np.argmax(probs, axis=1),
                                             labels=np.arange(num_classes)).tolist(),
        "n_events": int(len(labels)),
    }
    if num_classes == 2:
        for key, eff in SIGNAL_EFFICIENCIES.items():
            out[key] = background_rejection(labels, probs[:, 1], eff, sample_weight) \
                if len(np.unique(labels)) == 2 else float("nan")
    if sample_weight is not None:
        out["sum_of_weights"] = float(sample_weight.sum())
    return out


def robustness_summary(per_domain: dict[str, dict], metric: str, source_domain: str,
                       agreement: dict[str, float]) -> dict:
    """Nominal score, mean/worst over shifted domains, drop, spread, agreement with nominal.

    ``agreement`` holds the domains paired with the source domain (shared event ids); with none it is
    ``None`` (undefined), not 1."""
    if source_domain not in per_domain:
        raise ValueError(f"the source domain {source_domain!r} must be scored for a robustness summary")
    nominal = per_domain[source_domain][metric]
    shifted = {d: m[metric] for d, m in per_domain.items() if d != source_domain}
    values = [nominal, *shifted.values()]
    if shifted:
        worst_domain = min(sorted(shifted), key=lambda d: shifted[d])
        mean_shifted = float(np.mean(list(shifted.values())))
        worst = float(shifted[worst_domain])
    else:
        worst_domain, mean_shifted, worst = source_domain, float(nominal), float(nominal)
    return {
        "metric": metric,
        "nominal": float(nominal),
        "mean_shifted": mean_shifted,
        "worst": worst,
        "worst_domain": worst_domain,
        "drop": float(nominal - mean_shifted),
        "spread": float(np.std(values)),
        "agreement": float(np.mean(list(agreement.values()))) if agreement else None,
        "agreement_per_domain": {d: float(v) for d, v in sorted(agreement.items())},
    }
