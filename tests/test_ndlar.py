"""Tests of the ND-LAr single-particle generator: determinism, pairing, and physics within stated
tolerances of the reference values (reference/ndlar.md; PDG, PSTAR, larnd-sim)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from benchmark.data.registry import UnknownNameError
from benchmark.simulators.ndlar import constants as C
from benchmark.simulators.ndlar import detector, particles
from benchmark.simulators.ndlar.generator import NDLArGenerator

IDS = np.arange(10, 20, dtype=np.int64)  # two of each class


@pytest.fixture(scope="module")
def gen():
    return NDLArGenerator()


@pytest.fixture(scope="module")
def all_train(gen):
    return gen.generate_chunk("train", 0, IDS, seed=7)


# ------------------------------------------------------------------------------- contract
def test_determinism_same_seed_identical_arrays(gen):
    doms = ["nominal", "electronics_2", "physics_random"]
    a = gen.generate_chunk("train", 3, IDS, seed=11, domains=doms)
    b = gen.generate_chunk("train", 3, IDS, seed=11, domains=doms)
    c = gen.generate_chunk("train", 3, IDS, seed=12, domains=["nominal"])
    for d in doms:
        assert list(a[d]) == list(b[d])
        for col in a[d]:
            if isinstance(a[d][col], list):
                assert len(a[d][col]) == len(b[d][col])
                for x, y in zip(a[d][col], b[d][col]):
                    np.testing.assert_array_equal(x, y)
            else:
                np.testing.assert_array_equal(a[d][col], b[d][col])
    assert not np.array_equal(a["nominal"]["kinetic_energy"], c["nominal"]["kinetic_energy"])


def test_truth_independent_of_chunking(gen):
    t1 = gen.truth(5, np.arange(100, 110))
    t2 = gen.truth(5, np.arange(104, 108))
    np.testing.assert_array_equal(t1["kinetic_energy"][4:8], t2["kinetic_energy"])
    np.testing.assert_array_equal(t1["start"][4:8], t2["start"])


def test_pairing_same_event_id_same_truth(gen, all_train):
    nom = all_train["nominal"]
    assert set(all_train) == {d.name for d in gen.domains() if not d.test_only}
    ref = {int(e): i for i, e in enumerate(nom["event_id"])}
    assert len(ref) >= 8
    for name, cols in all_train.items():
        assert cols["coords"][0].dtype == np.int32 and cols["charge"][0].dtype == np.float32
        common = [(i, ref[int(e)]) for i, e in enumerate(cols["event_id"]) if int(e) in ref]
        assert len(common) >= 8, name
        for col in ("label", "pdg", "kinetic_energy", "direction", "start"):
            for i, j in common:
                np.testing.assert_array_equal(cols[col][i], nom[col][j], err_msg=f"{name}/{col}")
        for c, x in zip(cols["coords"], cols["charge"]):
            assert c.size == 3 * x.size and x.size > C.MIN_VOXELS - 1


def test_parameter_columns_match_domains(gen, all_train):
    specs = {d.name: d for d in gen.domains()}
    for name, cols in all_train.items():
        for p in C.PARAMETER_NAMES:
            assert cols[p].dtype == np.float32
            want = specs[name].parameters[p]
            if isinstance(want, dict):
                if name == "physics_random" and p in C.PHYSICS_NAMES:
                    assert want["low"] <= cols[p].min() and cols[p].max() <= want["high"]
                    assert np.unique(cols[p]).size == cols[p].size  # each event its own draw
                continue
            np.testing.assert_allclose(cols[p], want, rtol=1e-6, err_msg=f"{name}/{p}")
    e1 = specs["electronics_1"].parameters
    assert any(abs(e1[p] / C.NOMINAL_PARAMETERS[p] - 1) > 1e-4 for p in C.ELECTRONICS_NAMES)


def test_family_spec_matches_generator(gen, all_train):
    from benchmark.data.registry import get_family
    fam = get_family("ndlar")
    assert [d.name for d in fam.source().domains] == [d.name for d in gen.domains()]
    assert set(all_train["nominal"]) == {c.name for c in fam.columns}


def test_bad_input_is_rejected(gen):
    with pytest.raises(UnknownNameError, match="nomnal"):
        gen.generate_chunk("train", 0, IDS[:2], 1, domains=["nomnal"])
    with pytest.raises(ValueError, match="test-only"):
        gen.generate_chunk("train", 0, IDS[:2], 1, domains=["scan_lifetime_500"])
    with pytest.raises(UnknownNameError, match="split"):
        gen.generate_chunk("training", 0, IDS[:2], 1, domains=["nominal"])
    with pytest.raises(ValueError, match="recombination"):
        NDLArGenerator(recombination="bogus")
    with pytest.raises(ValueError, match="pixel_pitch"):
        NDLArGenerator(pixel_pitch_cm=0.0)


def test_pitch_is_a_parameter():
    g = NDLArGenerator(pixel_pitch_cm=0.4434)
    out = g.generate_chunk("train", 0, IDS[5:7], 1, domains=["nominal"])  # muon, pion
    ref = NDLArGenerator().generate_chunk("train", 0, IDS[5:7], 1, domains=["nominal"])
    n_big = sum(c.size for c in out["nominal"]["coords"])
    n_ref = sum(c.size for c in ref["nominal"]["coords"])
    assert n_big < n_ref  # coarser pixels, fewer voxels for the same tracks


# ------------------------------------------------------------------------------- physics
@pytest.mark.parametrize("T,ref", [(50, 10.8), (100, 30.4), (300, 123.6), (1000, 441.5)])
def test_muon_csda_range_within_3_percent_of_pdg(T, ref):
    assert particles.range_table(C.MUON_MASS).range_cm(T) == pytest.approx(ref, rel=0.03)


@pytest.mark.parametrize("T,ref", [(50, 2.30), (100, 7.82), (200, 26.0), (300, 51.2)])
def test_proton_csda_range_within_3_percent_of_pstar(T, ref):
    assert particles.range_table(C.PROTON_MASS).range_cm(T) == pytest.approx(ref, rel=0.03)


def test_tracked_muon_range_and_mean_dedx():
    """A transported 300 MeV muon: path length = CSDA range (1%); mean dE/dx over the first 20 cm =
    the minimum-ionising 2.105 MeV/cm (PDG) within 5%; energy conserved (0.1%)."""
    rng = np.random.default_rng(0)
    dep = particles.Deposits()
    end, _, t_end, L = particles.track(C.MUON_MASS, 300.0, [0, 0, 650.0], [0, 0, 1.0], 0.0, rng, dep)
    a = dep.arrays()
    assert a["dx"].sum() == pytest.approx(123.6, rel=0.01)
    assert t_end == 0.0 and a["de"].sum() == pytest.approx(300.0, rel=1e-3)
    first = np.cumsum(a["dx"]) <= 20.0
    assert a["de"][first].sum() / a["dx"][first].sum() == pytest.approx(C.MIP_DEDX_MEV_CM, rel=0.05)
    # multiple scattering bends it: end point short of the range, but not by much for a muon
    assert 0.8 * 123.6 < np.linalg.norm(end - np.array([0, 0, 650.0])) < 123.6


def test_proton_bragg_rise():
    """dE/dx versus residual range of a stopping proton follows 17.9 R^-0.42 MeV/cm (reference fit,
    within 15% between 0.3 and 20 cm) and rises by more than 4x from 20 cm to 0.3 cm."""
    rng = np.random.default_rng(1)
    dep = particles.Deposits()
    particles.track(C.PROTON_MASS, 250.0, [0, 0, 650.0], [0, 0, 1.0], 0.0, rng, dep, fluctuate=False)
    a = dep.arrays()
    resid = a["dx"].sum() - (np.cumsum(a["dx"]) - 0.5 * a["dx"])
    dedx = a["de"] / a["dx"]
    for R in (0.3, 1.0, 5.0, 20.0):
        got = np.interp(R, resid[::-1], dedx[::-1])
        assert got == pytest.approx(17.9 * R ** -0.42, rel=0.15), R
    assert np.interp(0.3, resid[::-1], dedx[::-1]) > 4 * np.interp(20.0, resid[::-1], dedx[::-1])


def test_recombination_and_drift_velocity_reference_values():
    for E, birks, v in ((0.45, 0.687, 0.1513), (0.50, 0.697, 0.1597), (0.55, 0.705, 0.1673)):
        assert detector.recombination(2.1, E, "birks") == pytest.approx(birks, abs=0.004)
        assert detector.drift_velocity(E) == pytest.approx(v, rel=0.005)
    assert detector.recombination(2.1, 0.5, "box") == pytest.approx(0.706, abs=0.004)
    # heavily ionising deposits recombine more
    assert detector.recombination(20.0, 0.5) < 0.5 * detector.recombination(2.1, 0.5)


def _point_deposits(drift_cm: np.ndarray, n_per: int):
    """MIP deposits in the central module's low-x TPC at given drift distances (anode at x = -50.4)."""
    x = -50.4 + np.repeat(drift_cm, n_per)
    n = x.size
    pos = np.stack([x, np.full(n, 0.19), np.full(n, 650.19)], axis=1)
    return {"pos": pos, "de": np.full(n, 0.2105), "dx": np.full(n, 0.1), "t": np.zeros(n),
            "event": np.zeros(n, np.int64)}


