"""The one training loop of the PyTorch baselines (DomainBed-style algorithms on top of it).

An :class:`Algorithm` is an ``nn.Module`` whose ``update(batch)`` returns a dict of loss tensors with a
``"loss"`` entry; :func:`fit` owns everything around it, identically for every baseline:

* minibatching over one or more :class:`Stream` s (index sets with a ``make_batch(indices)``, e.g. an
  EventSet and the lead's collate functions). The first stream defines an epoch; the others (e.g. the
  unlabelled target sample of DANN) are cycled alongside it, ``batch`` = ``{stream name: batch}``;
* determinism: the shuffling of epoch ``e`` comes from a ``torch.Generator`` seeded by ``(seed, e)``,
  augmentations from ``algorithm.generator`` seeded by ``(seed, e, rank)``, and the global torch RNG
  (dropout, head initialisation) from ``(seed, e, rank)`` as well — so an interrupted run resumed from
  its checkpoint computes exactly what an uninterrupted one would have;
* the optimiser recipe of :class:`LoopConfig`: AdamW (decoupled weight decay, Loshchilov and Hutter
  2019, arXiv:1711.05101; no decay on biases and normalisation parameters) or Adam, a learning rate
  set every step from the global step (linear warm-up, then cosine decay, Loshchilov and Hutter 2017,
  arXiv:1608.03983; stateless, so a resumed run follows the same schedule), optional gradient
  clipping, optional weight averaging (``ema``: an exponential moving average of the weights, Polyak
  and Juditsky 1992, as timm's ``ModelEmaV2``; selection, early stopping and the final model then use the
  averaged weights); ``algorithm.progress`` (0 -> 1 over training) is set before every update for algorithms
  with schedules of their own (DANN's gradient-reversal ramp); device handling (``cpu`` / ``cuda``);
* a tqdm bar per epoch with the running loss and events/s;
* a checkpoint after every epoch (atomic ``torch.save``: model, optimizer, epoch, best model so far,
  RNG states, history) and resume from it; a checkpoint written with other settings is refused;
* optional model selection / early stopping on a score computed by ``select()`` (callers pass the
  SOURCE validation split only — the protocols forbid anything else);
* DistributedDataParallel when launched by ``torchrun`` (``WORLD_SIZE`` > 1): gloo on CPU, nccl on CUDA,
  every epoch's permutation sharded over ranks like ``DistributedSampler`` (padded to equal length so
  all ranks take the same number of steps), the global batch split over ranks, rank 0 alone writes
  checkpoints.
"""
from __future__ import annotations

import copy
import hashlib
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

__all__ = ["Algorithm", "Stream", "LoopConfig", "LoopResult", "fit", "run_inference", "dist_info",
           "setup_distributed", "resolve_device", "derive_seed", "save_atomic", "to_device", "CheckpointMismatch",
           "make_optimizer"]

CHECKPOINT_FORMAT = 1


class CheckpointMismatch(RuntimeError):
    """A checkpoint in the work folder was written by a run with different settings."""


