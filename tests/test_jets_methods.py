"""The PyTorch baselines on jet inputs (hand-built EventSets: the toy family is sparse 3D only)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.data.events import EventSet
from benchmark.data.registry import get_family
from benchmark.methods.base import RunContext
from benchmark.kinds import get_kind
from benchmark.methods.torch import DANN, AugmentedClassifier, Classifier, Contrastive
from benchmark.runner import seed_everything
from benchmark.tasks import MethodData


def make_jets(n: int, seed: int, split: str, labelled: bool = True, pt_scale: float = 1.0,
              domain: str = "nominal") -> EventSet:
    """QCD-like jets (label 0): one hard core; top-like (label 1): three separated prongs."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    rows, offsets = [], [0]
    for i in range(n):
        eta0, phi0 = rng.uniform(-1.5, 1.5), rng.choice([rng.uniform(-np.pi, np.pi), np.pi - 0.05])
        k = int(rng.integers(8, 30))
        prongs = rng.normal(0, 0.3, (3, 2)) if labels[i] else np.zeros((1, 2))
        centre = prongs[rng.integers(0, len(prongs), k)]
        deta, dphi = (centre + rng.normal(0, 0.03, (k, 2))).T
        pt = np.sort(rng.exponential(40.0, k))[::-1] * pt_scale + 1.0
        eta, phi = eta0 + deta, np.mod(phi0 + dphi + np.pi, 2 * np.pi) - np.pi
        rows.append(np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], 1))
        offsets.append(offsets[-1] + k)
    return EventSet("jets", domain, split, "jets", np.arange(n, dtype=np.int64) + 1000 * seed,
                    np.asarray(offsets, dtype=np.int64), p4=np.concatenate(rows).astype(np.float32),
                    _labels=labels.astype(np.int64) if labelled else None)


def data_for(protocol: str) -> tuple[MethodData, dict]:
    """What ``fit`` gets, and the test sets handed to ``predict``/``embed`` afterwards."""
    fam = get_family("jets")
    train, val = make_jets(48, 1, "train"), make_jets(24, 2, "validation")
    test = {"nominal": make_jets(20, 3, "test", labelled=False),
            "jes_up": make_jets(20, 3, "test", labelled=False, pt_scale=1.05, domain="jes_up")}
    unlabelled = {}
    if protocol == "domain_shift":
        unlabelled = {"jes_up": make_jets(40, 4, "train", labelled=False, pt_scale=1.05, domain="jes_up")}
    return MethodData(protocol, fam, "nominal", train, val, unlabelled), test


def context(protocol: str, tmp_path, seed: int = 0) -> RunContext:
    seed_everything(seed)
    return RunContext(family=get_family("jets"), protocol=protocol, seed=seed, workdir=tmp_path, epochs=1,
                      progress=False)


def test_jet_inputs_are_centred_and_padded():
    ev = make_jets(12, 7, "train")
    x, mask = get_kind("jets").inputs(ev, max_constituents=20)(np.arange(12))
    sizes = np.minimum(ev.sizes(), 20)
    assert x.shape == (12, int(sizes.max()), 3) and mask.sum(1).tolist() == sizes.tolist()
    pt_true = np.hypot(ev.p4[:, 1], ev.p4[:, 2])
    np.testing.assert_allclose(x[0, : sizes[0], 0].numpy(), pt_true[: sizes[0]], rtol=1e-5)  # GeV, hardest first
    # full jets (< 20 constituents) sit on their pT-weighted centroid, also those straddling phi = +-pi
    full = ev.sizes() <= 20
    w = torch.where(mask, x[..., 0], torch.zeros(()))
    centroid = (x[..., 1:] * w[..., None]).sum(1) / w.sum(1, keepdim=True)
    assert full.any() and torch.allclose(centroid[torch.as_tensor(full)], torch.zeros(()), atol=1e-4)
    assert float(x[..., 2].abs().max()) < 1.5  # no constituent thrown to the other side of the phi wrap


@pytest.mark.parametrize("cls, protocol", [(Classifier, "robustness"), (AugmentedClassifier, "robustness"),
                                           (DANN, "domain_shift"), (Contrastive, "domain_shift")])
def test_methods_fit_and_predict_jets_deterministically(cls, protocol, tmp_path):
    data, test = data_for(protocol)
    config = {"batch_size": 16}
    if cls is Contrastive:
        config.update(alpha=0.5, finetune_epochs=2)
    outs = []
    for run in ("a", "b"):
        m = cls(config, context(protocol, tmp_path / run))
        m.fit(data)
        probs = m.predict(test["jes_up"])
        assert probs.shape == (20, 2) and np.all(np.isfinite(probs)) and np.allclose(probs.sum(1), 1.0, atol=1e-5)
        outs.append(probs)
        assert m.num_parameters() > 1000
    np.testing.assert_array_equal(outs[0], outs[1])  # same seed, same result (augmentations, dropout, shuffling)
    other = cls(config, context(protocol, tmp_path / "c", seed=1))
    other.fit(data)
    assert not np.array_equal(other.predict(test["jes_up"]), outs[0])


def test_contrastive_linear_probe_embeds_jets(tmp_path):
    data, test = data_for("linear_probe")
    m = Contrastive({"alpha": 0.0, "batch_size": 16}, context("linear_probe", tmp_path))
    m.fit(data)
    emb = m.embed(test["nominal"])
    assert emb.shape == (20, m.model.encoder.out_dim) and np.all(np.isfinite(emb))
    # one fit serves linear_probe and robustness: the same fitted object also predicts
    probs = m.predict(test["nominal"])
    assert probs.shape == (20, 2) and np.all(np.isfinite(probs))
    np.testing.assert_array_equal(m.embed(test["nominal"]), emb)  # predicting changed nothing in the encoder


def test_jet_augmentations_are_chosen_by_name_in_the_method_config(tmp_path):
    """``augment: {augmentations: [...]}`` reaches the views (JetCLR's ablation as configs)."""
    from benchmark.augment.jets import jetclr_views
    from benchmark.methods.base import MethodConfigError

    ev = make_jets(16, 5, "train")
    batch = get_kind("jets").inputs(ev)(np.arange(16))

    def views(augment):
        m = Contrastive({"alpha": 0.0, "augment": augment}, context("linear_probe", tmp_path))
        return m._augmenter().views(batch, torch.Generator().manual_seed(3))

    # the default is JetCLR's set, draw for draw
    (a1, _), (a2, _) = views({})
    (b1, _), (b2, _) = jetclr_views(*batch, generator=torch.Generator().manual_seed(3), pad_to=50)
    assert torch.equal(a1, b1) and torch.equal(a2, b2)
    # none: both views are the jet itself (view 2 padded to 50 slots, room for the splits)
    (n1, m1), (n2, m2) = views({"augmentations": []})
    assert torch.equal(n1, batch[0]) and torch.equal(n2[:, : batch[0].shape[1]], batch[0])
    # rotation only: pT untouched and the constituent multiplicity too (no splitting)
    (r1, q1), (r2, q2) = views({"augmentations": ["rotation"]})
    assert torch.equal(r1[..., 0], batch[0][..., 0]) and not torch.equal(r1, batch[0])
    assert torch.equal(q2.sum(1), batch[1].sum(1))
    with pytest.raises(MethodConfigError, match="valid names"):
        views({"augmentations": ["rotations"]})
