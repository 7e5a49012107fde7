"""Dataset layer: materialisation layout, HF loading, package loader, resume, sharding, collate."""
from __future__ import annotations

import json

import datasets
import numpy as np
import pytest

import benchmark
from benchmark.data import provenance
from benchmark.data.collate import collate_jets, collate_sparse, p4_to_ptetaphi
from benchmark.data.events import EventSet, LabelsNotAvailable
from benchmark.data.loader import DatasetNotMaterialised
from benchmark.data.materialise import GenerationConflict, generate, parse_shard
from benchmark.data.registry import UnknownNameError, get_family


def test_import_datasets_is_hugging_face():
    assert datasets.load_dataset.__module__ == "datasets.load"


def test_layout_and_hf_loading(toy_cache):
    folder = toy_cache / "toy" / "generated" / "default"
    assert (folder / "README.md").exists() and (folder / "provenance.json").exists()
    ds = datasets.load_dataset(str(folder), "shifted")
    assert set(ds) == {"train", "validation", "test"}
    assert ds["train"].num_rows == 60
    assert ds["train"].features["label"].names == ["short", "blob", "long"]
    # test-only domains have only a test split
    assert set(datasets.load_dataset(str(folder), "scan_2")) == {"test"}
    # the package loader returns the same object
    ours = benchmark.load_dataset("toy", "shifted", split="train", cache_dir=toy_cache)
    assert ours.to_dict() == ds["train"].to_dict()


def test_pairing_same_truth_across_domains(toy_cache):
    a = benchmark.load_dataset("toy", "nominal", split="test", cache_dir=toy_cache)
    b = benchmark.load_dataset("toy", "scan_2", split="test", cache_dir=toy_cache)
    assert a["event_id"] == b["event_id"] and a["label"] == b["label"]
    qa, qb = np.concatenate(a["charge"]), np.concatenate(b["charge"])
    np.testing.assert_allclose(qb, 2 * qa, rtol=1e-6)


def test_provenance_hashes_and_split_digest(toy_cache):
    folder = toy_cache / "toy" / "generated" / "default"
    prov = provenance.read_provenance(folder)
    assert prov["complete"] and prov["seed"] == 0 and prov["version"] == "1"
    assert prov["events"]["nominal"] == {"train": 60, "validation": 30, "test": 40}
    assert provenance.verify(folder) == []
    d1 = provenance.split_digest(folder, "nominal", "test")
    assert d1 != provenance.split_digest(folder, "shifted", "test")
    assert len(d1) == 64


def test_determinism_and_sharding_give_identical_files(tmp_path):
    a = generate("toy", size="tiny", cache_dir=tmp_path / "a", workers=1, progress=False)
    # two shards written separately into the same folder give the same files as one run
    generate("toy", size="tiny", cache_dir=tmp_path / "b", shard="1/2", workers=1, progress=False)
    partial = json.loads((tmp_path / "b/toy/generated/tiny/provenance.json").read_text())
    assert not partial["complete"] and partial["n_missing_parts"] > 0
    b = generate("toy", size="tiny", cache_dir=tmp_path / "b", shard="0/2", workers=1, progress=False)
    fa = provenance.read_provenance(a)["files"]
    fb = provenance.read_provenance(b)["files"]
    assert provenance.read_provenance(b)["complete"]
    assert {k: v["sha256"] for k, v in fa.items()} == {k: v["sha256"] for k, v in fb.items()}


def test_resume_regenerates_missing_and_corrupt_parts(tmp_path):
    folder = generate("toy", size="tiny", cache_dir=tmp_path, workers=1, progress=False)
    before = provenance.read_provenance(folder)["files"]
    victim = folder / "data/nominal/train-00000.h5"
    victim.write_bytes(b"garbage")  # a damaged file
    (folder / "data/shifted/test-00000.h5").unlink()  # an interrupted run
    generate("toy", size="tiny", cache_dir=tmp_path, workers=1, progress=False)
    after = provenance.read_provenance(folder)["files"]
    assert {k: v["sha256"] for k, v in after.items()} == {k: v["sha256"] for k, v in before.items()}


