"""The published Top Tagging source: a file in the published pandas layout, converted and fetched."""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from benchmark.data.fetch import FetchError, RemoteFile
from benchmark.data.ids import opaque_ids
from benchmark.data.registry import EVENT_ID_STRIDE, SPLIT_CODES, get_family
from benchmark.data.writer import DatasetWriter
from benchmark.sources import toptag
from benchmark.sources.toptag import TopTagSource

N_PER_FILE = {"train.h5": 9, "val.h5": 5, "test.h5": 6}


def published_frame(n: int, seed: int) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """``n`` jets in the published column layout: E_0,PX_0,PY_0,PZ_0,...,PZ_199, truth*, ttv, is_signal_new.

    Constituents are zero padded to 200 and, to test the sorting, NOT all in pT order.
    """
    rng = np.random.default_rng(seed)
    values = np.zeros((n, 200, 4), np.float32)
    kept = []
    for i in range(n):
        m = int(rng.integers(3, 60))
        pt = rng.exponential(10.0, m) + 0.2
        eta, phi = rng.normal(0.3, 0.2, m), rng.normal(-1.0, 0.2, m)
        p4 = np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], 1)
        values[i, :m] = p4
        kept.append(p4.astype(np.float32))
    cols = {f"{c}_{j}": values[:, j, k] for j in range(200) for k, c in enumerate(("E", "PX", "PY", "PZ"))}
    label = (np.arange(n) % 2).astype(np.int64)
    truth = np.where(label[:, None] == 1, rng.normal(300, 50, (n, 4)), 0.0).astype(np.float32)
    for k, c in enumerate(("truthE", "truthPX", "truthPY", "truthPZ")):
        cols[c] = truth[:, k]
    cols["ttv"] = np.zeros(n, np.int64)
    cols["is_signal_new"] = label
    return pd.DataFrame(cols), kept


@pytest.fixture(scope="module")
def raw_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("toptag_raw")
    frames = {}
    for k, (name, n) in enumerate(N_PER_FILE.items()):
        df, kept = published_frame(n, k)
        df.to_hdf(folder / name, key="table", format="table")   # the published PyTables layout
        frames[name] = (df, kept)
    return folder, frames


def _writer(tmp_path):
    family = get_family("jets")
    return DatasetWriter(tmp_path / "out", family, family.source("toptag"), {"version": TopTagSource.version,
                                                                                "seed": None})


