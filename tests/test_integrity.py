"""Nothing in the data or the protocol hands a method the answer (ids, row order, fit inputs, reuse).

Each test here fails on the code before these guarantees: ND-LAr labels were ``event_id % 5``, ``fit``
received every domain's test inputs and the detector parameters, finished seeds were reused whatever
changed, and an interrupted generation could be resumed with another seed.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import benchmark
from benchmark.data.materialise import generate
from benchmark.data.registry import get_family
from benchmark.data.writer import GenerationConflict, DatasetWriter, part_path
from benchmark.methods.base import Method
from benchmark.runner import DataNotReady, ensure_data, run_method

TESTS = Path(__file__).parent


# ------------------------------------------------------------------------ ids and row order
def _write_slice(family: str, folder: Path, n_chunks: dict[str, int], seed: int = 0) -> None:
    """The first chunks of the default preset's nominal train/test, through the real writer."""
    spec = get_family(family)
    src = spec.source("generated")
    gen = src.make_generator()
    writer = DatasetWriter(folder, spec, src, {"version": gen.version, "seed": seed, "size": "default"})
    for split, n in n_chunks.items():
        for k, ids in enumerate(gen.chunks("default", split)[:n]):
            cols = gen.generate_chunk(split, k, ids, seed, domains=["nominal"])["nominal"]
            writer.write_part("nominal", split, k, cols)
    writer.finalize()


