"""Generated jets (Pythia 8 + FastJet + parametric detector): cuts, physics sanity, determinism, pairing."""
from __future__ import annotations

import numpy as np
import pytest

from benchmark.data.registry import get_family
from benchmark.data.writer import write_part_file
from benchmark.simulators.jets import detector, preprocessing
from benchmark.simulators.jets.generator import THROWS, VARIANT_ID_OFFSET, JetsGenerator

SEED = 7
IDS = np.arange(2 * 10**9, 2 * 10**9 + 24, dtype=np.int64)  # 12 top + 12 QCD, test split ids
DETECTOR_DOMAINS = ["nominal", *THROWS, "detector_random"]


@pytest.fixture(scope="module")
def chunk():
    return JetsGenerator().generate_chunk("test", 0, IDS, SEED, domains=DETECTOR_DOMAINS)


def _pt(c):
    return [np.hypot(x, y) for x, y in zip(c["px"], c["py"])]


def test_selection_cuts_and_classes(chunk):
    c = chunk["nominal"]
    assert list(c["event_id"]) == list(IDS)
    assert (c["label"] == 1).sum() == 12 and (c["label"] == 0).sum() == 12
    assert np.all((c["jet_pt"] > 549.0) & (c["jet_pt"] < 651.0))   # 550-650 GeV (stored <= 200 constituents)
    assert np.all(np.abs(c["jet_eta"]) < 2.0)


def test_top_jets_are_heavy_and_truth_matched(chunk):
    c = chunk["nominal"]
    top, qcd = c["label"] == 1, c["label"] == 0
    assert c["jet_mass"][top].mean() > c["jet_mass"][qcd].mean() + 30
    assert 140 < np.median(c["jet_mass"][top]) < 200            # peaks near m_top = 173 GeV
    # matched truth top within dR < 0.8 of the jet; QCD carries zeros
    tpt = np.hypot(c["truth_px"][top], c["truth_py"][top])
    teta = np.arcsinh(c["truth_pz"][top] / tpt)
    tphi = np.arctan2(c["truth_py"][top], c["truth_px"][top])
    dphi = np.mod(tphi - c["jet_phi"][top] + np.pi, 2 * np.pi) - np.pi
    assert np.all(np.hypot(teta - c["jet_eta"][top], dphi) < 0.8)
    assert np.all(c["truth_E"][qcd] == 0)


def test_constituents_sorted_and_within_published_range(chunk):
    c = chunk["nominal"]
    for pt, e in zip(_pt(c), c["E"]):
        assert 1 <= len(pt) <= 200
        assert np.all(np.diff(pt) <= 1e-4) and np.all(e > 0)


def test_columns_match_family_contract(chunk, tmp_path):
    family = get_family("jets")
    for d, cols in chunk.items():
        assert write_part_file(tmp_path / f"{d}.h5", cols, family.columns) == len(IDS)
    assert [d.name for d in family.source("generated").domains] == [d.name for d in JetsGenerator().domains()]


def test_deterministic_in_seed(chunk):
    again = JetsGenerator().generate_chunk("test", 0, IDS, SEED, domains=["nominal"])["nominal"]
    ref = chunk["nominal"]
    np.testing.assert_array_equal(again["label"], ref["label"])
    for a, b in zip(again["E"], ref["E"]):
        np.testing.assert_array_equal(a, b)
    other = JetsGenerator().generate_chunk("test", 0, IDS[:2], SEED + 1, domains=["nominal"])["nominal"]
    assert not np.array_equal(other["jet_pt"], ref["jet_pt"][:2])


_ORDER_SCRIPT = """
import hashlib, json, sys
import numpy as np
from benchmark.simulators.jets.generator import JetsGenerator
gen, out = JetsGenerator(), {}
for k in json.loads(sys.argv[1]):
    ids = np.arange(k * 6, k * 6 + 6, dtype=np.int64)
    cols = gen.generate_chunk("train", k, ids, 11, domains=["nominal", "fsr_up"])
    h = hashlib.sha256()
    for d in sorted(cols):
        for name in ("label", "E", "px", "py", "pz"):
            for v in cols[d][name]:
                h.update(np.ascontiguousarray(v).tobytes())
    out[k] = h.hexdigest()
print(json.dumps(out))
"""


