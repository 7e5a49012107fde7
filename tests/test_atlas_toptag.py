"""The ATLAS top tagging open data source (record 80030) through the real fetch path.

Small files are written in the record's layout (gzipped HDF5 ``<set>_NNN.h5.gz``; datasets
fjet_clus_{pt,eta,phi,E} (N, 200) MeV zero-padded, fjet_{pt,eta,phi,m}, 15 high-level observables,
labels, training_weights and EventInfo_mcEventWeights in the nominal sets only,
EventInfo_mcEventNumber; file attributes 'constit' and 'hl' listing the array names), indexed by CERN
Open Data style ``<set>_file_index.json`` files (uri/size/adler32), served from 127.0.0.1 through
SIMSHIFT_MIRROR, and converted with ``benchmark.sources.base.fetch``.
"""
from __future__ import annotations

import gzip
import json
import zlib

import h5py
import numpy as np
import pytest

import benchmark.sources.atlas_toptag as at
from benchmark.data.fetch import FetchError, file_hash
from benchmark.data.registry import get_family, register_family, unregister_family
from benchmark.sources.base import fetch

FAMILY = at.family_with_source(get_family("jets"))
N_JETS = 40  # per data file
DATA_DIR = "root://eospublic.cern.ch//eos/opendata/atlas/datascience/CERN-EP-2024-159"


@pytest.fixture
def atlas_family():
    """Register the jets family with the atlas_toptag source (restored afterwards)."""
    register_family(f"{__name__}:FAMILY", name="jets", replace=True)
    yield FAMILY
    unregister_family("jets")
    register_family("benchmark.families.jets:FAMILY", name="jets", replace=True)


def write_record_file(path, set_name: str, file_number: int) -> dict:
    """One data file in the record's layout; returns its arrays for checks."""
    rng = np.random.default_rng(1000 * file_number + len(set_name))
    n, c = N_JETS, 200
    pt = np.zeros((n, c), np.float32)
    eta, phi, e = (np.zeros((n, c), np.float32) for _ in range(3))
    for i in range(n):
        k = int(rng.integers(3, 60))
        pt[i, :k] = np.sort(rng.exponential(20_000.0, k))[::-1] + 500.0  # MeV, hardest first
        eta[i, :k] = rng.normal(0.3, 0.3, k)
        phi[i, :k] = rng.normal(1.0, 0.3, k)
        e[i, :k] = pt[i, :k] * np.cosh(eta[i, :k])
    nominal = set_name.endswith("nominal")
    labels = (np.arange(n) % 2).astype(np.int32)
    arrays = {"fjet_clus_pt": pt, "fjet_clus_eta": eta, "fjet_clus_phi": phi, "fjet_clus_E": e,
              "labels": labels,
              "fjet_pt": rng.uniform(350e3, 3150e3, n).astype(np.float32),
              "fjet_eta": rng.normal(0, 1, n).astype(np.float32),
              "fjet_phi": rng.uniform(-3, 3, n).astype(np.float32),
              "fjet_m": rng.uniform(40e3, 250e3, n).astype(np.float32),
              "EventInfo_mcEventNumber": (file_number * 1000 + np.arange(n) * 3 + 1).astype(np.uint64)}
    for f in at.HL_FIELDS:
        arrays[f] = rng.uniform(0.1, 2.0, n).astype(np.float32) * (1e3 ** at.ENERGY_POWER.get(f, 0))
    if nominal:  # "A training weight (nominal only)", "PYTHIA shower weights (nominal only)"
        arrays["training_weights"] = rng.uniform(0.5, 2.0, n).astype(np.float32)
        arrays["EventInfo_mcEventWeights"] = rng.uniform(0.9, 1.1, (n, 3)).astype(np.float32)
    with h5py.File(path, "w") as h5:
        for k, v in arrays.items():
            h5.create_dataset(k, data=v)
        h5.attrs["constit"] = list(at.CONSTITUENT_FIELDS)
        h5.attrs["hl"] = list(at.HL_FIELDS)
    return arrays


def adler(data: bytes) -> str:
    return f"{zlib.adler32(data, 1) & 0xFFFFFFFF:08x}"


