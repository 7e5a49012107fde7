"""Run a method written in any language as a program that reads and writes files.

The runner writes the data a method is entitled to as ``.npz`` files into ``{data}``:
``train.npz``, ``validation.npz`` (with ``labels``), ``unlabelled_<domain>.npz`` (domain_shift)
and ``test_<domain>.npz`` (no labels).  Each holds ``event_id``, ``offsets`` and the flat
per-voxel/per-constituent arrays (``coords`` + ``charge`` or ``p4``), plus ``meta_<column>``.
The program writes ``{out}/<domain>.npz`` with ``event_id`` and ``scores`` (N, C) and, for the
linear probe, ``{out}/embeddings/<train|validation|domain>.npz`` with ``event_id`` and ``embedding``.
Placeholders in ``command``: ``{data}``, ``{out}``, ``{seed}``, ``{protocol}``, ``{family}``,
``{num_classes}``, ``{device}``.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from benchmark.data.events import EventSet
from benchmark.methods.base import Method
from benchmark.tasks import MethodData


def save_eventset(path: Path, events: EventSet) -> None:
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
    framework = "external"

    def __init__(self, config, context, command: list[str] | None = None):
        super().__init__(config, context)
        self.command = command or config.get("command")
        self.out = Path(context.workdir) / "external_out"

    def fit(self, data: MethodData) -> None:
        folder = Path(self.context.workdir) / "external_data"
        save_eventset(folder / "train.npz", data.train)
        save_eventset(folder / "validation.npz", data.validation)
        for d, ev in data.unlabelled.items():
            save_eventset(folder / f"unlabelled_{d}.npz", ev)
        for d, ev in data.test.items():
            save_eventset(folder / f"test_{d}.npz", ev)
        self.out.mkdir(parents=True, exist_ok=True)
        fields = {"data": str(folder), "out": str(self.out), "seed": self.context.seed,
                  "protocol": self.context.protocol, "family": self.context.family.name,
                  "num_classes": self.context.family.num_classes, "device": self.context.device}
        argv = [part.format(**fields) for part in self.command]
        result = subprocess.run(argv, cwd=self.config.get("_folder", None), capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"method program {argv} failed with exit code {result.returncode}:\n"
                               f"{result.stderr[-2000:]}")

    def _read(self, path: Path, key: str, events: EventSet) -> np.ndarray:
        if not path.exists():
            raise RuntimeError(f"the method program wrote no {path}")
        with np.load(path, allow_pickle=False) as z:
            ids, values = z["event_id"], z[key]
        order = {int(e): i for i, e in enumerate(ids)}
        missing = [int(e) for e in events.event_id if int(e) not in order]
        if missing:
            raise RuntimeError(f"{path} lacks {len(missing)} events, e.g. event_id {missing[:3]}")
        return values[[order[int(e)] for e in events.event_id]]

    def predict(self, events: EventSet) -> np.ndarray:
        return self._read(self.out / f"{events.domain}.npz", "scores", events)

    def embed(self, events: EventSet) -> np.ndarray:
        key = events.split if events.split in ("train", "validation") and events.has_labels else events.domain
        return self._read(self.out / "embeddings" / f"{key}.npz", "embedding", events)
