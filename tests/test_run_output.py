"""What `run` prints: its own progress (epochs, loss, events/s), no library warnings in between."""
from __future__ import annotations

import os
import subprocess
import sys
import warnings

import torch
import torch.nn.functional as F

from benchmark.training.loop import Algorithm, LoopConfig, Stream, fit


class _Linear(Algorithm):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(3, 2)

    def update(self, batch):
        b = batch["source"]
        return {"loss": F.cross_entropy(self.layer(b["x"]), b["y"])}


def test_training_with_a_progress_bar_raises_no_warning(capsys):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(12, 3, generator=g), torch.arange(12) % 2

    def make_batch(idx):
        t = torch.as_tensor(idx)
        return {"x": x[t], "y": y[t]}

    with warnings.catch_warnings():
        warnings.simplefilter("error")   # any warning (e.g. torch's "requires_grad ... to a scalar") fails
        result = fit(_Linear(), [Stream("source", 12, make_batch, 4)], LoopConfig(epochs=2, lr=1e-2), seed=0,
                     progress=True, desc="toy")
    assert result.epochs_done == 2
    out = capsys.readouterr()
    assert "[simshift] toy epoch 2/2: loss" in out.out


def test_sparse_encoder_training_logs_no_library_warning():
    """Building spconv sparse tensors must not put torch.fx's deprecation warning into `run`'s output
    (logged once per process, so checked in a fresh one)."""
    script = ("import torch\n"
              "from benchmark.models.factory import build_encoder\n"
              "enc = build_encoder('sparse3d', 'default')\n"
              "c = torch.tensor([[0,1,1,1],[0,2,1,1],[0,3,2,1],[1,0,0,0],[1,1,0,0]], dtype=torch.int32)\n"
              "enc((c, torch.rand(5, 1), 2)).sum().backward()\n"
              "print('trained')\n")
    proc = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", script], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0 and "trained" in proc.stdout, proc.stderr[-2000:]
    assert "is_fx_tracing" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr[-2000:]
