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


# ------------------------------------------------------------------------------ jet augmentation ablation

class ToyJets(toyfamily.ToyGenerator):
    """Tiny top-like (three prongs) vs QCD-like (one core) jets: the jets event kind in milliseconds."""

    family = "toyjets"
    sizes = {"default": {"train": 48, "validation": 16, "test": 24}}
    chunk_size = 48

    def domains(self):
        return (DomainSpec("nominal", "jes 1", {"jes": 1.0}, kind="nominal"),
                DomainSpec("jes_up", "jes 1.05", {"jes": 1.05}))

    def generate_chunk(self, split, chunk_index, event_ids, seed, domains=None):
        from benchmark.simulators.base import event_rng

        specs = {d.name: d for d in self.domains()}
        domains = domains or list(specs)
        jets = []
        for eid in event_ids:
            rng = event_rng(seed, int(eid), "jet")
            label = int(rng.integers(0, 2))
            k = int(rng.integers(6, 16))
            prongs = rng.normal(0, 0.3, (3, 2)) if label else np.zeros((1, 2))
            deta, dphi = (prongs[rng.integers(0, len(prongs), k)] + rng.normal(0, 0.03, (k, 2))).T
            pt = np.sort(rng.exponential(40.0, k))[::-1] + 1.0
            jets.append((label, pt, deta, dphi))
        out = {}
        for d in domains:
            jes = specs[d].parameters["jes"]
            cols = {c: [] for c in ("E", "px", "py", "pz")}
            for _, pt, eta, phi in jets:
                pt = pt * jes
                for c, v in zip(cols, (pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta))):
                    cols[c].append(v.astype(np.float32))
            out[d] = {"event_id": np.asarray(event_ids, dtype=np.int64),
                      "label": np.array([j[0] for j in jets], dtype=np.int64), **cols,
                      "jes": np.full(len(jets), jes)}
        return out


def _jet_columns():
    from benchmark.families.jets import COLUMNS

    return tuple(c for c in COLUMNS if c.name in ("event_id", "label", "E", "px", "py", "pz", "jes"))


JETS_FAMILY = FamilySpec(
    name="toyjets", title="Toy jets", description="Test family.", event_kind="jets", class_names=("qcd", "top"),
    columns=_jet_columns(), primary_metric="auc",
    sources={"generated": SourceSpec("generated", "generated", "toy jets", ToyJets().domains(), make_generator=ToyJets)},
)

CONTRASTIVE = """\
name: tinyclr
protocols: [linear_probe, robustness]
families: [toyjets]
entry: benchmark.methods.torch_methods:Contrastive
config:
  alpha: 0.0
  epochs: 1
  batch_size: 16
  finetune_epochs: 1
  max_constituents: 20
  encoder: {d_model: 8, n_layers: 1, n_heads: 2, d_ff: 16}
  augment: {width: 0.5}
  per_family:
    toyjets: {augment: {width: 0.5}}
"""


@pytest.fixture
def toy_jets(tmp_path):
    register_family("test_studies:JETS_FAMILY")
    try:
        generate("toyjets", cache_dir=tmp_path / "cache", workers=1, progress=False)
        folder = tmp_path / "tinyclr"
        folder.mkdir()
        (folder / "method.yaml").write_text(CONTRASTIVE)
        yield folder, tmp_path / "cache"
    finally:
        unregister_family("toyjets")


