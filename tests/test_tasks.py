"""The task API: protocols hand out only the data a method is entitled to."""
from __future__ import annotations

import numpy as np
import pytest

import benchmark
from benchmark.data.events import EventSet, LabelsNotAvailable
from benchmark.data.registry import UnknownNameError
from benchmark.tasks import MethodData, get_task


def _all_arrays(obj, seen=None):
    """Every numpy array reachable from ``obj`` through attributes, dicts and lists."""
    seen = seen if seen is not None else set()
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _all_arrays(v, seen)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _all_arrays(v, seen)
    elif hasattr(obj, "__dict__"):
        for v in vars(obj).values():
            yield from _all_arrays(v, seen)


def test_robustness_method_cannot_reach_test_labels(toy_cache):
    task = get_task("robustness", "toy", cache_dir=toy_cache)
    data = task.method_data()
    assert isinstance(data, MethodData)
    assert not hasattr(data, "test")  # fit never sees a test input
    test = task.test_inputs()
    assert set(test) == {"nominal", "shifted", "scan_2"}
    assert data.train.has_labels and data.validation.has_labels
    assert data.unlabelled == {}
    for domain, events in test.items():
        assert not events.has_labels
        with pytest.raises(LabelsNotAvailable):
            events.labels
        truth = benchmark.load_dataset("toy", domain, split="test", cache_dir=toy_cache)
        hidden = np.asarray(truth["label"])
        assert not any(a.shape == hidden.shape and a.dtype.kind == "i" and np.array_equal(a, hidden)
                       for a in _all_arrays(events)), f"{domain} test labels reachable from method data"
    # MethodData holds no reference to the task (which holds the labels)
    assert not any(isinstance(v, type(task)) for v in vars(data).values())


def test_domain_shift_hides_target_labels(toy_cache):
    task = get_task("domain_shift", "toy", target_domain="shifted", cache_dir=toy_cache)
    data = task.method_data()
    assert set(data.unlabelled) == {"shifted"} and set(task.test_inputs()) == {"nominal", "shifted"}
    target = data.unlabelled["shifted"]
    source = data.train
    # paired domains: target and source train are disjoint halves of the 60 true events
    assert not target.has_labels and len(target) + len(source) == 60 and 15 < len(target) < 45
    assert not np.intersect1d(target.event_id, source.event_id).size
    truth = np.asarray(benchmark.load_dataset("toy", "shifted", split="train", cache_dir=toy_cache)["label"])
    assert not any(np.array_equal(a, truth) for a in _all_arrays(data.unlabelled) if a.dtype.kind == "i")
    assert "label" not in target.meta and "pdg" not in target.meta


def test_protocol_argument_errors(toy_cache):
    with pytest.raises(UnknownNameError, match="robustness"):
        get_task("robustnes", "toy", cache_dir=toy_cache)
    with pytest.raises(ValueError, match="needs a target"):
        get_task("domain_shift", "toy", cache_dir=toy_cache)
    with pytest.raises(UnknownNameError, match="shifted"):  # test-only domains cannot be targets
        get_task("domain_shift", "toy", target_domain="scan_2", cache_dir=toy_cache)
    with pytest.raises(ValueError, match="only applies to protocols with a target domain"):
        get_task("robustness", "toy", target_domain="shifted", cache_dir=toy_cache)


def _size_rule(events: EventSet) -> np.ndarray:
    cls = np.digitize(events.sizes(), [9, 16])  # short < 9 voxels <= blob < 16 <= long
    return np.eye(3)[cls]


def test_evaluate_scores_against_hidden_labels(toy_cache):
    task = get_task("robustness", "toy", cache_dir=toy_cache)
    test = task.test_inputs()
    report = task.evaluate({d: (ev.event_id, _size_rule(ev)) for d, ev in test.items()})
    truth = benchmark.load_dataset("toy", "nominal", split="test", cache_dir=toy_cache)
    order = {int(e): i for i, e in enumerate(truth["event_id"])}
    labels = np.asarray(truth["label"])[[order[int(e)] for e in test["nominal"].event_id]]
    expect = np.mean(np.argmax(_size_rule(test["nominal"]), 1) == labels)
    assert report["per_domain"]["nominal"]["accuracy"] == pytest.approx(expect)
    # the rule ignores charge, so the gain-shifted domains agree exactly with nominal
    assert report["summary"]["agreement"] == 1.0 and report["summary"]["drop"] == 0.0


def test_linear_probe_is_fitted_by_the_benchmark(toy_cache):
    task = get_task("linear_probe", "toy", cache_dir=toy_cache)
    data = task.method_data()

    def embed(ev):  # voxel count and total charge: charge-sensitive, so the gain shift hurts
        total = np.add.reduceat(ev.charge, ev.offsets[:-1])
        return np.stack([ev.sizes(), total], axis=1).astype(float)

    emb = {"train": (data.train.event_id, embed(data.train)),
           "validation": (data.validation.event_id, embed(data.validation))}
    emb.update({d: (ev.event_id, embed(ev)) for d, ev in task.test_inputs().items()})
    report = task.evaluate_embeddings(emb)
    assert report["probe"]["C"] in (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
    assert report["per_domain"]["nominal"]["accuracy"] > 0.8
    assert set(report["per_domain"]) == {"nominal", "shifted", "scan_2"}
    with pytest.raises(ValueError, match="'validation'"):
        task.evaluate_embeddings({"train": emb["train"]})