class Algorithm(nn.Module):
    """Base of the baselines' algorithms (DomainBed's ``Algorithm`` without the optimizer inside).

    Subclasses implement ``update(batch) -> {"loss": tensor, ...}``; the loop does backward and the
    optimizer step, so that DDP (which hooks ``forward``) and checkpointing stay in one place.
    ``self.generator`` is the augmentation RNG the loop seeds per epoch and rank.
    """

    def __init__(self):
        super().__init__()
        self.generator = torch.Generator()
        self.progress = 0.0   # fraction of the training done, set by the loop before every update

    def update(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def forward(self, batch):
        return self.update(batch)


@dataclass
class Stream:
    """``size`` items, turned into a batch by ``make_batch(indices: np.ndarray)``; ``batch_size`` is global."""

    name: str
    size: int
    make_batch: Callable[[np.ndarray], Any]
    batch_size: int

    def __post_init__(self):
        if self.size < 1:
            raise ValueError(f"training stream {self.name!r} is empty: nothing to train on")
        if self.batch_size < 1:
            raise ValueError(f"batch_size of stream {self.name!r} must be >= 1, got {self.batch_size}")


@dataclass
class LoopConfig:
    epochs: int
    lr: float = 1e-4  # the study's Adam learning rate (arXiv:2502.07724 code, no_lightning/)
    weight_decay: float = 0.0
    patience: int | None = None   # stop after this many epochs without a better select() score
    min_batch: int = 1            # per-rank batches smaller than this are skipped (contrastive needs 2)
    grad_clip: float | None = None
    optimizer: str = "adam"       # "adam" (the study's) or "adamw"
    schedule: str = "constant"    # "constant" or "cosine" (after the warm-up)
    warmup: float = 0.0           # fraction of all steps with a linear warm-up (0 = none)
    min_lr_ratio: float = 0.0     # cosine ends at lr * min_lr_ratio
    ema: float | None = None      # decay per step of the weights' moving average (None: off; e.g. 0.999)

    def __post_init__(self):
        if int(self.epochs) < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.lr <= 0:
            raise ValueError(f"the learning rate must be > 0, got {self.lr}")
        if self.optimizer not in ("adam", "adamw"):
            raise ValueError(f"optimizer must be 'adam' or 'adamw', got {self.optimizer!r}")
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"schedule must be 'constant' or 'cosine', got {self.schedule!r}")
        if not 0.0 <= self.warmup < 1.0:
            raise ValueError(f"warmup is a fraction of the training steps in [0, 1), got {self.warmup}")
        if self.ema is not None and not 0.0 < self.ema < 1.0:
            raise ValueError(f"ema is the moving average's decay per step in (0, 1) (or None: off), got {self.ema}")

    def lr_at(self, step: int, total: int) -> float:
        """Learning rate of global step ``step`` (0-based) of ``total``: linear warm-up, then constant/cosine."""
        warm = math.ceil(self.warmup * total)
        if step < warm:
            return self.lr * (step + 1) / warm
        if self.schedule == "constant":
            return self.lr
        t = (step - warm) / max(1, total - warm)
        return self.lr * (self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def make_optimizer(params_named, cfg: LoopConfig) -> torch.optim.Optimizer:
    """Adam or AdamW; with AdamW, biases and normalisation/GRN parameters (ndim <= 1) get no decay."""
    params = [(n, p) for n, p in params_named if p.requires_grad]
    if cfg.optimizer == "adam":
        return torch.optim.Adam([p for _, p in params], lr=cfg.lr, weight_decay=cfg.weight_decay)
    decay = [p for _, p in params if p.ndim > 1]
    no_decay = [p for _, p in params if p.ndim <= 1]
    groups = [g for g in ({"params": decay, "weight_decay": cfg.weight_decay},
                          {"params": no_decay, "weight_decay": 0.0}) if g["params"]]
    return torch.optim.AdamW(groups, lr=cfg.lr)


@dataclass
class LoopResult:
    start_epoch: int                 # epochs already done in the checkpoint this call resumed from
    epochs_done: int                 # epochs done after this call
    best_epoch: int | None = None    # 1-based epoch whose weights were kept (model selection)
    best_score: float | None = None
    stopped_early: bool = False
    history: list[dict] = field(default_factory=list)

    @property
    def resumed_s(self) -> float:
        """Seconds the earlier process(es) spent on the epochs taken over from the checkpoint: each epoch's
        ``epoch_s`` (training + model selection), or its ``train_s`` in checkpoints written before it."""
        return float(sum(h.get("epoch_s", h.get("train_s", 0.0)) for h in self.history[:self.start_epoch]))


# ---------------------------------------------------------------------------------------------- utils
def derive_seed(*parts) -> int:
    """A 63-bit seed from any tuple of ints/strings (stable across processes and Python versions)."""
    digest = hashlib.sha256(repr(tuple(parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def dist_info() -> tuple[int, int, int]:
    """(rank, world_size, local_rank); (0, 1, 0) outside ``torchrun``."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0))
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def setup_distributed(device: str = "cpu") -> bool:
    """Join the process group ``torchrun`` prepared (WORLD_SIZE > 1); returns whether training is distributed."""
    if int(os.environ.get("WORLD_SIZE", 1)) <= 1:
        return False
    if not dist.is_initialized():
        backend = "nccl" if str(device).startswith("cuda") else "gloo"
        dist.init_process_group(backend=backend)
    return dist.get_world_size() > 1


def resolve_device(device: str = "cpu") -> torch.device:
    """``cpu`` / ``cuda`` / ``cuda:k``; under torchrun ``cuda`` means this process's GPU (LOCAL_RANK)."""
    device = str(device)
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {device!r} asked for, but torch {torch.__version__} sees no CUDA device; "
                               "use --device cpu")
        if device == "cuda":   # torch.cuda.set_device needs an index
            distributed = int(os.environ.get("WORLD_SIZE", 1)) > 1
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0)) if distributed else torch.cuda.current_device()}"
        dev = torch.device(device)
        torch.cuda.set_device(dev)
        return dev
    if device != "cpu":
        raise ValueError(f"unknown device {device!r}: use 'cpu', 'cuda' or 'cuda:<index>'")
    return torch.device("cpu")


