"""The PyTorch baselines, DomainBed-style, on the shared encoder / heads / augmentations / loss / loop.

Each method is a :class:`~benchmark.methods.base.Method` (what the runner calls) around one or two
small :class:`~benchmark.training.loop.Algorithm` s (``update(batch) -> losses``,
:mod:`benchmark.training.algorithms`) trained by the one loop :func:`benchmark.training.loop.fit`.
This module holds what the runner sees: config merging, streams, model selection and inference.

* :class:`Classifier` — encoder + linear head, cross-entropy on labelled source train (study:
  arXiv:2502.07724, "classifier"); model selection on the source validation split;
* :class:`AugmentedClassifier` — the same, each training sample replaced by one random view of the
  contrastive augmentation set (study: "augmented classifier");
* :class:`DANN` — encoder without GRN, label head on labelled source, domain head behind gradient
  reversal on source + unlabelled target (Ganin et al. 2016, arXiv:1505.07818: coefficient ramped up
  to 1.0 at the default size; the study's fixed 1.0 at full size); ``domain_shift`` only;
* :class:`Contrastive` — encoder + projection head pre-trained with the one contrastive loss on two
  augmented views (``alpha`` 0 = SimCLR, 1 = SupCon; JetCLR for jets), on labelled source train and,
  under ``domain_shift``, also on the UNLABELLED target train (labels used only where present: an
  unlabelled event's only positive is its other view). ``embed`` = the frozen encoder output h (the
  benchmark's linear probe); ``predict`` = fine-tuning a linear head (optionally the encoder too) on
  labelled source train with model selection on source validation.

Inputs, augmentations and encoder come from the family's event kind (:mod:`benchmark.kinds`): sparse
3D events go through :func:`benchmark.data.collate.collate_sparse` (:mod:`benchmark.kinds.sparse3d`);
jets through the documented preprocessing, padded/truncated to the ``max_constituents`` hardest
constituents (JetCLR keeps 50; :mod:`benchmark.kinds.jets`). No method branches on the kind.

Config: the training defaults of the family at the run's MODEL size come from the one table
:data:`benchmark.training.hparams.TRAINING` (DomainBed ``hparams_registry`` style); ``method.yaml``
holds only what differs for the method (values may be ``{default: a, full: b}``), and
``per_family: {<family>: {key: value or {default:, full:}}}`` overrides keys for one family. Allowed
keys: ``COMMON`` and each class's ``EXTRA``. The model size (``RunContext.model_size``, default: the
data size) and the data size are independent; ``RunContext.max_train_events`` (``--max-train-events``)
caps the training events.

One fit serves every protocol with the same entitlement: ``fit`` never looks at ``context.protocol``
(only at whether ``data.unlabelled`` holds a target sample), and after it both ``predict`` and
``embed`` work (the contrastive methods train their linear head at the end of ``fit``).
"""
from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import torch
from torch import nn

from benchmark.data.events import EventSet
from benchmark.evaluation.metrics import classification_metrics
from benchmark.kinds import KindConfigError, get_kind
from benchmark.kinds.jets import JETCLR_CONSTITUENTS
from benchmark.methods.base import Method, MethodConfigError, RunContext
from benchmark.tasks import MethodData
from benchmark.training.algorithms import (ClassifierAlgorithm, ContrastiveAlgorithm, DANNAlgorithm, HeadAlgorithm,
                                           SolvedHead, event_weights)
from benchmark.training.hparams import resolve_sized, training_defaults
from benchmark.training.loop import (Algorithm, LoopConfig, Stream, derive_seed, dist_info, fit, resolve_device,
                                     run_inference)

__all__ = ["effective_config", "TorchMethod", "Classifier", "AugmentedClassifier", "DANN", "Contrastive", "COMMON", "RESUMABLE_KEYS"]