def test_convert_published_layout(raw_files, tmp_path, monkeypatch):
    from benchmark.data.loader import events_from_table

    folder, frames = raw_files
    monkeypatch.setattr(toptag, "BLOCK_SIZE", 3)  # several blocks per file: streaming
    writer = _writer(tmp_path)
    TopTagSource().convert({n: folder / n for n in N_PER_FILE}, writer)
    writer.finalize()
    import datasets

    for name, split in toptag.FILE_SPLITS.items():
        df, kept = frames[name]
        ds = datasets.load_dataset(str(tmp_path / "out"), "nominal", split=split)
        ev = events_from_table(ds.data.table, "jets", "nominal", split, with_labels=True)
        assert len(ev) == N_PER_FILE[name]
        assert len(list((tmp_path / "out" / "data" / "nominal").glob(f"{split}-*.h5"))) == -(-len(ev) // 3)
        # ids are the opaque images of the published row numbers; rows are shuffled within each block
        internal = SPLIT_CODES[split] * EVENT_ID_STRIDE + np.arange(len(ev))
        row_of = {int(e): i for i, e in enumerate(opaque_ids(internal, writer.id_key))}
        rows = np.array([row_of[int(e)] for e in ev.event_id])
        assert sorted(rows) == list(range(len(ev)))
        np.testing.assert_array_equal(rows // 3, np.arange(len(rows)) // 3)  # a block's rows stay in its part
        df, kept = df.iloc[rows].reset_index(drop=True), [kept[r] for r in rows]
        np.testing.assert_array_equal(ev.labels, df["is_signal_new"].to_numpy())
        np.testing.assert_array_equal(ev.sizes(), [len(k) for k in kept])        # padding dropped
        assert np.all(ev.p4[:, 0] > 0)
        for i, k in enumerate(kept):
            p4 = ev.p4[ev.offsets[i]:ev.offsets[i + 1]]
            pt = np.hypot(p4[:, 1], p4[:, 2])
            assert np.all(np.diff(pt) <= 0)                                       # sorted by pT
            np.testing.assert_allclose(np.sort(p4[:, 0]), np.sort(k[:, 0]), rtol=1e-6)
        s = np.stack([k.sum(0) for k in kept])
        np.testing.assert_allclose(ev.meta["jet_pt"], np.hypot(s[:, 1], s[:, 2]), rtol=1e-4)
        np.testing.assert_allclose(ev.meta["jet_mass"], np.sqrt(np.maximum(s[:, 0] ** 2 - (s[:, 1:] ** 2).sum(1), 0)),
                                   rtol=1e-3)
        np.testing.assert_allclose(ds["truth_E"], df["truthE"].to_numpy(), rtol=1e-6)  # same order as ev
        # derived detector throws: paired with the published jets, produced by the shared throw function
        up = datasets.load_dataset(str(tmp_path / "out"), "jes_up", split=split)
        np.testing.assert_array_equal(up["event_id"], ev.event_id)
        np.testing.assert_allclose(up["jet_pt"], 1.05 * ev.meta["jet_pt"], rtol=1e-5)
        soft = datasets.load_dataset(str(tmp_path / "out"), "soft_loss", split=split)
        assert sum(len(x) for x in soft["E"]) < ev.sizes().sum()


def test_max_jets_subset_and_bad_input(raw_files, tmp_path):
    folder, _ = raw_files
    writer = _writer(tmp_path)
    raw = {n: folder / n for n in N_PER_FILE}
    TopTagSource().convert(raw, writer, max_jets=3, domains=["nominal"])
    prov = writer.finalize()
    assert prov["events"] == {"nominal": {"train": 3, "validation": 3, "test": 3}}
    with pytest.raises(ValueError, match="unknown toptag domain"):
        TopTagSource().convert(raw, writer, domains=["nominal", "jes_sideways"])
    bad = tmp_path / "bad.h5"
    pd.DataFrame({"E_0": np.ones(2, np.float32)}).to_hdf(bad, key="table", format="table")
    with pytest.raises(ValueError, match="lacks the published columns"):
        TopTagSource().convert({n: bad for n in N_PER_FILE}, writer)


def test_registry_has_the_published_checksums():
    files = {f.name: f for f in TopTagSource.files}
    assert files["val.h5"].md5 == "dca4b7248027618f041f9baa86d360fc"
    assert files["train.h5"].url == "https://zenodo.org/records/2603256/files/train.h5"
    assert sum(f.size for f in files.values()) == 1_038_496_555 + 347_378_076 + 347_849_376


def test_fetch_through_http_and_checksums(raw_files, http_server, tmp_path, monkeypatch):
    from benchmark.data.loader import load_events
    from benchmark.sources.base import fetch

    folder, frames = raw_files
    base, www, log = http_server
    remotes = []
    for name in N_PER_FILE:
        data = (folder / name).read_bytes()
        (www / name).write_bytes(data)
        remotes.append(RemoteFile(name, f"{base}/{name}", md5=hashlib.md5(data).hexdigest(), size=len(data)))
    monkeypatch.setattr(TopTagSource, "files", tuple(remotes))
    out = fetch("jets", "toptag", cache_dir=tmp_path / "cache", progress=False, max_jets=4)
    assert sorted(log) == sorted(f"/{n}" for n in N_PER_FILE)
    ev = load_events("jets", "detector_random", "validation", source="toptag", size=out.name,
                     cache_dir=tmp_path / "cache")
    assert len(ev) == 4 and np.all((ev.meta["jes"] >= 0.95) & (ev.meta["jes"] <= 1.05))
    # a file that does not match the registry's checksum is refused and not kept
    wrong = tuple(RemoteFile(r.name, r.url, md5="0" * 32, size=r.size) for r in remotes)
    monkeypatch.setattr(TopTagSource, "files", wrong)
    with pytest.raises(FetchError, match="checksum"):
        fetch("jets", "toptag", cache_dir=tmp_path / "cache2", progress=False)
    assert not (tmp_path / "cache2" / "downloads" / "toptag" / "train.h5").exists()