def to_device(obj, device):
    """Move tensors inside (nested) tuples/lists/dicts to ``device``; other objects pass through."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, device) for v in obj)
    return obj


def save_atomic(obj, path: Path) -> None:
    """``torch.save`` to a temporary file in the same folder, then ``os.replace`` (never a half-written file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class WeightAverage:
    """Exponential moving average of an algorithm's floating-point state (weights and buffers).

    The decay ramps up as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates (timm's ``ModelEmaV2``
    warm-up, from TensorFlow's ``ExponentialMovingAverage(num_updates=...)``), so the first steps' random
    weights are forgotten quickly; integer buffers are copied.
    """

    def __init__(self, module: nn.Module, decay: float, state: dict | None = None):
        self.decay = decay
        self.updates = 0 if state is None else int(state["updates"])
        src = module.state_dict() if state is None else state["average"]
        self.average = {k: v.detach().clone().to(module.state_dict()[k].device) for k, v in src.items()}

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for k, v in module.state_dict().items():
            if v.is_floating_point():
                self.average[k].mul_(d).add_(v.detach(), alpha=1 - d)
            else:
                self.average[k].copy_(v)

    def state(self) -> dict:
        return {"updates": self.updates, "average": {k: v.detach().cpu() for k, v in self.average.items()}}


def _rng_state() -> dict:
    """Global RNG states in a form ``torch.load(weights_only=True)`` accepts (tensors, ints, tuples)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), int(pos),
                                                       int(has_gauss), float(cached)),
             "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _epoch_order(size: int, n_needed: int, generator: torch.Generator) -> np.ndarray:
    """``n_needed`` indices: concatenated random permutations of ``range(size)``."""
    reps = max(1, math.ceil(n_needed / size))
    return torch.cat([torch.randperm(size, generator=generator) for _ in range(reps)]).numpy()[:n_needed]


def _plan_epoch(streams: list[Stream], seed: int, epoch: int, rank: int, world: int, min_batch: int):
    """Per-rank index batches of every stream for one epoch (same number of steps on every rank)."""
    g = torch.Generator().manual_seed(derive_seed("shuffle", seed, epoch))
    first = streams[0]
    per_rank = math.ceil(first.size / world)
    order = _epoch_order(first.size, per_rank * world, g)  # padded like DistributedSampler
    shard = order[rank::world]
    bs = max(1, first.batch_size // world)
    n_steps = math.ceil(len(shard) / bs)
    plans = {first.name: [shard[i * bs:(i + 1) * bs] for i in range(n_steps)]}
    for s in streams[1:]:
        sbs = max(1, s.batch_size // world)
        order = _epoch_order(s.size, n_steps * sbs * world, g)
        sh = order[rank::world]
        plans[s.name] = [sh[i * sbs:(i + 1) * sbs] for i in range(n_steps)]
    keep = [i for i in range(n_steps) if all(len(p[i]) >= min_batch for p in plans.values())]
    return [{name: p[i] for name, p in plans.items()} for i in keep]


# ------------------------------------------------------------------------------------------ the loop
def fit(algorithm: Algorithm, streams: list[Stream], cfg: LoopConfig, *, seed: int, device: str = "cpu",
        checkpoint: str | os.PathLike | None = None, select: Callable[[], float] | None = None,
        progress: bool = True, desc: str = "train", fingerprint: str = "") -> LoopResult:
    """Train ``algorithm`` on ``streams`` for ``cfg.epochs`` epochs (resuming from ``checkpoint``).

    ``select()`` (higher is better) is called after every epoch on every rank; the best epoch's weights
    are kept and loaded at the end, and ``cfg.patience`` stops training early. ``fingerprint`` names the
    settings; a checkpoint with another fingerprint is refused rather than silently mixed in.
    """
    if not streams:
        raise ValueError("fit() needs at least one training stream")
    distributed = setup_distributed(device)
    rank, world, _ = dist_info()
    dev = resolve_device(device)
    algorithm.to(dev)
    params = [p for p in algorithm.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"{type(algorithm).__name__} has no trainable parameters")
    optimizer = make_optimizer(algorithm.named_parameters(), cfg)
    model = algorithm
    if distributed:
        model = nn.parallel.DistributedDataParallel(algorithm, device_ids=[dev.index] if dev.type == "cuda" else None)

    result = LoopResult(start_epoch=0, epochs_done=0)
    best_state = None
    average = None
    ckpt_path = Path(checkpoint) if checkpoint is not None else None
    if ckpt_path is not None and ckpt_path.exists():
        state = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        if state.get("format") != CHECKPOINT_FORMAT or state.get("fingerprint") != fingerprint \
                or state.get("seed") != seed:
            raise CheckpointMismatch(
                f"{ckpt_path} was written by a run with other settings (seed/config/format differ); "
                f"delete it (or the whole seed folder) to start afresh, or rerun with the original settings")
        algorithm.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if cfg.ema is not None:
            average = WeightAverage(algorithm, cfg.ema, state.get("ema"))
        _set_rng_state(state["rng"])
        result.start_epoch = result.epochs_done = int(state["epoch"])
        result.history = list(state["history"])
        result.stopped_early = bool(state["stopped_early"])
        if state["best"] is not None:
            best_state = state["best"]["model"]
            result.best_epoch, result.best_score = state["best"]["epoch"], state["best"]["score"]
    since_best = 0 if result.best_epoch is None else result.epochs_done - result.best_epoch
    if cfg.ema is not None and average is None:
        average = WeightAverage(algorithm, cfg.ema)

    for epoch in range(result.epochs_done, int(cfg.epochs)):
        if result.stopped_early:
            break
        torch.manual_seed(derive_seed("global", seed, epoch, rank))
        algorithm.generator.manual_seed(derive_seed("augment", seed, epoch, rank))
        plan = _plan_epoch(streams, seed, epoch, rank, world, cfg.min_batch)
        if not plan:
            raise ValueError(f"no batch of at least {cfg.min_batch} events per process: the training set "
                             f"({streams[0].size} events) is too small for {world} process(es)")
        model.train()
        sums: dict[str, float] = {}
        n_events, t0 = 0, time.perf_counter()
        total_steps = len(plan) * int(cfg.epochs)
        bar = _progress(plan, desc=f"{desc} epoch {epoch + 1}/{cfg.epochs}", enabled=progress and rank == 0)
        for i_step, step in enumerate(bar):
            global_step = epoch * len(plan) + i_step
            lr = cfg.lr_at(global_step, total_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            algorithm.progress = global_step / max(1, total_steps)
            batch = {s.name: to_device(s.make_batch(step[s.name]), dev) for s in streams}
            losses = model(batch)
            if "loss" not in losses:
                raise KeyError(f"{type(algorithm).__name__}.update() must return a dict with a 'loss' entry")
            optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            optimizer.step()
            if average is not None:
                average.update(algorithm)
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            n_events += sum(len(ix) for ix in step.values())
            rate = n_events * world / max(time.perf_counter() - t0, 1e-9)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{float(losses['loss'].detach()):.4f}", ev_s=f"{rate:.0f}")
        record = {"epoch": epoch + 1, **{k: v / len(plan) for k, v in sums.items()}, "lr": lr,
                  "steps": len(plan), "train_s": time.perf_counter() - t0,
                  "events_per_s": n_events * world / max(time.perf_counter() - t0, 1e-9)}
        if select is not None:
            model.eval()
            if average is not None:   # score the averaged weights, then train on from the raw ones
                raw = {k: v.detach().clone() for k, v in algorithm.state_dict().items()}
                algorithm.load_state_dict(average.average)
            score = float(select())
            record["select"] = score
            if result.best_score is None or (score > result.best_score) or not math.isfinite(result.best_score):
                result.best_score, result.best_epoch, since_best = score, epoch + 1, 0
                best_state = copy.deepcopy({k: v.detach().cpu() for k, v in algorithm.state_dict().items()})
            else:
                since_best += 1
            if average is not None:
                algorithm.load_state_dict(raw)
            if cfg.patience is not None and since_best >= cfg.patience:
                result.stopped_early = True
        record["epoch_s"] = time.perf_counter() - t0   # training + model selection: what a resumed run reuses
        result.history.append(record)
        result.epochs_done = epoch + 1
        if progress and rank == 0:
            _log_epoch(desc, record, cfg.epochs)
        if ckpt_path is not None:
            if rank == 0:
                save_atomic({"format": CHECKPOINT_FORMAT, "fingerprint": fingerprint, "seed": seed,
                             "epoch": epoch + 1, "model": algorithm.state_dict(), "optimizer": optimizer.state_dict(),
                             "best": None if best_state is None else {"model": best_state, "epoch": result.best_epoch,
                                                                      "score": result.best_score},
                             "history": result.history, "stopped_early": result.stopped_early,
                             "rng": _rng_state(), "ema": None if average is None else average.state()}, ckpt_path)
            if distributed:
                dist.barrier()
    if best_state is not None:
        algorithm.load_state_dict(best_state)
    elif average is not None:   # no model selection: the averaged weights are the model
        algorithm.load_state_dict(average.average)
    model.eval()
    return result


def _log_epoch(desc: str, record: dict, epochs: int) -> None:
    """One line per epoch: losses, validation score, learning rate, throughput."""
    keys = [k for k in record if k not in ("epoch", "lr", "steps", "train_s", "epoch_s", "events_per_s",
                                                  "select")]
    parts = [f"{k} {record[k]:.4f}" for k in keys]
    if "select" in record:
        parts.append(f"val {record['select']:.4f}")
    print(f"[simshift] {desc} epoch {record['epoch']}/{epochs}: " + ", ".join(parts)
          + f", lr {record['lr']:.2e}, {record['events_per_s']:.0f} ev/s", flush=True)


def _progress(items, desc: str, enabled: bool):
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, leave=False, dynamic_ncols=True)


@torch.no_grad()
def run_inference(fn: Callable[[Any], torch.Tensor], n: int, make_batch: Callable[[np.ndarray], Any],
                  batch_size: int, device: str | torch.device = "cpu", progress: bool = False,
                  desc: str = "predict") -> np.ndarray:
    """``fn`` over ``range(n)`` in order, ``batch_size`` at a time, concatenated into a float32 numpy array.

    PyTorch's inference "fast path" of ``nn.TransformerEncoderLayer`` (taken under no_grad in eval mode)
    returns NaN with the jet encoder's per-head float attention mask (torch 2.13, CPU), so it is switched
    off here: inference then runs the same kernels as training.
    """
    out = []
    dev = torch.device(device)
    starts = range(0, n, batch_size)
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        for i in _progress(starts, desc, progress):
            idx = np.arange(i, min(i + batch_size, n))
            out.append(fn(to_device(make_batch(idx), dev)).detach().float().cpu().numpy())
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    if not out:
        raise ValueError("nothing to run inference on (0 events)")
    return np.concatenate(out, axis=0)
