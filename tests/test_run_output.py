"""What `run` prints: its own progress (epochs, loss, events/s), no library warnings in between."""
from __future__ import annotations

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