def test_other_seed_in_same_folder_is_refused(tmp_path):
    generate("toy", size="tiny", cache_dir=tmp_path, workers=1, progress=False)
    with pytest.raises(GenerationConflict, match="seed: folder has 0, asked for 1"):
        generate("toy", size="tiny", seed=1, cache_dir=tmp_path, workers=1, progress=False)


def test_parallel_workers_match_serial(tmp_path):
    a = generate("toy", size="tiny", cache_dir=tmp_path / "a", workers=1, progress=False)
    b = generate("toy", size="tiny", cache_dir=tmp_path / "b", workers=2, progress=False)
    fa, fb = provenance.read_provenance(a)["files"], provenance.read_provenance(b)["files"]
    assert {k: v["sha256"] for k, v in fa.items()} == {k: v["sha256"] for k, v in fb.items()}


def test_each_part_is_hashed_once_where_it_is_written(tmp_path, monkeypatch):
    """The workers hash their own parts; finalize takes those records instead of hashing every part
    again serially (the sfgd default preset's 1.8x on 2 workers), and they are the files' true hashes."""
    import benchmark.data.writer as writer_module

    hashed = []
    real = writer_module.sha256_file
    monkeypatch.setattr(writer_module, "sha256_file", lambda path: hashed.append(path.name) or real(path))
    folder = generate("toy", size="tiny", cache_dir=tmp_path, workers=1, progress=False)
    files = provenance.read_provenance(folder)["files"]
    assert len(hashed) == len(files) and provenance.verify(folder) == []
    (folder / "data/nominal/train-00000.h5").unlink()  # resume: only the regenerated part is hashed
    hashed.clear()
    generate("toy", size="tiny", cache_dir=tmp_path, workers=1, progress=False)
    assert hashed == ["train-00000.h5"] and provenance.read_provenance(folder)["files"] == files


def test_parse_shard_errors():
    assert parse_shard("2/4") == (2, 4)
    for bad in ("4/4", "x", "1/0", "-1/3"):
        with pytest.raises(ValueError, match="shard"):
            parse_shard(bad)


def test_missing_dataset_error_names_the_command(tmp_path):
    with pytest.raises(DatasetNotMaterialised, match="python -m benchmark generate toy"):
        benchmark.load_dataset("toy", "nominal", cache_dir=tmp_path)


def test_unknown_names_list_valid_ones(toy_cache):
    with pytest.raises(UnknownNameError, match="Did you mean 'shifted'"):
        benchmark.load_dataset("toy", "shifte", cache_dir=toy_cache)
    with pytest.raises(UnknownNameError, match="Valid familys|Valid family"):
        get_family("ndlr")
    with pytest.raises(UnknownNameError, match="test"):
        benchmark.load_dataset("toy", "scan_2", split="train", cache_dir=toy_cache)


def test_cache_dir_from_environment(toy_cache, monkeypatch):
    monkeypatch.setenv("SIMSHIFT_CACHE", str(toy_cache))
    assert benchmark.load_dataset("toy", "nominal", split="test").num_rows == 40


def test_load_events_matches_rows_and_hides_labels(toy_cache):
    ev = benchmark.load_events("toy", "nominal", "train", cache_dir=toy_cache)
    ds = benchmark.load_dataset("toy", "nominal", split="train", cache_dir=toy_cache)
    for i in (0, 7, 59):
        row = ds[i]
        s, e = ev.offsets[i], ev.offsets[i + 1]
        np.testing.assert_array_equal(ev.coords[s:e].ravel(), row["coords"])
        np.testing.assert_allclose(ev.charge[s:e], row["charge"])
        assert ev.labels[i] == row["label"] and ev.event_id[i] == row["event_id"]
    assert "pdg" not in ev.meta and "kinetic_energy" not in ev.meta and "gain" in ev.meta
    blind = benchmark.load_events("toy", "nominal", "test", cache_dir=toy_cache, with_labels=False)
    assert not blind.has_labels
    with pytest.raises(LabelsNotAvailable):
        blind.labels


