"""The PyTorch baselines end to end on the toy family, checkpoint/resume, and DDP with gloo on CPU."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from benchmark.data.registry import get_family
from benchmark.methods.base import MethodConfigError, RunContext, load_method_spec
from benchmark.methods.torch import DANN, Classifier, Contrastive
from benchmark.results import load_result
from benchmark.runner import run_method, seed_everything
from benchmark.tasks import get_task
from benchmark.training.loop import CheckpointMismatch

ROOT = Path(__file__).resolve().parents[1]
BASELINES = {  # name -> protocols it must produce a result for
    "classifier": {"robustness", "linear_probe"},
    "augmented_classifier": {"robustness", "linear_probe"},
    "dann": {"domain_shift"},
    "simclr": {"linear_probe", "robustness", "domain_shift"},
    "supcon": {"linear_probe", "robustness", "domain_shift"},
}


def _for_toy(name: str, dst: Path) -> Path:
    shutil.copytree(ROOT / "baselines" / name, dst)
    spec = yaml.safe_load((dst / "method.yaml").read_text())
    assert sorted(spec["families"]) == ["jets", "ndlar", "sfgd"]  # every baseline covers every family
    spec["families"] = ["toy"]
    (dst / "method.yaml").write_text(yaml.safe_dump(spec))
    return dst


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baseline_runs_end_to_end(name, toy_cache, tmp_path):
    assert (ROOT / "baselines" / name / "README.md").exists()
    folder = _for_toy(name, tmp_path / name)
    seeds = [0, 1] if name == "classifier" else [0]
    paths = run_method(folder, seeds=seeds, cache_dir=toy_cache, out=tmp_path / "out", progress=False, epochs=1)
    protocols = set()
    for path in paths:
        result = load_result(path)  # schema + consistency checks
        protocols.add(result["protocol"])
        assert result["seeds"] == seeds and result["method"]["framework"] == "pytorch"
        assert result["method"]["n_parameters"] > 1000
        for seed in seeds:
            assert (path.parent / f"seed{seed}" / "done.json").exists()
            for domain in result["domains"]:
                ids, scores = np.load(path.parent / f"predictions/seed{seed}/{domain}.npz").values()
                assert np.all(np.isfinite(scores)) and scores.shape[1] == 3
        if result["protocol"] != "linear_probe":  # the method's own probabilities
            ps = result["aggregate"]["per_domain"]["nominal"]["accuracy"]["mean"]
            assert 0.0 <= ps <= 1.0
    assert protocols == BASELINES[name]


def _classifier(workdir: Path, epochs: int, protocol: str = "robustness", **config) -> Classifier:
    seed_everything(0)
    ctx = RunContext(family=get_family("toy"), protocol=protocol, seed=0, workdir=workdir, epochs=epochs,
                     progress=False)
    return Classifier({"batch_size": 16, **config}, ctx)


def _state(method) -> dict:
    return {k: v.clone() for k, v in method.model.state_dict().items()}


class _Interrupt(Exception):
    pass


@pytest.mark.parametrize("threads", [1, 2])
def test_checkpoint_resume_continues_from_the_saved_epoch(toy_cache, tmp_path, monkeypatch, threads):
    """An interrupted run resumed from its checkpoint computes what an uninterrupted one computes, with
    the default recipe (AdamW, warm-up + cosine schedule) and at 2 CPU threads too (issue 13)."""
    torch.set_num_threads(threads)
    task = get_task("robustness", "toy", cache_dir=toy_cache)
    data = task.method_data()
    straight = _classifier(tmp_path / "a", epochs=3)
    assert straight.cfg["optimizer"] == "adamw" and straight.cfg["schedule"] == "cosine"
    straight.fit(data)
    assert straight.history.start_epoch == 0 and straight.history.epochs_done == 3
    test = task.test_inputs()   # test inputs reach a method only through predict/embed, after fit
    acc = task.evaluate({d: (ev.event_id, straight.predict(ev)) for d, ev in test.items()})
    assert acc["per_domain"]["nominal"]["accuracy"] > 0.6, "no better than chance (1/3): the classifier did not learn"

    # interrupted during epoch 2 (after epoch 1's checkpoint was written)
    first = _classifier(tmp_path / "b", epochs=3)
    calls = []
    real = first._selector

    def interrupting(score_fn, validation):
        sel = real(score_fn, validation)

        def select():
            calls.append(1)
            if len(calls) == 2:
                raise _Interrupt
            return sel()
        return select

    monkeypatch.setattr(first, "_selector", interrupting)
    with pytest.raises(_Interrupt):
        first.fit(data)
    ckpt = torch.load(tmp_path / "b/classifier.pt", weights_only=True)
    assert ckpt["epoch"] == 1 and len(ckpt["history"]) == 1
    resumed = _classifier(tmp_path / "b", epochs=3)
    resumed.fit(data)
    assert resumed.history.start_epoch == 1 and resumed.history.epochs_done == 3
    # the first process's epoch counts in the resumed fit's cost; an uninterrupted fit resumed nothing
    assert straight.resumed_fit_s == 0.0
    assert resumed.resumed_fit_s == ckpt["history"][0]["epoch_s"] > 0
    assert [h["epoch"] for h in resumed.history.history] == [1, 2, 3]
    # resuming computes exactly what the uninterrupted run computed
    a, b = _state(straight), _state(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    last_a = torch.load(tmp_path / "a/classifier.pt", weights_only=True)["model"]
    last_b = torch.load(tmp_path / "b/classifier.pt", weights_only=True)["model"]
    assert all(torch.equal(last_a[k], last_b[k]) for k in last_a)
    np.testing.assert_array_equal(straight.predict(test["shifted"]), resumed.predict(test["shifted"]))

    # a finished checkpoint is loaded, not retrained; other settings are refused
    again = _classifier(tmp_path / "b", epochs=3)
    again.fit(data)
    assert again.history.start_epoch == 3 and all(torch.equal(a[k], v) for k, v in _state(again).items())
    with pytest.raises(CheckpointMismatch, match="other settings"):
        _classifier(tmp_path / "b", epochs=4, lr=0.5).fit(data)


def test_a_resumed_seed_records_the_whole_fit_time(toy_cache, tmp_path):
    """A seed whose fit is taken over from an earlier process's checkpoints records the time of the
    epochs it reused as well (the grid's run-time table sums ``fit_time_s``): before, only the last
    process's part was recorded, so an interrupted grid under-counted its run time."""
    folder = _for_toy("classifier", tmp_path / "classifier")
    out = tmp_path / "out"
    run_method(folder, protocols=["robustness"], seeds=[0], cache_dir=toy_cache, out=out, progress=False, epochs=2)
    done = out / "robustness" / "seed0" / "done.json"
    first = json.loads(done.read_text())
    assert first["fit_time_resumed_s"] == 0.0
    ckpt, = (out / "models").rglob("classifier.pt")
    epochs_s = sum(h["epoch_s"] for h in torch.load(ckpt, weights_only=True)["history"])
    done.unlink()   # the seed is recomputed; its finished checkpoint is reused, no epoch is trained again
    run_method(folder, protocols=["robustness"], seeds=[0], cache_dir=toy_cache, out=out, progress=False, epochs=2)
    again = json.loads(done.read_text())
    assert again["fit_time_resumed_s"] == pytest.approx(epochs_s) and epochs_s > 0
    assert again["fit_time_s"] >= again["fit_time_resumed_s"]
    assert again["wall_time_s"] >= again["fit_time_s"]


def test_one_encoder_pass_per_test_set_serves_both_protocols(toy_cache, tmp_path, monkeypatch):
    """robustness (``predict``) and linear_probe (``embed``) score one fitted model on the same test
    events: the encoder runs over each test EventSet once, ``predict`` gives exactly the probabilities of
    a pass through encoder and head, and a new training stage throws the stored outputs away."""
    task = get_task("robustness", "toy", cache_dir=toy_cache)
    m = _classifier(tmp_path / "c", epochs=1)
    m.fit(task.method_data())
    passes = []
    run = Classifier._run
    monkeypatch.setattr(Classifier, "_run", lambda self, fn, events, desc: passes.append(desc) or run(self, fn, events, desc))
    test = task.test_inputs()
    for ev in test.values():
        probs = m.predict(ev)
        h = m.embed(ev)
        h[:] = 0.0  # a caller's copy: the stored outputs stay as they were
        assert np.array_equal(m.embed(ev), m._run(m.model.encoder, ev, "check"))
        assert np.array_equal(probs, m._probs(m._logits(ev)))
    n = len(test)
    assert passes.count("embed") == n and passes.count("check") == n and passes.count("predict") == n
    m.history = m._fit(m.model, [m._stream("source", task.method_data().train, 16)], "again", 1, 1e-3)
    ev = next(iter(test.values()))
    m.embed(ev)
    assert passes.count("embed") == n + 1   # new weights, new encoder pass


def test_model_selection_keeps_the_best_validation_epoch(toy_cache, tmp_path):
    data = get_task("robustness", "toy", cache_dir=toy_cache).method_data()
    m = _classifier(tmp_path / "c", epochs=3, patience=1)
    m.fit(data)
    h = m.history
    scores = [r["select"] for r in h.history]
    assert h.best_score == max(scores) and h.history[h.best_epoch - 1]["select"] == h.best_score
    # the kept weights reproduce the selected validation score
    sel = m._selector(m._logits, data.validation)
    assert sel() == pytest.approx(h.best_score)


def test_contrastive_resumes_pretraining_and_probe_stage(toy_cache, tmp_path):
    task = get_task("domain_shift", "toy", target_domain="shifted", cache_dir=toy_cache)
    data, test = task.method_data(), task.test_inputs()
    ctx = dict(family=get_family("toy"), protocol="domain_shift", seed=3, workdir=tmp_path, progress=False)
    seed_everything(3)
    m = Contrastive({"alpha": 0.5, "batch_size": 16, "epochs": 2, "finetune_epochs": 2, "finetune_solver": "adam"},
                   RunContext(**ctx))
    m.fit(data)
    assert (tmp_path / "pretrain.pt").exists() and (tmp_path / "finetune.pt").exists()
    probs = m.predict(test["shifted"])
    seed_everything(3)
    m2 = Contrastive({"alpha": 0.5, "batch_size": 16, "epochs": 2, "finetune_epochs": 2, "finetune_solver": "adam"},
                    RunContext(**ctx))
    m2.fit(data)  # both stages come from their checkpoints
    assert m2.pretrain_history.start_epoch == 2 and m2.finetune_history.start_epoch == 2
    np.testing.assert_allclose(m2.predict(test["shifted"]), probs, rtol=1e-6)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)


