"""The baselines' training algorithms (DomainBed-style ``update(batch) -> losses``) and their loss helpers.

Each is a :class:`~benchmark.training.loop.Algorithm` trained by the one loop
:func:`benchmark.training.loop.fit`; the methods that build them are in :mod:`benchmark.methods.torch`.
What depends on the event kind (joining a source and a target batch, counting its events, the
augmentation set) comes from the :class:`~benchmark.kinds.base.EventKind` they are given, so one
algorithm serves every kind.

* :class:`ClassifierAlgorithm` — encoder + linear head, cross-entropy (optionally one augmented view);
* :class:`HeadAlgorithm` / :class:`SolvedHead` — a linear head on frozen features, by Adam / by L-BFGS;
* :class:`DANNAlgorithm` — label loss + domain loss behind gradient reversal (Ganin et al. 2016);
* :class:`ContrastiveAlgorithm` — two views, projection head, the one contrastive loss (SimCLR .. SupCon).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.data.events import EventSet
from benchmark.methods.interface import MethodConfigError
from benchmark.models.heads import DomainHead, LinearHead, ProjectionHead
from benchmark.training.loop import Algorithm
from benchmark.training.losses import ContrastiveLoss

if TYPE_CHECKING:
    from benchmark.kinds.base import EventKind

__all__ = ["ClassifierAlgorithm", "HeadAlgorithm", "SolvedHead", "DANNAlgorithm", "ContrastiveAlgorithm",
           "weighted_ce", "event_weights"]


def event_weights(events: EventSet):
    """Per-event training weights where a labelled split ships them (ATLAS rule 1), else None."""
    meta = getattr(events, "meta", None) or {}
    w = meta.get("weight")
    return None if w is None or not events.has_labels else w


def weighted_ce(logits, y, w=None):
    """Cross-entropy, weighted by per-event training weights where a dataset ships them (ATLAS rule 1)."""
    if w is None:
        return F.cross_entropy(logits, y)
    per = F.cross_entropy(logits, y, reduction="none")
    return (per * w).sum() / w.sum().clamp_min(1e-12)



class ClassifierAlgorithm(Algorithm):
    """Encoder -> linear head, cross-entropy; optionally one augmented view per training sample."""

    def __init__(self, encoder: nn.Module, n_classes: int, augmenter=None):
        super().__init__()
        self.encoder, self.head, self.augmenter = encoder, LinearHead(encoder.out_dim, n_classes), augmenter

    def update(self, batch):
        b = batch["source"]
        x = self.augmenter.view(b["x"], self.generator) if self.augmenter is not None else b["x"]
        logits = self.head(self.encoder(x))
        return {"loss": weighted_ce(logits, b["y"], b.get("w")),
                "accuracy": (logits.argmax(1) == b["y"]).float().mean().detach()}

    def logits(self, x):
        return self.head(self.encoder(x))


class HeadAlgorithm(Algorithm):
    """A linear head on standardised precomputed (frozen-encoder) features: fine-tuning without the encoder.

    The features are standardised with the training split's mean and standard deviation (stored as
    buffers), as in the study's linear evaluation (arXiv:2502.07724): raw h can have any scale.
    """

    def __init__(self, train_features: torch.Tensor, n_classes: int):
        super().__init__()
        self.register_buffer("mean", train_features.mean(0))
        self.register_buffer("std", train_features.std(0).clamp_min(1e-6))
        self.head = LinearHead(train_features.shape[1], n_classes)

    def logits(self, h):
        return self.head((h - self.mean) / self.std)

    def update(self, batch):
        b = batch["source"]
        logits = self.logits(b["x"])
        return {"loss": weighted_ce(logits, b["y"], b.get("w")),
                "accuracy": (logits.argmax(1) == b["y"]).float().mean().detach()}


class SolvedHead:
    """A linear head on frozen features fitted by L-BFGS (``benchmark.evaluation.fit_linear_probe``)."""

    def __init__(self, pipeline, n_classes: int):
        self.pipeline, self.n_classes = pipeline, n_classes
        lr = pipeline[-1]
        self.n_parameters = int(lr.coef_.size + lr.intercept_.size)

    def predict_proba(self, h: np.ndarray) -> np.ndarray:
        from benchmark.evaluation import full_proba

        return full_proba(self.pipeline, h, self.n_classes).astype(np.float32)


class DANNAlgorithm(Algorithm):
    """Label loss on labelled source + domain loss (through gradient reversal) on source and target."""

    def __init__(self, encoder: nn.Module, n_classes: int, grl_coeff: float = 1.0, domain_weight: float = 1.0,
                 grl_schedule: str = "constant", *, kind: EventKind, domain_hidden: int = 0, augmenter=None):
        super().__init__()
        self.kind, self.augmenter = kind, augmenter
        if grl_schedule not in ("constant", "ganin"):
            raise MethodConfigError(f"grl_schedule must be 'constant' or 'ganin', got {grl_schedule!r}")
        self.encoder = encoder
        self.head = LinearHead(encoder.out_dim, n_classes)
        self.domain = DomainHead(encoder.out_dim, 2, coeff=grl_coeff, hidden=int(domain_hidden))
        self.domain_weight = float(domain_weight)
        self.grl_coeff, self.grl_schedule = float(grl_coeff), grl_schedule

    def update(self, batch):
        # Ganin et al. 2016 (arXiv:1505.07818, section 5.2.2): lambda_p = 2 / (1 + exp(-10 p)) - 1 ramps the
        # reversed gradient from 0 to 1 over training (p = progress), so the label head learns first
        if self.grl_schedule == "ganin":
            self.domain.grl.coeff = self.grl_coeff * (2.0 / (1.0 + math.exp(-10.0 * self.progress)) - 1.0)
        src, tgt = batch["source"], batch["target"]
        n_s = self.kind.batch_len(src["x"])
        x = self.kind.concat(src["x"], tgt["x"])
        # one random view of every source AND target event: augmenting only the source would hand the domain
        # head "augmented or not" as a domain cue
        x = self.augmenter.view(x, self.generator) if self.augmenter is not None else x
        h = self.encoder(x)
        logits = self.head(h[:n_s])
        label_loss = weighted_ce(logits, src["y"], src.get("w"))
        d_true = torch.cat([torch.zeros(n_s, dtype=torch.long), torch.ones(h.shape[0] - n_s, dtype=torch.long)])
        d_logits = self.domain(h)
        domain_loss = F.cross_entropy(d_logits, d_true.to(h.device))
        return {"loss": label_loss + self.domain_weight * domain_loss, "label_loss": label_loss.detach(),
                "domain_loss": domain_loss.detach(),
                "domain_accuracy": (d_logits.argmax(1) == d_true.to(h.device)).float().mean().detach()}

    def logits(self, x):
        return self.head(self.encoder(x))


class ContrastiveAlgorithm(Algorithm):
    """Two augmented views -> encoder -> projection head -> the one contrastive loss (alpha, temperature)."""

    def __init__(self, encoder: nn.Module, augmenter, alpha: float, temperature: float, *, kind: EventKind):
        super().__init__()
        self.encoder, self.augmenter, self.kind = encoder, augmenter, kind
        self.projection = ProjectionHead(encoder.out_dim)
        self.loss = ContrastiveLoss(alpha=alpha, temperature=temperature)

    def update(self, batch):
        parts = [batch[name] for name in ("source", "target") if name in batch]
        x, labels = parts[0]["x"], [parts[0]["y"]]
        for p in parts[1:]:
            x = self.kind.concat(x, p["x"])
            n = self.kind.batch_len(p["x"])
            # unlabelled events get unique negative labels: their only positive is their own other view,
            # and they are never a same-class positive of a labelled event
            labels.append(-1 - torch.arange(n, device=labels[0].device) if p["y"] is None else p["y"])
        v1, v2 = self.augmenter.views(x, self.generator)
        z1, z2 = self.projection(self.encoder(v1)), self.projection(self.encoder(v2))
        y = torch.cat(labels) if self.loss.alpha > 0 else None
        return {"loss": self.loss(z1, z2, y)}
