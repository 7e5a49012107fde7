"""The official evaluator: numpy scores keyed by ``event_id`` in, a dict of metrics out.

It is framework agnostic (any program that writes ``.npz`` or Parquet prediction files can be
scored) and strict: every malformed input gets an error that says what is wrong.
"""
from __future__ import annotations


import numpy as np

from benchmark.data.registry import FamilySpec, get_family
from benchmark.evaluation.atlas import ATLAS_SOURCE, atlas_summary
from benchmark.evaluation.metrics import (as_probabilities, check_labels, check_weights, classification_metrics,
                                          robustness_summary)
from benchmark.evaluation.predictions import (PredictionError, as_event_ids, as_scores, load_predictions,
                                              save_predictions)

#: Version of the scoring rules.  It changes only when the same predictions would get different
#: scores (a metric definition, the score-reading rule, the summary), never with a package release;
#: leaderboard entries of different evaluator versions are never ranked together.
#: 2: scores read at float32, a single binary column is always a probability, agreement undefined
#: (null) without paired events.
EVALUATOR_VERSION = "2"

__all__ = ["EVALUATOR_VERSION", "Evaluator", "PredictionError", "align", "load_predictions", "paired_agreement",
           "save_predictions"]


def _ids_preview(ids) -> str:
    ids = list(ids)
    return ", ".join(str(i) for i in ids[:5]) + (f", ... ({len(ids)} in all)" if len(ids) > 5 else "")


def align(event_id, values, expected_ids, domain: str, what: str = "scores",
          width: int | None = None) -> np.ndarray:
    """Reorder ``values`` to ``expected_ids``; refuse missing, duplicate, unknown ids, NaN/inf, non-real
    values and a wrong number of columns."""
    event_id = as_event_ids(event_id, f"{domain}: event_id")
    values = as_scores(values, domain, what)
    if values.ndim == 1:
        values = values[:, None]
    if len(values) != len(event_id):
        raise PredictionError(f"{domain}: {what} must have shape (N, {width or 'D'}) with N = len(event_id) = "
                              f"{len(event_id)}, got {values.shape}")
    if width is not None and values.shape[1] != width and not (width == 2 and values.shape[1] == 1):
        raise PredictionError(f"{domain}: {what} have {values.shape[1]} columns, expected {width} "
                              f"(one per class{'; or one: the probability of class 1' if width == 2 else ''})")
    uniq, counts = np.unique(event_id, return_counts=True)
    if (counts > 1).any():
        raise PredictionError(f"{domain}: duplicate event_id {_ids_preview(uniq[counts > 1])}")
    expected_ids = np.asarray(expected_ids)
    unknown = np.setdiff1d(event_id, expected_ids)
    if len(unknown):
        raise PredictionError(f"{domain}: {len(unknown)} event_id are not in this split: {_ids_preview(unknown)}")
    missing = np.setdiff1d(expected_ids, event_id)
    if len(missing):
        raise PredictionError(f"{domain}: {len(missing)} events have no {what}: event_id {_ids_preview(missing)}")
    order = np.argsort(event_id)
    pos = np.searchsorted(event_id[order], expected_ids)
    return values[order[pos]]


def paired_agreement(ids_a, pred_a, ids_b, pred_b) -> float | None:
    """Fraction of events present in both domains (same true event) with the same predicted class."""
    common, ia, ib = np.intersect1d(ids_a, ids_b, return_indices=True)
    if len(common) == 0:
        return None
    return float(np.mean(pred_a[ia] == pred_b[ib]))