def test_contrastive_probe_layer_reads_after_the_first_projection_layer(toy_cache, tmp_path):
    """probe_layer 1 (JetCLR's linear classifier test): embed() is ReLU(Linear_1(h)) of the same encoder, the
    solved head is fitted on it; 0 (default) is h itself; anything else is refused with the reason."""
    task = get_task("robustness", "toy", cache_dir=toy_cache)
    data, test = task.method_data(), task.test_inputs()["nominal"]
    seed_everything(0)
    ctx = RunContext(family=get_family("toy"), protocol="robustness", seed=0, workdir=tmp_path, progress=False)
    m = Contrastive({"batch_size": 16, "epochs": 1, "probe_layer": 1}, ctx)
    m.fit(data)
    h = m.model.encoder
    m.cfg["probe_layer"] = 0
    m._embeddings.clear()
    h_out = m.embed(test)
    m.cfg["probe_layer"] = 1
    m._embeddings.clear()
    first = m.model.projection[0]
    expected = torch.relu(first(torch.from_numpy(h_out))).detach().numpy()
    np.testing.assert_allclose(m.embed(test), expected, rtol=1e-4, atol=1e-5)
    assert m.classifier.predict_proba(m.embed(test)).shape == (len(test), 3)
    assert h is m.model.encoder
    m.cfg["probe_layer"] = 2
    m._embeddings.clear()
    with pytest.raises(MethodConfigError, match="probe_layer"):
        m.embed(test)


