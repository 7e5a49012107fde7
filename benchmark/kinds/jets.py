"""Jets: constituent four-momenta (E, px, py, pz).

Everything the package does differently for jets lives here: storage (four ragged float columns),
the encoder input JetCLR's transformer takes — the documented preprocessing
(:func:`benchmark.simulators.jets.preprocessing.preprocess_jets`: (pT, eta, phi), eta/phi relative to
the pT-weighted centroid as JetCLR's rotations assume, pT kept in GeV: the encoder divides by 600 GeV
itself), padded/truncated to the ``max_constituents`` hardest constituents (JetCLR keeps 50) — JetCLR's
augmentations (:func:`benchmark.augment.jets.jetclr_views`), the jet transformer and the observables of
the physics-feature floor.

Observables (pT-weighted, relative to the jet axis): jet mass / pT, log multiplicity, pT fractions of the
1st, 2nd, 3rd and 4 leading constituents, girth (pT-weighted mean ΔR), pT_D (sqrt(sum pT²)/sum pT), and
the two eigenvalues of the pT-weighted (η, φ) covariance — an energy-flow-like summary of the radiation
pattern.
"""
from __future__ import annotations

import numpy as np

from benchmark.data.collate import collate_jets, p4_to_ptetaphi, pad_ragged
from benchmark.data.events import EventSet, gather_rows
from benchmark.kinds.base import EventKind, KindConfigError, segment_sum
from benchmark.simulators.jets.preprocessing import preprocess_jets

__all__ = ["Jets", "JETS", "JetInputs", "JetAugmenter", "JETCLR_CONSTITUENTS", "JET_COMPONENTS", "jet_features"]

#: JetCLR keeps the 50 hardest constituents (bmdillon/JetCLR @90b02f9, arXiv:2108.04253).
JETCLR_CONSTITUENTS = 50
#: the stored ragged columns, in the order of ``EventSet.p4``
JET_COMPONENTS = ("E", "px", "py", "pz")


class JetInputs:
    """Indices of an EventSet -> the jet transformer's ``(x, mask)``.

    Jets are preprocessed once per EventSet (vectorised), then each batch is a slice + padding.
    """

    def __init__(self, events: EventSet, max_constituents: int = JETCLR_CONSTITUENTS):
        self.events = events
        self.max_constituents = int(max_constituents)
        p4 = events.p4
        pt, eta, phi = preprocess_jets(p4[:, 0], p4[:, 1], p4[:, 2], p4[:, 3], events.offsets,
                                       center="centroid", rotate=False, flip=False, pt_norm=None)
        self.flat = np.stack([pt, eta, phi], axis=1)

    def __len__(self) -> int:
        return len(self.events)

    def __call__(self, idx: np.ndarray):
        import torch

        idx = np.asarray(idx, dtype=np.int64)
        rows, offsets = gather_rows(self.events.offsets, idx)
        x, mask = pad_ragged(self.flat[rows], offsets, self.max_constituents)
        return torch.from_numpy(x), torch.from_numpy(mask)


class JetAugmenter:
    """JetCLR's augmentation set, or a named subset of it (JetCLR's ablation, arXiv:2108.04253 table 1).

    Settings (a method's ``augment:`` block): ``width``, the translation width (JetCLR: 1.0), and
    ``augmentations``, any subset of :data:`benchmark.augment.jets.JET_AUGMENTATIONS` ("rotation",
    "translation", "soft_smearing", "collinear_splitting"; default: all four, JetCLR's set; ``[]``: none).
    """

    def __init__(self, overrides: dict | None = None, max_constituents: int = JETCLR_CONSTITUENTS):
        from benchmark.augment.jets import JET_AUGMENTATIONS, selected_augmentations

        overrides = dict(overrides or {})
        self.width = float(overrides.pop("width", 1.0))  # JetCLR translation width
        names = overrides.pop("augmentations", JET_AUGMENTATIONS)
        if overrides:
            raise KindConfigError(f"unknown jet augmentation setting(s) {sorted(overrides)}; "
                                  "only 'width' and 'augmentations'")
        try:
            self.augmentations = tuple(n for n in JET_AUGMENTATIONS if n in selected_augmentations(names))
        except (ValueError, TypeError) as err:
            raise KindConfigError(f"augment.augmentations: {err}") from err
        self.pad_to = int(max_constituents)

    def views(self, inputs, generator):
        """Two independent random views (JetCLR: view 1 rotate+translate, view 2 adds split and smearing)."""
        from benchmark.augment.jets import jet_views

        return jet_views(*inputs, generator=generator, augmentations=self.augmentations, width=self.width,
                         pad_to=self.pad_to)

    def view(self, inputs, generator):
        """One random view (the augmented classifier's input): JetCLR's view 2."""
        return self.views(inputs, generator)[1]


