"""Hand-made physics observables and the linear classifier on them (the floor to beat).

Sparse 3D events (charge-weighted, per event, vectorised over the whole split):
    log voxel count, log total charge, mean/std/max voxel charge (relative to the mean), the
    three eigenvalues of the charge-weighted spatial covariance (track-likeness: a line has one
    large eigenvalue, a shower three), the extent along the principal axis, and the charge
    fraction in the last and first 10% of that extent (Bragg peak / shower start proxies).
Jets (pT-weighted, relative to the jet axis):
    jet mass / pT, log multiplicity, pT fractions of the 1st, 2nd, 3rd and 4 leading constituents,
    girth (pT-weighted mean ΔR), pT_D (sqrt(sum pT²)/sum pT), and the two eigenvalues of the
    pT-weighted (η, φ) covariance — an energy-flow-like summary of the radiation pattern.
"""
from __future__ import annotations

import numpy as np

from benchmark.data.collate import p4_to_ptetaphi
from benchmark.data.events import EventSet
from benchmark.evaluation import fit_linear_probe, full_proba
from benchmark.methods.base import Method
from benchmark.tasks import MethodData


def _segment_sum(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Sum of ``values`` rows per event (empty events give 0)."""
    cum = np.zeros((len(values) + 1,) + values.shape[1:], dtype=np.float64)
    np.cumsum(values, axis=0, out=cum[1:])
    return cum[offsets[1:]] - cum[offsets[:-1]]


def sparse_features(ev: EventSet) -> np.ndarray:
    n = np.maximum(np.diff(ev.offsets), 1).astype(np.float64)
    event = np.repeat(np.arange(len(ev)), np.diff(ev.offsets))
    q = np.maximum(ev.charge.astype(np.float64), 0) + 1e-9
    x = ev.coords.astype(np.float64)
    qsum = _segment_sum(q, ev.offsets) + 1e-9
    mean = _segment_sum(x * q[:, None], ev.offsets) / qsum[:, None]
    d = x - mean[event]
    cov = _segment_sum(np.einsum("ni,nj->nij", d, d) * q[:, None, None], ev.offsets) / qsum[:, None, None]
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
    hi = _segment_sum(q * (rel > 0.9), ev.offsets) / qsum
    lo = _segment_sum(q * (rel < 0.1), ev.offsets) / qsum
    end, start = np.maximum(hi, lo), np.minimum(hi, lo)
    qmean = qsum / n
    qstd = np.sqrt(np.maximum(_segment_sum(q * q, ev.offsets) / n - qmean**2, 0))
    qmax = np.zeros(len(ev))
    np.maximum.at(qmax, event, q)
    lam = np.sqrt(np.maximum(evals, 0))
    return np.stack([np.log(n), np.log(qsum), qstd / qmean, qmax / qmean, lam[:, 2], lam[:, 1], lam[:, 0],
                     np.log1p(extent), end, start], axis=1)


def jet_features(ev: EventSet) -> np.ndarray:
    n = np.diff(ev.offsets)
    event = np.repeat(np.arange(len(ev)), n)
    pte = p4_to_ptetaphi(ev.p4).astype(np.float64)
    pt, eta, phi = pte[:, 0], pte[:, 1], pte[:, 2]
    jet = _segment_sum(ev.p4.astype(np.float64), ev.offsets)
    jpt = np.hypot(jet[:, 1], jet[:, 2]) + 1e-9
    jm = np.sqrt(np.maximum(jet[:, 0] ** 2 - (jet[:, 1:] ** 2).sum(1), 0))
    jeta = np.arcsinh(jet[:, 3] / jpt)
    jphi = np.arctan2(jet[:, 2], jet[:, 1])
    deta = eta - jeta[event]
    dphi = (phi - jphi[event] + np.pi) % (2 * np.pi) - np.pi
    w = pt / _segment_sum(pt, ev.offsets)[event]
    dr = np.hypot(deta, dphi)
    girth = _segment_sum(w * dr, ev.offsets)
    ptd = np.sqrt(_segment_sum(w * w, ev.offsets))
    cee = _segment_sum(w * deta * deta, ev.offsets)
    cpp = _segment_sum(w * dphi * dphi, ev.offsets)
    cep = _segment_sum(w * deta * dphi, ev.offsets)
    tr, det = cee + cpp, cee * cpp - cep**2
    disc = np.sqrt(np.maximum(tr**2 / 4 - det, 0))
    # constituents are stored pT-descending: leading fractions are the first rows of each jet
    lead = np.zeros((len(ev), 4))
    for k in range(4):
        has = n > k
        lead[has, k] = w[ev.offsets[:-1][has] + k]
    return np.stack([jm / jpt, np.log(np.maximum(n, 1)), lead[:, 0], lead[:, 1], lead[:, 2], lead.sum(1),
                     girth, ptd, tr / 2 + disc, tr / 2 - disc], axis=1)


def physics_features(ev: EventSet) -> np.ndarray:
    return sparse_features(ev) if ev.kind == "sparse3d" else jet_features(ev)


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