def _leak_features(values: np.ndarray) -> np.ndarray:
    """What an attacker would try: the 64 bits of an integer and its small residues."""
    v = values.astype(np.uint64)
    bits = ((v[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)).astype(np.float32)
    residues = np.stack([(v % np.uint64(m)).astype(np.float32) for m in range(2, 13)], axis=1)
    return np.concatenate([bits, residues, (v >> np.uint64(40)).astype(np.float32)[:, None]], axis=1)


@pytest.mark.slow
@pytest.mark.parametrize("family,chunks", [("ndlar", {"train": 6, "validation": 1, "test": 4}),
                                           ("sfgd", {"train": 8, "validation": 1, "test": 5}),
                                           ("jets", {"train": 3, "validation": 1, "test": 3})])
def test_ids_and_row_order_carry_no_label(family, chunks, tmp_path):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.tree import DecisionTreeClassifier

    folder = tmp_path / family
    _write_slice(family, folder, chunks)
    import datasets

    ds = datasets.load_dataset(str(folder), "nominal", cache_dir=str(tmp_path / "hf"))
    tr, te = ds["train"], ds["test"]
    y_tr, y_te = np.asarray(tr["label"]), np.asarray(te["label"])
    majority = np.bincount(y_te).max() / len(y_te)
    ids_tr, ids_te = np.asarray(tr["event_id"]), np.asarray(te["event_id"])
    assert len(np.unique(np.concatenate([ids_tr, ids_te]))) == len(ids_tr) + len(ids_te)
    for name, f_tr, f_te in [("event_id", _leak_features(ids_tr), _leak_features(ids_te)),
                             ("row index", _leak_features(np.arange(len(y_tr))), _leak_features(np.arange(len(y_te))))]:
        for model in (DecisionTreeClassifier(max_depth=6, random_state=0),
                      HistGradientBoostingClassifier(max_iter=50, random_state=0)):
            acc = float(np.mean(model.fit(f_tr, y_tr).predict(f_te) == y_te))
            # a model that learned nothing scatters about the majority rate by its binomial error on this
            # test slice (jets: 750 events, +-0.018); three of those (a leak, as before, reaches 1.0)
            tolerance = 3 * np.sqrt(majority * (1 - majority) / len(y_te))
            assert acc <= majority + tolerance, (
                f"{family}: a {type(model).__name__} on the {name} reaches accuracy {acc:.3f} against the "
                f"majority rate {majority:.3f} (+{tolerance:.3f} allowed for the slice's binomial error)")
    # nor is the split readable: train and test ids fill the same range
    assert abs(np.median(ids_tr) - np.median(ids_te)) < 0.25 * 2**63


def test_ids_pair_domains_and_change_with_the_data_version(tmp_path):
    generate("toy", cache_dir=tmp_path, workers=1, progress=False)
    a = benchmark.load_dataset("toy", "nominal", split="test", cache_dir=tmp_path)
    b = benchmark.load_dataset("toy", "shifted", split="test", cache_dir=tmp_path)
    assert list(a["event_id"]) == list(b["event_id"])  # paired, and stored in the same order
    assert min(a["event_id"]) >= 0 and max(a["event_id"]) > 2**40  # spread over the 63-bit space
    from benchmark.data.ids import id_key, opaque_ids

    internal = np.arange(5000, dtype=np.int64)
    one, two = opaque_ids(internal, id_key("toy", "generated", "1", 0)), opaque_ids(internal, id_key("toy", "generated", "2", 0))
    assert len(np.unique(one)) == 5000 and np.all(one >= 0) and len(np.intersect1d(one, two)) == 0


# ------------------------------------------------------------------ what fit is handed
def _reachable(obj, seen=None):
    """Every (path, value) reachable from ``obj`` through attributes, dicts, lists and tuples."""
    seen = seen if seen is not None else set()
    stack = [("data", obj)]
    while stack:
        path, o = stack.pop()
        if id(o) in seen or isinstance(o, (str, bytes, int, float, type(None))):
            continue
        seen.add(id(o))
        yield path, o
        if isinstance(o, dict):
            stack += [(f"{path}[{k!r}]", v) for k, v in o.items()] + [(f"{path}.key", k) for k in o]
        elif isinstance(o, (list, tuple, set, frozenset)):
            stack += [(f"{path}[{i}]", v) for i, v in enumerate(o)]
        elif hasattr(o, "__dict__") and not callable(o):
            stack += [(f"{path}.{k}", v) for k, v in vars(o).items()]
        elif hasattr(o, "__dataclass_fields__"):
            stack += [(f"{path}.{k}", getattr(o, k)) for k in o.__dataclass_fields__]


class Snoop(Method):
    """A hostile method: inside ``fit`` it records every array it can reach."""

    found: dict = {}

    def fit(self, data):
        arrays = [(p, v) for p, v in _reachable({"data": data, "context": self.context, "config": self.config})
                  if isinstance(v, np.ndarray)]
        Snoop.found = {"arrays": arrays, "meta": {k: sorted(ev.meta) for k, ev in
                                                   [("train", data.train), ("validation", data.validation),
                                                    *data.unlabelled.items()]}}

    def predict(self, events):
        return np.full((len(events), self.context.family.num_classes), 1.0 / self.context.family.num_classes)


def _method_folder(tmp_path: Path, name: str, body: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "method.yaml").write_text(textwrap.dedent(body))
    return folder


def _truth(cache, domain, split):
    ds = benchmark.load_dataset("toy", domain, split=split, cache_dir=cache)
    return {c: np.asarray(ds[c]) for c in ("event_id", "label", "pdg", "gain")}


@pytest.mark.parametrize("protocol,target", [("robustness", None), ("domain_shift", "shifted")])
def test_fit_finds_no_test_input_truth_parameter_or_hidden_label(protocol, target, toy_cache, tmp_path,
                                                                 monkeypatch):
    folder = _method_folder(tmp_path, "snoop", """
        name: snoop
        protocols: [robustness, domain_shift]
        families: [toy]
        entry: test_integrity:Snoop
    """)
    monkeypatch.syspath_prepend(str(TESTS))
    run_method(folder, family="toy", protocols=[protocol], target=target, seeds=[0], cache_dir=toy_cache,
               out=tmp_path / "out", progress=False)
    arrays = Snoop.found["arrays"]
    test_ids = set()
    for d in ("nominal", "shifted", "scan_2"):
        test_ids |= set(_truth(toy_cache, d, "test")["event_id"].tolist())
    for path, a in arrays:
        if a.dtype.kind == "i" and a.ndim == 1:
            assert not test_ids & set(a.tolist()), f"{path} holds test event ids"
    # no truth column of what fit was handed (pdg is a function of the label, but never the label array)
    for split in ("train", "validation"):
        pdg = _truth(toy_cache, "nominal", split)["pdg"]
        assert not any(a.shape == pdg.shape and np.array_equal(a, pdg) for _, a in arrays), f"pdg of {split}"
    # no per-event detector parameter, no weight-free extra column: the EventSets carry no meta at all
    assert all(cols == [] for cols in Snoop.found["meta"].values()), Snoop.found["meta"]
    if protocol == "domain_shift":
        # the unlabelled target events have no labelled twin: source and target use disjoint true events
        ids = {p: a for p, a in arrays if p.endswith(".event_id")}
        src = next(a for p, a in ids.items() if ".train." in p)
        tgt = next(a for p, a in ids.items() if ".unlabelled[" in p)
        assert len(src) and len(tgt) and not np.intersect1d(src, tgt).size
        assert not any(p.endswith("._labels") and a is not None for p, a in arrays if ".unlabelled[" in p)


EXTERNAL_SNOOP = '''
import json, sys
from pathlib import Path
import numpy as np
phase, data, out, state = sys.argv[1:5]
seen = {}
for path in sorted(Path(data).rglob("*")) + sorted(Path(state).rglob("*")):
    if path.suffix == ".npz":
        with np.load(path) as z:
            seen[str(path.relative_to(path.parents[1]))] = {k: z[k].tolist() for k in z.files
                                                            if k in ("event_id", "labels") or k.startswith("meta_")}
log = Path(state) / "seen.jsonl"
with open(log, "a") as fh:
    fh.write(json.dumps({"phase": phase, "files": sorted(seen), "seen": seen}) + "\\n")
if phase == "predict":
    with np.load(Path(data) / "events.npz") as z:
        ids = z["event_id"]
    np.savez(Path(out) / "scores.npz", event_id=ids, scores=np.ones((len(ids), 3)) / 3)
'''


def test_external_program_reads_only_what_it_is_entitled_to(toy_cache, tmp_path):
    folder = _method_folder(tmp_path, "ext", """
        name: ext_snoop
        protocols: [robustness]
        families: [toy]
        command: ["python", "snoop.py", "{phase}", "{data}", "{out}", "{state}"]
    """)
    (folder / "snoop.py").write_text(EXTERNAL_SNOOP)
    out = tmp_path / "o"
    run_method(folder, family="toy", seeds=[0], cache_dir=toy_cache, out=out, progress=False)
    log = [json.loads(line) for line in (out / "models" / "inductive" / "seed0" / "external_state" /
                                         "seen.jsonl").read_text().splitlines()]
    fit = [e for e in log if e["phase"] == "fit"]
    assert len(fit) == 1 and fit[0]["files"] == ["data/train.npz", "data/validation.npz"]
    test_ids = set()
    for d in ("nominal", "shifted", "scan_2"):
        test_ids |= set(_truth(toy_cache, d, "test")["event_id"].tolist())
    for f in fit[0]["seen"].values():
        assert not test_ids & set(f["event_id"]) and not [k for k in f if k.startswith("meta_")]
    predict = [e for e in log if e["phase"] == "predict"]
    assert len(predict) == 3  # one call per scored domain, after fit
    for e in predict:
        (name, arrays), = [(k, v) for k, v in e["seen"].items() if k.startswith("data/")]
        assert name == "data/events.npz" and "labels" not in arrays and set(arrays) == {"event_id"}


# ---------------------------------------------------------------------------------- reuse
FEATURES_METHOD = """
    name: floor
    protocols: [robustness, linear_probe]
    families: [toy]
    entry: benchmark.methods.features:PhysicsFeatureLinear
    config: {note: %s}
"""


def _done(out: Path, protocol="robustness", seed=0) -> dict:
    return json.loads((out / protocol / f"seed{seed}" / "done.json").read_text())


def test_reuse_only_what_is_the_same(toy_cache, tmp_path, capsys):
    folder = _method_folder(tmp_path, "floor", FEATURES_METHOD % "a")
    out = tmp_path / "out"
    run_method(folder, family="toy", seeds=[0], cache_dir=toy_cache, out=out, progress=False)
    first = _done(out)
    assert set(first["fit_shared_with"]) == {"linear_probe"}  # one fit served both protocols
    run_method(folder, family="toy", seeds=[0], cache_dir=toy_cache, out=out, progress=False)
    assert "reusing" in capsys.readouterr().out and _done(out)["wall_time_s"] == first["wall_time_s"]
    # a changed config is recomputed, and the message names what changed
    (folder / "method.yaml").write_text(textwrap.dedent(FEATURES_METHOD % "b"))
    run_method(folder, family="toy", seeds=[0], cache_dir=toy_cache, out=out, progress=False)
    text = capsys.readouterr().out
    assert "differs in config; recomputing" in text and _done(out)["fingerprint"]["config"] == {"note": "b"}
    # what another family's block says, and comments, are not this run's config: the seed is reused
    changed = _done(out)["wall_time_s"]
    (folder / "method.yaml").write_text(textwrap.dedent(FEATURES_METHOD % "b, per_family: {other: {note: c}}")
                                        + "# a comment\n")
    run_method(folder, family="toy", seeds=[0], cache_dir=toy_cache, out=out, progress=False)
    assert "reusing" in capsys.readouterr().out and _done(out)["wall_time_s"] == changed
    (folder / "method.yaml").write_text(textwrap.dedent(FEATURES_METHOD % "b, per_family: {toy: {note: d}}"))
    run_method(folder, family="toy", seeds=[0], cache_dir=toy_cache, out=out, progress=False)
    assert "differs in config; recomputing" in capsys.readouterr().out


def test_a_seed_made_by_other_package_code_is_recomputed(toy_cache, tmp_path, capsys, monkeypatch):
    """A checkout whose training loop, protocols or scorer changed without a version bump does not reuse
    the seeds of the old code: the fingerprint holds a digest of the package's Python source."""
    from benchmark import runner

    pkg = tmp_path / "pkg"
    (pkg / "training").mkdir(parents=True)
    (pkg / "training" / "loop.py").write_text("LR = 1e-3\n")
    (pkg / "NOTES.md").write_text("notes\n")
    digest = runner.package_code_digest.__wrapped__          # uncached: the files change below
    first = digest(pkg)
    (pkg / "NOTES.md").write_text("other notes\n")
    assert digest(pkg) == first                              # notes are not code
    (pkg / "training" / "loop.py").write_text("LR = 1e-4\n")
    assert digest(pkg) != first

    folder = _method_folder(tmp_path, "floor", FEATURES_METHOD % "a")
    out = tmp_path / "out"
    run_method(folder, family="toy", protocols=["robustness"], seeds=[0], cache_dir=toy_cache, out=out,
               progress=False)
    assert _done(out)["fingerprint"]["code"]["package"] == runner.package_code_digest()
    monkeypatch.setattr(runner, "package_code_digest", lambda: "another checkout")
    run_method(folder, family="toy", protocols=["robustness"], seeds=[0], cache_dir=toy_cache, out=out,
               progress=False)
    assert "differs in code; recomputing" in capsys.readouterr().out
    assert _done(out)["fingerprint"]["code"]["package"] == "another checkout"


def test_another_source_domain_gets_its_own_folder_and_result(toy_cache, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = _method_folder(tmp_path, "floor", FEATURES_METHOD % "a")
    nominal, = run_method(folder, family="toy", protocols=["robustness"], seeds=[0], cache_dir=toy_cache,
                          progress=False)
    shifted, = run_method(folder, family="toy", protocols=["robustness"], seeds=[0], cache_dir=toy_cache,
                          source_domain="shifted", progress=False)
    assert nominal != shifted and "from_shifted" in str(shifted) and nominal.is_absolute()
    a, b = json.loads(nominal.read_text()), json.loads(shifted.read_text())
    assert (a["source_domain"], b["source_domain"]) == ("nominal", "shifted")
    # the same --out with another source domain is recomputed, never relabelled
    out = tmp_path / "same"
    run_method(folder, family="toy", protocols=["robustness"], seeds=[0], cache_dir=toy_cache, out=out,
               progress=False)
    run_method(folder, family="toy", protocols=["robustness"], seeds=[0], cache_dir=toy_cache, out=out,
               source_domain="shifted", progress=False)
    assert _done(out)["fingerprint"]["source_domain"] == "shifted"
    assert _done(out)["per_domain"] == b["per_seed"][0]["per_domain"]


def test_regenerated_data_is_recomputed(tmp_path, capsys):
    cache = tmp_path / "cache"
    generate("toy", cache_dir=cache, workers=1, progress=False)
    folder = _method_folder(tmp_path, "floor", FEATURES_METHOD % "a")
    out = tmp_path / "out"
    run_method(folder, family="toy", protocols=["robustness"], seeds=[0], cache_dir=cache, out=out,
               progress=False)
    before = _done(out)
    import shutil

    shutil.rmtree(cache / "toy")
    generate("toy", seed=1, cache_dir=cache, workers=1, progress=False)
    run_method(folder, family="toy", protocols=["robustness"], seeds=[0], cache_dir=cache, out=out,
               progress=False)
    assert "differs in data; recomputing" in capsys.readouterr().out
    after = _done(out)
    assert after["fingerprint"]["data"]["seed"] == 1 and after["fingerprint"]["data"] != before["fingerprint"]["data"]
    result = json.loads((out / "robustness" / "result.json").read_text())
    assert result["dataset"]["seed"] == 1 and result["per_seed"][0]["per_domain"] == after["per_domain"]


# ------------------------------------------------------------------------------ generation
SLOW_TOY = """
import sys, time
sys.path.insert(0, {tests!r})
from benchmark.data.registry import register_family
register_family("toyfamily:FAMILY")
import toyfamily
orig = toyfamily.ToyGenerator.generate_chunk
def slow(self, *a, **k):
    time.sleep(0.4)
    return orig(self, *a, **k)
toyfamily.ToyGenerator.generate_chunk = slow
from benchmark.data.materialise import generate
generate("toy", seed={seed}, cache_dir={cache!r}, workers=1, progress=False)
"""


def _digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((folder / "data").glob("*/*.h5"))}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_interrupted_generation_resumes_only_with_its_own_identity(sig, tmp_path):
    reference = generate("toy", cache_dir=tmp_path / "ref", workers=1, progress=False)
    cache = tmp_path / "cache"
    folder = cache / "toy" / "generated" / "default"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_TOY.format(tests=str(TESTS), seed=0, cache=str(cache))])
    deadline = time.time() + 60
    while time.time() < deadline and len(list(folder.glob("data/*/*.h5"))) < 2:
        time.sleep(0.05)
    os.kill(proc.pid, sig)
    proc.wait(timeout=30)
    parts = [p for p in folder.glob("data/*/*.h5") if not p.name.startswith(".")]
    assert parts and len(parts) < len(_digests(reference)), "the kill came too late to interrupt"
    prov = json.loads((folder / "provenance.json").read_text())
    assert prov["seed"] == 0 and not prov["complete"]  # identity recorded before the first part
    # a killed writer's temporary file and a damaged part must not be taken for data
    (folder / "data" / "nominal" / ".test-00000.h5.abc.tmp.h5").write_bytes(b"partial")
    victim = sorted(parts)[0]
    victim.write_bytes(victim.read_bytes()[:100])
    with pytest.raises(GenerationConflict, match="seed: folder has 0, asked for 1"):
        generate("toy", seed=1, cache_dir=cache, workers=1, progress=False)
    generate("toy", seed=0, cache_dir=cache, workers=1, progress=False)
    assert _digests(folder) == _digests(reference)  # byte-identical to an uninterrupted run
    prov = json.loads((folder / "provenance.json").read_text())
    assert prov["complete"] and set(prov["events"]["nominal"]) == {"train", "validation", "test"}
    assert not list(folder.glob("data/*/.*"))