def build_record(www, files_per_set: int = 2, sets=tuple(at.SET_TARGET), checksum=True) -> dict:
    """Write data files + file indexes into ``www``; return {set: [arrays per file]} and pin the indexes."""
    content, pins = {}, {}
    for s in sets:
        entries, content[s] = [], []
        for k in range(files_per_set):
            name = f"{s}_{k:03d}.h5.gz"
            raw = www / f"{name}.raw"
            content[s].append(write_record_file(raw, s, k))
            blob = gzip.compress(raw.read_bytes())
            raw.unlink()
            (www / name).write_bytes(blob)
            entry = {"size": len(blob), "uri": f"{DATA_DIR}/{name}"}
            if checksum:
                entry["checksum"] = f"adler32:{adler(blob)}"
            entries.append(entry)
        index = json.dumps(entries, indent=2).encode()
        (www / f"{s}_file_index.json").write_bytes(index)
        pins[s] = {"json": (len(index), adler(index)), "txt": at.INDEX_FILES[s]["txt"]}
    return content, pins


@pytest.fixture
def record(http_server, monkeypatch):
    base, www, log = http_server
    content, pins = build_record(www)
    monkeypatch.setattr(at, "INDEX_FILES", {**at.INDEX_FILES, **pins})
    monkeypatch.setattr(at, "BLOCK_SIZE", 16)  # several blocks (parts) per file
    monkeypatch.setenv("SIMSHIFT_MIRROR", base)
    return content, www, log


# -- registry ------------------------------------------------------------------------------------
def test_registry_pins_the_published_index_files():
    assert len(at.INDEX_FILES) == 17  # 17 sets, a .json and a .txt index each (record JSON)
    f = at.index_file("train_nominal")
    assert (f.size, f.adler32) == (205312, "34fdfbdb")
    assert f.url == ("https://opendata.cern.ch/eos/opendata/atlas/datascience/CERN-EP-2024-159/"
                     "file-indexes/train_nominal_file_index.json")
    # pooch cannot check adler32; benchmark.data.fetch does, after an unchecked download
    assert f.known_hash == "adler32:34fdfbdb"
    with pytest.raises(ValueError, match="unknown set"):
        at.index_file("nominal")


def test_domains_nominal_plus_test_only_systematics():
    doms = {d.name: d for d in at.SOURCE.domains}
    assert doms["nominal"].splits == ("train", "validation", "test")
    assert set(doms) - {"nominal"} == set(at.SYSTEMATIC_SETS)
    assert all(d.test_only and d.kind == "systematic" for n, d in doms.items() if n != "nominal")


def test_adler32_is_the_portal_convention(tmp_path):
    p = tmp_path / "x"
    p.write_bytes(b"Wikipedia")
    assert file_hash(p, "adler32") == "11e60398"  # the textbook Adler-32 example
    data = np.random.default_rng(0).bytes(3 << 20)  # spans several read blocks
    p.write_bytes(data)
    assert file_hash(p, "adler32") == adler(data)


def test_constituent_conversion_units_and_order():
    pt = np.array([[10_000.0, 30_000.0, 0.0]])
    eta = np.array([[0.5, -1.0, 0.0]])
    phi = np.array([[0.2, 2.0, 0.0]])
    e = pt * np.cosh(eta)
    E, px, py, pz, off = at.constituents_to_p4(pt, eta, phi, e)
    assert off.tolist() == [0, 2]  # padding dropped
    np.testing.assert_allclose(np.hypot(px, py), [30.0, 10.0])  # GeV, pT-descending
    np.testing.assert_allclose(px[0], 30.0 * np.cos(2.0))
    np.testing.assert_allclose(pz[0], 30.0 * np.sinh(-1.0))
    np.testing.assert_allclose(E, [30.0 * np.cosh(-1.0), 10.0 * np.cosh(0.5)])


