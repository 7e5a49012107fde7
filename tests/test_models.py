"""Encoders and heads: spconv vs dense conv3d (forward and gradients), shapes, invariances, errors."""
import importlib.util

import pytest
import torch
import torch.nn.functional as F

torch.set_num_threads(1)

from benchmark.models import DomainHead, LinearHead, ProjectionHead, build_encoder, grad_reverse  # noqa: E402
from benchmark.models.sparse import spconv_backend as sb  # noqa: E402


# CI has no GPU: the "cuda" cases run on a lent GPU machine (see benchmarks/gpu_check.sh).
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA"))]
torch.backends.cuda.matmul.allow_tf32 = False   # compare in true fp32 on the GPU
torch.backends.cudnn.allow_tf32 = False


def _random_sites(gen, batch, shape, p):
    occupied = torch.rand((batch,) + shape, generator=gen) < p
    return occupied.nonzero().int()   # deliberately non-contiguous: the backend must cope


def _dense(coords, feats, batch, shape):
    d = torch.zeros((batch,) + shape + (feats.shape[1],), dtype=feats.dtype)
    d = d.index_put(tuple(coords.long().T), feats)
    return d.permute(0, 4, 1, 2, 3)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind,kernel,stride", [("subm", 3, 1), ("down", 2, 2), ("down", 3, 2)])