def _chunk_hashes(order):
    import json
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", _ORDER_SCRIPT, json.dumps(order)], capture_output=True,
                         text=True, check=True)
    return {int(k): v for k, v in json.loads(run.stdout.strip().splitlines()[-1]).items()}


def test_chunks_do_not_depend_on_what_the_worker_generated_before():
    """A worker keeps one initialised Pythia per (variant, process) and reseeds it per chunk: the same
    chunk is byte-identical whichever chunks that process made before it (issue 17)."""
    forward, backward = _chunk_hashes([0, 1, 2]), _chunk_hashes([2, 1, 0])
    alone = _chunk_hashes([1])
    assert forward == backward
    assert forward[1] == alone[1]
    assert len(set(forward.values())) == 3  # different chunks do differ


def test_throws_pair_with_nominal(chunk):
    nom = chunk["nominal"]
    for d in [*THROWS, "detector_random"]:
        np.testing.assert_array_equal(chunk[d]["event_id"], nom["event_id"])
        np.testing.assert_array_equal(chunk[d]["label"], nom["label"])
    # energy scale: every constituent scaled, so the jet pT and mass scale exactly
    np.testing.assert_allclose(chunk["jes_up"]["jet_pt"], 1.05 * nom["jet_pt"], rtol=1e-5)
    np.testing.assert_allclose(chunk["jes_down"]["jet_mass"], 0.95 * nom["jet_mass"], rtol=1e-4)
    assert np.all(chunk["jes_up"]["jes"] == np.float32(1.05)) and np.all(nom["jes"] == 1)
    # soft loss: nothing below 1 GeV except possibly the hardest constituent, and fewer constituents
    for pt in _pt(chunk["soft_loss"]):
        assert np.all(pt[1:] >= 1.0 - 1e-4)
    n_nom = np.array([len(x) for x in nom["E"]])
    n_soft = np.array([len(x) for x in chunk["soft_loss"]["E"]])
    assert np.all(n_soft <= n_nom) and n_soft.sum() < n_nom.sum()
    # resolution and angular smearing change the jets but keep the constituent count
    assert np.array_equal([len(x) for x in chunk["angular"]["E"]], n_nom)
    assert not np.allclose(chunk["resolution"]["jet_mass"], nom["jet_mass"])
    # detector_random: each jet its own throw within the documented ranges
    r = chunk["detector_random"]
    assert len(np.unique(r["jes"])) == len(IDS) and np.all((r["jes"] >= 0.95) & (r["jes"] <= 1.05))


def test_generator_variant_is_unpaired_with_unique_ids():
    gen = JetsGenerator()
    out = gen.generate_chunk("test", 0, IDS[:8], SEED, domains=["fsr_up"])["fsr_up"]
    ids = out["event_id"]
    assert len(ids) == 2  # 0.25 of the chunk
    assert np.all(ids >= IDS[0] + VARIANT_ID_OFFSET) and len(set(ids) & set(IDS)) == 0
    assert np.all(out["fsr_renorm_fac"] == np.float32(0.5)) and np.all(out["shower_model"] == 1)
    with pytest.raises(ValueError, match="no split 'train'"):
        gen.generate_chunk("train", 0, IDS[:2], SEED, domains=["vincia"])