# -- fetch + convert ---------------------------------------------------------------------------------
def test_fetch_converts_every_domain_and_loads(record, atlas_family, tmp_path):
    import datasets

    content, _, log = record
    folder = fetch("jets", "atlas_toptag", cache_dir=tmp_path / "cache", progress=False)
    assert folder.name == "full"
    esup = datasets.load_dataset(str(folder), "esup")
    assert list(esup) == ["test"] and len(esup["test"]) == 2 * N_JETS
    nominal = datasets.load_dataset(str(folder), "nominal")
    train, val, test = (nominal[s].with_format("numpy")[:] for s in ("train", "validation", "test"))
    assert len(train["label"]) + len(val["label"]) == 2 * N_JETS and len(test["label"]) == 2 * N_JETS
    # validation = the jets whose mcEventNumber is divisible by 10, never in train
    assert np.all(val["mc_event_number"] % 10 == 0) and len(val["label"]) > 0
    assert not np.any(train["mc_event_number"] % 10 == 0)

    # jet 5 of train_nominal_000: constituents converted, sorted and unpadded; weight = training weight
    src = content["train_nominal"][0]
    row = int(np.flatnonzero(train["mc_event_number"] == src["EventInfo_mcEventNumber"][5])[0])
    k = int((src["fjet_clus_pt"][5] > 0).sum())
    pt = src["fjet_clus_pt"][5, :k] / 1000
    got_pt = np.hypot(train["px"][row], train["py"][row])
    assert len(got_pt) == k and np.all(np.diff(got_pt) <= 0)
    np.testing.assert_allclose(got_pt, np.sort(pt)[::-1], rtol=1e-5)
    np.testing.assert_allclose(train["E"][row].sum(), src["fjet_clus_E"][5, :k].sum() / 1000, rtol=1e-5)
    assert train["label"][row] == src["labels"][5]
    assert train["weight"][row] == pytest.approx(src["training_weights"][5])
    assert train["fjet_m"][row] == pytest.approx(src["fjet_m"][5] / 1000, rel=1e-6)
    assert train["fjet_ECF3"][row] == pytest.approx(src["fjet_ECF3"][5] / 1e9, rel=1e-5)
    assert train["fjet_C2"][row] == pytest.approx(src["fjet_C2"][5], rel=1e-6)

    # test splits are unweighted (systematic sets have no training weight); the published value is kept
    assert np.all(test["weight"] == 1) and np.all(np.isfinite(test["training_weight"]))
    esup_np = esup["test"].with_format("numpy")[:]
    assert np.all(esup_np["weight"] == 1) and np.all(np.isnan(esup_np["training_weight"]))
    # event ids never collide between sets of the same split
    assert not set(esup_np["event_id"].tolist()) & set(test["event_id"].tolist())

    prov = json.loads((folder / "provenance.json").read_text())
    files = prov["atlas_toptag"]["files"]
    assert files["esup_000.h5.gz"]["adler32"] and prov["atlas_toptag"]["unverified_files"] == []
    assert prov["events"]["cer"]["test"] == 2 * N_JETS


def test_task_hands_out_training_weights(record, atlas_family, tmp_path):
    from benchmark.tasks import get_task

    content, _, _ = record
    folder = fetch("jets", "atlas_toptag", cache_dir=tmp_path / "cache", progress=False, max_files=1,
                   domains=["nominal", "esup"])
    task = get_task("robustness", "jets", source="atlas_toptag", size=folder.name, domains=["nominal", "esup"],
                    cache_dir=tmp_path / "cache")
    train = task.train_data()
    src = content["train_nominal"][0]
    keep = src["EventInfo_mcEventNumber"] % 10 != 0
    np.testing.assert_allclose(np.sort(train.meta["weight"]), np.sort(src["training_weights"][keep]), rtol=1e-6)
    preds = {d: (ev.event_id, np.tile([0.4, 0.6], (len(ev), 1))) for d, ev in task.test_inputs().items()}
    report = task.evaluate(preds)
    assert set(report["per_domain"]) == {"nominal", "esup"}
    assert np.isfinite(report["summary"]["mean_shifted"])

    # the record's method (benchmark.evaluation.atlas) in the summary, from each test split's fjet_pt
    import datasets

    from benchmark.evaluation.atlas import atlas_summary
    from benchmark.results.io import json_normal

    tests = {d: datasets.load_dataset(str(folder), d)["test"].with_format("numpy")[:] for d in ("nominal", "esup")}
    rng = np.random.default_rng(7)
    scores = {d: rng.uniform(0, 1, len(t["label"])).astype(np.float32) for d, t in tests.items()}
    report = task.evaluate({d: (t["event_id"][::-1], scores[d][::-1]) for d, t in tests.items()})
    expected = atlas_summary({d: t["label"] for d, t in tests.items()}, scores,
                             {d: t["fjet_pt"] for d, t in tests.items()})
    assert report["summary"]["atlas"] == json_normal(expected)
    assert sum(b["n_signal"] + b["n_background"] for b in expected["per_domain"]["esup"].values()) == N_JETS