def test_spconv_matches_dense_conv3d_forward_and_gradients(kind, kernel, stride, device):
    gen = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    batch, shape, c_in, c_out = 2, (6, 7, 5), 3, 4
    coords = _random_sites(gen, batch, shape, 0.3)
    assert not coords.is_contiguous()
    feats = torch.randn(coords.shape[0], c_in, generator=gen, requires_grad=True)
    conv = sb.subm_conv(c_in, c_out, kernel) if kind == "subm" else sb.down_conv(c_in, c_out, kernel, stride)
    with torch.no_grad():
        conv.bias.normal_(generator=gen)
    conv = conv.to(device)
    y = conv(sb.make_tensor(coords.to(device), feats.to(device), shape, batch))
    grad_out = torch.randn(y.features.shape, generator=gen)
    (y.features * grad_out.to(device)).sum().backward()   # needs the CPU stream patch on CPU-only torch
    y = y.replace_feature(y.features.detach().cpu())
    y.indices = y.indices.cpu()
    conv = conv.cpu()

    feats_d = feats.detach().clone().requires_grad_(True)
    weight_d = conv.weight.detach().clone().requires_grad_(True)   # spconv layout (C_out, k, k, k, C_in)
    out = F.conv3d(_dense(coords, feats_d, batch, shape), weight_d.permute(0, 4, 1, 2, 3),
                   conv.bias.detach(), stride=stride, padding=kernel // 2 if kind == "subm" else 0)
    out_idx = y.indices.long()
    at_sites = out.permute(0, 2, 3, 4, 1)[tuple(out_idx.T)]
    (at_sites * grad_out).sum().backward()

    if kind == "subm":   # submanifold: output exactly at the input sites
        assert torch.equal(out_idx[out_idx[:, 1:].sum(1).argsort()].sort(0).values,
                           coords.long()[coords.long()[:, 1:].sum(1).argsort()].sort(0).values)
    else:                # regular strided conv: output wherever the receptive field holds an input site
        occ = _dense(coords, torch.ones(coords.shape[0], 1), batch, shape)
        reach = F.conv3d(occ, torch.ones(1, 1, kernel, kernel, kernel), stride=stride)[:, 0] > 0
        assert torch.equal(reach.nonzero().sort(0).values, out_idx.sort(0).values)
    torch.testing.assert_close(y.features, at_sites, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(conv.weight.grad, weight_d.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(feats.grad, feats_d.grad, rtol=1e-4, atol=1e-4)
    with torch.no_grad():   # eval mode: spconv's fused-bias inference path has no CPU kernel
        y_eval = conv.to(device).eval()(sb.make_tensor(coords.to(device), feats.detach().to(device), shape, batch))
    # on CUDA the output sites of a strided conv come back in hash order, different on every call
    torch.testing.assert_close(_by_site(y_eval.indices.cpu(), y_eval.features.cpu()),
                               _by_site(y.indices, y.features.detach()), rtol=1e-5, atol=1e-5)


def _by_site(indices, feats):
    """Rows of ``feats`` ordered by their (batch, x, y, z) site, so outputs compare in any site order."""
    key = indices.long() @ torch.tensor([1 << 48, 1 << 32, 1 << 16, 1])
    return feats[key.argsort()]


def test_algorithm_follows_the_input_device():
    """spconv fixes implicit GEMM at construction on CUDA builds; on CPU input the backend must switch
    to the native algorithm (implicit GEMM has no CPU kernels), and back on CUDA input."""
    gen = torch.Generator().manual_seed(2)
    coords = _random_sites(gen, 2, (6, 7, 5), 0.3)
    feats = torch.randn(coords.shape[0], 3, generator=gen)
    for conv in (sb.subm_conv(3, 4, 3), sb.down_conv(3, 4, 2, 2)):
        conv._cuda_algo = conv.conv.algo = sb.ConvAlgo.MaskImplicitGemm   # as built on a GPU machine
        y = conv(sb.make_tensor(coords, feats, (6, 7, 5), 2))
        assert conv.conv.algo == sb.ConvAlgo.Native and torch.isfinite(y.features).all()
        if torch.cuda.is_available():
            conv.cuda()(sb.make_tensor(coords.cuda(), feats.cuda(), (6, 7, 5), 2))
            assert conv.conv.algo == sb.ConvAlgo.MaskImplicitGemm


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")
def test_resolve_device_gives_an_indexed_cuda_device():
    from benchmark.training.loop import resolve_device

    assert resolve_device("cuda") == torch.device("cuda", torch.cuda.current_device())
    assert resolve_device("cuda:0") == torch.device("cuda", 0)


def test_cpu_stream_patch_is_applied_only_without_cuda():
    import spconv.pytorch.hash as sp_hash
    import spconv.pytorch.ops as sp_ops

    if torch.cuda.is_available():
        assert not sb.CPU_PATCH_APPLIED
    else:
        assert sb.CPU_PATCH_APPLIED
        assert sp_ops.get_current_stream() == 0 and sp_hash.get_current_stream() == 0


def _ragged_sparse_batch(gen, sizes, extent=12):
    rows = []
    for i, n in enumerate(sizes):
        flat = torch.randperm(extent ** 3, generator=gen)[:n]
        xyz = torch.stack([flat // extent ** 2, (flat // extent) % extent, flat % extent], 1)
        xyz = xyz - xyz.min(0).values
        rows.append(torch.cat([torch.full((n, 1), i), xyz], 1))
    coords = torch.cat(rows).int()
    return coords, torch.rand(coords.shape[0], 1, generator=gen) * 50


@pytest.mark.parametrize("device", DEVICES)
def test_sparse_encoder_ragged_batch_forward_backward(device):
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    enc = build_encoder("sparse3d", "default").to(device)
    coords, feats = _ragged_sparse_batch(gen, [1, 40, 200, 7])
    coords, feats = coords.to(device), feats.to(device)
    h = enc((coords, feats))
    assert h.shape == (4, enc.out_dim) and torch.isfinite(h).all()
    h.pow(2).sum().backward()
    grads = {n: p.grad for n, p in enc.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert all(g.abs().sum() > 0 for n, g in grads.items() if "conv" in n), "a conv got no gradient"
    # events are encoded independently: encoding one event alone gives its row of the batch
    one = coords[:, 0] == 2
    alone = enc((torch.cat([torch.zeros_like(coords[one][:, :1]), coords[one][:, 1:]], 1), feats[one]))
    torch.testing.assert_close(alone[0], h[2], rtol=1e-4, atol=1e-5)


def test_sparse_encoder_batch_size_and_input_errors():
    gen = torch.Generator().manual_seed(0)
    enc = build_encoder("sparse3d", "default", pooling="max+mean", grn=False)
    coords, feats = _ragged_sparse_batch(gen, [5, 9])
    h = enc((coords, feats, 3))            # trailing empty event
    assert h.shape == (3, 2 * enc.cfg.widths[-1]) and torch.all(h[2] == 0)
    dup = torch.cat([coords, coords[:1]])
    with pytest.raises(ValueError, match="duplicate"):
        enc((dup, torch.cat([feats, feats[:1]])))
    neg = coords.clone()
    neg[0, 1] = -1
    with pytest.raises(ValueError, match="negative"):
        enc((neg, feats))
    with pytest.raises(ValueError, match="shape"):
        enc((coords[:, :3], feats))


def test_sparse_pooling_parts():
    """Each pooling part adds its width; logcount is log(1 + sites after the last stage); attention
    weights sum to one per event and train; bad names are refused."""
    from benchmark.models.sparse.convnext import ConvNeXtConfig, segment_pool, segment_softmax

    gen = torch.Generator().manual_seed(0)
    coords, feats = _ragged_sparse_batch(gen, [30, 12, 50])
    enc = build_encoder("sparse3d", "default", pooling="mean+attn+logcount")
    h = enc((coords, feats))
    w = enc.cfg.widths[-1]
    assert h.shape == (3, 2 * w + 1) and enc.out_dim == 2 * w + 1
    h.sum().backward()
    assert enc.attention.score[0].weight.grad.abs().sum() > 0
    x = torch.randn(7, 4, generator=gen)
    index = torch.tensor([0, 0, 0, 1, 2, 2, 2])
    a = segment_softmax(torch.randn(7, generator=gen), index, 3)
    torch.testing.assert_close(torch.zeros(3).index_add_(0, index, a), torch.ones(3))
    pooled = segment_pool(x, index, 4, "mean+logcount")
    torch.testing.assert_close(pooled[:, -1], torch.log1p(torch.tensor([3.0, 1.0, 3.0, 0.0])))
    torch.testing.assert_close(pooled[0, :4], x[:3].mean(0))
    for bad in ("logcount", "sum", "mean+mean", "max+"):
        with pytest.raises(ValueError, match="pooling must be"):
            ConvNeXtConfig(pooling=bad)


def _jet_batch(gen, n_const, L):
    B = len(n_const)
    x = torch.zeros(B, L, 3)
    mask = torch.zeros(B, L, dtype=torch.bool)
    for i, n in enumerate(n_const):
        x[i, :n, 0] = torch.rand(n, generator=gen) * 100 + 0.5
        x[i, :n, 1:] = torch.randn(n, 2, generator=gen) * 0.3
        mask[i, :n] = True
    return x, mask


def test_jet_encoder_shape_permutation_and_padding_invariance():
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    enc = build_encoder("jets", "default").eval()
    x, mask = _jet_batch(gen, [3, 17, 30, 1], 30)
    h = enc((x, mask))
    assert h.shape == (4, enc.out_dim) and torch.isfinite(h).all()
    assert h.std(0).mean() > 1e-3, "jets with different constituents should not share one embedding"
    perm = torch.randperm(30, generator=gen)        # padding moves to random positions too
    torch.testing.assert_close(enc((x[:, perm], mask[:, perm])), h, rtol=1e-4, atol=1e-5)
    junk = torch.randn(4, 25, 3, generator=gen) * 100   # padding content and amount must not matter
    x_pad = torch.cat([x, junk], 1)
    m_pad = torch.cat([mask, torch.zeros(4, 25, dtype=torch.bool)], 1)
    torch.testing.assert_close(enc((x_pad, m_pad)), h, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(enc((x[:, :30], mask[:, :30])), h)
    empty = enc((x[:1], torch.zeros_like(mask[:1])))  # a jet with no constituents: zeros, not NaN
    assert torch.equal(empty, torch.zeros_like(empty))


def test_jet_encoder_trains():
    gen = torch.Generator().manual_seed(0)
    enc = build_encoder("jets", "default")
    x, mask = _jet_batch(gen, [5, 12], 12)
    enc((x, mask)).pow(2).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in enc.parameters())
    with pytest.raises(ValueError, match=r"\(B, L, 3\)"):
        enc((x[..., :2], mask))


def test_factory_errors_and_minkowski_guard():
    with pytest.raises(ValueError, match="unknown event kind"):
        build_encoder("images")
    with pytest.raises(ValueError, match="unknown encoder size"):
        build_encoder("jets", "huge")
    with pytest.raises(ValueError, match="unknown sparse backend"):
        build_encoder("sparse3d", backend="torchsparse")
    if importlib.util.find_spec("MinkowskiEngine") is None:
        with pytest.raises(ImportError, match="MinkowskiEngine"):
            build_encoder("sparse3d", backend="minkowski")
    with pytest.raises(ValueError, match="depthwise"):
        build_encoder("sparse3d", depthwise=True)   # spconv has no depthwise conv


def test_full_presets_match_the_study_sizes():
    from benchmark.models.jets import PRESETS as JET
    from benchmark.models.sparse.convnext import PRESETS as SPARSE

    assert SPARSE["full"].widths == (96, 192, 384, 768) and SPARSE["full"].depths == (3, 3, 9, 3)
    assert SPARSE["full"].stem_kernel == 4
    assert (JET["full"].d_model, JET["full"].n_layers, JET["full"].n_heads) == (1000, 4, 4)


def test_heads_and_gradient_reversal():
    torch.manual_seed(0)
    head = ProjectionHead(8, 16, 4)
    assert [type(m).__name__ for m in head] == ["Linear", "ReLU", "Linear", "ReLU"] and head.out_dim == 4
    assert LinearHead(8, 3)(torch.randn(5, 8)).shape == (5, 3)
    h = torch.randn(5, 8, requires_grad=True)
    w = torch.randn(5, 8)
    (grad_reverse(h, 0.5) * w).sum().backward()
    torch.testing.assert_close(h.grad, -0.5 * w)
    dom = DomainHead(8, 2, coeff=1.0)
    h.grad = None
    out = dom(h)
    out.sum().backward()
    torch.testing.assert_close(h.grad, -dom.fc.weight.sum(0).expand(5, 8))
    torch.testing.assert_close(out, dom.fc(h))
    # the MLP discriminator: three layers, the same reversed gradient as its plain forward's
    mlp = DomainHead(8, 2, coeff=0.5, hidden=16)
    assert [type(m).__name__ for m in mlp.fc] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert mlp.fc[0].out_features == 16 and mlp.fc[-1].out_features == 2
    x = h.detach().clone().requires_grad_(True)
    mlp(x).sum().backward()
    y = h.detach().clone().requires_grad_(True)
    mlp.fc(y).sum().backward()
    torch.testing.assert_close(x.grad, -0.5 * y.grad)
    with pytest.raises(ValueError, match="hidden must be >= 0"):
        DomainHead(8, 2, hidden=-1)


def test_sparse_encoder_charge_input_transform():
    """log1p input = the raw-input encoder fed sign(q) log(1+|q|); charge magnitude changes h."""
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    coords, _ = _ragged_sparse_batch(gen, [30])
    both = torch.cat([coords, coords + torch.tensor([1, 0, 0, 0], dtype=torch.int32)])
    feats = torch.cat([torch.full((30, 1), 100.0), torch.full((30, 1), 3000.0)])
    feats[::7] *= -0.01                                          # a few negative charges (charge noise)
    enc = build_encoder("sparse3d", "default").eval()
    raw = build_encoder("sparse3d", "default", input_transform="none").eval()
    raw.load_state_dict(enc.state_dict())
    h = enc((both, feats))
    torch.testing.assert_close(h, raw((both, torch.sign(feats) * torch.log1p(feats.abs()))))
    assert (h[0] - h[1]).abs().max() > 1e-3
    same = enc((both, torch.full((60, 1), 100.0)))
    torch.testing.assert_close(same[0], same[1])


def _train_steps(make_encoder, batch, steps=3, threads=2):
    """(outputs of repeated forward passes, state after ``steps`` AdamW steps) at ``threads`` threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        enc = make_encoder()
        enc.eval()
        with torch.no_grad():
            outs = [enc(batch) for _ in range(3)]
        enc.train()
        opt = torch.optim.AdamW(enc.parameters(), lr=1e-2, weight_decay=0.05)
        for _ in range(steps):
            opt.zero_grad()
            enc(batch).square().mean().backward()
            opt.step()
        return outs, {k: v.detach().clone() for k, v in enc.state_dict().items()}
    finally:
        torch.set_num_threads(before)


def test_sparse_encoder_is_deterministic_with_two_threads():
    """Issue 13: spconv's CPU kernels race at > 1 OpenMP thread (same input, outputs differing by O(1));
    the CPU path (benchmark.models.sparse.torch_conv) gives identical outputs and training at 2 threads."""
    gen = torch.Generator().manual_seed(3)
    coords, feats = _ragged_sparse_batch(gen, [300, 250, 400, 120, 350, 200, 280, 90], extent=14)
    batch = (coords, feats * 20, 8)
    make = lambda: build_encoder("sparse3d", "default")  # noqa: E731
    outs, state = _train_steps(make, batch)
    assert all(torch.equal(o, outs[0]) for o in outs[1:]), "repeated forward passes differ at 2 threads"
    outs2, state2 = _train_steps(make, batch)
    assert all(torch.equal(state[k], state2[k]) for k in state), "the same training differs at 2 threads"
    outs1, state1 = _train_steps(make, batch, threads=1)   # across thread counts: float rounding only
    torch.testing.assert_close(outs1[0], outs[0], rtol=1e-5, atol=1e-5)
    for k in state:
        torch.testing.assert_close(state1[k], state[k], rtol=1e-4, atol=1e-5)


def test_jet_encoder_is_deterministic_with_two_threads():
    gen = torch.Generator().manual_seed(4)
    batch = _jet_batch(gen, [30, 12, 50, 7, 41, 25], 50)
    outs, state = _train_steps(lambda: build_encoder("jets", "default", dropout=0.0), batch)
    assert all(torch.equal(o, outs[0]) for o in outs[1:])
    _, state2 = _train_steps(lambda: build_encoder("jets", "default", dropout=0.0), batch)
    assert all(torch.equal(state[k], state2[k]) for k in state)


def test_cpu_convolutions_match_spconv_kernels_at_one_thread():
    """The deterministic CPU path computes what spconv's own CPU kernels compute (one thread)."""
    gen = torch.Generator().manual_seed(5)
    coords, feats = _ragged_sparse_batch(gen, [200, 150, 90], extent=10)
    torch.manual_seed(0)
    enc = build_encoder("sparse3d", "default")
    ours = enc((coords, feats, 3))
    old = sb.CPU_KERNELS
    sb.CPU_KERNELS = "spconv"
    try:
        theirs = enc((coords, feats, 3))
    finally:
        sb.CPU_KERNELS = old
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


def test_sparse_encoder_with_align_sees_one_pose_for_flipped_and_permuted_axes():
    """``align=True`` rotates events into their principal axes before the stem: an event and the same event
    with axes permuted and one flipped (exact on the grid) embed alike; without it they do not."""
    gen = torch.Generator().manual_seed(5)
    coords = torch.unique(torch.cat([torch.zeros(50, 1, dtype=torch.long),
                                     torch.randint(0, 24, (50, 3), generator=gen)], 1), dim=0).int()
    feats = torch.rand(coords.shape[0], 1, generator=gen) * 50
    moved = coords.clone()
    moved[:, 1:] = coords[:, [2, 3, 1]]
    moved[:, 3] = 23 - moved[:, 3]
    for align in (True, False):
        torch.manual_seed(0)
        enc = build_encoder("sparse3d", "default", pooling="mean", align=align).eval()
        with torch.no_grad():
            a, m = enc((coords, feats, 1)), enc((moved, feats, 1))
        assert torch.allclose(a, m, atol=1e-5) == align


def test_sparse_encoder_charge_embedding_feeds_the_stem_a_learned_code_of_the_charge():
    """``charge_embed=K``: each voxel's (log) charge becomes K channels GELU(w q + b) before the stem, so the
    amplitude is a pattern across channels, not only a scale that a LayerNorm over channels can remove.
    The stem then takes K input channels, the embedding learns (it gets gradients), and h depends on the
    charge through it."""
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    coords, feats = _ragged_sparse_batch(gen, [25, 40])
    enc = build_encoder("sparse3d", "default", charge_embed=8)
    plain = build_encoder("sparse3d", "default")
    assert enc.embed is not None and plain.embed is None
    assert enc.stem.conv.in_channels == 8 and plain.stem.conv.in_channels == 1
    h = enc((coords, feats.abs() * 100, 2))
    h.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in enc.embed.parameters())
    with torch.no_grad():
        enc.embed[0].weight.zero_()                     # a code that no longer depends on the charge ...
        a = enc((coords, feats.abs() * 100, 2))
        b = enc((coords, feats.abs() * 3000, 2))
    torch.testing.assert_close(a, b)                    # ... makes h blind to it
    with pytest.raises(ValueError, match="charge_embed"):
        build_encoder("sparse3d", "default", charge_embed=-1)
