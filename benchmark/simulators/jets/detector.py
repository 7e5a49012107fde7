"""Fast parametric detector (Delphes-ATLAS-card-like e-flow) and the detector-level THROWS.

Why parametric: the reference dataset was made with Delphes' default ATLAS card [S1]; Delphes itself
is not installable from PyPI, so its card values are reproduced here, vectorised over a batch of
events.  Values come from delphes/delphes @0ee14ba, cards/delphes_card_ATLAS.tcl and
modules/SimpleCalorimeter.cc, MomentumSmearing.cc [S12].

What is modelled: charged-particle tracking efficiency and log-normal pT resolution; ECAL and HCAL
towers on the card's granularity with stochastic/constant/noise resolution, log-normal tower energy
smearing, energy thresholds and significance cut, uniform smearing of the tower position in the cell;
energy-flow merging (tracks + neutral excess of each tower, or tracks rescaled to the inverse-variance
average of track and calorimeter energy when there is no significant excess).
Not modelled: magnetic-field bending of tracks before the calorimeter, material interactions, vertex
displacement, separate electron/muon efficiencies (the charged-hadron efficiency is used for all charged
particles), pile-up, the 3.3 < |eta| HCAL cell shapes (one 0.2 x 20 deg grid beyond |eta| = 2.5).

The throws (``apply_throw``) act on the reconstructed constituents only, so the same function serves
generated jets and the published Top Tagging jets.
"""
from __future__ import annotations

import numpy as np

# ---------------------------------------------------------------- tracking [S12 delphes_card_ATLAS.tcl]
TRACK_ETA_MAX = 2.5
TRACK_PT_MIN = 0.1  # GeV: efficiency 0 at pT <= 0.1 GeV


def track_efficiency(pt: np.ndarray, abseta: np.ndarray) -> np.ndarray:
    """ChargedHadronTrackingEfficiency of the ATLAS card [S12]."""
    central = abseta <= 1.5
    eff = np.where(central, np.where(pt > 1.0, 0.95, 0.70), np.where(pt > 1.0, 0.85, 0.60))
    return np.where((pt > TRACK_PT_MIN) & (abseta <= TRACK_ETA_MAX), eff, 0.0)


def track_resolution(pt: np.ndarray, abseta: np.ndarray) -> np.ndarray:
    """ChargedHadronMomentumSmearing: sigma(pT)/pT = sqrt(a^2 + (b pT)^2) per |eta| band [S12]."""
    a = np.select([abseta <= 0.5, abseta <= 1.5], [0.06, 0.10], 0.25)
    b = np.select([abseta <= 0.5, abseta <= 1.5], [1.3e-3, 1.7e-3], 3.1e-3)
    return np.sqrt(a ** 2 + (b * pt) ** 2)


# ------------------------------------------------------------- calorimeters [S12 delphes_card_ATLAS.tcl]
def ecal_sigma(e: np.ndarray, abseta: np.ndarray) -> np.ndarray:
    """ECAL: 10.1%/sqrt(E) + 0.17% (|eta| <= 3.2), 28.5%/sqrt(E) + 3.5% beyond, in quadrature [S12]."""
    s = np.where(abseta <= 3.2, 0.101, 0.285)
    c = np.where(abseta <= 3.2, 0.0017, 0.035)
    return np.sqrt(s ** 2 * e + (c * e) ** 2)


def hcal_sigma(e: np.ndarray, abseta: np.ndarray) -> np.ndarray:
    """HCAL: 52.05%/sqrt(E) + 3.02% + 1.59 GeV (|eta| <= 1.7); 70.6% + 5.0% (to 3.2); 100% + 9.42% [S12]."""
    s = np.select([abseta <= 1.7, abseta <= 3.2], [0.5205, 0.706], 1.0)
    c = np.select([abseta <= 1.7, abseta <= 3.2], [0.0302, 0.050], 0.0942)
    noise = np.where(abseta <= 1.7, 1.59, 0.0)
    return np.sqrt(s ** 2 * e + (c * e) ** 2 + noise ** 2)