def _params(**kw):
    return {k: np.array([kw.get(k, v)], np.float64) for k, v in C.NOMINAL_PARAMETERS.items()}


def test_charge_falls_exponentially_with_drift_time():
    """Collected charge / produced charge = exp(-t/tau), t = d / v(E) (0.5%), for two lifetimes;
    and end-to-end through the electronics the voxel charge follows the same ratio (5%)."""
    drifts = np.array([5.0, 25.0, 45.0])
    dep = _point_deposits(drifts, 2000)
    rng = np.random.default_rng(2)
    r = detector.ChunkRenderer(dep, 1, rng.standard_normal((dep["de"].size, 1, 3)),
                               rng.standard_exponential((dep["de"].size, 1)))
    n0 = detector.recombination(2.105, 0.5) * 0.2105 / C.W_ION_MEV
    v = detector.drift_velocity(0.5)
    for tau in (500.0, 5000.0):
        _, t, q, _, _ = r.packets(_params(electron_lifetime=tau))
        for d in drifts:
            sel = np.abs(t - d / v) < 2.0
            assert q[sel].mean() / n0 == pytest.approx(math.exp(-d / v / tau), rel=0.005)


def test_charge_lifetime_end_to_end():
    """A MIP track parallel to the anode at 40 cm drift, centred on a pixel row: mean voxel charge ratio
    between tau = 500 us and 5000 us equals exp(-t/500)/exp(-t/5000) within 5%."""
    n = 1500
    x = np.full(n, -50.4 + 40.0)
    y_centre = C.ACTIVE_MIN[1] + 391.5 * C.PIXEL_PITCH_CM
    pos = np.stack([x, np.full(n, y_centre), 620.0 + 0.1 * np.arange(n) + 0.05], axis=1)
    dep = {"pos": pos, "de": np.full(n, 0.2105), "dx": np.full(n, 0.1), "t": np.zeros(n),
           "event": np.zeros(n, np.int64)}
    rng = np.random.default_rng(3)
    r = detector.ChunkRenderer(dep, 1, rng.standard_normal((n, 1, 3)), rng.standard_exponential((n, 1)))
    means = {}
    for tau in (500.0, 5000.0):
        *_, q = r.render(_params(electron_lifetime=tau), np.random.default_rng(4))
        means[tau] = q.sum() / (n * 0.1)  # ke- per cm of track
    t = 40.0 / detector.drift_velocity(0.5)
    assert means[500.0] / means[5000.0] == pytest.approx(math.exp(-t / 500) / math.exp(-t / 5000), rel=0.05)
    # absolute scale: 62 ke-/cm for a MIP before lifetime losses (reference/ndlar.md sec. 4)
    assert means[5000.0] / math.exp(-t / 5000) == pytest.approx(62.0, rel=0.08)


