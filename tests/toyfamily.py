"""A tiny registered family for testing the dataset layer, tasks and evaluator.

Sparse 3D events: class 0 is a short line of voxels, class 1 a blob, class 2 a long line; the
``shifted`` domain scales the charge by 0.5 (a gain change), ``scan_*`` are test-only domains.
Deterministic in (seed, event_id) like the real simulators.
"""
import numpy as np

from benchmark.data.registry import ColumnSpec, DomainSpec, FamilySpec, SourceSpec, sparse3d_columns
from benchmark.simulators.base import Generator, event_rng


class ToyGenerator(Generator):
    family = "toy"
    version = "1"
    sizes = {"default": {"train": 60, "validation": 30, "test": 40}, "tiny": {"train": 12, "validation": 6, "test": 8}}
    chunk_size = 16

    def domains(self):
        return (
            DomainSpec("nominal", "gain 1", {"gain": 1.0}, kind="nominal"),
            DomainSpec("shifted", "gain 0.5", {"gain": 0.5}),
            DomainSpec("scan_2", "gain 2, test only", {"gain": 2.0}, kind="scan", test_only=True),
        )

    def generate_chunk(self, split, chunk_index, event_ids, seed, domains=None):
        specs = {d.name: d for d in self.domains()}
        domains = domains or [d for d in specs if split in specs[d].splits]
        truth = []
        for eid in event_ids:
            rng = event_rng(seed, int(eid), "truth")
            label = int(rng.integers(0, 3))
            n = {0: 5, 1: 12, 2: 20}[label] + int(rng.integers(0, 3))
            if label == 1:
                pts = rng.integers(0, 4, size=(n, 3))
            else:
                pts = np.stack([np.arange(n), np.zeros(n, int), np.zeros(n, int)], axis=1)
            pts = np.unique(pts + 10, axis=0)
            q = rng.gamma(2.0, 1.0, size=len(pts)).astype(np.float32)
            truth.append((label, pts, q))
        out = {}
        for d in domains:
            gain = specs[d].parameters["gain"]
            out[d] = {
                "event_id": np.asarray(event_ids, dtype=np.int64),
                "label": np.array([t[0] for t in truth], dtype=np.int64),
                "coords": [t[1].astype(np.int32).ravel() for t in truth],
                "charge": [t[2] * gain for t in truth],
                "pdg": np.array([[11, 22, 13][t[0]] for t in truth]),
                "kinetic_energy": np.full(len(truth), 100.0),
                "direction": np.tile([1.0, 0.0, 0.0], (len(truth), 1)),
                "start": np.zeros((len(truth), 3)),
                "gain": np.full(len(truth), gain),
            }
        return out


FAMILY = FamilySpec(
    name="toy", title="Toy sparse events", description="Test family.", event_kind="sparse3d",
    class_names=("short", "blob", "long"),
    columns=sparse3d_columns([ColumnSpec("gain", "float32", "electronics gain factor")]),
    sources={"generated": SourceSpec("generated", "generated", "toy generator", ToyGenerator().domains(),
                                     make_generator=ToyGenerator)},
    voxel_size_cm=1.0,
)
