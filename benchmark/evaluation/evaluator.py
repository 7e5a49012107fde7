"""The official evaluator: numpy scores keyed by ``event_id`` in, a dict of metrics out.

It is framework agnostic (any program that writes ``.npz`` or Parquet prediction files can be
scored) and strict: every malformed input gets an error that says what is wrong.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark.data.registry import FamilySpec, get_family
from benchmark.evaluation.metrics import classification_metrics, robustness_summary


class PredictionError(ValueError):
    """Predictions that cannot be scored (missing/duplicate ids, NaN, wrong shape, unknown domain)."""


def _ids_preview(ids) -> str:
    ids = list(ids)
    return ", ".join(str(i) for i in ids[:5]) + (f", ... ({len(ids)} in all)" if len(ids) > 5 else "")


def align(event_id, values, expected_ids, domain: str, what: str = "scores",
          width: int | None = None) -> np.ndarray:
    """Reorder ``values`` to ``expected_ids``; refuse missing, duplicate, unknown ids and NaN/inf."""
    event_id = np.asarray(event_id)
    values = np.asarray(values)
    if event_id.ndim != 1 or not np.issubdtype(event_id.dtype, np.integer):
        raise PredictionError(f"{domain}: event_id must be a 1-D integer array, got dtype {event_id.dtype} "
                              f"shape {event_id.shape}")
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or len(values) != len(event_id):
        raise PredictionError(f"{domain}: {what} must have shape (N, {width or 'D'}) with N = len(event_id) = "
                              f"{len(event_id)}, got {values.shape}")
    if width is not None and values.shape[1] != width and not (width == 2 and values.shape[1] == 1):
        raise PredictionError(f"{domain}: {what} have {values.shape[1]} columns, expected {width} "
                              f"(one per class)")
    if not np.issubdtype(values.dtype, np.number):
        raise PredictionError(f"{domain}: {what} must be numeric, got dtype {values.dtype}")
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        raise PredictionError(f"{domain}: {int(bad.sum())} events have NaN or inf {what} "
                              f"(event_id {_ids_preview(event_id[bad])})")
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
    """

    def __init__(self, family: str | FamilySpec):
        self.family = family if isinstance(family, FamilySpec) else get_family(family)
        self.num_classes = self.family.num_classes
        self.metric = self.family.primary_metric

    @property
    def expected_input_format(self) -> str:
        return (f"==== Expected input format of Evaluator({self.family.name!r})\n"
                f"{{'y_true': int array (N,), 'y_score': float array (N, {self.num_classes}) "
                f"(probabilities or logits), 'sample_weight': optional (N,)}}")

    def eval(self, input_dict: dict) -> dict:
        for key in ("y_true", "y_score"):
            if key not in input_dict:
                raise PredictionError(f"missing key {key!r}. {self.expected_input_format}")
        y_true = np.asarray(input_dict["y_true"])
        ids = np.arange(len(y_true))
        scores = align(ids, input_dict["y_score"], ids, "input", width=self.num_classes)
        if y_true.min(initial=0) < 0 or y_true.max(initial=0) >= self.num_classes:
            raise PredictionError(f"y_true must hold class indices 0..{self.num_classes - 1}")
        return classification_metrics(y_true, scores, self.num_classes, input_dict.get("sample_weight"))

    def eval_domains(self, truth: dict[str, tuple], predictions: dict[str, tuple],
                     source_domain: str = "nominal") -> dict:
        """``truth[d] = (event_id, labels[, weights])``, ``predictions[d] = (event_id, scores)``.

        Returns ``{"per_domain": {d: metrics}, "summary": robustness summary}``; every domain of
        ``truth`` must be predicted and no other.
        """
        unknown = sorted(set(predictions) - set(truth))
        if unknown:
            raise PredictionError(f"predictions for unknown domain(s) {unknown}; expected {sorted(truth)}")
        missing = sorted(set(truth) - set(predictions))
        if missing:
            raise PredictionError(f"no predictions for domain(s) {missing}")
        per_domain, argmax = {}, {}
        for d in truth:
            ids, labels, *w = truth[d]
            scores = align(predictions[d][0], predictions[d][1], ids, d, width=self.num_classes)
            per_domain[d] = classification_metrics(labels, scores, self.num_classes, w[0] if w else None)
            argmax[d] = (np.asarray(ids), np.argmax(scores, axis=1))
        agreement = {}
        if source_domain in argmax:
            for d in argmax:
                if d != source_domain:
                    a = paired_agreement(*argmax[source_domain], *argmax[d])
                    if a is not None:
                        agreement[d] = a
        summary = robustness_summary(per_domain, self.metric, source_domain, agreement) \
            if source_domain in per_domain else None
        return {"per_domain": per_domain, "summary": summary}


def load_predictions(path: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read prediction files written by any program.

    ``path`` is a folder of ``<domain>.npz`` / ``<domain>.parquet`` files or a single such file
    (its stem is the domain).  ``.npz``: arrays ``event_id`` (N,) and ``scores`` (N, C).  Parquet:
    column ``event_id`` and either a list column ``scores`` or columns ``score_0 .. score_{C-1}``.
    Never unpickles.
    """
    path = Path(path)
    files = sorted(p for p in path.iterdir() if p.suffix in (".npz", ".parquet")) if path.is_dir() else [path]
    if not files:
        raise PredictionError(f"{path}: no .npz or .parquet prediction files")
    out = {}
    for f in files:
        if f.suffix == ".npz":
            with np.load(f, allow_pickle=False) as z:
                for key in ("event_id", "scores"):
                    if key not in z:
                        raise PredictionError(f"{f}: missing array {key!r} (has {list(z.keys())})")
                out[f.stem] = (z["event_id"], z["scores"])
        elif f.suffix == ".parquet":
            import pandas as pd

            df = pd.read_parquet(f)
            if "event_id" not in df:
                raise PredictionError(f"{f}: missing column 'event_id'")
            if "scores" in df:
                scores = np.stack(df["scores"].to_numpy())
            else:
                cols = sorted((c for c in df.columns if c.startswith("score_")), key=lambda c: int(c[6:]))
                if not cols:
                    raise PredictionError(f"{f}: needs a list column 'scores' or columns score_0..score_C-1")
                scores = df[cols].to_numpy()
            out[f.stem] = (df["event_id"].to_numpy(), scores)
        else:
            raise PredictionError(f"{f}: unsupported prediction file type (use .npz or .parquet)")
    return out


def save_predictions(path: str | Path, event_id, scores) -> Path:
    """Write one domain's predictions as ``.npz`` (atomic)."""
    from benchmark.data.writer import atomic_path

    path = Path(path)
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, event_id=np.asarray(event_id, dtype=np.int64),
                                scores=np.asarray(scores, dtype=np.float32))
    return path