ECAL_E_MIN, HCAL_E_MIN = 0.5, 1.0          # EnergyMin (GeV) [S12]
E_SIGNIFICANCE_MIN = 2.0                   # EnergySignificanceMin [S12]
#: (|eta| upper edge, deta, dphi in degrees) per region; ECAL 0.0174 x 1 deg to |eta| 3, ~0.175 x 10 deg
#: to 5; HCAL 0.1 x 10 deg to 2.5, then (simplified) 0.2 x 20 deg to 5 [S12, >= 3.4.0]
ECAL_GRID = ((3.0, 0.0174, 1.0), (5.0, 0.175, 10.0))
HCAL_GRID = ((2.5, 0.1, 10.0), (5.0, 0.2, 20.0))
CALO_ETA_MAX = 5.0
#: K0S and Lambda: 30% ECAL / 70% HCAL; e, gamma -> ECAL; muons, neutrinos -> none; other hadrons -> HCAL
ECAL_FRACTION_PARTIAL = {310: 0.3, 3122: 0.3}


def _cells(eta: np.ndarray, phi: np.ndarray, grid) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                              np.ndarray, np.ndarray]:
    """Cell id and the cell's (eta_lo, eta_hi, phi_lo, phi_hi) for each position on ``grid``.

    Regions are symmetric in eta; inside a region cells start at the region's inner edge.
    """
    abseta = np.abs(eta)
    region = np.searchsorted(np.array([g[0] for g in grid]), abseta, side="left")
    region = np.minimum(region, len(grid) - 1)
    inner = np.array([0.0] + [g[0] for g in grid[:-1]])[region]
    deta = np.array([g[1] for g in grid])[region]
    dphi = np.deg2rad(np.array([g[2] for g in grid]))[region]
    ieta = np.floor((abseta - inner) / deta).astype(np.int64)
    iphi = np.floor((phi + np.pi) / dphi).astype(np.int64)
    sign = np.where(eta >= 0, 1, 0)
    cell = ((region * 2 + sign) * 100_000 + ieta) * 1_000 + iphi
    lo = inner + ieta * deta
    hi = lo + deta
    eta_lo = np.where(sign == 1, lo, -hi)
    eta_hi = np.where(sign == 1, hi, -lo)
    phi_lo = -np.pi + iphi * dphi
    return cell, eta_lo, eta_hi, phi_lo, phi_lo + dphi, region