class Evaluator:
    """Scores one family's predictions.

    >>> ev = Evaluator("jets")
    >>> ev.eval({"y_true": labels, "y_score": scores})          # one domain, aligned arrays
    >>> ev.eval_domains(truth, predictions, source_domain="nominal")  # many domains, keyed by event_id

    With ``source="atlas_toptag"`` the summary also holds ``"atlas"``: the record's binned background
    rejection and systematic uncertainties (:mod:`benchmark.evaluation.atlas`), for which
    :meth:`eval_domains` needs the jet pT of every test event (``jet_pt``).
    """

    def __init__(self, family: str | FamilySpec, source: str | None = None):
        self.family = family if isinstance(family, FamilySpec) else get_family(family)
        self.source = source
        self.num_classes = self.family.num_classes
        self.metric = self.family.primary_metric

    @property
    def expected_input_format(self) -> str:
        return (f"==== Expected input format of Evaluator({self.family.name!r})\n"
                f"{{'y_true': int array (N,), 'y_score': float array (N, {self.num_classes}) "
                f"(probabilities or logits; see benchmark.evaluation.metrics), 'sample_weight': optional (N,)}}")

    def eval(self, input_dict: dict) -> dict:
        for key in ("y_true", "y_score"):
            if key not in input_dict:
                raise PredictionError(f"missing key {key!r}. {self.expected_input_format}")
        y_true = check_labels(input_dict["y_true"], self.num_classes, "y_true")
        weights = check_weights(input_dict.get("sample_weight"), len(y_true))
        ids = np.arange(len(y_true))
        scores = align(ids, input_dict["y_score"], ids, "y_score", width=self.num_classes)
        return classification_metrics(y_true, scores, self.num_classes, weights)

    def eval_domains(self, truth: dict[str, tuple], predictions: dict[str, tuple],
                     source_domain: str = "nominal", jet_pt: dict[str, np.ndarray] | None = None) -> dict:
        """``truth[d] = (event_id, labels[, weights])``, ``predictions[d] = (event_id, scores)``.

        Returns ``{"per_domain": {d: metrics}, "summary": robustness summary}``; every domain of
        ``truth`` must be predicted and no other.  For the ATLAS source, ``jet_pt[d]`` is the jet pT
        [GeV] (``fjet_pt``) of the events of ``truth[d]``, in the same order, and the summary gets
        ``"atlas"`` (unweighted, as the record's method; see :mod:`benchmark.evaluation.atlas`).
        """
        atlas = self.source == ATLAS_SOURCE
        if atlas:
            missing_pt = sorted(set(truth) - set(jet_pt or {}))
            if missing_pt:
                raise PredictionError(f"the {ATLAS_SOURCE} method needs the jet pT (fjet_pt) of every test event; "
                                      f"none given for domain(s) {missing_pt}")
        unknown = sorted(set(predictions) - set(truth))
        if unknown:
            raise PredictionError(f"predictions for unknown domain(s) {unknown}; expected {sorted(truth)}")
        missing = sorted(set(truth) - set(predictions))
        if missing:
            raise PredictionError(f"no predictions for domain(s) {missing}")
        per_domain, argmax, signal = {}, {}, {}
        for d in truth:
            ids, labels, *w = truth[d]
            scores = align(predictions[d][0], predictions[d][1], ids, d, width=self.num_classes)
            try:
                per_domain[d] = classification_metrics(labels, scores, self.num_classes, w[0] if w else None)
                probs = as_probabilities(scores)
                argmax[d] = (np.asarray(ids), np.argmax(probs, axis=1))
                if atlas:
                    signal[d] = probs[:, 1]
                    if np.shape(jet_pt[d]) != (len(ids),):
                        raise PredictionError(f"jet_pt must have shape ({len(ids)},), got {np.shape(jet_pt[d])}")
            except PredictionError as exc:
                raise PredictionError(f"{d}: {exc}") from None
        agreement = {}
        if source_domain in argmax:
            for d in argmax:
                if d != source_domain:
                    a = paired_agreement(*argmax[source_domain], *argmax[d])
                    if a is not None:
                        agreement[d] = a
        summary = robustness_summary(per_domain, self.metric, source_domain, agreement) \
            if source_domain in per_domain else None
        if atlas and summary is not None:
            summary["atlas"] = atlas_summary({d: truth[d][1] for d in truth}, signal,
                                             {d: np.asarray(jet_pt[d], dtype=np.float64) for d in truth},
                                             source_domain)
        return {"per_domain": per_domain, "summary": summary}
