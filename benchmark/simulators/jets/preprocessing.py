"""The documented jet preprocessing used by the baselines (vectorised over many jets).

Steps (each optional except the first), in this order:

1. ``(E, px, py, pz) -> (pT, eta, phi)`` per constituent;
2. centring: eta and phi relative to the jet axis (the four-momentum sum of the constituents, the
   default) or to the pT-weighted centroid (what JetCLR's rotations assume, arXiv:2108.04253);
   phi differences are wrapped into [-pi, pi);
3. rotation about the centre so that the principal axis of the pT-weighted (eta, phi) distribution is
   vertical (along phi), as in jet-image preprocessing;
4. flip: eta -> -eta so that the pT-weighted eta is >= 0 (the harder side on positive eta), and
   phi -> -phi likewise;
5. pT normalisation: divide pT by the jet's scalar pT sum (``"jet"``), by a constant (e.g. 600 GeV
   as in JetCLR), or not at all (``None``).

Everything works on flat arrays plus ``offsets`` (jet i = ``offsets[i]:offsets[i+1]``), the layout of
``EventSet.p4``, so no Python loop over jets is needed.
"""
from __future__ import annotations

import numpy as np


def to_pt_eta_phi(e, px, py, pz):
    """(pT, eta, phi) of massless-or-massive constituents; eta = 0 for pT = 0."""
    px, py, pz = (np.asarray(a, dtype=np.float64) for a in (px, py, pz))
    pt = np.hypot(px, py)
    eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pz), where=pt > 0))
    return pt, eta, np.arctan2(py, px)


def wrap_phi(phi):
    return np.mod(phi + np.pi, 2 * np.pi) - np.pi


def preprocess_jets(e, px, py, pz, offsets, center: str | None = "axis", rotate: bool = False,
                    flip: bool = True, pt_norm: str | float | None = "jet"):
    """Return flat float32 ``(pt, eta, phi)`` after the steps in the module docstring.

    ``center``: ``"axis"`` (jet four-momentum), ``"centroid"`` (pT-weighted) or ``None``.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    if offsets.ndim != 1 or len(offsets) < 1 or offsets[0] != 0 or np.any(np.diff(offsets) < 0):
        raise ValueError("offsets must be a non-decreasing 1-D array starting at 0 (jet i = offsets[i]:offsets[i+1])")
    if offsets[-1] != len(e):
        raise ValueError(f"offsets end at {offsets[-1]} but there are {len(e)} constituents")
    n = len(offsets) - 1
    jet = np.repeat(np.arange(n), np.diff(offsets))
    pt, eta, phi = to_pt_eta_phi(e, px, py, pz)
    sum_pt = np.bincount(jet, weights=pt, minlength=n)
    safe = np.where(sum_pt > 0, sum_pt, 1.0)
    if center == "axis":
        X, Y, Z = (np.bincount(jet, weights=np.asarray(a, np.float64), minlength=n) for a in (px, py, pz))
        jpt = np.hypot(X, Y)
        c_eta = np.arcsinh(np.divide(Z, jpt, out=np.zeros_like(Z), where=jpt > 0))
        c_phi = np.arctan2(Y, X)
    elif center == "centroid":
        c_eta = np.bincount(jet, weights=pt * eta, minlength=n) / safe
        # average phi relative to the hardest constituent, so the centroid is not torn at +-pi
        ref = phi[offsets[:-1][np.diff(offsets) > 0]] if n else np.zeros(0)
        ref_full = np.zeros(n)
        ref_full[np.diff(offsets) > 0] = ref
        dphi = wrap_phi(phi - ref_full[jet])
        c_phi = ref_full + np.bincount(jet, weights=pt * dphi, minlength=n) / safe
    elif center is None:
        c_eta = c_phi = np.zeros(n)
    else:
        raise ValueError(f"center must be 'axis', 'centroid' or None, got {center!r}")
    eta = eta - c_eta[jet]
    phi = wrap_phi(phi - c_phi[jet]) if center is not None else phi
    if rotate:
        # principal axis of the pT-weighted second-moment tensor of (eta, phi)
        see = np.bincount(jet, weights=pt * eta * eta, minlength=n)
        spp = np.bincount(jet, weights=pt * phi * phi, minlength=n)
        sep = np.bincount(jet, weights=pt * eta * phi, minlength=n)
        angle = 0.5 * np.arctan2(2 * sep, see - spp)  # angle of the major axis w.r.t. the eta axis
        rot = (np.pi / 2 - angle)[jet]                # rotate the major axis onto the phi axis
        c, s = np.cos(rot), np.sin(rot)
        eta, phi = c * eta - s * phi, s * eta + c * phi
    if flip:
        for coord in ("eta", "phi"):
            v = eta if coord == "eta" else phi
            sign = np.where(np.bincount(jet, weights=pt * v, minlength=n) < 0, -1.0, 1.0)[jet]
            if coord == "eta":
                eta = eta * sign
            else:
                phi = phi * sign
    if pt_norm == "jet":
        pt = pt / safe[jet]
    elif isinstance(pt_norm, (int, float)) and not isinstance(pt_norm, bool):
        if pt_norm <= 0:
            raise ValueError(f"pt_norm must be positive, got {pt_norm}")
        pt = pt / float(pt_norm)
    elif pt_norm is not None:
        raise ValueError(f"pt_norm must be 'jet', a positive number or None, got {pt_norm!r}")
    return pt.astype(np.float32), eta.astype(np.float32), phi.astype(np.float32)