def test_partial_folder_loads_and_no_generate_never_generates(tmp_path):
    folder = generate("toy", cache_dir=tmp_path, workers=1, progress=False, domains=["nominal"])
    import datasets

    ds = datasets.load_dataset(str(folder), "nominal", cache_dir=str(tmp_path / "hf"))
    assert set(ds) == {"train", "validation", "test"}
    card = (folder / "README.md").read_text()
    assert "config_name: nominal" in card and "config_name: shifted" not in card
    before = _digests(folder)
    with pytest.raises(DataNotReady, match=r"shifted.*python -m benchmark generate toy"):
        ensure_data("toy", None, "default", tmp_path, allow_generate=False)
    assert _digests(folder) == before
    ensure_data("toy", None, "default", tmp_path, allow_generate=True)
    assert len(_digests(folder)) > len(before)
    assert not part_path(folder, "shifted", "train", 0).name.startswith(".")


def test_domain_shift_needs_only_its_source_and_target(tmp_path):
    """domain_shift scores the source and its target only: a folder holding just those two runs with
    --no-generate and nothing else is made; robustness (every test domain) still refuses it and names the
    missing domain; with generation allowed, only the domains the protocol needs are generated."""
    from benchmark.results import load_result

    folder = generate("toy", cache_dir=tmp_path, workers=1, progress=False, domains=["nominal", "shifted"])
    method = tmp_path / "floor"
    method.mkdir()
    (method / "method.yaml").write_text("name: floor\nprotocols: [robustness, domain_shift]\nfamilies: [toy]\n"
                                        "entry: benchmark.methods.features:PhysicsFeatureLinear\n")
    before = _digests(folder)
    paths = run_method(method, family="toy", protocols=["domain_shift"], target="shifted", seeds=[0],
                       cache_dir=tmp_path, out=tmp_path / "out", allow_generate=False, progress=False)
    assert load_result(paths[0])["domains"] == ["nominal", "shifted"]
    assert _digests(folder) == before
    with pytest.raises(DataNotReady, match=r"scan_2.*python -m benchmark generate toy"):
        run_method(method, family="toy", protocols=["robustness"], seeds=[0], cache_dir=tmp_path,
                   out=tmp_path / "out2", allow_generate=False, progress=False)
    partial = generate("toy", cache_dir=tmp_path / "partial", workers=1, progress=False, domains=["nominal"])
    with pytest.raises(DataNotReady, match=r"shifted.*generate toy --size default --domains nominal shifted"):
        ensure_data("toy", None, "default", tmp_path / "partial", allow_generate=False,
                    domains=["nominal", "shifted"])
    ensure_data("toy", None, "default", tmp_path / "partial", allow_generate=True, domains=["nominal", "shifted"])
    made = json.loads((partial / "provenance.json").read_text())
    assert set(made["domains_complete"]) == {"nominal", "shifted"} and not made["complete"]


