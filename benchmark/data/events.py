"""EventSet: a whole split as flat numpy arrays, the form training loops and methods consume.

Variable-length content (voxels, constituents) is stored flat with an ``offsets`` array (event
``i`` owns rows ``offsets[i]:offsets[i+1]``), like Arrow list arrays, so batching is slicing and
never builds one Python object per event.

Labels are only present when the holder is entitled to them (the task object decides); asking
for them otherwise raises :class:`LabelsNotAvailable` — the arrays were never loaded.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


class LabelsNotAvailable(PermissionError):
    """Labels of this split are not handed to methods under the current protocol."""


@dataclass
class EventSet:
    family: str
    domain: str
    split: str
    kind: str  # "sparse3d" | "jets"
    event_id: np.ndarray
    offsets: np.ndarray
    coords: np.ndarray | None = None  # sparse3d: (total, 3) int32
    charge: np.ndarray | None = None  # sparse3d: (total,) float32
    p4: np.ndarray | None = None  # jets: (total, 4) float32 (E, px, py, pz)
    meta: dict[str, np.ndarray] = field(default_factory=dict)
    _labels: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        n = len(self.event_id)
        if len(self.offsets) != n + 1:
            raise ValueError(f"offsets must have {n + 1} entries, got {len(self.offsets)}")
        if self._labels is not None and len(self._labels) != n:
            raise ValueError("labels and event_id differ in length")

    def __len__(self) -> int:
        return len(self.event_id)

    @property
    def has_labels(self) -> bool:
        return self._labels is not None

    @property
    def labels(self) -> np.ndarray:
        if self._labels is None:
            raise LabelsNotAvailable(
                f"labels of {self.family}/{self.domain}/{self.split} are not available to methods under this "
                f"protocol (test labels and target-domain labels stay inside the evaluator)")
        return self._labels

    def sizes(self) -> np.ndarray:
        """Voxels (sparse3d) or constituents (jets) per event."""
        return np.diff(self.offsets)

    def without_labels(self) -> "EventSet":
        return replace(self, _labels=None)

    def subset(self, index) -> "EventSet":
        """The events ``index`` (integer array, slice or boolean mask), in that order."""
        idx = np.arange(len(self))[index] if not isinstance(index, np.ndarray) or index.dtype == bool \
            else np.asarray(index, dtype=np.int64)
        idx = np.atleast_1d(idx)
        rows, offsets = gather_rows(self.offsets, idx)
        return EventSet(
            family=self.family, domain=self.domain, split=self.split, kind=self.kind,
            event_id=self.event_id[idx], offsets=offsets,
            coords=None if self.coords is None else self.coords[rows],
            charge=None if self.charge is None else self.charge[rows],
            p4=None if self.p4 is None else self.p4[rows],
            meta={k: v[idx] for k, v in self.meta.items()},
            _labels=None if self._labels is None else self._labels[idx],
        )


def gather_rows(offsets: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of events ``idx`` in a flat array and the new offsets (vectorised)."""
    starts = offsets[idx]
    lengths = offsets[idx + 1] - starts
    new_offsets = np.zeros(len(idx) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    total = int(new_offsets[-1])
    # row r of the output comes from starts[e] + (r - new_offsets[e]) for its event e
    event_of_row = np.repeat(np.arange(len(idx)), lengths)
    rows = starts[event_of_row] + (np.arange(total) - new_offsets[:-1][event_of_row])
    return rows.astype(np.int64), new_offsets
