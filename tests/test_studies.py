"""The studies' analyses: the crosstalk-style grid and binned curves against per-event parameters."""
from __future__ import annotations

import json

import numpy as np
import pytest

from benchmark.data.materialise import generate
from benchmark.data.registry import DomainSpec, FamilySpec, SourceSpec, register_family, unregister_family
from benchmark.studies.crosstalk_grid import grid_table, run_grid, scan_points
from benchmark.studies.parameter_curves import binned_metric, run_curves, varied_parameters

import toyfamily  # noqa: E402  (tests/ is on sys.path: conftest)


class RandomGainToy(toyfamily.ToyGenerator):
    """The toy family plus a domain where every event draws its gain uniformly in [0.25, 2]."""

    family = "toyrandom"

    def domains(self):
        return (*super().domains(),
                DomainSpec("gain_random", "gain per event", {"gain": {"distribution": "uniform", "low": 0.25,
                                                                    "high": 2.0}}, kind="random"))

    def generate_chunk(self, split, chunk_index, event_ids, seed, domains=None):
        from benchmark.simulators.base import chunk_rng

        domains = domains or [d.name for d in self.domains() if split in d.splits]
        base = [d for d in domains if d != "gain_random"]
        out = super().generate_chunk(split, chunk_index, event_ids, seed, base + ["nominal"])
        if "gain_random" in domains:
            nom = out["nominal"]
            gain = chunk_rng(seed, "gain", split, chunk_index).uniform(0.25, 2.0, len(event_ids))
            out["gain_random"] = {**nom, "charge": [q * g for q, g in zip(nom["charge"], gain)], "gain": gain}
        return {d: out[d] for d in domains}


FAMILY = FamilySpec(
    name="toyrandom", title="Toy with a random domain", description="Test family.", event_kind="sparse3d",
    class_names=toyfamily.FAMILY.class_names, columns=toyfamily.FAMILY.columns,
    sources={"generated": SourceSpec("generated", "generated", "toy generator", RandomGainToy().domains(),
                                     make_generator=RandomGainToy)},
    voxel_size_cm=1.0,
)

METHOD = ("name: floor\nprotocols: [robustness]\nfamilies: [toy, toyrandom]\n"
          "entry: benchmark.methods.features:PhysicsFeatureLinear\n")


def test_binned_metric_by_hand():
    values = np.array([0.0, 0.1, 0.2, 0.6, 0.7, 0.9, 1.0, 1.0])
    labels = np.array([0, 1, 0, 1, 1, 0, 1, 0])
    pred = np.array([0, 1, 1, 1, 0, 0, 1, 1])  # right: 1 1 0 | 1 0 1 1 0
    scores = np.eye(2)[pred]
    got = binned_metric(values, labels, scores, "accuracy", bins=2)
    assert got["edges"] == [0.0, 0.5, 1.0] and got["n"] == [3, 5]
    assert got["value"] == pytest.approx([2 / 3, 3 / 5])
    assert got["error"] == pytest.approx([np.sqrt(2 / 3 / 3 / 3), np.sqrt(0.6 * 0.4 / 5)])
    q = binned_metric(values, labels, scores, "accuracy", bins=4, binning="quantile")
    assert sum(q["n"]) == 8 and max(q["n"]) - min(q["n"]) <= 2
    a = binned_metric(values, labels, np.stack([1 - values, values], 1), "auc", bins=1, n_boot=50)
    assert a["n"] == [8] and 0 <= a["value"][0] <= 1 and a["error"][0] > 0


def test_parameter_curves_of_a_random_domain(tmp_path, monkeypatch):
    from benchmark.runner import run_method

    monkeypatch.syspath_prepend(str(tmp_path))
    register_family("test_studies:FAMILY")
    try:
        generate("toyrandom", cache_dir=tmp_path, workers=1, progress=False)
        assert varied_parameters("toyrandom", "gain_random") == ["gain"]
        folder = tmp_path / "m"
        folder.mkdir()
        (folder / "method.yaml").write_text(METHOD)
        path, = run_method(folder, family="toyrandom", seeds=[0, 1], cache_dir=tmp_path, out=tmp_path / "out",
                           progress=False)
        curves = run_curves(path, bins=4, cache_dir=tmp_path)
        c = curves["parameters"]["gain"]
        assert curves["domain"] == "gain_random" and sum(c["n"]) == 40 and len(c["mean"]) == 4
        assert c["edges"][0] >= 0.25 and c["edges"][-1] <= 2.0
        assert (path.parent / "curves_gain_random.png").stat().st_size > 1000
        # the per-bin values recomputed by hand from the stored predictions and the hidden parameters
        from benchmark.data.loader import load_events
        from benchmark.evaluation import align, load_predictions

        ev = load_events("toyrandom", "gain_random", "test", cache_dir=tmp_path)
        ids, scores = load_predictions(path.parent / "predictions" / "seed0")["gain_random"]
        pred = np.argmax(align(ids, scores, ev.event_id, "gain_random", width=3), 1)
        b = np.clip(np.searchsorted(c["edges"], ev.meta["gain"], side="right") - 1, 0, 3)
        first = [np.mean(pred[b == k] == ev.labels[b == k]) for k in range(4) if np.any(b == k)]
        assert [v for v in c["per_seed"][0]["value"] if v is not None] == pytest.approx(first)
    finally:
        unregister_family("toyrandom")


def test_grid_trains_at_each_value_and_scores_the_scan(toy_cache, tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "method.yaml").write_text(METHOD)
    table = run_grid(folder, seeds=[0, 1], out=tmp_path / "grid", cache_dir=toy_cache, family="toy",
                     training_domains=("nominal", "shifted"), parameter="gain", prefix=None, progress=False)
    assert table["scan_f"] == [0.5, 1.0, 2.0] and set(table["curves"]) == {"nominal", "shifted"}
    for domain, gain in (("nominal", 1.0), ("shifted", 0.5)):
        result = json.loads((tmp_path / "grid" / domain / "robustness" / "result.json").read_text())
        assert result["source_domain"] == domain and result["seeds"] == [0, 1]
        c = table["curves"][domain]
        assert c["training_f"] == gain
        at = table["scan_f"].index(gain)
        assert c["residual_mean"][at] == pytest.approx(0.0)  # no loss at the model's own setting
        acc = np.array([[s["per_domain"][d]["accuracy"] for d in table["scan_domains"]] for s in result["per_seed"]])
        assert c["mean"] == pytest.approx(acc.mean(0).tolist())
        assert c["residual_mean"] == pytest.approx((acc / acc[:, [at]] - 1).mean(0).tolist())
    assert (tmp_path / "grid" / "crosstalk_grid.png").stat().st_size > 1000
    assert json.loads((tmp_path / "grid" / "crosstalk_grid.json").read_text())["curves"] == table["curves"]


def test_sfgd_scan_is_the_study_grid():
    pts = scan_points("sfgd")
    assert [round(f, 2) for _, f in pts] == [round(0.05 * k, 2) for k in range(21)]
    assert grid_table({}, family="sfgd")["scan_domains"][0] == "xscan_000"