def test_external_example_runs_with_the_default_output_folder(toy_cache, tmp_path, monkeypatch):
    """The program runs inside its own folder; the data and output paths it is given are absolute."""
    import shutil

    import yaml

    example = tmp_path / "external_numpy"
    shutil.copytree(TESTS.parent / "docs" / "examples" / "external_numpy", example)
    spec = yaml.safe_load((example / "method.yaml").read_text())
    (example / "method.yaml").write_text(yaml.safe_dump({**spec, "families": ["toy"]}))
    monkeypatch.chdir(tmp_path)
    path, = run_method(example, family="toy", seeds=[0], cache_dir=toy_cache, progress=False)
    result = json.loads(path.read_text())
    assert path.is_absolute() and path.is_relative_to(tmp_path / "runs")
    assert result["per_seed"][0]["per_domain"]["nominal"]["accuracy"] > 0.5  # the centroids do learn


def test_a_test_split_only_folder_loads_its_test_splits(tmp_path):
    """What `leaderboard --check` makes to verify entries: only the test splits of a generated family."""
    import datasets

    folder = generate("toy", cache_dir=tmp_path, workers=1, progress=False, splits=["test"])
    for domain in ("nominal", "shifted", "scan_2"):
        ds = datasets.load_dataset(str(folder), domain, split="test", cache_dir=str(tmp_path / "hf"))
        assert len(ds) == 40
    assert json.loads((folder / "provenance.json").read_text())["domains_complete"] == ["scan_2"]
