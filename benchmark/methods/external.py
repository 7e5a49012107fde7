"""Run a method written in any language as a program that reads and writes files.

The program is run once per phase, with the same restriction as a Python method: what it may read
is exactly what is written for it.

``fit`` phase (``{phase}`` = ``fit``)
    ``{data}`` holds ``train.npz`` and ``validation.npz`` (with ``labels``) and, under ``domain_shift``,
    ``unlabelled.npz`` (the target train split, no labels).  No test input exists yet.  The program
    keeps whatever it learned under ``{state}`` (a folder that survives until the last phase).
``predict`` / ``embed`` phases
    ``{data}`` holds one ``events.npz`` of unlabelled inputs; the program writes ``{out}/scores.npz``
    (``event_id``, ``scores`` ``(N, C)``) or ``{out}/embedding.npz`` (``event_id``, ``embedding`` ``(N, D)``).

Every ``.npz`` holds ``event_id``, ``offsets`` and the flat per-voxel/per-constituent arrays
(``coords`` + ``charge``, or ``p4``), the family's model-input columns as ``meta_<column>``, and in
labelled files ``labels`` (+ event weights).  Placeholders in ``command``: ``{phase}``, ``{data}``,
``{out}``, ``{state}``, ``{seed}``, ``{protocol}``, ``{family}``, ``{num_classes}``, ``{device}``; paths
are absolute, and the program runs in its method folder.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from benchmark.data.events import EventSet
from benchmark.methods.interface import Method
from benchmark.tasks import MethodData


def save_eventset(path: Path, events: EventSet) -> None:
    """Write what a method may see of ``events`` (the EventSet was built with only that)."""
    arrays = {"event_id": events.event_id, "offsets": events.offsets}
    for name in ("coords", "charge", "p4"):
        value = getattr(events, name)
        if value is not None:
            arrays[name] = value
    arrays.update({f"meta_{k}": v for k, v in events.meta.items()})
    if events.has_labels:
        arrays["labels"] = events.labels
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)


class ExternalProgramMethod(Method):
    """A ``command:`` method: the program is run for ``fit`` and for each ``predict``/``embed`` call."""

    def __init__(self, config, context, command: list[str] | None = None):
        super().__init__(config, context)
        self.command = command or config.get("command")
        root = Path(context.workdir).resolve()
        self.state = root / "external_state"
        self.exchange = root / "external_io"

    def _run(self, phase: str) -> None:
        fields = {"phase": phase, "data": str(self.exchange / "data"), "out": str(self.exchange / "out"),
                  "state": str(self.state), "seed": self.context.seed, "protocol": self.context.protocol,
                  "family": self.context.family.name, "num_classes": self.context.family.num_classes,
                  "device": self.context.device}
        argv = [part.format(**fields) for part in self.command]
        result = subprocess.run(argv, cwd=self.config.get("_folder", None), capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"method program {argv} ({phase} phase) failed with exit code "
                               f"{result.returncode}:\n{result.stderr[-2000:]}")

    def _fresh_exchange(self) -> None:
        shutil.rmtree(self.exchange, ignore_errors=True)
        (self.exchange / "data").mkdir(parents=True)
        (self.exchange / "out").mkdir(parents=True)

    def fit(self, data: MethodData) -> None:
        self._fresh_exchange()
        self.state.mkdir(parents=True, exist_ok=True)
        save_eventset(self.exchange / "data" / "train.npz", data.train)
        save_eventset(self.exchange / "data" / "validation.npz", data.validation)
        for ev in data.unlabelled.values():
            save_eventset(self.exchange / "data" / "unlabelled.npz", ev)
        self._run("fit")

    def _apply(self, phase: str, events: EventSet, name: str, key: str) -> np.ndarray:
        self._fresh_exchange()
        save_eventset(self.exchange / "data" / "events.npz", events.without_labels())
        self._run(phase)
        path = self.exchange / "out" / name
        if not path.exists():
            raise RuntimeError(f"the method program wrote no {name} in its {phase} phase")
        with np.load(path, allow_pickle=False) as z:
            ids, values = z["event_id"], z[key]
        order = {int(e): i for i, e in enumerate(ids)}
        missing = [int(e) for e in events.event_id if int(e) not in order]
        if missing:
            raise RuntimeError(f"{name} of the {phase} phase lacks {len(missing)} events, e.g. event_id {missing[:3]}")
        return values[[order[int(e)] for e in events.event_id]]

    def predict(self, events: EventSet) -> np.ndarray:
        return self._apply("predict", events, "scores.npz", "scores")

    def embed(self, events: EventSet) -> np.ndarray:
        return self._apply("embed", events, "embedding.npz", "embedding")
