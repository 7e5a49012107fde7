"""The package's structure: every module imports on its own, and no two modules import each other."""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

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