def jet_features(ev: EventSet) -> np.ndarray:
    n = np.diff(ev.offsets)
    event = np.repeat(np.arange(len(ev)), n)
    pte = p4_to_ptetaphi(ev.p4).astype(np.float64)
    pt, eta, phi = pte[:, 0], pte[:, 1], pte[:, 2]
    jet = segment_sum(ev.p4.astype(np.float64), ev.offsets)
    jpt = np.hypot(jet[:, 1], jet[:, 2]) + 1e-9
    jm = np.sqrt(np.maximum(jet[:, 0] ** 2 - (jet[:, 1:] ** 2).sum(1), 0))
    jeta = np.arcsinh(jet[:, 3] / jpt)
    jphi = np.arctan2(jet[:, 2], jet[:, 1])
    deta = eta - jeta[event]
    dphi = (phi - jphi[event] + np.pi) % (2 * np.pi) - np.pi
    w = pt / segment_sum(pt, ev.offsets)[event]
    dr = np.hypot(deta, dphi)
    girth = segment_sum(w * dr, ev.offsets)
    ptd = np.sqrt(segment_sum(w * w, ev.offsets))
    cee = segment_sum(w * deta * deta, ev.offsets)
    cpp = segment_sum(w * dphi * dphi, ev.offsets)
    cep = segment_sum(w * deta * dphi, ev.offsets)
    tr, det = cee + cpp, cee * cpp - cep**2
    disc = np.sqrt(np.maximum(tr**2 / 4 - det, 0))
    # constituents are stored pT-descending: leading fractions are the first rows of each jet
    lead = np.zeros((len(ev), 4))
    for k in range(4):
        has = n > k
        lead[has, k] = w[ev.offsets[:-1][has] + k]
    return np.stack([jm / jpt, np.log(np.maximum(n, 1)), lead[:, 0], lead[:, 1], lead[:, 2], lead.sum(1),
                     girth, ptd, tr / 2 + disc, tr / 2 - disc], axis=1)


class Jets(EventKind):
    """Jets of constituents: ``p4`` (E, px, py, pz) per constituent, stored pT-descending."""

    name = "jets"
    ragged_columns = JET_COMPONENTS

    def event_set(self, family, domain, split, event_id, ragged, *, meta=None, labels=None) -> EventSet:
        comps, offsets = [], None
        for name in self.ragged_columns:
            values, off = ragged[name]
            if offsets is not None and not np.array_equal(off, offsets):
                raise ValueError(f"{family}/{domain}/{split}: constituent columns have different lengths")
            offsets = off
            comps.append(values.astype(np.float32))
        return EventSet(family, domain, split, self.name, event_id, offsets, p4=np.stack(comps, axis=1),
                        meta=meta if meta is not None else {}, _labels=labels)

    def collate(self, events, index, **kwargs):
        """Raw (pT, eta, phi) padded to the longest jet, at most ``max_constituents`` (default 200)."""
        return collate_jets(events, index, **kwargs)

    def inputs(self, events, max_constituents: int = JETCLR_CONSTITUENTS, **cfg) -> JetInputs:
        return JetInputs(events, max_constituents)

    def concat(self, a, b):
        import torch
        import torch.nn.functional as F

        L = max(a[0].shape[1], b[0].shape[1])
        pad = lambda x, m: (F.pad(x, (0, 0, 0, L - x.shape[1])), F.pad(m, (0, L - m.shape[1]), value=False))  # noqa: E731
        (xa, ma), (xb, mb) = pad(*a), pad(*b)
        return torch.cat([xa, xb]), torch.cat([ma, mb])

    def batch_len(self, inputs) -> int:
        return int(inputs[0].shape[0])

    def augmenter(self, family, overrides=None, max_constituents: int = JETCLR_CONSTITUENTS, **cfg) -> JetAugmenter:
        return JetAugmenter(overrides, max_constituents)

    def build_encoder(self, size="default", backend="spconv", **overrides):
        """The JetCLR-style transformer (``backend`` is a sparse-convolution setting: ignored)."""
        from benchmark.models.jets import PRESETS, JetTransformerEncoder

        return JetTransformerEncoder(PRESETS[size], **overrides)

    def physics_features(self, events):
        return jet_features(events)


JETS = Jets()