def test_dann_augment_views_augments_source_and_target_together(toy_cache, tmp_path, monkeypatch):
    """augment_views: one random view of every source AND target training event (augmenting only the source
    would hand the domain head 'augmented or not' as a domain cue); off, no event is augmented."""
    from benchmark.kinds.sparse3d import SparseAugmenter

    views = []
    original = SparseAugmenter.view

    def recording_view(self, inputs, generator):
        views.append(int(inputs[2]))
        return original(self, inputs, generator)

    monkeypatch.setattr(SparseAugmenter, "view", recording_view)
    data = get_task("domain_shift", "toy", target_domain="shifted", cache_dir=toy_cache).method_data()
    for augment_views in (False, True):
        views.clear()
        ctx = RunContext(family=get_family("toy"), protocol="domain_shift", seed=0,
                         workdir=tmp_path / str(augment_views), progress=False)
        DANN({"batch_size": 8, "epochs": 1, "augment_views": augment_views}, ctx).fit(data)
        if augment_views:
            assert views and max(views) == 16  # 8 source + 8 target events in one view call
        else:
            assert views == []


def test_config_and_protocol_errors(toy_cache, tmp_path):
    with pytest.raises(MethodConfigError, match="unknown config key"):
        _classifier(tmp_path, 1, learning_rate=0.1)
    data = get_task("robustness", "toy", cache_dir=toy_cache).method_data()
    ctx = RunContext(family=get_family("toy"), protocol="robustness", seed=0, workdir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="domain_shift"):
        DANN({}, ctx).fit(data)
    with pytest.raises(MethodConfigError, match="alpha"):
        Contrastive({"alpha": 2.0}, ctx).fit(data)
    for name in BASELINES:  # every shipped config is accepted by its class
        spec = load_method_spec(ROOT / "baselines" / name)
        for size in ("default", "full"):
            for fam in spec.families:
                c = RunContext(family=get_family(fam), protocol=spec.protocols[0], seed=0, size=size, workdir=tmp_path)
                m = spec.load_class()(spec.resolved_config(size), c)
                if fam == "jets" and size == "full":
                    assert m.cfg["batch_size"] == 128 and m.cfg["lr"] == 5e-5  # JetCLR's settings
                if size == "full":
                    assert m.cfg["max_train_events"] is None and m.cfg["encoder_size"] == "full"
                if name == "dann":  # full: the study's linear domain classifier; default: the MLP one
                    assert m.cfg["domain_hidden"] == (0 if size == "full" else 256)


