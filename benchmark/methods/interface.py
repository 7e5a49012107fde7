"""The interface a benchmark entry implements (``Method``) and what it is told about its run.

Kept apart from :mod:`benchmark.methods.base` (method folders, ``method.yaml``) so that the program
adapter :mod:`benchmark.methods.external` and every method implementation depend on this module only.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.data.events import EventSet
from benchmark.data.registry import FamilySpec
from benchmark.tasks import MethodData
from benchmark.training.hparams import model_size_for


class MethodConfigError(ValueError):
    """A method folder whose ``method.yaml`` is missing or malformed."""


@dataclass
class RunContext:
    """What a method instance is told about the run it is part of."""

    family: FamilySpec
    protocol: str
    seed: int
    size: str = "default"
    device: str = "cpu"
    workdir: Path = Path(".")
    epochs: int | None = None  # a command-line override of the method's own setting
    progress: bool = True
    #: the preset of the method's own settings (model width, recipe); ``size`` is the data preset
    model_size: str | None = None
    #: a command-line cap on training events (``None``: the method's config decides)
    max_train_events: int | None = None

    def __post_init__(self):
        if self.model_size is None:
            self.model_size = model_size_for(self.size)


class Method(abc.ABC):
    """A framework-agnostic benchmark entry.

    ``fit`` gets a :class:`~benchmark.tasks.MethodData` (labelled source train/validation and, under
    ``domain_shift``, the unlabelled target train) and never a test input.  After ``fit`` returns, the
    runner calls ``predict`` (class scores ``(N, C)``, probabilities or logits) and/or ``embed`` (a frozen
    representation ``(N, D)`` for the benchmark's linear probe) on unlabelled test sets; under
    ``robustness`` and ``linear_probe`` one fit serves both, so neither may depend on the protocol.
    Model selection may use only what ``fit`` was given.
    """

    framework: str = "python"
    #: Seconds of this fit that earlier processes spent on the work a resumed fit took over from their
    #: checkpoints; the runner adds them to the fit time it measures, so that an interrupted and resumed
    #: seed records what its fit cost, not only its last part. Methods that resume set it in ``fit``.
    resumed_fit_s: float = 0.0

    def __init__(self, config: dict[str, Any], context: RunContext):
        self.config = config
        self.context = context

    @abc.abstractmethod
    def fit(self, data: MethodData) -> None:
        ...

    @abc.abstractmethod
    def predict(self, events: EventSet) -> np.ndarray:
        ...

    def embed(self, events: EventSet) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} provides no embedding (linear_probe needs one)")

    def num_parameters(self) -> int | None:
        return None