def test_apply_throw_identity_and_scale():
    rng = np.random.default_rng(0)
    n = 7
    pt = rng.uniform(0.5, 50, n)
    eta, phi = rng.normal(0, 0.3, n), rng.normal(0, 0.3, n)
    e, px, py, pz = pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    offsets = np.array([0, 3, 7])
    te, tx, ty, tz, toff = detector.apply_throw(e, px, py, pz, offsets, {}, rng)
    np.testing.assert_array_equal(toff, offsets)
    np.testing.assert_allclose(np.sort(te), np.sort(e), rtol=1e-12)
    te, tx, ty, tz, toff = detector.apply_throw(e, px, py, pz, offsets, {"soft_pt_min": [100.0, 0.0]}, rng)
    assert list(np.diff(toff)) == [1, 4]  # the hardest constituent always survives


def test_detector_photon_and_muon():
    from benchmark.simulators.jets.pythia import ParticleBatch

    # one 200 GeV photon and one 50 GeV muon in one event
    batch = ParticleBatch(1, np.zeros(2, np.int64), np.array([200.0, 0.0]), np.array([0.0, 50.0]),
                          np.zeros(2), np.array([200.0, np.hypot(50.0, 0.10566)]), np.array([22, 13]),
                          np.array([0.0, -1.0]))
    ev, e, px, py, pz = detector.detector_response(batch, np.random.default_rng(0))  # track found (95%)
    assert len(e) == 2 and np.all(ev == 0)
    photon = np.argmax(np.abs(px))
    assert abs(e[photon] - 200.0) < 10.0          # ECAL: ~1% resolution at 200 GeV
    assert abs(np.hypot(px[1 - photon], py[1 - photon]) - 50.0) < 10.0  # muon: a track, no calo


def test_preprocessing_centres_rotates_flips_and_normalises(chunk):
    c = chunk["nominal"]
    offsets = np.concatenate([[0], np.cumsum([len(x) for x in c["E"]])])
    flat = [np.concatenate(c[k]) for k in ("E", "px", "py", "pz")]
    pt, eta, phi = preprocessing.preprocess_jets(*flat, offsets, center="axis", rotate=True, flip=True)
    jet = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    np.testing.assert_allclose(np.bincount(jet, weights=pt), 1.0, rtol=1e-5)
    assert np.all(np.bincount(jet, weights=pt * eta) >= -1e-6)       # flipped: harder side at eta > 0
    assert np.all(np.bincount(jet, weights=pt * phi) >= -1e-6)
    see, spp = np.bincount(jet, weights=pt * eta ** 2), np.bincount(jet, weights=pt * phi ** 2)
    sep = np.bincount(jet, weights=pt * eta * phi)
    assert np.all(spp >= see - 1e-6) and np.allclose(sep, 0, atol=1e-5)   # principal axis vertical
    assert np.all(np.abs(eta) < 1.2) and np.all(np.abs(phi) < 1.2)       # centred: within ~R of the axis
    with pytest.raises(ValueError, match="offsets"):
        preprocessing.preprocess_jets(*flat, offsets[:-1])


def test_the_pool_starts_the_most_expensive_jets_chunks_first(tmp_path):
    """Vincia (test split only, ~10x slower per jet) makes test chunks the longest: they go first."""
    from benchmark.data.materialise import largest_first, plan_jobs

    gen = JetsGenerator()
    jobs, _ = plan_jobs("jets", "default", 0, tmp_path)
    ordered = largest_first(jobs, gen)
    costs = [gen.chunk_cost(j.n_events, j.domains) for j in ordered]
    assert costs == sorted(costs, reverse=True)
    n_test = len(gen.chunks("default", "test"))
    assert {j.split for j in ordered[:n_test]} == {"test"}
    # one Pythia run serves nominal and every detector throw; variants add fraction x cost each
    assert gen.chunk_cost(100, ["nominal", *THROWS]) == gen.chunk_cost(100, ["nominal"]) == 100
    from benchmark.simulators.jets.pythia import VARIANTS

    vincia = VARIANTS["vincia"]
    assert vincia.cost > 1
    assert gen.chunk_cost(100, ["nominal", "vincia"]) == pytest.approx(100 * (1 + vincia.fraction * vincia.cost))
