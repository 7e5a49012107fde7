"""Collate functions: a list of event indices of an EventSet -> tensors a network takes.

* sparse 3D events -> ``(coords, feats)``: ``coords`` int32 ``(M, 4)`` = (batch index, x, y, z) with
  every event shifted so its smallest voxel index is 0 on each axis (networks see shapes, not the
  position in the detector), ``feats`` float32 ``(M, 1)`` = charge.  This is the input layout of
  spconv and MinkowskiEngine alike.
* jets -> ``(x, mask)``: ``x`` float32 ``(B, L, 3)`` constituents (pT, eta, phi) padded with zeros
  to the longest jet in the batch (at most ``max_constituents``), ``mask`` bool ``(B, L)`` true for
  real constituents.  Physics preprocessing (centring, rotation, scaling) is a separate documented
  step (:mod:`benchmark.simulators.jets.preprocessing`), applied by the caller.

Everything is vectorised over the batch; there is no Python loop over events. Which of these an
EventSet takes is its kind's business: ``benchmark.kinds.get_kind(events.kind).collate(events, index)``
(the data layer stays below the kinds, which build on these functions).
"""
from __future__ import annotations

import numpy as np

from benchmark.data.events import EventSet, gather_rows


def collate_sparse(events: EventSet, index, as_torch: bool = True):
    idx = np.asarray(index, dtype=np.int64)
    rows, offsets = gather_rows(events.offsets, idx)
    coords = events.coords[rows]
    lengths = np.diff(offsets)
    batch = np.repeat(np.arange(len(idx), dtype=np.int32), lengths)
    # per-event minimum along each axis, broadcast back to the rows
    mins = np.zeros((len(idx), 3), dtype=np.int32)
    nonempty = lengths > 0
    if len(coords):
        mins[nonempty] = np.minimum.reduceat(coords, offsets[:-1][nonempty], axis=0)
    out = np.empty((len(rows), 4), dtype=np.int32)
    out[:, 0] = batch
    out[:, 1:] = coords - mins[batch]
    feats = events.charge[rows].astype(np.float32)[:, None]
    if as_torch:
        import torch

        return torch.from_numpy(out), torch.from_numpy(feats)
    return out, feats


def p4_to_ptetaphi(p4: np.ndarray) -> np.ndarray:
    """(E, px, py, pz) -> (pT, eta, phi); eta of a massless direction, safe for pT -> 0."""
    px, py, pz = p4[:, 1], p4[:, 2], p4[:, 3]
    pt = np.hypot(px, py)
    eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pz), where=pt > 0))
    phi = np.arctan2(py, px)
    return np.stack([pt, eta, phi], axis=1).astype(np.float32)


def pad_ragged(values: np.ndarray, offsets: np.ndarray, max_len: int | None = None):
    """Flat ``(total, F)`` rows + offsets -> padded ``(B, L, F)`` and mask ``(B, L)``."""
    lengths = np.diff(offsets)
    if max_len is not None:
        lengths = np.minimum(lengths, max_len)
    L = int(lengths.max()) if len(lengths) else 0
    B = len(lengths)
    out = np.zeros((B, L, values.shape[1]), dtype=values.dtype)
    mask = np.arange(L)[None, :] < lengths[:, None]
    ev, pos = np.nonzero(mask)
    out[ev, pos] = values[offsets[:-1][ev] + pos]
    return out, mask


def collate_jets(events: EventSet, index, max_constituents: int = 200, as_torch: bool = True):
    idx = np.asarray(index, dtype=np.int64)
    rows, offsets = gather_rows(events.offsets, idx)
    x, mask = pad_ragged(p4_to_ptetaphi(events.p4[rows]), offsets, max_constituents)
    if as_torch:
        import torch

        return torch.from_numpy(x), torch.from_numpy(mask)
    return x, mask