DDP_SCRIPT = textwrap.dedent('''
    # pure-torch imports only (the shared jet encoder + the loop): process start-up stays short
    import sys, json
    import numpy as np, torch
    import torch.nn.functional as F
    from benchmark.models.jets import JetTransformerEncoder
    from benchmark.training.loop import Algorithm, Stream, LoopConfig, fit, dist_info

    class Tagger(Algorithm):
        def __init__(self):
            super().__init__()
            self.encoder = JetTransformerEncoder(d_model=16, n_layers=1, n_heads=2, d_ff=16)  # dropout 0.1 on
            self.head = torch.nn.Linear(16, 2)
        def update(self, batch):
            b = batch["source"]
            return {"loss": F.cross_entropy(self.head(self.encoder((b["x"], b["mask"]))), b["y"])}

    out = sys.argv[1]
    g = torch.Generator().manual_seed(0)
    n = 22
    x = torch.rand(n, 6, 3, generator=g) * torch.tensor([100.0, 0.5, 0.5])
    mask = torch.arange(6)[None, :] < torch.randint(2, 7, (n, 1), generator=g)
    y = torch.arange(n) % 2
    torch.manual_seed(0)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    alg, seen = Tagger(), []
    def make_batch(idx):
        seen.extend(int(i) for i in idx)
        t = torch.as_tensor(idx)
        return {"x": x[t], "mask": mask[t], "y": y[t]}
    res = fit(alg, [Stream("source", n, make_batch, 8)], LoopConfig(epochs=2, lr=1e-2), seed=5,
              checkpoint=out + "/ckpt.pt", progress=False)
    rank, world, _ = dist_info()
    torch.save({k: v.detach() for k, v in alg.state_dict().items()}, f"{out}/rank{rank}.pt")
    json.dump({"world": world, "seen": seen, "epochs": res.epochs_done}, open(f"{out}/rank{rank}.json", "w"))
    torch.manual_seed(0)
    if rank == 0:
        torch.save(Tagger().state_dict(), f"{out}/init.pt")
''')


@pytest.mark.slow  # two Python processes start up (about 10-20 s on 2 busy cores)
def test_ddp_two_cpu_processes_end_with_identical_parameters(tmp_path):
    script = tmp_path / "ddp_script.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script), str(tmp_path)], env=env, capture_output=True, text=True, timeout=240,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(i["world"] == 2 and i["epochs"] == 2 for i in info)
    # each epoch's 22 events are sharded: 11 per rank, the two shards together cover every event
    per_epoch = [[set(i["seen"][e * 11:(e + 1) * 11]) for i in info] for e in range(2)]
    for a, b in per_epoch:
        assert len(a) == len(b) == 11 and a.isdisjoint(b) and a | b == set(range(22))
    p0, p1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert all(torch.equal(p0[k], p1[k]) for k in p0)
    ckpt = torch.load(tmp_path / "ckpt.pt", weights_only=True)  # written once, by rank 0
    assert ckpt["epoch"] == 2 and all(torch.equal(ckpt["model"][k], p0[k]) for k in p0)
    init = torch.load(tmp_path / "init.pt", weights_only=True)
    assert not torch.equal(init["head.weight"], p0["head.weight"])  # training changed the weights


