"""The package's structure: every module imports on its own, and no two modules import each other."""
from __future__ import annotations

import ast
import dataclasses
import importlib
from pathlib import Path

import numpy as np
import pytest

from benchmark.data.registry import SourceSpec
from benchmark.kinds import EventKind

PACKAGE = Path(__file__).resolve().parents[1] / "benchmark"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def import_graph() -> dict[str, set[str]]:
    """Edges ``a -> b`` for every ``import``/``from ... import`` of ``b`` anywhere in ``a`` (functions
    included: a lazy import is still a dependency), except under ``if TYPE_CHECKING``."""
    mods = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        is_pkg = path.name == "__init__.py"

        def walk(node, in_type_checking=False):
            for child in ast.iter_child_nodes(node):
                tc = in_type_checking or (isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test))
                targets = []
                if isinstance(child, ast.Import) and not tc:
                    targets = [a.name for a in child.names]
                elif isinstance(child, ast.ImportFrom) and not tc:
                    base = child.module or ""
                    if child.level:
                        pkg = mod if is_pkg else mod.rpartition(".")[0]
                        for _ in range(child.level - 1):
                            pkg = pkg.rpartition(".")[0]
                        base = f"{pkg}.{base}" if base else pkg
                    targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in child.names]
                for t in targets:
                    r = resolve(t) if t.startswith("benchmark") else None
                    if r and r != mod:
                        graph[mod].add(r)
                walk(child, tc)

        walk(ast.parse(path.read_text()))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_no_import_cycle():
    found = cycles(import_graph())
    assert not found, f"modules that import each other (directly or around a loop): {found}"


def test_cycle_detector_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("module", sorted(m for m in _modules() if "minkowski" not in m and not m.endswith("__main__")))
def test_every_module_imports(module):
    importlib.import_module(module)


def test_a_new_protocol_is_one_registered_class(toy_cache, tmp_path):
    """A protocol defined outside the package runs end to end: task, runner, result file, leaderboard."""
    import json

    from benchmark.leaderboard.ranking import make_entry, ranking_rules
    from benchmark.protocols import Protocol, register_protocol, unregister_protocol
    from benchmark.protocols.base import predict_scores
    from benchmark.results import load_result
    from benchmark.runner import run_method

    class SourceOnly(Protocol):
        name = "source_only"
        summary = "fit on labelled source train; scored on the source test split only"
        score_rule = "`source_only`: on the source domain"
        fit_group = "inductive"

        def scored_domains(self, all_domains, source_domain, target_domain, requested):
            return [source_domain]

        def score(self, task, method, test):
            return predict_scores(task, method, test)

        def headline(self, seed_entry, result):
            return seed_entry["summary"]["nominal"]

    register_protocol(SourceOnly)
    try:
        folder = tmp_path / "m"
        folder.mkdir()
        (folder / "method.yaml").write_text("name: floor\nprotocols: [source_only, robustness]\nfamilies: [toy]\n"
                                            "entry: benchmark.methods.features:PhysicsFeatureLinear\n")
        paths = run_method(folder, family="toy", seeds=[0, 1, 2], cache_dir=toy_cache, out=tmp_path / "out",
                           progress=False)
        result = load_result(paths[0])  # schema and consistency checks accept the new protocol
        assert result["protocol"] == "source_only" and result["domains"] == ["nominal"]
        done = json.loads((tmp_path / "out" / "source_only" / "seed0" / "done.json").read_text())
        assert done["fit_shared_with"] == ["robustness"]  # same fit group: one fit for both
        entry = make_entry("x.json", result)
        assert entry.stats["score"][0] == result["aggregate"]["summary"]["nominal"]["mean"]
        assert "`source_only`: on the source domain" in ranking_rules()
    finally:
        unregister_protocol("source_only")


def test_a_new_family_needs_no_package_edit(toy_cache):
    """The toy family of the tests (tests/toyfamily.py) is registered from outside the package
    (tests/conftest.py) and generates, loads and runs like the built-in ones."""
    import benchmark
    from benchmark.data.registry import family_names

    assert "toy" in family_names()
    ds = benchmark.load_dataset("toy", "shifted", split="test", cache_dir=toy_cache)
    assert len(ds) == 40 and "event_id" in ds.column_names



