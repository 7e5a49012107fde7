"""The one contrastive loss of SimShift: NT-Xent with a label-aware weight alpha.

Batch of N events, two augmented views each; projections z (2N, D) are L2-normalised and
s_ab = z_a . z_b / tau (cosine similarity over temperature tau). For an anchor a, with A(a) = all 2N-1
other views,

    l(a, p) = s_ap - log sum_{k in A(a)} exp(s_ak)                       (log-softmax over A(a))
    L_self(a) = - l(a, a')                    a' = the other view of the same event     (SimCLR)
    L_sup(a)  = - 1/|P(a)| sum_{p in P(a)} l(a, p)   P(a) = {p in A(a): y_p = y_a}     (SupCon, L_out)
    L = 1/(2N) sum_a [ (1 - alpha) L_self(a) + alpha L_sup(a) ]

alpha = 0 is exactly SimCLR's NT-Xent (Chen et al. 2020, arXiv:2002.05709; JetCLR's loss, arXiv:2108.04253);
alpha = 1 is exactly the supervised contrastive loss L^sup_out of Khosla et al. 2020 (arXiv:2004.11362,
eq. 2; P(a) always contains a', so it is never empty); any alpha in [0, 1] is the linear mixture.
Equivalently, each anchor's positives get weights w_ap = (1-alpha)[p = a'] + alpha [y_p = y_a]/|P(a)|
(summing to 1) and L = -1/(2N) sum_a sum_p w_ap l(a, p).

Difference from the original study's code (radiradev/contrastive-neutrino ``contrastive_loss_class_labels``
with ``same_label_weight`` w): there the weights sit *inside* the log,
-log(sum_p w_ap exp(s_ap) / sum_k exp(s_ak)) with w_ap = w [y_p = y_a] + (1 - w)[p = a'] (SupCon's
L_in-like form, unnormalised over |P|); it matches SimCLR at w = 0 but is not Khosla's SupCon at w = 1,
and the loss at intermediate w is not a mixture of the two ends. SimShift uses the mixture above so
that alpha has one clear meaning; the study's defaults alpha = 0.5 (ND-LAr) and 1.0 (cubes) keep their
role of "how much the labels define positives".
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["contrastive_loss", "ContrastiveLoss"]


def contrastive_loss(z1: torch.Tensor, z2: torch.Tensor, labels: torch.Tensor | None = None,
                     alpha: float = 0.0, temperature: float = 0.1) -> torch.Tensor:
    """NT-Xent with label-aware weight ``alpha`` (see the module docstring for the formula).

    z1, z2: (N, D) projections of the two views of the same N events (row i of each = event i);
    labels: (N,) int class labels, needed when alpha > 0 (ignored at alpha = 0);
    temperature: tau (study and JetCLR: 0.1). Returns a scalar (mean over the 2N anchors).
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"z1 and z2 must both be (N, D); got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1] (0 = SimCLR, 1 = SupCon), got {alpha}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    n = z1.shape[0]
    if n < 2:
        raise ValueError("the contrastive loss needs at least 2 events per batch (negatives come from the batch)")
    z = F.normalize(torch.cat([z1, z2], dim=0), dim=1)
    sim = z @ z.T / temperature
    eye = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    log_prob = sim.masked_fill(eye, float("-inf")).log_softmax(dim=1)   # l(a, k), -inf on the diagonal
    log_prob = log_prob.masked_fill(eye, 0.0)                           # avoid 0 * -inf below
    other = torch.arange(2 * n, device=z.device).roll(n)                # a' for each anchor
    loss_self = -log_prob.gather(1, other[:, None]).squeeze(1)
    if alpha == 0.0:
        return loss_self.mean()
    if labels is None:
        raise ValueError("alpha > 0 uses class labels: pass labels (N,) or set alpha=0 for SimCLR")
    labels = torch.as_tensor(labels, device=z.device).reshape(-1)
    if labels.shape[0] != n:
        raise ValueError(f"labels must have one entry per event (N={n}), got {labels.shape[0]}")
    y = torch.cat([labels, labels])
    pos = (y[:, None] == y[None, :]) & ~eye
    loss_sup = -(log_prob * pos).sum(dim=1) / pos.sum(dim=1)
    return ((1.0 - alpha) * loss_self + alpha * loss_sup).mean()


class ContrastiveLoss(torch.nn.Module):
    """Module wrapper of :func:`contrastive_loss` holding alpha and the temperature."""

    def __init__(self, alpha: float = 0.0, temperature: float = 0.1):
        super().__init__()
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
        self.alpha, self.temperature = float(alpha), float(temperature)

    def forward(self, z1, z2, labels=None):
        return contrastive_loss(z1, z2, labels, alpha=self.alpha, temperature=self.temperature)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, temperature={self.temperature}"
