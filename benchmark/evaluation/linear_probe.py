"""The benchmark's fixed linear probe (the linear classifier test).

A method under the ``linear_probe`` protocol only supplies frozen embeddings; this module, not the
method, fits the classifier, so every method is probed the same way:

* features standardised with the mean and std of the ``nominal/train`` embeddings
  (``StandardScaler``);
* multinomial logistic regression (scikit-learn, ``lbfgs``, up to 1000 iterations,
  ``random_state=0``) fitted on the standardised ``nominal/train`` embeddings and labels;
* the inverse regularisation strength ``C`` is chosen from ``C_GRID`` by the family's primary
  metric on ``nominal/validation`` only (ties -> the smaller ``C``, i.e. stronger regularisation);
* the chosen pipeline scores every domain's test embeddings (``predict_proba``).

The original study (arXiv:2502.07724) used a saga solver with 300 iterations and no C scan; the
scan makes the probe insensitive to the scale of the embedding.
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from benchmark.evaluation.metrics import classification_metrics

C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


def fit_linear_probe(train_x, train_y, val_x, val_y, num_classes: int, metric: str = "accuracy",
                     c_grid=C_GRID, sample_weight=None):
    """Return ``(pipeline, info)``; ``info`` has the chosen C and the validation score per C."""
    train_x = np.asarray(train_x, dtype=np.float64)
    val_x = np.asarray(val_x, dtype=np.float64)
    for name, x in (("train", train_x), ("validation", val_x)):
        if x.ndim != 2 or not np.isfinite(x).all():
            raise ValueError(f"{name} embeddings must be a finite 2-D array, got shape {x.shape}")
    scores, best, best_c = {}, None, None
    for c in c_grid:
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=1000, random_state=0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(train_x, train_y, logisticregression__sample_weight=sample_weight)
        probs = full_proba(model, val_x, num_classes)
        score = classification_metrics(val_y, probs, num_classes)[metric]
        scores[c] = float(score)
        if best is None or score > scores[best_c] + 1e-12:
            best, best_c = model, c
    return best, {"C": best_c, "validation_scores": {str(k): v for k, v in scores.items()}}


def full_proba(model, x, num_classes: int) -> np.ndarray:
    """``predict_proba`` with a column for every class, even one absent from the training labels."""
    p = model.predict_proba(np.asarray(x, dtype=np.float64))
    out = np.zeros((len(p), num_classes))
    out[:, model.classes_] = p
    return out