def test_transverse_spread_grows_as_sqrt_2Dt():
    drifts = np.array([10.0, 40.0])
    dep = _point_deposits(drifts, 20000)
    rng = np.random.default_rng(5)
    r = detector.ChunkRenderer(dep, 1, rng.standard_normal((dep["de"].size, 1, 3)),
                               rng.standard_exponential((dep["de"].size, 1)))
    v = detector.drift_velocity(0.5)
    for D in (4e-6, 14e-6):
        y, _, t, _ = r.drift(_params(transverse_diffusion=D))
        y, t = y.ravel(), t.ravel()
        for d in drifts:
            sel = np.abs(t - d / v) < 3.0
            assert y[sel].std() == pytest.approx(math.sqrt(2 * D * d / v), rel=0.05)


def test_photon_conversion_gap_and_electron_shower_scales():
    """Photons: first deposit at a mean distance 9/7 X0 = 18 cm (10%); electrons start at the vertex.
    1 GeV electron showers: energy-weighted mean depth = Gamma-profile mean a/b X0 (15%) and 90% of
    the energy within one Molière radius of the axis (radius between 0.8 and 1.3 R_M)."""
    rng = np.random.default_rng(6)
    gaps, depth, r90 = [], [], []
    d0 = np.array([0, 0, 1.0])
    for _ in range(300):
        dep = particles.Deposits()
        particles.em_shower(500.0, np.zeros(3), d0, 0.0, rng, dep, photon=True)
        gaps.append(dep.arrays()["pos"][:, 2].min())
    assert np.mean(gaps) == pytest.approx(C.PAIR_MFP_CM, rel=0.10)
    for _ in range(40):
        dep = particles.Deposits()
        particles.em_shower(1000.0, np.zeros(3), d0, 0.0, rng, dep, photon=False)
        a = dep.arrays()
        assert a["pos"][:, 2].min() < 0.2
        depth.append(np.average(a["pos"][:, 2], weights=a["de"]))
        r = np.hypot(a["pos"][:, 0], a["pos"][:, 1])
        o = np.argsort(r)
        r90.append(r[o][np.searchsorted(np.cumsum(a["de"][o]) / a["de"].sum(), 0.9)])
    a_, b_ = particles.shower_profile(1000.0)
    assert np.mean(depth) == pytest.approx(a_ / b_ * C.RADIATION_LENGTH_CM, rel=0.15)
    assert 0.8 * C.MOLIERE_RADIUS_CM < np.median(r90) < 1.3 * C.MOLIERE_RADIUS_CM