COMMON = {
    "epochs": 1, "batch_size": 64, "lr": 1e-3, "weight_decay": 0.0, "encoder_size": "default",
    "backend": "spconv", "max_train_events": None, "eval_batch_size": 256, "patience": None,
    "optimizer": "adam", "schedule": "constant", "warmup": 0.0, "grad_clip": None,
    "max_constituents": JETCLR_CONSTITUENTS, "augment": {}, "threads": None, "encoder": {}, "per_family": {},
    "ema": None,   # decay per step of a moving average of the weights (LoopConfig.ema); None: off
}
#: keys added after checkpoints were written: at this (off) value they stay out of the checkpoint
#: fingerprint, so those checkpoints still resume
LATER_KEYS_OFF = {"ema": None, "probe_layer": 0}
#: keys that may change between a run and its resumption (they do not change what a checkpoint means;
#: a changed ``epochs`` continues on the learning-rate schedule of the new total, from the saved epoch)
RESUMABLE_KEYS = {"epochs", "finetune_epochs", "patience", "eval_batch_size", "threads", "refit_head"}


def effective_config(config: dict[str, Any], family: str, model_size: str,
                     allowed: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a torch baseline trains with: the family defaults (one table, ``training.hparams``) <-
    method.yaml ``config`` <- its ``per_family`` entry, all at ``model_size``.  Also read by the
    performance harness to cost a preset (``benchmarks/preset_costs.py``)."""
    allowed = COMMON if allowed is None else allowed
    cfg = {**allowed, **training_defaults(family, model_size),
           **{k: resolve_sized(v, model_size) for k, v in config.items()}}
    per = cfg.get("per_family") or {}
    if not isinstance(per, dict):
        raise MethodConfigError("per_family must map a family name to {key: value}")
    for k, v in (per.get(family) or {}).items():
        if k not in allowed or k == "per_family":
            raise MethodConfigError(f"per_family.{family}: unknown config key {k!r}")
        cfg[k] = resolve_sized(v, model_size)
    return cfg


class TorchMethod(Method):
    """Config handling, inputs, streams, model selection and inference shared by the baselines."""

    framework = "pytorch"
    EXTRA: dict[str, Any] = {}

    def __init__(self, config: dict[str, Any], context: RunContext):
        super().__init__(config, context)
        allowed = {**COMMON, **self.EXTRA}
        config = {k: v for k, v in config.items() if not k.startswith("_")}
        unknown = sorted(set(config) - set(allowed))
        if unknown:
            raise MethodConfigError(f"{type(self).__name__}: unknown config key(s) {unknown}; "
                                    f"allowed: {sorted(allowed)}")
        fam = context.family.name
        self.model_size = getattr(context, "model_size", None) or context.size
        if self.model_size not in ("default", "full"):
            raise MethodConfigError(f"model size must be 'default' or 'full', got {self.model_size!r}")
        cfg = effective_config(config, fam, self.model_size, allowed)
        override = getattr(context, "max_train_events", None)
        if override is not None:
            cfg["max_train_events"] = int(override)
        self.cfg = cfg
        if cfg["encoder_size"] not in ("default", "full"):
            raise MethodConfigError(f"encoder_size must be 'default' or 'full', got {cfg['encoder_size']!r}")
        self.kind = context.family.event_kind
        self.event_kind = get_kind(self.kind)
        self.n_classes = context.family.num_classes
        self.epochs = int(context.epochs or cfg["epochs"])
        self._set_threads()
        self.device = resolve_device(context.device)
        self.workdir = context.workdir
        self._inputs_cache: dict[int, Any] = {}
        #: encoder outputs of the fitted model per EventSet (see :meth:`embed`); emptied by every training stage
        self._embeddings: dict[int, tuple[EventSet, np.ndarray]] = {}

    # -- plumbing ---------------------------------------------------------------------------------
    def _set_threads(self) -> None:
        """Config ``threads`` wins; under torchrun on CPU the cores are split between the processes."""
        threads = self.cfg.get("threads")
        if threads is None and self.context.device == "cpu" and int(os.environ.get("LOCAL_WORLD_SIZE", 1)) > 1:
            threads = max(1, (os.cpu_count() or 1) // int(os.environ["LOCAL_WORLD_SIZE"]))
        if threads:
            torch.set_num_threads(int(threads))

    def _encoder(self, **overrides) -> nn.Module:
        return self.event_kind.build_encoder(size=self.cfg["encoder_size"], backend=self.cfg["backend"],
                                             **{**self.cfg["encoder"], **overrides})

    def _augmenter(self):
        try:
            return self.event_kind.augmenter(self.context.family.name, self.cfg["augment"],
                                             max_constituents=self.cfg["max_constituents"])
        except KindConfigError as err:
            raise MethodConfigError(str(err)) from err

    def inputs(self, events: EventSet):
        """The kind's encoder inputs of ``events`` (``idx -> batch``), built once per EventSet."""
        key = id(events)
        if key not in self._inputs_cache or self._inputs_cache[key].events is not events:
            self._inputs_cache[key] = self.event_kind.inputs(events, max_constituents=self.cfg["max_constituents"])
        return self._inputs_cache[key]

    def _cap(self, events: EventSet, what: str) -> EventSet:
        """At most ``max_train_events`` events (a fixed random subset per seed; CPU-sized defaults)."""
        cap = self.cfg["max_train_events"]
        if cap is None or len(events) <= int(cap):
            return events
        rng = np.random.default_rng(derive_seed("subset", what, self.context.seed))
        return events.subset(np.sort(rng.choice(len(events), int(cap), replace=False)))

    def _stream(self, name: str, events: EventSet, batch_size: int) -> Stream:
        inputs = self.inputs(events)
        labels = torch.as_tensor(events.labels) if events.has_labels else None
        weight = event_weights(events)
        weight = None if weight is None else torch.as_tensor(weight, dtype=torch.float32)

        def make_batch(idx):
            t = torch.as_tensor(idx)
            b = {"x": inputs(idx), "y": None if labels is None else labels[t]}
            if weight is not None:
                b["w"] = weight[t]
            return b

        return Stream(name, len(events), make_batch, int(batch_size))

    def _loop_config(self, epochs: int, lr: float, min_batch: int = 1, **overrides) -> LoopConfig:
        c = self.cfg
        kw = dict(epochs=epochs, lr=float(lr), weight_decay=float(c["weight_decay"]), patience=c["patience"],
                  min_batch=min_batch, optimizer=c["optimizer"], schedule=c["schedule"], warmup=float(c["warmup"]),
                  grad_clip=c["grad_clip"], ema=c.get("ema"))
        kw.update(overrides)
        return LoopConfig(**kw)

    def _fingerprint(self, stage: str) -> str:
        # not the protocol: one fit serves every protocol with the same entitlement; what the fit saw
        # (a target sample or not) is part of it
        keep = {k: v for k, v in self.cfg.items() if k not in RESUMABLE_KEYS
                and not (k in LATER_KEYS_OFF and v == LATER_KEYS_OFF[k])}
        return json.dumps({"method": type(self).__name__, "stage": stage, "family": self.context.family.name,
                           "adapt": getattr(self, "_adapt", False), "config": keep}, sort_keys=True, default=str)

    def _fit(self, algorithm: Algorithm, streams: list[Stream], stage: str, epochs: int, lr: float,
             select=None, min_batch: int = 1, **loop):
        self._embeddings.clear()  # the weights are about to change
        result = fit(algorithm, streams, self._loop_config(epochs, lr, min_batch, **loop), seed=self.context.seed,
                     device=str(self.device), checkpoint=self.workdir / f"{stage}.pt", select=select,
                     progress=self.context.progress, desc=f"{type(self).__name__} {stage}",
                     fingerprint=self._fingerprint(stage))
        self.resumed_fit_s += result.resumed_s
        return result

    def _run(self, fn, events: EventSet, desc: str) -> np.ndarray:
        return run_inference(fn, len(events), self.inputs(events), int(self.cfg["eval_batch_size"]), self.device,
                             progress=self.context.progress and dist_info()[0] == 0 and len(events) > 2000,
                             desc=desc)

    def _selector(self, score_fn, validation: EventSet):
        """Model selection on the SOURCE validation split with the family's primary metric."""
        metric = self.context.family.primary_metric
        y, w = validation.labels, event_weights(validation)

        def select() -> float:
            probs = torch.softmax(torch.as_tensor(score_fn(validation)), dim=1).numpy()
            return float(classification_metrics(y, probs, self.n_classes, sample_weight=w)[metric])

        return select

    @staticmethod
    def _probs(logits: np.ndarray) -> np.ndarray:
        return torch.softmax(torch.as_tensor(logits), dim=1).numpy()

    @staticmethod
    def _count(*modules: nn.Module) -> int:
        return int(sum(p.numel() for m in modules for p in m.parameters()))

    def _solve_head(self, train: EventSet, validation: EventSet) -> tuple[SolvedHead, dict]:
        """A linear head on the frozen encoder output, solved: standardised h, L-BFGS logistic regression
        with C chosen on the source validation split (``benchmark.evaluation.fit_linear_probe``, the same
        fit as the benchmark's linear probe). No checkpoint: re-solving from the (checkpointed) encoder
        gives the same head."""
        from benchmark.evaluation import fit_linear_probe

        w = event_weights(train)
        probe, info = fit_linear_probe(self.embed(train), train.labels, self.embed(validation), validation.labels,
                                       self.n_classes, self.context.family.primary_metric, sample_weight=w)
        return SolvedHead(probe, self.n_classes), info

    def embed(self, events: EventSet) -> np.ndarray:
        """The frozen representation (no augmentation; the encoder output h unless :meth:`_frozen_representation`
        says otherwise), computed once per EventSet until the next training
        stage: the runner scores one fitted model under ``robustness`` (:meth:`predict`, a head on h) and
        ``linear_probe`` (h itself) on the same test events; when each protocol made its own pass, scoring
        was 848 s of the 2203 s run time of three ND-LAr classifier seeds (grid, benchmarks/BENCHMARKS.md;
        ``python -m benchmarks.scoring`` times both ways)."""
        cached = self._embeddings.get(id(events))
        if cached is None or cached[0] is not events:   # the EventSet is held, so its id is not reused
            representation = self._frozen_representation()
            representation.eval()
            cached = self._embeddings[id(events)] = (events, self._run(representation, events, "embed"))
        return cached[1].copy()

    def _frozen_representation(self) -> nn.Module:
        """What :meth:`embed` returns: the encoder output (Contrastive may read one layer further)."""
        return self.model.encoder


class _EncoderHead(TorchMethod):
    """A method whose fitted ``self.model`` maps inputs to class logits (``model.logits``)."""

    def _logits(self, events: EventSet) -> np.ndarray:
        """Encoder and head on ``events`` (model selection during training: never cached)."""
        self.model.eval()
        return self._run(self.model.logits, events, "predict")

    def predict(self, events: EventSet) -> np.ndarray:
        """The head on :meth:`embed` (``model.logits`` is ``head(encoder(x))``), in the same batches as
        :meth:`_logits`, so the probabilities are those of a pass through the whole model."""
        self.model.eval()
        h = torch.from_numpy(self.embed(events))
        logits = run_inference(self.model.head, len(h), lambda idx: h[torch.as_tensor(idx)],
                               int(self.cfg["eval_batch_size"]), self.device)
        return self._probs(logits)


class Classifier(_EncoderHead):
    """Encoder + linear head trained with cross-entropy on labelled source train (no augmentation).

    ``refit_head: true``: after training (best epoch on the source validation split), the linear head is
    re-solved on the frozen encoder's output for the clean (un-augmented) source train events, C chosen on
    the source validation split (:meth:`TorchMethod._solve_head`). Why: the augmented classifier's head
    was fitted to embeddings of augmented views, but test events arrive un-augmented; re-training only the
    last layer on the data the model will be applied to is the "classifier re-training" of Kang et al. 2020
    (arXiv:1910.09217) and the last-layer re-training of Kirichenko et al. 2023 (arXiv:2204.02937).
    """

    augment = False
    EXTRA: dict[str, Any] = {"refit_head": False}

    def fit(self, data: MethodData) -> None:
        self._adapt = False
        enc = self._encoder()
        self.model = ClassifierAlgorithm(enc, self.n_classes, self._augmenter() if self.augment else None)
        train = self._cap(data.train, "train")
        self.history = self._fit(self.model, [self._stream("source", train, self.cfg["batch_size"])], "classifier",
                                 self.epochs, self.cfg["lr"], select=self._selector(self._logits, data.validation))
        self.solved_head = None
        if self.cfg["refit_head"]:
            self.model.eval()
            self.solved_head, self.head_info = self._solve_head(train, data.validation)

    def predict(self, events: EventSet) -> np.ndarray:
        if getattr(self, "solved_head", None) is not None:
            self.model.eval()
            return self.solved_head.predict_proba(self.embed(events))
        return super().predict(events)

    def num_parameters(self) -> int:
        if getattr(self.context, "protocol", None) == "linear_probe":
            return self._count(self.model.encoder)
        if getattr(self, "solved_head", None) is not None:
            return self._count(self.model.encoder) + self.solved_head.n_parameters
        return self._count(self.model.encoder, self.model.head)


class AugmentedClassifier(Classifier):
    """The classifier with the contrastive augmentation set applied to each training sample."""

    augment = True


class DANN(_EncoderHead):
    """Domain-adversarial training: label head on source, domain head behind gradient reversal."""

    #: ``augment_views: true``: every source and target training event is seen as one random view of the
    #: augmentation set (``augment``), as the augmented classifier's source events
    EXTRA = {"grl_coeff": 1.0, "domain_weight": 1.0, "grn": False, "grl_schedule": "constant", "domain_hidden": 0,
             "augment_views": False}

    def fit(self, data: MethodData) -> None:
        if not data.unlabelled:
            raise ValueError("DANN needs unlabelled target-domain events: run it under the domain_shift protocol "
                             "(python -m benchmark run baselines/dann --protocol domain_shift --target <domain>)")
        (target_name, target), = data.unlabelled.items()
        self._adapt = True
        # study: the DANN encoder has no GRN (arXiv:2502.07724); the kind says what that means for its encoder
        encoder = self._encoder(**self.event_kind.dann_encoder_overrides(self.cfg))
        self.model = DANNAlgorithm(encoder, self.n_classes, self.cfg["grl_coeff"], self.cfg["domain_weight"],
                                   self.cfg["grl_schedule"], kind=self.event_kind,
                                   domain_hidden=self.cfg["domain_hidden"],
                                   augmenter=self._augmenter() if self.cfg["augment_views"] else None)
        bs = int(self.cfg["batch_size"])
        streams = [self._stream("source", self._cap(data.train, "train"), bs),
                   self._stream("target", self._cap(target, "target"), bs)]
        self.history = self._fit(self.model, streams, "dann", self.epochs, self.cfg["lr"],
                                 select=self._selector(self._logits, data.validation))

    def num_parameters(self) -> int:
        return self._count(self.model.encoder, self.model.head)


class Contrastive(TorchMethod):
    """Contrastive pre-training (alpha: 0 SimCLR .. 1 SupCon), then a linear probe (benchmark) or fine-tuning."""

    EXTRA = {"alpha": 0.0, "temperature": 0.1, "finetune_epochs": 50, "finetune_lr": 1e-3,
             "finetune_batch_size": 256, "finetune_encoder": False, "finetune_solver": "lbfgs",
             # the frozen representation the head and the linear probe read: 0 = the encoder output h (the
             # study's: the projection head is dropped), 1 = h after the projection head's first Linear + ReLU
             # (JetCLR's linear classifier test default, bmdillon/JetCLR @90b02f9, arXiv:2108.04253)
             "probe_layer": 0}
    #: the linear head on frozen features: plain Adam, constant lr (JetCLR's linear classifier test)
    HEAD_LOOP = {"optimizer": "adam", "schedule": "constant", "warmup": 0.0, "weight_decay": 0.0, "grad_clip": None}

    def fit(self, data: MethodData) -> None:
        alpha = float(self.cfg["alpha"])
        if not 0.0 <= alpha <= 1.0:
            raise MethodConfigError(f"alpha must lie in [0, 1] (0 = SimCLR, 1 = SupCon), got {alpha}")
        self._adapt = bool(data.unlabelled)
        self.model = ContrastiveAlgorithm(self._encoder(), self._augmenter(), alpha, float(self.cfg["temperature"]),
                                          kind=self.event_kind)
        bs = int(self.cfg["batch_size"])
        train = self._cap(data.train, "train")
        if data.unlabelled:
            (_, target), = data.unlabelled.items()
            # half of every batch from labelled source, half from the unlabelled target sample
            streams = [self._stream("source", train, max(2, bs // 2)),
                       self._stream("target", self._cap(target, "target"), max(2, bs - bs // 2))]
        else:
            streams = [self._stream("source", train, bs)]
        self.pretrain_history = self._fit(self.model, streams, "pretrain", self.epochs, self.cfg["lr"],
                                          min_batch=2 if not data.unlabelled else 1)
        # the linear head is trained here whatever the protocol (cheap on frozen features), so that the
        # same fitted object serves predict() (robustness, domain_shift) and embed() (linear_probe)
        self.classifier = None
        # ``--epochs`` overrides the pre-training; a head on frozen features keeps its own (cheap)
        # ``finetune_epochs``, full fine-tuning of the encoder follows the override too
        ft_epochs = int(self.cfg["finetune_epochs"])
        if self.cfg["finetune_encoder"] and self.context.epochs:
            ft_epochs = int(self.context.epochs)
        if self.cfg["finetune_encoder"]:
            self.classifier = ClassifierAlgorithm(self.model.encoder, self.n_classes)
            self.finetune_history = self._fit(
                self.classifier, [self._stream("source", train, self.cfg["finetune_batch_size"])], "finetune",
                ft_epochs, self.cfg["finetune_lr"], select=self._selector(self._ft_logits, data.validation))
        else:
            self.model.encoder.eval()
            for p in self.model.encoder.parameters():
                p.requires_grad_(False)
            if self.cfg["finetune_solver"] == "lbfgs":
                # the head on frozen features is a convex problem: solve it instead of running Adam on it.
                # Measured on jets (SimCLR, 12k events): the Adam head (lr 1e-3, 30 epochs) reached
                # validation AUC 0.79, still creeping up (heavy-tailed pT-weighted features), test AUC 0.798;
                # L-BFGS on the same features: test AUC 0.945 (docs/learning_curves.md, "jets/simclr").
                self.classifier, self.finetune_history = self._solve_head(train, data.validation)
                return
            if self.cfg["finetune_solver"] != "adam":
                raise MethodConfigError(f"finetune_solver must be 'lbfgs' or 'adam', got {self.cfg['finetune_solver']!r}")
            feats = torch.from_numpy(self.embed(train))
            val_feats = torch.from_numpy(self.embed(data.validation))
            labels = torch.as_tensor(train.labels)
            w = event_weights(train)
            w = None if w is None else torch.as_tensor(w, dtype=torch.float32)

            def make_batch(idx):
                t = torch.as_tensor(idx)
                return {"x": feats[t], "y": labels[t], **({} if w is None else {"w": w[t]})}

            self.classifier = HeadAlgorithm(feats, self.n_classes)

            def head_scores(_events):
                with torch.no_grad():
                    return self.classifier.logits(val_feats.to(self.device)).cpu().numpy()

            self.finetune_history = self._fit(
                self.classifier, [Stream("source", len(train), make_batch, int(self.cfg["finetune_batch_size"]))],
                "finetune", ft_epochs, self.cfg["finetune_lr"], select=self._selector(head_scores, data.validation),
                **{**self.HEAD_LOOP, "patience": self.cfg["patience"]})

    def _ft_logits(self, events: EventSet) -> np.ndarray:
        self.classifier.eval()
        fn = self.classifier.logits if isinstance(self.classifier, ClassifierAlgorithm) \
            else (lambda x: self.classifier.logits(self._frozen_representation()(x)))
        return self._run(fn, events, "predict")

    def predict(self, events: EventSet) -> np.ndarray:
        if getattr(self, "classifier", None) is None:
            raise RuntimeError("Contrastive.predict needs a fitted model: call fit() first")
        self.model.encoder.eval()
        if isinstance(self.classifier, SolvedHead):
            return self.classifier.predict_proba(self.embed(events))
        return self._probs(self._ft_logits(events))

    def _frozen_representation(self) -> nn.Module:
        layer = self.cfg["probe_layer"]
        if layer not in (0, 1):
            raise MethodConfigError(f"probe_layer must be 0 (the encoder output) or 1 (after the projection head's "
                                    f"first layer), got {layer!r}")
        if layer == 0:
            return self.model.encoder
        return nn.Sequential(self.model.encoder, *list(self.model.projection)[:2])

    def num_parameters(self) -> int:
        if getattr(self, "classifier", None) is None or getattr(self.context, "protocol", None) == "linear_probe":
            return self._count(self._frozen_representation())
        if isinstance(self.classifier, SolvedHead):
            return self._count(self._frozen_representation()) + self.classifier.n_parameters
        return self._count(self.model.encoder, self.classifier.head)
