"""The label-aware NT-Xent against a plain loop over anchors and positives."""
import math

import pytest
import torch

torch.set_num_threads(1)

from benchmark.training.losses import ContrastiveLoss, contrastive_loss  # noqa: E402


def _loop_terms(z1, z2, labels, tau):
    """Per-anchor SimCLR and SupCon (Khosla L_out) terms, written out with Python loops."""
    views = [[c / math.sqrt(sum(c * c for c in v)) for c in v] for v in (z1.tolist() + z2.tolist())]
    ys = labels.tolist() * 2
    n2 = len(views)
    half = n2 // 2

    def sim(a, b):
        return sum(p * q for p, q in zip(views[a], views[b])) / tau

    simclr, supcon = [], []
    for a in range(n2):
        log_den = math.log(sum(math.exp(sim(a, k)) for k in range(n2) if k != a))
        partner = (a + half) % n2
        simclr.append(-(sim(a, partner) - log_den))
        positives = [p for p in range(n2) if p != a and ys[p] == ys[a]]
        supcon.append(-sum(sim(a, p) - log_den for p in positives) / len(positives))
    return sum(simclr) / n2, sum(supcon) / n2


@pytest.fixture
def batch():
    gen = torch.Generator().manual_seed(3)
    z1 = torch.randn(6, 5, generator=gen, dtype=torch.float64)
    z2 = z1 + 0.5 * torch.randn(6, 5, generator=gen, dtype=torch.float64)
    labels = torch.tensor([0, 1, 0, 2, 1, 0])
    return z1, z2, labels


@pytest.mark.parametrize("tau", [0.1, 0.5])
def test_alpha_0_is_simclr_and_alpha_1_is_supcon(batch, tau):
    z1, z2, labels = batch
    simclr, supcon = _loop_terms(z1, z2, labels, tau)
    assert abs(simclr - supcon) > 0.1   # the batch distinguishes the two losses
    assert contrastive_loss(z1, z2, None, alpha=0.0, temperature=tau).item() == pytest.approx(simclr, rel=1e-10)
    assert contrastive_loss(z1, z2, labels, alpha=0.0, temperature=tau).item() == pytest.approx(simclr, rel=1e-10)
    assert contrastive_loss(z1, z2, labels, alpha=1.0, temperature=tau).item() == pytest.approx(supcon, rel=1e-10)


@pytest.mark.parametrize("alpha", [0.25, 0.5, 0.8])
def test_intermediate_alpha_is_the_mixture(batch, alpha):
    z1, z2, labels = batch
    simclr, supcon = _loop_terms(z1, z2, labels, 0.1)
    loss = ContrastiveLoss(alpha=alpha, temperature=0.1)(z1, z2, labels).item()
    assert loss == pytest.approx((1 - alpha) * simclr + alpha * supcon, rel=1e-10)


def test_all_distinct_labels_make_supcon_equal_simclr(batch):
    z1, z2, _ = batch
    distinct = torch.arange(6)
    a = contrastive_loss(z1, z2, distinct, alpha=1.0)
    b = contrastive_loss(z1, z2, None, alpha=0.0)
    torch.testing.assert_close(a, b)


def test_gradients_and_errors(batch):
    z1, z2, labels = batch
    z1 = z1.clone().requires_grad_(True)
    contrastive_loss(z1, z2, labels, alpha=0.5).backward()
    assert torch.isfinite(z1.grad).all() and z1.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="labels"):
        contrastive_loss(z1, z2, None, alpha=0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        contrastive_loss(z1, z2, labels, alpha=1.5)
    with pytest.raises(ValueError, match="one entry per event"):
        contrastive_loss(z1, z2, labels[:3], alpha=0.5)
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        contrastive_loss(z1, z2[:3])