def test_internal_reads_resolve_each_domain_once_and_follow_regeneration(tmp_path):
    import shutil

    from benchmark.data import loader

    folder = generate("toy", size="tiny", cache_dir=tmp_path, workers=1, progress=False, seed=1)
    loader._domain_dict.cache_clear()
    first = benchmark.load_events("toy", "nominal", "train", size="tiny", cache_dir=tmp_path)
    benchmark.load_events("toy", "nominal", "test", size="tiny", cache_dir=tmp_path)
    benchmark.load_events("toy", "nominal", "train", size="tiny", cache_dir=tmp_path, with_labels=False)
    assert loader._domain_dict.cache_info().misses == 1   # one resolution for all splits of the domain
    shutil.rmtree(folder)                                 # re-materialised in place with another seed
    generate("toy", size="tiny", cache_dir=tmp_path, workers=1, progress=False, seed=2)
    again = benchmark.load_events("toy", "nominal", "train", size="tiny", cache_dir=tmp_path)
    fresh = datasets.load_dataset(str(folder), "nominal", split="train", cache_dir=str(tmp_path / "hf"))
    assert loader._domain_dict.cache_info().misses == 2
    np.testing.assert_array_equal(again.charge, np.concatenate(fresh.with_format("numpy")["charge"]))
    assert not np.array_equal(again.charge[:50], first.charge[:50])


def test_subset_keeps_ragged_rows(toy_cache):
    ev = benchmark.load_events("toy", "nominal", "train", cache_dir=toy_cache)
    sub = ev.subset(np.array([5, 2]))
    assert list(sub.event_id) == [ev.event_id[5], ev.event_id[2]]
    np.testing.assert_array_equal(sub.coords[: sub.offsets[1]], ev.coords[ev.offsets[5]:ev.offsets[6]])
    assert list(sub.labels) == [ev.labels[5], ev.labels[2]]


def test_collate_sparse(toy_cache):
    ev = benchmark.load_events("toy", "nominal", "train", cache_dir=toy_cache)
    coords, feats = collate_sparse(ev, [3, 0])
    coords, feats = coords.numpy(), feats.numpy()
    n3 = ev.offsets[4] - ev.offsets[3]
    assert coords.shape == (n3 + ev.offsets[1], 4) and feats.shape == (len(coords), 1)
    first = coords[coords[:, 0] == 0, 1:]
    np.testing.assert_array_equal(first.min(axis=0), [0, 0, 0])  # shifted to the origin
    np.testing.assert_array_equal(first, ev.coords[ev.offsets[3]:ev.offsets[4]] - ev.coords[ev.offsets[3]:ev.offsets[4]].min(0))
    np.testing.assert_allclose(feats[coords[:, 0] == 1, 0], ev.charge[: ev.offsets[1]])


def test_collate_jets_pads_and_masks():
    p4 = np.array([[10, 6, 8, 0], [5, 3, 0, 4], [2, 0, 2, 0]], dtype=np.float32)
    ev = EventSet("j", "nominal", "test", "jets", np.array([0, 1]), np.array([0, 2, 3]), p4=p4)
    x, mask = collate_jets(ev, [0, 1], max_constituents=200)
    assert x.shape == (2, 2, 3) and mask.tolist() == [[True, True], [True, False]]
    np.testing.assert_allclose(x[0, 0].numpy(), [10.0, 0.0, np.arctan2(8, 6)], rtol=1e-6)
    assert float(x[1, 1].abs().sum()) == 0.0  # padding is zero
    np.testing.assert_allclose(p4_to_ptetaphi(p4[1:2])[0, 1], np.arcsinh(4 / 3), rtol=1e-6)
    x, mask = collate_jets(ev, [0], max_constituents=1)
    assert x.shape == (1, 1, 3)
