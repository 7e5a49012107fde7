"""Quick CPU/GPU timing of one training step (forward + backward) of the shared encoders.

    python -m benchmark.models.timing                       # defaults: 1 thread, CPU, "default" size
    python -m benchmark.models.timing --size full --device cuda

Synthetic inputs: sparse events are 3D walks along x with random transverse steps (track-like, merged to
unique voxels, ~``--voxels`` each); jets are ``--constituents`` constituents with pT up to 100 GeV.
Prints seconds per batch, median over ``--repeats`` after one warm-up step: wall-clock and the
process's CPU time (the latter is less sensitive to other jobs sharing the cores).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from benchmark.augment.sparse3d import revoxelise
from benchmark.models.factory import build_encoder


def sparse_batch(n_events: int, n_voxels: int, generator: torch.Generator):
    steps = torch.randint(-1, 2, (n_events, n_voxels, 3), generator=generator)
    steps[..., 0] = 1
    xyz = steps.cumsum(1).reshape(-1, 3).float()
    b = torch.arange(n_events).repeat_interleave(n_voxels)
    return revoxelise(b, xyz, torch.rand(n_events * n_voxels, 1, generator=generator) * 50, n_events)


def jet_batch(n_jets: int, n_const: int, generator: torch.Generator):
    x = torch.zeros(n_jets, n_const, 3)
    x[..., 0] = torch.rand(n_jets, n_const, generator=generator) * 100
    x[..., 1:] = torch.randn(n_jets, n_const, 2, generator=generator) * 0.3
    return x, torch.ones(n_jets, n_const, dtype=torch.bool)


def time_step(encoder, batch, repeats: int, device: str) -> tuple[float, float]:
    """(wall, cpu) seconds of one forward+backward, medians after a warm-up step."""
    wall, cpu = [], []
    for _ in range(repeats + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        t, c = time.perf_counter(), time.process_time()
        encoder(batch).square().mean().backward()
        if device == "cuda":
            torch.cuda.synchronize()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(wall[1:]), statistics.median(cpu[1:])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="default", choices=("default", "full"))
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--events", type=int, default=64)
    p.add_argument("--voxels", type=int, default=300)
    p.add_argument("--jets", type=int, default=256)
    p.add_argument("--constituents", type=int, default=50)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    g = torch.Generator().manual_seed(0)
    coords, feats = sparse_batch(a.events, a.voxels, g)
    enc = build_encoder("sparse3d", a.size).to(a.device)
    n_par = sum(q.numel() for q in enc.parameters())
    s, c = time_step(enc, (coords.to(a.device), feats.to(a.device), a.events), a.repeats, a.device)
    print(f"sparse3d/{a.size}: {n_par} parameters, {a.events} events x {coords.shape[0] / a.events:.0f} voxels, "
          f"fwd+bwd {s:.3f} s/batch wall, {c:.3f} s CPU ({a.device}, {a.threads} thread(s))")
    jet = build_encoder("jets", a.size).to(a.device)
    n_par = sum(q.numel() for q in jet.parameters())
    x, mask = jet_batch(a.jets, a.constituents, g)
    s, c = time_step(jet, (x.to(a.device), mask.to(a.device)), a.repeats, a.device)
    print(f"jets/{a.size}: {n_par} parameters, {a.jets} jets x {a.constituents} constituents, "
          f"fwd+bwd {s:.3f} s/batch wall, {c:.3f} s CPU ({a.device}, {a.threads} thread(s))")


if __name__ == "__main__":
    main()
