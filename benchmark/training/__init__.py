"""Training machinery shared by every PyTorch baseline.

* :mod:`benchmark.training.losses` — the one contrastive loss (alpha: 0 = SimCLR, 1 = SupCon);
* :mod:`benchmark.training.loop` — the one training loop (minibatching, Adam, progress, checkpoints and
  resume, model selection on the source validation split, DistributedDataParallel under ``torchrun``)
  and the :class:`~benchmark.training.loop.Algorithm` API the baselines implement;
* :mod:`benchmark.training.algorithms` — the baselines' algorithms (classifier, heads on frozen features,
  DANN, contrastive) and their loss helpers, the same for every event kind;
* :mod:`benchmark.training.hparams` — the one table of training defaults per family and model size.

Modules are imported directly (``from benchmark.training.loop import fit``); this file imports nothing
so that ``import benchmark.training.losses`` stays cheap.
"""