def test_training_defaults_one_table_resolved_at_the_model_size(tmp_path):
    """Family defaults (benchmark/training/hparams.py) <- method.yaml <- per_family, at the MODEL size,
    which is chosen independently of the data size; --max-train-events comes through the context."""
    from benchmark.training.hparams import TRAINING, training_defaults

    fam = get_family("toy")
    base = training_defaults("toy", "default")
    assert base["optimizer"] == "adamw" and base["schedule"] == "cosine" and base["weight_decay"] > 0
    ctx = RunContext(family=fam, protocol="robustness", seed=0, size="default", workdir=tmp_path, model_size="full")
    m = Classifier({}, ctx)
    assert m.cfg["encoder_size"] == "full" and m.cfg["lr"] == TRAINING["_all"]["lr"]["full"]   # data default, model full
    cfg = {"lr": {"default": 0.003, "full": 0.002}, "per_family": {"toy": {"batch_size": {"default": 7, "full": 9}}}}
    m = Classifier(cfg, RunContext(family=fam, protocol="robustness", seed=0, workdir=tmp_path, max_train_events=123))
    assert m.cfg["lr"] == 0.003 and m.cfg["batch_size"] == 7 and m.cfg["max_train_events"] == 123
    assert training_defaults("jets", "full")["lr"] == 5e-5   # JetCLR's
    # a data-only preset (large: more events) runs the default model unless told otherwise
    large = RunContext(family=fam, protocol="robustness", seed=0, size="large", workdir=tmp_path)
    assert large.model_size == "default" and Classifier({}, large).cfg["encoder_size"] == "default"


def test_learning_rate_schedule_warmup_then_cosine():
    from benchmark.training.loop import LoopConfig

    cfg = LoopConfig(epochs=1, lr=1.0, schedule="cosine", warmup=0.1)
    lrs = [cfg.lr_at(t, 100) for t in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)        # linear warm-up over 10 steps
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:])) and lrs[-1] < 0.01     # then a monotone cosine decay
    assert LoopConfig(epochs=1, lr=0.5).lr_at(50, 100) == 0.5                    # the study's constant Adam lr
    with pytest.raises(ValueError, match="optimizer"):
        LoopConfig(epochs=1, optimizer="sgd")


def test_weight_average_is_what_is_selected_and_resumes(tmp_path):
    """``ema``: the kept model is the moving average of the weights after every step (recomputed here
    by hand), ``select()`` scores the averaged weights, and a run interrupted after epoch 1 and resumed
    ends with the same averaged weights as an uninterrupted run."""
    import torch.nn.functional as F
    from benchmark.training.loop import Algorithm, LoopConfig, Stream, fit

    class Linear(Algorithm):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.head = torch.nn.Linear(3, 2)

        def update(self, batch):
            b = batch["source"]
            return {"loss": F.cross_entropy(self.head(b["x"]), b["y"])}

    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(24, 3, generator=g), torch.arange(24) % 2
    make_batch = lambda idx: {"x": x[torch.as_tensor(idx)], "y": y[torch.as_tensor(idx)]}  # noqa: E731
    decay = 0.9

    # by hand: the raw weights after every optimiser step, averaged with the ramped decay
    alg, trace = Linear(), []

    scored = []

    def select():   # the weights select() sees
        scored.append(alg.head.weight.detach().clone())
        return -len(scored)  # epoch 1 is the best: the kept model is epoch 1's average

    from torch.optim.optimizer import register_optimizer_step_post_hook

    hook = register_optimizer_step_post_hook(
        lambda *_: trace.append({n: p.detach().clone() for n, p in alg.state_dict().items()}))
    try:
        fit(alg, [Stream("source", 24, make_batch, 8)], LoopConfig(epochs=2, lr=0.1, ema=decay), seed=3,
            select=select, progress=False)
    finally:
        hook.remove()
    avg = {n: v.clone() for n, v in Linear().state_dict().items()}
    per_epoch = []
    for i, w in enumerate(trace, start=1):
        d = min(decay, (1 + i) / (10 + i))
        avg = {n: d * avg[n] + (1 - d) * w[n] for n in avg}
        if i % 3 == 0:
            per_epoch.append(avg["head.weight"].clone())
    assert len(trace) == 6 and len(scored) == 2
    for got, want in zip(scored, per_epoch):
        assert torch.allclose(got, want, atol=1e-6)
    assert not torch.allclose(scored[1], trace[-1]["head.weight"])        # the average, not the raw weights
    assert torch.allclose(alg.head.weight, per_epoch[0], atol=1e-6)       # the selected epoch's average is kept

    # resume: two epochs in one go == one epoch, stop, and a second call resuming from the checkpoint
    ref = Linear()
    fit(ref, [Stream("source", 24, make_batch, 8)], LoopConfig(epochs=2, lr=0.1, ema=decay), seed=3, progress=False)
    ckpt = tmp_path / "c.pt"
    first = Linear()
    fit(first, [Stream("source", 24, make_batch, 8)], LoopConfig(epochs=1, lr=0.1, ema=decay), seed=3,
        checkpoint=ckpt, progress=False)
    again = Linear()
    res = fit(again, [Stream("source", 24, make_batch, 8)], LoopConfig(epochs=2, lr=0.1, ema=decay), seed=3,
              checkpoint=ckpt, progress=False)
    assert res.start_epoch == 1
    assert all(torch.allclose(a, b, atol=1e-7) for a, b in zip(again.state_dict().values(), ref.state_dict().values()))
    with pytest.raises(ValueError, match="ema"):
        LoopConfig(epochs=1, ema=1.0)


