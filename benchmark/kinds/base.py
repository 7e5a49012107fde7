"""What an event kind is: everything that depends on the shape of an event, behind one interface.

A family names its kind (``FamilySpec.event_kind``, ``EventSet.kind``: a string); the rest of the
package asks :func:`benchmark.kinds.get_kind` for the :class:`EventKind` of that name instead of
branching on the string, so a new kind is one module with one subclass, registered once.
"""
from __future__ import annotations

import abc
from typing import Any, Callable

import numpy as np

from benchmark.data.events import EventSet

__all__ = ["EventKind", "KindConfigError", "Inputs"]

#: a batch of encoder input (a tuple of tensors, plus whatever the kind's encoder takes)
Inputs = Any


class KindConfigError(ValueError):
    """A method setting the kind cannot use (e.g. an unknown augmentation key); the methods re-raise it
    as :class:`benchmark.methods.MethodConfigError`."""


class EventKind(abc.ABC):
    """The shape of one kind of event: storage, encoder input, augmentations, observables and encoder."""

    #: the name families and EventSets carry (``FamilySpec.event_kind``, ``EventSet.kind``)
    name: str = ""
    #: the ragged columns one event is stored in, in the order :meth:`event_set` takes them
    ragged_columns: tuple[str, ...] = ()

    # -- storage -------------------------------------------------------------------------------------
    @abc.abstractmethod
    def event_set(self, family: str, domain: str, split: str, event_id: np.ndarray,
                  ragged: dict[str, tuple[np.ndarray, np.ndarray]], *, meta: dict | None = None,
                  labels: np.ndarray | None = None) -> EventSet:
        """An EventSet from the flat ``(values, offsets)`` of each of :attr:`ragged_columns`."""

    @abc.abstractmethod
    def collate(self, events: EventSet, index, **kwargs):
        """Raw tensors of the events at ``index`` (the data layer's layout, no preprocessing)."""

    # -- what the baselines' encoders take ------------------------------------------------------------
    @abc.abstractmethod
    def inputs(self, events: EventSet, **cfg) -> Callable[[np.ndarray], Inputs]:
        """A callable ``idx -> encoder batch`` over ``events`` (with ``.events`` and ``len``); ``cfg``:
        the method's config keys the kind uses (e.g. ``max_constituents``), the others are ignored."""

    @abc.abstractmethod
    def concat(self, a: Inputs, b: Inputs) -> Inputs:
        """Two encoder batches joined into one, ``a``'s events first."""

    @abc.abstractmethod
    def batch_len(self, inputs: Inputs) -> int:
        """The number of events in an encoder batch."""

    @abc.abstractmethod
    def augmenter(self, family: str, overrides: dict | None = None, **cfg):
        """The contrastive augmentation set: an object with ``views(inputs, generator) -> (v1, v2)`` and
        ``view(inputs, generator) -> v`` (one view: the augmented classifier's input). ``overrides``:
        the method's ``augment`` settings (:class:`KindConfigError` on an unknown one)."""

    @abc.abstractmethod
    def build_encoder(self, size: str = "default", backend: str = "spconv", **overrides):
        """The encoder (``.out_dim``, ``forward(batch) -> h (B, out_dim)``) at ``size`` ("default" or "full")."""

    def dann_encoder_overrides(self, cfg: dict) -> dict:
        """Encoder settings DANN changes for this kind (default: none)."""
        return {}

    # -- the physics-feature floor ------------------------------------------------------------------
    @abc.abstractmethod
    def physics_features(self, events: EventSet) -> np.ndarray:
        """Hand-made observables, ``(len(events), F)`` float64, vectorised over the split."""

    def __repr__(self) -> str:
        return f"<EventKind {self.name!r}>"


def segment_sum(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Sum of ``values`` rows per event (empty events give 0)."""
    cum = np.zeros((len(values) + 1,) + values.shape[1:], dtype=np.float64)
    np.cumsum(values, axis=0, out=cum[1:])
    return cum[offsets[1:]] - cum[offsets[:-1]]