def test_efield_throw_stretches_the_drift_coordinate():
    """Hits are placed with the nominal drift velocity, so a track's reconstructed extent along the
    drift axis scales as v_nominal / v(E) (3%): the E-field shift of the study."""
    n = 420
    s = 0.1 * np.arange(n) + 0.05
    pos = np.stack([-50.4 + 5.0 + s / math.sqrt(2), np.full(n, 0.17), 620.0 + s / math.sqrt(2)], axis=1)
    dep = {"pos": pos, "de": np.full(n, 0.2105), "dx": np.full(n, 0.1), "t": np.zeros(n),
           "event": np.zeros(n, np.int64)}
    rng = np.random.default_rng(8)
    r = detector.ChunkRenderer(dep, 1, rng.standard_normal((n, 1, 3)), rng.standard_exponential((n, 1)))
    extent = {}
    for E in (0.45, 0.55):
        _, ix, _, _, _ = r.render(_params(efield=E), np.random.default_rng(9))
        extent[E] = (ix.max() - ix.min()) * C.PIXEL_PITCH_CM
    want = detector.drift_velocity(0.55) / detector.drift_velocity(0.45)
    assert extent[0.45] / extent[0.55] == pytest.approx(want, rel=0.03)
    assert extent[0.55] == pytest.approx(n * 0.1 / math.sqrt(2) * detector.V_NOMINAL / detector.drift_velocity(0.55),
                                         abs=2 * C.PIXEL_PITCH_CM)


def test_delta_ray_rate_and_energy_bookkeeping():
    """Knock-on electrons above 2 MeV from a 1 GeV muon: number per cm = (K/2)(Z/A) rho / beta^2 (1/T_cut -
    1/T_max) (PDG) within 20% over 50 m; the track keeps the restricted loss, so with delta rays the mean
    energy deposited by a stopping muon still equals its kinetic energy (3%)."""
    rng = np.random.default_rng(10)
    n = 50_000
    T = np.full(n, 1000.0)
    E = T + C.MUON_MASS
    beta = np.sqrt(1 - (C.MUON_MASS / E) ** 2)
    dirs = np.tile([0.0, 0.0, 1.0], (n, 1))
    dep = particles.Deposits()
    loss, count = particles.delta_rays(C.MUON_MASS, T, beta, np.full(n, 0.1), np.zeros((n, 3)), dirs, 2.0, 0.0, rng, dep)
    g = E[0] / C.MUON_MASS
    me = C.ELECTRON_MASS
    tmax = 2 * me * (g * g - 1) / (1 + 2 * g * me / C.MUON_MASS + (me / C.MUON_MASS) ** 2)
    k = 0.5 * 0.307075 * C.LAR_Z_OVER_A * C.LAR_DENSITY / beta[0] ** 2
    assert count == pytest.approx(k * (1 / 2.0 - 1 / tmax) * n * 0.1, rel=0.2)
    assert loss.sum() / (n * 0.1) == pytest.approx(k * math.log(tmax / 2.0), rel=1e-6)
    tot = []
    for _ in range(30):
        d = particles.Deposits()
        particles.track(C.MUON_MASS, 500.0, [0, 0, 650.0], [0, 0, 1.0], 0.0, rng, d, delta_cut=2.0)
        tot.append(d.arrays()["de"].sum())
    assert np.mean(tot) == pytest.approx(500.0, rel=0.03)
