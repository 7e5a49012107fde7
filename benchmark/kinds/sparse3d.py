"""Sparse 3D events (ND-LAr, SFGD voxels): voxel coordinates + charge.

Everything the package does differently for voxel events lives here: storage (``coords`` flat
``3 n`` int, ``charge`` ``n``), the encoder input ``(coords (M, 4), feats (M, 1), batch_size)`` of
:func:`benchmark.data.collate.collate_sparse`, the study's augmentation set
(:class:`benchmark.augment.sparse3d.SparseAugment`), the sparse ConvNeXt encoder and the hand-made
observables of the physics-feature floor.

Observables (charge-weighted, per event, vectorised over the whole split): log voxel count, log total
charge, std/max voxel charge (relative to the mean), the three square roots of the eigenvalues of the
charge-weighted spatial covariance (track-likeness: a line has one large eigenvalue, a shower three),
the extent along the principal axis, and the charge fraction in the last and first 10% of that extent
(Bragg peak / shower start proxies).
"""
from __future__ import annotations

import numpy as np

from benchmark.data.collate import collate_sparse
from benchmark.data.events import EventSet
from benchmark.kinds.base import EventKind, segment_sum

__all__ = ["Sparse3D", "SPARSE3D", "SparseInputs", "SparseAugmenter", "SPARSE_AUGMENT_BY_FAMILY", "sparse_features"]

#: Per-family augmentation settings: the coordinate jitter ("wiggle") is 0.3 voxel for ND-LAr and 1.0
#: cube for the cube detector (arXiv:2502.07724 code, radiradev/contrastive-neutrino no_lightning/augmentations.py).
SPARSE_AUGMENT_BY_FAMILY = {"sfgd": {"wiggle_sigma": 1.0}}


class SparseInputs:
    """Indices of an EventSet -> the sparse encoder's ``(coords, feats, n)``."""

    def __init__(self, events: EventSet):
        self.events = events

    def __len__(self) -> int:
        return len(self.events)

    def __call__(self, idx: np.ndarray):
        idx = np.asarray(idx, dtype=np.int64)
        coords, feats = collate_sparse(self.events, idx)
        return coords, feats, len(idx)


class SparseAugmenter:
    """The study's sparse augmentation set, with the family's settings under the method's overrides."""

    def __init__(self, family: str, overrides: dict | None = None):
        from benchmark.augment.sparse3d import SparseAugment

        self.sparse = SparseAugment(**{**SPARSE_AUGMENT_BY_FAMILY.get(family, {}), **dict(overrides or {})})

    def views(self, inputs, generator):
        """Two independent random views."""
        coords, feats, n = inputs
        v1 = self.sparse(coords, feats, batch_size=n, generator=generator)
        v2 = self.sparse(coords, feats, batch_size=n, generator=generator)
        return (*v1, n), (*v2, n)

    def view(self, inputs, generator):
        """One random view (the augmented classifier's input)."""
        coords, feats, n = inputs
        return (*self.sparse(coords, feats, batch_size=n, generator=generator), n)


def sparse_features(ev: EventSet) -> np.ndarray:
    n = np.maximum(np.diff(ev.offsets), 1).astype(np.float64)
    event = np.repeat(np.arange(len(ev)), np.diff(ev.offsets))
    q = np.maximum(ev.charge.astype(np.float64), 0) + 1e-9
    x = ev.coords.astype(np.float64)
    qsum = segment_sum(q, ev.offsets) + 1e-9
    mean = segment_sum(x * q[:, None], ev.offsets) / qsum[:, None]
    d = x - mean[event]
    cov = segment_sum(np.einsum("ni,nj->nij", d, d) * q[:, None, None], ev.offsets) / qsum[:, None, None]
    evals, evecs = np.linalg.eigh(cov + 1e-9 * np.eye(3))
    axis = evecs[:, :, 2]  # principal axis
    t = np.einsum("ni,ni->n", d, axis[event])
    tmin = np.full(len(ev), np.inf)
    tmax = np.full(len(ev), -np.inf)
    np.minimum.at(tmin, event, t)
    np.maximum.at(tmax, event, t)
    extent = np.where(np.isfinite(tmax - tmin), tmax - tmin, 0.0)
    rel = (t - tmin[event]) / np.maximum(extent[event], 1e-9)
    # orient the axis so that the "end" is the side with more charge in its last 10%
    hi = segment_sum(q * (rel > 0.9), ev.offsets) / qsum
    lo = segment_sum(q * (rel < 0.1), ev.offsets) / qsum
    end, start = np.maximum(hi, lo), np.minimum(hi, lo)
    qmean = qsum / n
    qstd = np.sqrt(np.maximum(segment_sum(q * q, ev.offsets) / n - qmean**2, 0))
    qmax = np.zeros(len(ev))
    np.maximum.at(qmax, event, q)
    lam = np.sqrt(np.maximum(evals, 0))
    return np.stack([np.log(n), np.log(qsum), qstd / qmean, qmax / qmean, lam[:, 2], lam[:, 1], lam[:, 0],
                     np.log1p(extent), end, start], axis=1)


class Sparse3D(EventKind):
    """Voxel events: ``coords`` (int, 3 per voxel) and ``charge``."""

    name = "sparse3d"
    ragged_columns = ("coords", "charge")

    def event_set(self, family, domain, split, event_id, ragged, *, meta=None, labels=None) -> EventSet:
        coords, off3 = ragged["coords"]
        charge, offsets = ragged["charge"]
        if not np.array_equal(off3, offsets * 3):
            raise ValueError(f"{family}/{domain}/{split}: coords and charge lengths disagree")
        return EventSet(family, domain, split, self.name, event_id, offsets,
                        coords=coords.astype(np.int32).reshape(-1, 3), charge=charge.astype(np.float32),
                        meta=meta if meta is not None else {}, _labels=labels)

    def collate(self, events, index, **kwargs):
        return collate_sparse(events, index, **kwargs)

    def inputs(self, events, **cfg) -> SparseInputs:
        return SparseInputs(events)

    def concat(self, a, b):
        cb = b[0].clone()  # shift b's batch index past a's events
        cb[:, 0] += a[2]
        import torch

        return torch.cat([a[0], cb]), torch.cat([a[1], b[1]]), a[2] + b[2]

    def batch_len(self, inputs) -> int:
        return int(inputs[2])

    def augmenter(self, family, overrides=None, **cfg) -> SparseAugmenter:
        return SparseAugmenter(family, overrides)

    def build_encoder(self, size="default", backend="spconv", **overrides):
        from benchmark.models.sparse.convnext import PRESETS, SparseConvNeXtEncoder

        return SparseConvNeXtEncoder(PRESETS[size], backend=backend, **overrides)

    def dann_encoder_overrides(self, cfg):
        # study: the DANN encoder has no GRN (arXiv:2502.07724); ``grn`` in the DANN config turns it back on
        return {"grn": bool(cfg["grn"])}

    def physics_features(self, events):
        return sparse_features(events)


SPARSE3D = Sparse3D()