def _lognormal(rng: np.random.Generator, mean: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Log-normal with the given mean and standard deviation (Delphes' LogNormal smearing)."""
    mean = np.maximum(mean, 1e-12)
    s2 = np.log1p((sigma / mean) ** 2)
    return rng.lognormal(np.log(mean) - 0.5 * s2, np.sqrt(s2))


def _p4_from_ptetaphi(pt, eta, phi, m):
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px ** 2 + py ** 2 + pz ** 2 + np.maximum(m, 0.0) ** 2)
    return e, px, py, pz


def detector_response(batch, rng: np.random.Generator):
    """E-flow objects of every event of a :class:`~.pythia.ParticleBatch`.

    Returns ``(event, E, px, py, pz)`` flat arrays (event = index within the batch).
    """
    px, py, pz, e, pid, q, evt = batch.px, batch.py, batch.pz, batch.e, batch.pid, batch.charge, batch.event
    pt = np.hypot(px, py)
    p = np.sqrt(pt ** 2 + pz ** 2)
    eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pz), where=pt > 0))
    phi = np.arctan2(py, px)
    abseta = np.abs(eta)
    mass = np.sqrt(np.maximum(e ** 2 - p ** 2, 0.0))
    apid = np.abs(pid)
    charged = q != 0
    muon = apid == 13

    # ---- tracks: efficiency, then log-normal pT smearing at fixed direction
    has_track = charged & (rng.random(len(pt)) < track_efficiency(pt, abseta))
    t = np.flatnonzero(has_track)
    t_pt = _lognormal(rng, pt[t], pt[t] * track_resolution(pt[t], abseta[t]))
    t_e, t_px, t_py, t_pz = _p4_from_ptetaphi(t_pt, eta[t], phi[t], mass[t])
    t_sigma_e = t_e * track_resolution(pt[t], abseta[t])
    t_is_ecal = np.isin(apid[t], (11,))  # electron tracks are matched to ECAL towers

    # ---- calorimeter deposits
    in_calo = (abseta < CALO_ETA_MAX) & ~muon
    f_ecal = np.where(np.isin(apid, (11, 22)), 1.0, 0.0)
    for code, frac in ECAL_FRACTION_PARTIAL.items():
        f_ecal = np.where(apid == code, frac, f_ecal)
    f_ecal = np.where(in_calo, f_ecal, 0.0)
    f_hcal = np.where(in_calo, 1.0 - f_ecal, 0.0)

    objects = []
    muon_tracks = muon[t]
    for grid, frac, sigma_fn, e_min, track_sel in (
            (ECAL_GRID, f_ecal, ecal_sigma, ECAL_E_MIN, t_is_ecal & ~muon_tracks),
            (HCAL_GRID, f_hcal, hcal_sigma, HCAL_E_MIN, ~t_is_ecal & ~muon_tracks)):
        dep = frac > 0
        cell, elo, ehi, plo, phi_hi, _ = _cells(eta[dep], phi[dep], grid)
        key = evt[dep] * 10**12 + cell
        # tracks pointing to this calorimeter's cells
        tcell = _cells(eta[t][track_sel], phi[t][track_sel], grid)[0]
        tkey = evt[t][track_sel] * 10**12 + tcell
        keys, inv = np.unique(np.concatenate([key, tkey]), return_inverse=True)
        inv_dep, inv_trk = inv[:len(key)], inv[len(key):]
        n_cells = len(keys)
        e_true = np.bincount(inv_dep, weights=(frac * e)[dep], minlength=n_cells)
        first = np.full(n_cells, -1, dtype=np.int64)
        first[inv_dep] = np.arange(len(inv_dep))  # any deposit of the cell gives its geometry
        has_dep = first >= 0
        # cell geometry from the first deposit; a cell hit only by a track has no energy
        c_eta_lo = np.zeros(n_cells); c_eta_hi = np.zeros(n_cells)
        c_phi_lo = np.zeros(n_cells); c_phi_hi = np.zeros(n_cells)
        idx = first[has_dep]
        c_eta_lo[has_dep], c_eta_hi[has_dep] = elo[idx], ehi[idx]
        c_phi_lo[has_dep], c_phi_hi[has_dep] = plo[idx], phi_hi[idx]
        c_abseta = np.abs(0.5 * (c_eta_lo + c_eta_hi))
        e_meas = np.where(has_dep, _lognormal(rng, e_true, sigma_fn(e_true, c_abseta)), 0.0)
        e_meas = np.where(e_true > 0, e_meas, 0.0)
        sig_cal = sigma_fn(np.maximum(e_meas, 1e-9), c_abseta)
        trk_e = np.bincount(inv_trk, weights=t_e[track_sel], minlength=n_cells)
        trk_var = np.bincount(inv_trk, weights=t_sigma_e[track_sel] ** 2, minlength=n_cells)
        has_trk = trk_e > 0
        # neutral excess over the tracks [S12 SimpleCalorimeter.cc]
        excess = np.maximum(e_meas - trk_e, 0.0)
        sig_tot = np.sqrt(sig_cal ** 2 + trk_var)
        neutral = has_dep & (excess > e_min) & (excess > E_SIGNIFICANCE_MIN * np.where(has_trk, sig_tot, sig_cal))
        # no significant excess but tracks present: tracks -> inverse-variance average of track and calo E
        rescale = np.ones(n_cells)
        avg = has_trk & ~neutral & has_dep
        w_t = 1.0 / np.maximum(trk_var[avg], 1e-12)
        w_c = 1.0 / np.maximum(sig_cal[avg] ** 2, 1e-12)
        rescale[avg] = (trk_e[avg] * w_t + e_meas[avg] * w_c) / (w_t + w_c) / trk_e[avg]
        f = rescale[inv_trk]
        ti = np.flatnonzero(track_sel)
        t_e[ti] *= f; t_px[ti] *= f; t_py[ti] *= f; t_pz[ti] *= f
        # neutral objects: massless, position drawn uniformly in the cell (SmearTowerCenter)
        nc = np.flatnonzero(neutral)
        n_eta = rng.uniform(c_eta_lo[nc], c_eta_hi[nc])
        n_phi = rng.uniform(c_phi_lo[nc], c_phi_hi[nc])
        n_pt = excess[nc] / np.cosh(n_eta)
        ne, npx, npy, npz = _p4_from_ptetaphi(n_pt, n_eta, n_phi, 0.0)
        objects.append((keys[nc] // 10**12, ne, npx, npy, npz))
    objects.append((evt[t], t_e, t_px, t_py, t_pz))
    ev = np.concatenate([o[0] for o in objects])
    order = np.argsort(ev, kind="stable")
    return tuple(np.concatenate([o[i] for o in objects])[order] for i in range(5))


# --------------------------------------------------------------------------------------- throws
#: per-jet throw parameters and their nominal (no-op) values; stored as float32 columns
THROW_NOMINAL = {"jes": 1.0, "constituent_resolution": 0.0, "soft_pt_min": 0.0, "angular_sigma": 0.0}


def apply_throw(e, px, py, pz, offsets, params: dict, rng: np.random.Generator):
    """Apply detector-level throws to reconstructed constituents of many jets at once.

    THE single throw implementation for generated and published jets.  ``params`` maps each key of
    ``THROW_NOMINAL`` to a scalar or a per-jet array:

    * ``angular_sigma`` (rad): eta and phi of every constituent shifted by independent N(0, sigma);
    * ``constituent_resolution``: every constituent four-momentum multiplied by a log-normal factor
      with mean 1 and this relative standard deviation (extra energy resolution);
    * ``jes``: every constituent four-momentum multiplied by this factor (jet energy scale);
    * ``soft_pt_min`` (GeV): constituents below this pT after the above are lost (the hardest one
      is always kept, so no jet becomes empty).

    Constituents are re-sorted by decreasing pT.  Returns ``(e, px, py, pz, offsets)`` (float64).
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    n_jets = len(offsets) - 1
    counts = np.diff(offsets)
    jet = np.repeat(np.arange(n_jets), counts)
    par = {}
    for k, v in THROW_NOMINAL.items():
        a = np.broadcast_to(np.asarray(params.get(k, v), dtype=np.float64), (n_jets,))
        par[k] = a[jet]
    e, px, py, pz = (np.asarray(x, dtype=np.float64) for x in (e, px, py, pz))
    pt = np.hypot(px, py)
    p2 = pt ** 2 + pz ** 2
    m = np.sqrt(np.maximum(e ** 2 - p2, 0.0))
    eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pz), where=pt > 0))
    phi = np.arctan2(py, px)
    s = par["angular_sigma"]
    eta = eta + s * rng.standard_normal(len(e))
    phi = phi + s * rng.standard_normal(len(e))
    e, px, py, pz = _p4_from_ptetaphi(pt, eta, phi, m)
    r = par["constituent_resolution"]
    factor = np.where(r > 0, _lognormal(rng, np.ones_like(r), r), 1.0) * par["jes"]
    e, px, py, pz = e * factor, px * factor, py * factor, pz * factor
    pt = np.hypot(px, py)
    # sort by (jet, -pT); keep pT-leading constituent of each jet whatever the threshold
    order = np.lexsort((-pt, jet))
    e, px, py, pz, pt, jet, smin = (a[order] for a in (e, px, py, pz, pt, jet, par["soft_pt_min"]))
    lead = np.zeros(len(pt), dtype=bool)
    lead[offsets[:-1][counts > 0]] = True
    keep = (pt >= smin) | lead
    new_counts = np.bincount(jet[keep], minlength=n_jets)
    new_offsets = np.concatenate([[0], np.cumsum(new_counts)]).astype(np.int64)
    return e[keep], px[keep], py[keep], pz[keep], new_offsets


def jet_kinematics(e, px, py, pz, offsets):
    """(pt, eta, phi, mass) of the four-momentum sum of each jet's constituents."""
    offsets = np.asarray(offsets, dtype=np.int64)
    n = len(offsets) - 1
    jet = np.repeat(np.arange(n), np.diff(offsets))
    E, X, Y, Z = (np.bincount(jet, weights=np.asarray(a, dtype=np.float64), minlength=n) for a in (e, px, py, pz))
    pt = np.hypot(X, Y)
    eta = np.arcsinh(np.divide(Z, pt, out=np.zeros_like(Z), where=pt > 0))
    phi = np.arctan2(Y, X)
    mass = np.sqrt(np.maximum(E ** 2 - X ** 2 - Y ** 2 - Z ** 2, 0.0))
    return pt, eta, phi, mass
