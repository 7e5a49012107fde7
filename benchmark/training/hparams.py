"""Training defaults of the PyTorch baselines: ONE table per model size and family.

In the spirit of DomainBed's ``hparams_registry`` (Gulrajani and Lopez-Paz 2021, arXiv:2007.01434):
every baseline starts from the defaults of its family at the run's model size, and its
``method.yaml`` holds only what differs for that method (e.g. the contrastive methods' longer
pre-training). Resolution order, last wins::

    TRAINING["_all"] -> TRAINING[family] -> method.yaml config -> method.yaml per_family[family]

where every value may be ``{default: a, full: b}`` and is read at the run's *model* size
(:func:`resolve_sized`), which the runner chooses independently of the data size.

``full`` is the original study's recipe (arXiv:2502.07724, code radiradev/contrastive-neutrino
``no_lightning/``: Adam, lr 1e-4, no decay, batch 672 ND-LAr / 512 cubes, the study's encoder) and
JetCLR's for jets (arXiv:2108.04253, code bmdillon/JetCLR @90b02f9: lr 5e-5, batch 128).
``default`` is the CPU recipe chosen from the learning curves (``benchmarks/learning_curves.py``,
docs/learning_curves.md): AdamW with weight decay 0.05, 5 % linear warm-up then cosine decay,
gradient clipping at 1, model selection (best epoch) on the source validation split with patience.
"""
from __future__ import annotations

from typing import Any

__all__ = ["TRAINING", "SIZES", "is_sized", "model_size_for", "resolve_sized", "training_defaults"]

SIZES = ("default", "full")


def model_size_for(data_size: str) -> str:
    """The model preset a data preset runs with unless told: its namesake, or ``default`` for a data-only
    preset (``large``: more events, the default model and recipe)."""
    return data_size if data_size in SIZES else "default"


def _sz(default, full):
    return {"default": default, "full": full}


TRAINING: dict[str, dict[str, Any]] = {
    "_all": {
        "epochs": _sz(12, 40),                  # study: 30-40 (classifier, augmented classifier)
        "batch_size": _sz(64, 672),             # study: 672 (ND-LAr)
        "lr": _sz(1e-3, 1e-4),                  # study: Adam 1e-4
        "optimizer": _sz("adamw", "adam"),
        "weight_decay": _sz(0.05, 0.0),
        "schedule": _sz("cosine", "constant"),
        "warmup": _sz(0.05, 0.0),
        "grad_clip": _sz(1.0, None),
        "patience": _sz(4, None),
        "encoder_size": _sz("default", "full"),
        "max_train_events": None,              # None: the whole train split (--max-train-events N caps it)
        "eval_batch_size": 512,
    },
    # Sparse families: inference in batches of 64 events. Larger batches are SLOWER per event on CPU
    # (memory-bound element-wise ops on ~10^5 sites): ND-LAr validation, one thread, 556 ev/s at 64,
    # 439 at 128, 310 at 512 (measured for issue 15).
    "sfgd": {
        "batch_size": _sz(64, 512),             # study: 512 for the cube detector
        "epochs": _sz(8, 40),                   # learning curves: validation peaks after 3-5 epochs at 10k-30k events
        "eval_batch_size": _sz(64, 512),
        # default size: every event rotated into its charge-weighted principal axes before the encoder
        # (benchmark.augment.sparse3d.align_principal_axes): the simulator shoots its particles
        # isotropically (simulators/sfgd/generator.py), and 20k events do not teach a sparse CNN that
        # direction carries no label. 3 seeds each at 20k events, nominal test accuracy without -> with:
        # classifier 0.665 -> 0.717, augmented classifier 0.661 -> 0.713, SimCLR 0.645 -> 0.680, SupCon
        # 0.672 -> 0.714, DANN 0.632 -> 0.687 (floor 0.659; README.md, docs/learning_curves.md
        # "sfgd/align"). full: the study's encoder as is
        "encoder": _sz({"align": True}, {}),
    },
    "ndlar": {
        "epochs": _sz(10, 40),
        "eval_batch_size": _sz(64, 512),
        # mean instead of the study's max pooling at the default size: nominal test accuracy 0.687 against
        # 0.545 (3000 training events, docs/learning_curves.md "ndlar/mean"); max pooling follows single
        # (noise) voxels and memorises (train accuracy 1.0 after 7 epochs)
        # Since 2026-12-07 every sparse baseline overrides it on ND-LAr (its method.yaml per_family.ndlar):
        # max pooling on principal-axes events with a learned charge code (charge_embed: 16) puts the
        # classifier at 0.870 +- 0.011 against 0.721 +- 0.006 with this (3 seeds, baselines/classifier/README.md)
        "encoder": _sz({"pooling": "mean"}, {}),
    },
    "jets": {
        "batch_size": _sz(128, 128),            # JetCLR: batch 128
        "lr": _sz(1e-3, 5e-5),                  # JetCLR: Adam 5e-5
        "epochs": _sz(20, 40),                  # learning curves: validation AUC still rising at epoch 12 (no overfit)
    },
}


def is_sized(value) -> bool:
    """Whether ``value`` is given per model size: ``{default: a[, full: b]}``."""
    return isinstance(value, dict) and "default" in value and set(value) <= set(SIZES)


def resolve_sized(value, size: str):
    """``{default: a, full: b}`` -> the value at ``size`` (``default`` if ``size`` is missing); others as is."""
    if is_sized(value):
        return value.get(size, value["default"])
    return value


def training_defaults(family: str, model_size: str = "default") -> dict[str, Any]:
    """The family's training defaults at ``model_size`` (families without an entry get ``_all``)."""
    if model_size not in SIZES:
        raise ValueError(f"unknown model size {model_size!r}; choose one of {SIZES}")
    merged = {**TRAINING["_all"], **TRAINING.get(family, {})}
    return {k: resolve_sized(v, model_size) for k, v in merged.items()}
