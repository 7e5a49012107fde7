"""Heads shared by the baselines: projection head (contrastive), linear classifier, and the
gradient-reversal layer + domain head of DANN (Ganin et al. 2016, arXiv:1505.07818)."""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["ProjectionHead", "LinearHead", "GradientReversal", "grad_reverse", "DomainHead"]


class ProjectionHead(nn.Sequential):
    """Linear -> ReLU -> Linear -> ReLU, dropped after pre-training.

    The original study's head (arXiv:2502.07724 code: Linear 768->768, ReLU, Linear 768->768, ReLU);
    JetCLR's head is the same pattern at 1000-d (arXiv:2502.07724; JetCLR, arXiv:2108.04253).
    """

    def __init__(self, in_dim: int, hidden_dim: int | None = None, out_dim: int | None = None):
        hidden_dim = hidden_dim or in_dim
        out_dim = out_dim or in_dim
        super().__init__(nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, out_dim), nn.ReLU())
        self.out_dim = out_dim


class LinearHead(nn.Linear):
    """Linear(in_dim, n_classes) giving logits (classifier, augmented classifier, DANN label head)."""

    def __init__(self, in_dim: int, n_classes: int):
        if n_classes < 2:
            raise ValueError(f"a classifier needs n_classes >= 2, got {n_classes}")
        super().__init__(in_dim, n_classes)


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, coeff):
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.coeff * grad, None


def grad_reverse(x: torch.Tensor, coeff: float = 1.0) -> torch.Tensor:
    """Identity forward; multiplies the gradient by -coeff backward."""
    return _GradReverse.apply(x, float(coeff))


class GradientReversal(nn.Module):
    """Module form of :func:`grad_reverse`; ``coeff`` may be changed during training (DANN schedule)."""

    def __init__(self, coeff: float = 1.0):
        super().__init__()
        self.coeff = float(coeff)

    def forward(self, x):
        return grad_reverse(x, self.coeff)

    def extra_repr(self) -> str:
        return f"coeff={self.coeff}"


class DomainHead(nn.Module):
    """Gradient reversal followed by the domain classifier.

    ``hidden=0``: the study's Linear(in_dim, n_domains) (arXiv:2502.07724, coefficient 1.0). ``hidden>0``:
    a three-layer MLP discriminator, Linear -> ReLU -> Linear -> ReLU -> Linear, as in the image experiments of
    Ganin et al. 2016 (arXiv:1505.07818: domain classifiers with fully connected hidden layers) and DomainBed's DANN
    (arXiv:2007.01434: MLP of width 256, depth 3). A linear discriminator on unnormalised pooled features
    can be beaten by scaling the features along its weight vector. The domain loss then diverges,
    and the label head never learns (measured on SFGD at the default size: see baselines/dann/README.md).
    """

    def __init__(self, in_dim: int, n_domains: int = 2, coeff: float = 1.0, hidden: int = 0):
        super().__init__()
        if hidden < 0:
            raise ValueError(f"hidden must be >= 0 (0: a linear domain classifier), got {hidden}")
        self.grl = GradientReversal(coeff)
        if hidden:
            self.fc = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                    nn.Linear(hidden, n_domains))
        else:
            self.fc = nn.Linear(in_dim, n_domains)

    def forward(self, h):
        return self.fc(self.grl(h))