# --------------------------------------------------------------------------- a new event kind
class ChargeBag(EventKind):
    """A kind defined outside the package: an event is a bag of charges (voxel positions ignored); the
    encoder input is three per-event statistics, the encoder one linear layer."""

    name = "charge_bag"
    ragged_columns = ("charge",)

    @staticmethod
    def stats(ev) -> np.ndarray:
        n = np.diff(ev.offsets)
        total = np.zeros(len(ev))
        np.add.at(total, np.repeat(np.arange(len(ev)), n), ev.charge)
        return np.stack([np.log(np.maximum(n, 1)), np.log1p(np.maximum(total, 0)), total / np.maximum(n, 1)], 1)

    def event_set(self, family, domain, split, event_id, ragged, *, meta=None, labels=None):
        from benchmark.data.events import EventSet

        charge, offsets = ragged["charge"]
        return EventSet(family, domain, split, self.name, event_id, offsets, charge=charge.astype(np.float32),
                        meta=meta or {}, _labels=labels)

    def collate(self, events, index, **kwargs):
        return self.inputs(events)(index)

    def inputs(self, events, **cfg):
        import torch

        feats = torch.as_tensor(self.stats(events), dtype=torch.float32)

        class Inputs:
            def __len__(self):
                return len(events)

            def __call__(self, idx):
                return (feats[torch.as_tensor(np.asarray(idx))],)

        inputs = Inputs()
        inputs.events = events
        return inputs

    def concat(self, a, b):
        import torch

        return (torch.cat([a[0], b[0]]),)

    def batch_len(self, inputs):
        return int(inputs[0].shape[0])

    def augmenter(self, family, overrides=None, **cfg):
        import torch

        class Jitter:
            def view(self, inputs, generator):
                return (inputs[0] * (1 + 0.1 * torch.randn(inputs[0].shape, generator=generator)),)

            def views(self, inputs, generator):
                return self.view(inputs, generator), self.view(inputs, generator)

        return Jitter()

    def build_encoder(self, size="default", backend="spconv", **overrides):
        import torch

        class Encoder(torch.nn.Module):
            out_dim = 8

            def __init__(self):
                super().__init__()
                self.net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU())

            def forward(self, batch):
                return self.net(batch[0])

        return Encoder()

    def physics_features(self, events):
        return self.stats(events)


def _toy_bag_family():
    """The tests' toy family (tests/toyfamily.py), stored the same, read as the new kind."""
    import toyfamily

    class Generator(toyfamily.ToyGenerator):
        family = "toy_bag"

    return dataclasses.replace(toyfamily.FAMILY, name="toy_bag", event_kind="charge_bag", sources={
        "generated": SourceSpec("generated", "generated", "toy generator", Generator().domains(),
                                make_generator=Generator)})


TOY_BAG = _toy_bag_family()


def test_unknown_event_kind_names_the_known_ones():
    from benchmark.kinds import get_kind

    with pytest.raises(ValueError, match="sparse3d") as err:
        get_kind("voxels")
    assert "jets" in str(err.value)


def test_a_new_event_kind_is_one_registered_class(tmp_path):
    """An event kind defined outside the package: a family of that kind generates, loads (the kind builds
    the EventSet), runs the physics-feature floor through the runner, and trains the torch baselines on
    the kind's inputs, augmentations and encoder, with no package edit."""
    import numpy as np

    from benchmark.data.loader import load_events
    from benchmark.data.materialise import generate
    from benchmark.data.registry import register_family, unregister_family
    from benchmark.kinds import get_kind, register_kind, unregister_kind
    from benchmark.methods.base import RunContext
    from benchmark.methods.features import physics_features
    from benchmark.methods.torch import DANN, AugmentedClassifier, Contrastive
    from benchmark.results import load_result
    from benchmark.runner import run_method
    from benchmark.tasks import MethodData

    kind = register_kind(ChargeBag)
    register_family(f"{__name__}:TOY_BAG")
    try:
        assert get_kind("charge_bag") is kind
        generate("toy_bag", cache_dir=tmp_path, workers=1, progress=False)
        train = load_events("toy_bag", "nominal", "train", cache_dir=tmp_path)
        assert train.kind == "charge_bag" and train.coords is None and len(train) == 60
        assert physics_features(train).shape == (60, 3)
        x, = kind.inputs(train)(np.arange(5))
        assert tuple(x.shape) == (5, 3)

        folder = tmp_path / "m"
        folder.mkdir()
        (folder / "method.yaml").write_text("name: floor\nprotocols: [robustness]\nfamilies: [toy_bag]\n"
                                            "entry: benchmark.methods.features:PhysicsFeatureLinear\n")
        paths = run_method(folder, family="toy_bag", seeds=[0], cache_dir=tmp_path, out=tmp_path / "out",
                           progress=False)
        result = load_result(paths[0])
        assert result["dataset"]["family"] == "toy_bag" and result["domains"] == ["nominal", "shifted", "scan_2"]

        val = load_events("toy_bag", "nominal", "validation", cache_dir=tmp_path)
        target = load_events("toy_bag", "shifted", "train", cache_dir=tmp_path, with_labels=False)
        test = load_events("toy_bag", "shifted", "test", cache_dir=tmp_path, with_labels=False)
        data = MethodData("domain_shift", TOY_BAG, "nominal", train, val, {"shifted": target})
        for cls in (AugmentedClassifier, DANN, Contrastive):
            m = cls({"batch_size": 16}, RunContext(family=TOY_BAG, protocol="domain_shift", seed=0,
                                                   workdir=tmp_path / cls.__name__, epochs=1, progress=False))
            m.fit(data)
            probs = m.predict(test)
            assert probs.shape == (len(test), 3) and np.allclose(probs.sum(1), 1, atol=1e-5)
            assert m.embed(test).shape == (len(test), 8)
    finally:
        unregister_family("toy_bag")
        unregister_kind("charge_bag")
