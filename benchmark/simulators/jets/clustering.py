"""Jet clustering (FastJet anti-kT R = 0.8), leading-jet selection and top truth matching.

Selection of the Top Quark Tagging Reference Dataset [S1, arXiv:1902.09914]: e-flow objects of the
whole event clustered with anti-kT R = 0.8; the LEADING jet only; 550 < pT < 650 GeV and |eta| < 2;
for top events the jet must be truth matched: the top quark within dR < 0.8 of the jet axis AND all
its decay partons (b and the two quarks of the W) within dR < 0.8.  QCD jets are not matched.
Up to 200 constituents are kept, sorted by decreasing pT.
"""
from __future__ import annotations

import numpy as np

JET_R = 0.8
JET_PT_MIN, JET_PT_MAX = 550.0, 650.0   # GeV [S1]
JET_ABS_ETA_MAX = 2.0                   # [S1]
MATCH_DR = 0.8                          # [S1]
MAX_CONSTITUENTS = 200                  # [S1]

_banner_done = False


def _delta_r(eta1, phi1, eta2, phi2):
    dphi = np.mod(phi1 - phi2 + np.pi, 2 * np.pi) - np.pi
    return np.hypot(eta1 - eta2, dphi)


def _eta_phi(p4):
    """eta, phi of (..., 4) arrays ordered (E, px, py, pz)."""
    pt = np.hypot(p4[..., 1], p4[..., 2])
    eta = np.arcsinh(np.divide(p4[..., 3], pt, out=np.zeros_like(pt), where=pt > 0))
    return eta, np.arctan2(p4[..., 2], p4[..., 1])


def leading_jets(event, e, px, py, pz, n_events: int):
    """Cluster each event's objects; return per event the leading jet's constituent indices.

    Returns ``(jet_p4 (n, 4) [E, px, py, pz], constituents: list of index arrays into the flat
    inputs)``; events without any jet get NaN and an empty index array.
    """
    global _banner_done
    import awkward as ak
    import fastjet

    from benchmark.simulators.jets.pythia import silence_stdout

    counts = np.bincount(event, minlength=n_events)
    arr = ak.unflatten(ak.zip({"px": px, "py": py, "pz": pz, "E": e}), counts)
    jetdef = fastjet.JetDefinition(fastjet.antikt_algorithm, JET_R)
    if not _banner_done:  # FastJet prints its banner once per process, on stdout
        with silence_stdout():
            cs = fastjet.ClusterSequence(arr, jetdef)
            jets = cs.inclusive_jets()
        _banner_done = True
    else:
        cs = fastjet.ClusterSequence(arr, jetdef)
        jets = cs.inclusive_jets()
    index = cs.constituent_index()
    jpt = np.hypot(jets.px, jets.py)
    lead = ak.argmax(jpt, axis=1, keepdims=True)
    lj = ak.firsts(jets[lead])
    jet_p4 = np.stack([ak.to_numpy(ak.fill_none(getattr(lj, f), np.nan)) for f in ("E", "px", "py", "pz")], axis=1)
    lead_idx = ak.firsts(index[lead])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    constituents = []
    for i, c in enumerate(ak.to_list(lead_idx)):
        constituents.append(np.asarray(c if c is not None else [], dtype=np.int64) + starts[i])
    return jet_p4.astype(np.float64), constituents


def select_jets(jet_p4: np.ndarray, tops: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Reference-dataset cuts; returns (pass mask, truth top four-momentum (n, 4), zeros if QCD)."""
    pt = np.hypot(jet_p4[:, 1], jet_p4[:, 2])
    eta, phi = _eta_phi(jet_p4)
    ok = np.isfinite(pt) & (pt > JET_PT_MIN) & (pt < JET_PT_MAX) & (np.abs(eta) < JET_ABS_ETA_MAX)
    truth = np.zeros((len(pt), 4))
    if tops is None:
        return ok, truth
    # tops: (n, 2, 4 partons [t, b, q, q'], 4)
    peta, pphi = _eta_phi(tops)
    dr = _delta_r(peta, pphi, eta[:, None, None], phi[:, None, None])
    matched = np.all(np.nan_to_num(dr, nan=np.inf) < MATCH_DR, axis=2)   # (n, 2): top and all partons
    any_match = matched.any(axis=1)
    which = np.argmax(matched, axis=1)
    truth[any_match] = tops[np.flatnonzero(any_match), which[any_match], 0]
    return ok & any_match, truth


def constituent_arrays(e, px, py, pz, index: np.ndarray):
    """The jet's constituents as (E, px, py, pz), pT-descending, truncated at 200."""
    pt = np.hypot(px[index], py[index])
    order = index[np.argsort(-pt, kind="stable")][:MAX_CONSTITUENTS]
    return e[order], px[order], py[order], pz[order]
