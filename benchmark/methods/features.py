"""The linear classifier on hand-made physics observables: the floor every learned method must beat.

The observables belong to the event kind (:meth:`benchmark.kinds.base.EventKind.physics_features`:
:func:`benchmark.kinds.sparse3d.sparse_features`, :func:`benchmark.kinds.jets.jet_features`), so a new
kind brings its own and this method works on it unchanged.
"""
from __future__ import annotations

import numpy as np

from benchmark.data.events import EventSet
from benchmark.evaluation import fit_linear_probe, full_proba
from benchmark.kinds import get_kind
from benchmark.methods.base import Method
from benchmark.tasks import MethodData


def physics_features(ev: EventSet) -> np.ndarray:
    """The observables of the events' kind, ``(len(ev), F)``."""
    return get_kind(ev.kind).physics_features(ev)


class PhysicsFeatureLinear(Method):
    """Linear classifier on hand-made observables: what every learned method must beat."""

    framework = "sklearn"

    def fit(self, data: MethodData) -> None:
        self.model, self.info = fit_linear_probe(
            physics_features(data.train), data.train.labels, physics_features(data.validation),
            data.validation.labels, data.num_classes, data.family.primary_metric,
            sample_weight=(getattr(data.train, "meta", None) or {}).get("weight"))

    def predict(self, events: EventSet) -> np.ndarray:
        return full_proba(self.model, physics_features(events), self.context.family.num_classes)

    def embed(self, events: EventSet) -> np.ndarray:
        return physics_features(events)

    def num_parameters(self) -> int:
        lr = self.model[-1]
        return int(lr.coef_.size + lr.intercept_.size)
