"""Metrics: scikit-learn where it has them, with the conventions written down.

Scores
    ``scores`` is ``(N, C)``.  Rows that are non-negative and sum to 1 are used as probabilities;
    otherwise the rows are treated as logits and turned into probabilities with a softmax (this
    only matters for AUC and for the binary signal score, never for accuracy, which uses argmax).
    A binary family may also give ``(N,)`` or ``(N, 1)``: the score of class 1 (signal).

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

SIGNAL_EFFICIENCIES = {"rejection_at_30": 0.3, "rejection_at_50": 0.5}


def as_probabilities(scores: np.ndarray) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:
        scores = scores[:, None]
    if scores.shape[1] == 1:  # a binary class-1 score
        s = scores[:, 0]
        if np.all((s >= 0) & (s <= 1)):
            return np.stack([1 - s, s], axis=1)
        p = 1 / (1 + np.exp(-s))
        return np.stack([1 - p, p], axis=1)
    if np.all(scores >= 0) and np.allclose(scores.sum(axis=1), 1.0, atol=1e-6):
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


def classification_metrics(labels, scores, num_classes: int, sample_weight=None) -> dict:
    """Per-domain metrics dict: accuracy, auc, confusion_matrix, n_events (+ rejections if binary)."""
    labels = np.asarray(labels, dtype=np.int64)
    probs = as_probabilities(scores)
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
    return out


def robustness_summary(per_domain: dict[str, dict], metric: str, source_domain: str,
                       agreement: dict[str, float]) -> dict:
    """Nominal score, mean/worst over shifted domains, drop, spread, agreement with nominal."""
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
        "agreement": float(np.mean(list(agreement.values()))) if agreement else 1.0,
        "agreement_per_domain": {d: float(v) for d, v in sorted(agreement.items())},
    }