def test_floor_under_domain_shift_fits_on_the_adaptation_methods_labelled_half(toy_cache, tmp_path):
    """The physics-feature floor runs under domain_shift on exactly the labelled source events DANN gets
    (on paired domains: the half of the source train disjoint from the target's), so each domain_shift
    table has a floor measured on the same data."""
    from benchmark.evaluation.metrics import accuracy
    from benchmark.methods.features import PhysicsFeatureLinear

    folder = _for_toy("linear_probe", tmp_path / "linear_probe")
    path, = run_method(folder, protocols=["domain_shift"], target="shifted", seeds=[0], cache_dir=toy_cache,
                       out=tmp_path / "out", progress=False)
    result = load_result(path)
    assert result["protocol"] == "domain_shift" and result["target_domain"] == "shifted"
    task = get_task("domain_shift", "toy", target_domain="shifted", cache_dir=toy_cache)
    data = task.method_data()
    whole = get_task("robustness", "toy", cache_dir=toy_cache).method_data().train
    assert 0 < len(data.train) < len(whole)   # paired toy domains: the source half only
    floor = PhysicsFeatureLinear({}, RunContext(family=get_family("toy"), protocol="domain_shift", seed=0,
                                                workdir=tmp_path / "direct", progress=False))
    floor.fit(data)
    ids, scores = np.load(path.parent / "predictions/seed0/nominal.npz").values()
    test = task.test_inputs()["nominal"]
    np.testing.assert_allclose(scores, floor.predict(test), rtol=1e-6)   # the same fit, on the half
    truth = dict(zip(*task._test_truth("nominal")[:2]))
    assert result["per_seed"][0]["per_domain"]["nominal"]["accuracy"] == pytest.approx(
        accuracy(np.array([truth[i] for i in ids]), scores))


def test_refit_head_is_the_linear_probe_on_clean_training_embeddings(toy_cache, tmp_path):
    """``refit_head``: after training, ``predict`` is a logistic regression solved on the frozen encoder's
    output for the (un-augmented) source train events, C chosen on source validation: the same fit as the
    benchmark's linear probe, and not the head that was trained with the encoder."""
    from benchmark.evaluation import fit_linear_probe, full_proba

    task = get_task("robustness", "toy", cache_dir=toy_cache)
    data, test = task.method_data(), task.test_inputs()
    fam = get_family("toy")
    m = _classifier(tmp_path / "c", epochs=1, refit_head=True)
    m.fit(data)
    probe, _ = fit_linear_probe(m.embed(data.train), data.train.labels, m.embed(data.validation),
                                data.validation.labels, fam.num_classes, fam.primary_metric)
    for ev in test.values():
        probs = m.predict(ev)
        np.testing.assert_allclose(probs, full_proba(probe, m.embed(ev), fam.num_classes), rtol=1e-5, atol=1e-6)
        assert not np.allclose(probs, m._probs(m._logits(ev)), atol=1e-3)   # not the trained head
    lr = probe[-1]
    assert m.num_parameters() == m._count(m.model.encoder) + lr.coef_.size + lr.intercept_.size
    plain = _classifier(tmp_path / "p", epochs=1)
    plain.fit(data)
    ev = next(iter(test.values()))
    np.testing.assert_allclose(plain.predict(ev), plain._probs(plain._logits(ev)), rtol=1e-5, atol=1e-6)