def test_subset_downloads_only_what_it_needs(record, atlas_family, tmp_path):
    _, _, log = record
    folder = fetch("jets", "atlas_toptag", cache_dir=tmp_path / "cache", progress=False,
                   domains=["nominal", "esup"], max_files=1)
    assert folder.name == "subset_domainsnominal-esup_max_files1"
    assert sorted(log) == sorted(["/train_nominal_file_index.json", "/test_nominal_file_index.json",
                                  "/esup_file_index.json", "/train_nominal_000.h5.gz",
                                  "/test_nominal_000.h5.gz", "/esup_000.h5.gz"])
    log.clear()
    folder = fetch("jets", "atlas_toptag", cache_dir=tmp_path / "cache", progress=False,
                   domains=["cer"], max_jets=10)
    assert sorted(log) == ["/cer_000.h5.gz", "/cer_file_index.json"]  # 10 jets: the first file suffices
    prov = json.loads((folder / "provenance.json").read_text())
    assert prov["events"] == {"cer": {"test": 10}}


def test_wrong_checksum_is_refused_and_not_kept(record, atlas_family, tmp_path):
    _, www, _ = record
    bad = www / "esup_000.h5.gz"
    blob = bytearray(bad.read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # same size, different content
    bad.write_bytes(bytes(blob))
    with pytest.raises(FetchError, match="does not match its published checksum.*adler32"):
        fetch("jets", "atlas_toptag", cache_dir=tmp_path / "cache", progress=False, domains=["esup"])
    assert not (tmp_path / "cache" / "downloads" / "atlas_toptag" / "esup_000.h5.gz").exists()


def test_tampered_file_index_is_refused(record, atlas_family, tmp_path):
    _, www, _ = record
    idx = www / "cer_file_index.json"
    idx.write_bytes(idx.read_bytes().replace(b'"size"', b'"SIZE"', 1)[:-1] + b" ")
    with pytest.raises(FetchError, match="cer_file_index.json .*does not match"):
        fetch("jets", "atlas_toptag", cache_dir=tmp_path / "cache", progress=False, domains=["cer"])


def test_entries_without_checksum_need_explicit_trust(http_server, atlas_family, monkeypatch, tmp_path):
    base, www, _ = http_server
    _, pins = build_record(www, files_per_set=1, sets=("cpos",), checksum=False)
    monkeypatch.setattr(at, "INDEX_FILES", {**at.INDEX_FILES, **pins})
    monkeypatch.setenv("SIMSHIFT_MIRROR", base)
    with pytest.raises(FetchError, match="no adler32 checksum.*trust_size_only"):
        fetch("jets", "atlas_toptag", cache_dir=tmp_path / "c", progress=False, domains=["cpos"])
    folder = fetch("jets", "atlas_toptag", cache_dir=tmp_path / "c", progress=False, domains=["cpos"],
                   trust_size_only=True)
    prov = json.loads((folder / "provenance.json").read_text())
    assert prov["atlas_toptag"]["unverified_files"] == ["cpos_000.h5.gz"]


def test_bad_options_are_clear_errors(atlas_family):
    src = at.AtlasTopTagSource()
    with pytest.raises(ValueError, match="unknown atlas_toptag domain"):
        src.files_needed(domains=["esup", "nope"])
    with pytest.raises(ValueError, match="max_files must be a positive"):
        src.files_needed(max_files=0)
    with pytest.raises(TypeError, match="unknown atlas_toptag option"):
        src.files_needed(max_events=3)


def test_local_copies_are_ingested_after_checking(atlas_family, monkeypatch, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    _, pins = build_record(mine, files_per_set=1, sets=("esup",))
    monkeypatch.setattr(at, "INDEX_FILES", {**at.INDEX_FILES, **pins})
    monkeypatch.setenv("SIMSHIFT_MIRROR", "http://127.0.0.1:9")  # never used: everything is local
    folder = fetch("jets", "atlas_toptag", cache_dir=tmp_path / "c", progress=False, domains=["esup"],
                   local_dir=mine)
    assert json.loads((folder / "provenance.json").read_text())["events"] == {"esup": {"test": N_JETS}}
    blob = bytearray((mine / "esup_000.h5.gz").read_bytes())
    blob[100] ^= 0xFF
    (mine / "esup_000.h5.gz").write_bytes(bytes(blob))
    with pytest.raises(FetchError, match="does not match"):
        fetch("jets", "atlas_toptag", cache_dir=tmp_path / "c2", progress=False, domains=["esup"], local_dir=mine)