def test_jet_augmentation_ablation_runs_each_set(toy_jets, tmp_path, monkeypatch):
    import benchmark.augment.jets as augment
    from benchmark.results import load_result
    from benchmark.studies.jet_augmentations import (AUGMENTATION_SETS, JETCLR_REFERENCE, TABLE_HEADERS,
                                                     run_ablation)

    method, cache = toy_jets
    seen = []  # the augmentation lists the training actually asked for
    real = augment.jet_views

    def spy(*args, augmentations=augment.JET_AUGMENTATIONS, **kwargs):
        seen.append(tuple(sorted(augmentations)))
        return real(*args, augmentations=augmentations, **kwargs)

    monkeypatch.setattr(augment, "jet_views", spy)
    sets = ["none", "rotation", "soft_collinear"]
    table = run_ablation(method, seeds=[0], sets=sets, out=tmp_path / "abl", cache_dir=cache, family="toyjets",
                         progress=False, command="python -m benchmark study jet-augmentations x")
    assert list(table["sets"]) == sets and set(seen) == {tuple(sorted(AUGMENTATION_SETS[s])) for s in sets}
    for s in sets:
        result = load_result(tmp_path / "abl" / s / "linear_probe" / "result.json")  # validated
        assert result["protocol"] == "linear_probe" and result["method"]["name"] == f"tinyclr_aug_{s}"
        fp = json.loads((tmp_path / "abl" / s / "models" / "inductive" / "seed0" / "fingerprint.json").read_text())
        assert fp["config"]["augment"] == {"width": 0.5, "augmentations": list(AUGMENTATION_SETS[s])}
        assert fp["config"]["per_family"]["toyjets"]["augment"]["augmentations"] == list(AUGMENTATION_SETS[s])
        row = table["sets"][s]
        nominal = result["per_seed"][0]["per_domain"]["nominal"]
        assert row["auc"]["mean"] == nominal["auc"] and row["rejection_at_30"]["mean"] == nominal["rejection_at_30"]
        assert row["reference"] == JETCLR_REFERENCE[s]
    md = (tmp_path / "abl" / "jet_augmentations.md").read_text()
    assert all(h in md for h in TABLE_HEADERS) and "arXiv:2108.04253" in md and "| soft_collinear" in md
    assert "0.970" in md and "| 89" in md  # JetCLR's soft+collinear row beside ours
    assert (tmp_path / "abl" / "jet_augmentations.png").stat().st_size > 1000
    assert json.loads((tmp_path / "abl" / "jet_augmentations.json").read_text())["sets"] == table["sets"]
    # a method that trains on no views would give one number five times: refused
    classifier = tmp_path / "tinyclassifier"
    classifier.mkdir()
    (classifier / "method.yaml").write_text(CONTRASTIVE.replace("Contrastive", "Classifier").replace("  alpha: 0.0\n", "")
                                            .replace("  finetune_epochs: 1\n", ""))
    with pytest.raises(ValueError, match="does not pre-train on augmented views"):
        run_ablation(classifier, seeds=[0], sets=["none"], out=tmp_path / "c", cache_dir=cache, family="toyjets")
    # resumable: a finished set is reused from its fingerprint, nothing retrained
    seen.clear()
    again = run_ablation(method, seeds=[0], sets=["rotation"], out=tmp_path / "abl", cache_dir=cache,
                         family="toyjets", progress=False)
    assert not seen and again["sets"]["rotation"] == table["sets"]["rotation"]


def test_ablation_table_by_hand_and_errors():
    from benchmark.studies.jet_augmentations import ablation_table, check_sets, with_augmentations
    from benchmark.methods.base import load_method_spec

    def result(values):
        return {"protocol": "linear_probe", "domains": ["nominal"], "seeds": list(range(len(values))),
                "method": {"name": "m"},
                "per_seed": [{"per_domain": {"nominal": {"auc": a, "rejection_at_50": r, "rejection_at_30": 2 * r}}}
                             for a, r in values]}

    t = ablation_table({"all": result([(0.9, 10.0), (0.8, 20.0), (0.7, 30.0)])})
    row = t["sets"]["all"]
    assert row["auc"]["mean"] == pytest.approx(0.8) and row["auc"]["std"] == pytest.approx(0.1)
    assert row["rejection_at_50"]["std"] == pytest.approx(10.0) and row["rejection_at_30"]["mean"] == pytest.approx(40)
    assert row["reference"] == {"auc": 0.980, "rejection_at_50": 181.0}
    with pytest.raises(ValueError, match="soft_collinear"):
        check_sets(["rotations"])
    assert check_sets(["all", "none"]) == ["none", "all"]
    with pytest.raises(ValueError, match="linear_probe results"):
        ablation_table({"none": {**result([(0.5, 1.0)]), "protocol": "robustness"}})
    spec = with_augmentations(load_method_spec("baselines/simclr"), "translation")
    assert spec.config["augment"]["augmentations"] == ["translation"] and spec.name == "simclr_aug_translation"
    assert load_method_spec("baselines/simclr").config.get("augment") is None  # the folder is untouched
    # SimCLR's jets block sets augment per model size: the set must win there at both sizes
    from benchmark.methods.torch import effective_config

    for size in ("default", "full"):
        assert effective_config(spec.config, "jets", size)["augment"]["augmentations"] == ["translation"], size
