"""The spconv encoder against the same network built from dense ``torch.nn.Conv3d``: time and peak memory.

    python -m benchmarks.sparse_vs_dense                          # grids 32, 64, 128 and the ND-LAr extent
    python -m benchmarks.sparse_vs_dense --grids 32 64 128 192 256 --batch-size 4

Events: ND-LAr ``nominal`` events from the generator, each shifted to start at voxel 0 (as
``collate_sparse`` does) and cropped to a ``G^3`` grid; the dense network gets the same voxels
written into a zero ``(B, 1, G, G, G)`` tensor.  The largest grid is, by default, the median over
events of the largest per-axis extent of default ND-LAr events (measured in the run, rounded up to
the encoder's total stride), i.e. the grid a dense network would need for a typical event.

The dense network (:class:`DenseConvNeXt`) has the layers and parameter count of the default
``SparseConvNeXtEncoder`` (stem conv, LayerNorm, blocks of 3^3 conv -> LayerNorm -> MLP with GRN ->
residual, stride-2 downsampling, global max pooling); it computes on every grid cell, so its output
is not numerically the submanifold network's (empty cells are not skipped), but the work is what a
dense implementation of this architecture costs.  Each (grid, implementation) runs in its own
subprocess; peak memory = that process's max RSS (``getrusage``) minus its RSS just before the model
was built (events and imports excluded).  Figures: forward+backward and inference seconds per batch,
and dense/sparse ratios.
"""
from __future__ import annotations

import json
import sys

import numpy as np

from benchmarks.common import (Result, base_parser, child_env, family_available, last_json_line, python_module_cmd,
                               run_child, setup, sig)

NAME = "sparse_vs_dense"


def _status_mib(key: str) -> float:
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    return float("nan")


def _rss_mib() -> float:
    return _status_mib("VmRSS")


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) so the peak excludes imports and event generation."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def dense_model(cfg):
    """Dense twin of ``SparseConvNeXtEncoder(cfg)`` (same layers and parameter count)."""
    import torch
    from torch import nn

    class ChannelLN(nn.LayerNorm):
        def forward(self, x):  # (B, C, D, H, W): normalise over channels like the sparse (M, C) LayerNorm
            return super().forward(x.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)

    class GRN(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.gamma = nn.Parameter(torch.zeros(dim))
            self.beta = nn.Parameter(torch.zeros(dim))

        def forward(self, x):  # channels-last (B, D, H, W, C); L2 over space per event
            gx = x.square().sum(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12).sqrt()
            nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
            return self.gamma * (x * nx) + self.beta + x

    class Block(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.conv = nn.Conv3d(dim, dim, cfg.kernel_size, padding=cfg.kernel_size // 2)
            self.norm = nn.LayerNorm(dim, eps=cfg.ln_eps)
            self.pw1 = nn.Linear(dim, cfg.mlp_ratio * dim)
            self.act = nn.GELU()
            self.grn = GRN(cfg.mlp_ratio * dim) if cfg.grn else None
            self.pw2 = nn.Linear(cfg.mlp_ratio * dim, dim)

        def forward(self, x):
            y = self.conv(x).permute(0, 2, 3, 4, 1)
            y = self.act(self.pw1(self.norm(y)))
            if self.grn is not None:
                y = self.grn(y)
            return x + self.pw2(y).permute(0, 4, 1, 2, 3)

    class Dense(nn.Module):
        def __init__(self):
            super().__init__()
            w = cfg.widths
            self.stem = nn.Conv3d(cfg.in_channels, w[0], cfg.stem_kernel, stride=cfg.stem_kernel)
            self.stem_norm = ChannelLN(w[0], eps=cfg.ln_eps)
            self.stages, self.downs = nn.ModuleList(), nn.ModuleList()
            for i, (width, depth) in enumerate(zip(w, cfg.depths)):
                if i > 0:
                    self.downs.append(nn.Sequential(ChannelLN(w[i - 1], eps=cfg.ln_eps),
                                                    nn.Conv3d(w[i - 1], width, 2, stride=2)))
                self.stages.append(nn.Sequential(*[Block(width) for _ in range(depth)]))
            self.head_norm = nn.LayerNorm(w[-1], eps=cfg.ln_eps)

        def forward(self, x):
            x = torch.sign(x) * torch.log1p(x.abs())
            x = self.stem_norm(self.stem(x))
            for i, stage in enumerate(self.stages):
                if i > 0:
                    x = self.downs[i - 1](x)
                x = stage(x)
            return self.head_norm(x.amax(dim=(2, 3, 4)))

    return Dense()


def cropped_events(n: int, grid: int, family: str = "ndlar"):
    """ND-LAr nominal events shifted to 0 and cropped to grid^3: (coords (M,4) int32, feats (M,1), B)."""
    from benchmark.data.collate import collate_sparse
    from benchmarks.common import generated_events

    ev = generated_events(family, n)
    coords, feats = collate_sparse(ev, np.arange(len(ev)), as_torch=False)
    keep = (coords[:, 1:] < grid).all(axis=1)
    return coords[keep], feats[keep], len(ev)


def child(args) -> dict:
    """One (grid, implementation) measurement; prints a JSON line."""
    import torch

    from benchmark.models import build_encoder
    from benchmarks.common import max_rss_mib_self, median_time

    torch.set_num_threads(max(1, args.threads))
    coords, feats, b = cropped_events(args.batch_size, args.grid, args.family)
    coords_t, feats_t = torch.from_numpy(coords), torch.from_numpy(feats)
    if args.impl == "dense":
        x = torch.zeros(b, 1, args.grid, args.grid, args.grid)
        c = coords_t.long()
        x[c[:, 0], 0, c[:, 1], c[:, 2], c[:, 3]] = feats_t[:, 0]
        rss0 = _rss_mib()
        torch.manual_seed(0)
        model = dense_model(build_encoder("sparse3d", "default").cfg)
        inp = x
    else:
        rss0 = _rss_mib()
        torch.manual_seed(0)
        model = build_encoder("sparse3d", "default")
        inp = (coords_t, feats_t, b)

    def train():
        model.train()
        model(inp).square().mean().backward()

    def infer():
        model.eval()
        with torch.no_grad():
            model(inp)

    reset = reset_peak_rss()
    t_tr = median_time(train, args.repeats)["median_s"]
    t_in = median_time(infer, args.repeats)["median_s"]
    peak = _status_mib("VmHWM") if reset else max_rss_mib_self()
    out = {"impl": args.impl, "grid": args.grid, "events": b, "voxels": int(len(coords)),
           "params": sum(p.numel() for p in model.parameters()), "train_s": t_tr, "infer_s": t_in,
           "rss_before_model_mib": rss0, "max_rss_mib": peak, "peak_reset": reset}
    print(json.dumps(out), flush=True)
    return out


def ndlar_extent(n: int, stride: int, family: str = "ndlar") -> int:
    """Median over events of the largest per-axis extent (voxels), rounded up to ``stride``."""
    from benchmarks.common import generated_events

    ev = generated_events(family, n, chunk_index=1)
    ext = [int((ev.coords[a:b].max(0) - ev.coords[a:b].min(0) + 1).max())
           for a, b in zip(ev.offsets[:-1], ev.offsets[1:]) if b > a]
    med = int(np.median(ext))
    return -(-med // stride) * stride


def main(argv=None) -> int:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--grids", type=int, nargs="+", default=[32, 64, 128], help="grid sizes G")
    p.add_argument("--with-extent", action="store_true",
                   help="also run the grid of the median ND-LAr event extent (~300^3: the dense network needs "
                        "minutes and GBs there)")
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--timeout", type=float, default=120, help="seconds per subprocess (a timeout is reported)")
    p.add_argument("--family", default="ndlar", help="sparse 3D family whose events are used")
    p.add_argument("--child", action="store_true", help=argparse_hidden())
    p.add_argument("--grid", type=int, help=argparse_hidden())
    p.add_argument("--impl", choices=("sparse", "dense"), help=argparse_hidden())
    args = p.parse_args(argv)
    setup(args)
    if args.child:
        child(args)
        return 0
    res = Result(NAME, argv if argv is not None else sys.argv[1:], args.tag)
    ok, why = family_available(args.family)
    if not ok:
        res.skip(f"needs the {args.family} generator: {why}")
        res.write(args.out_dir)
        return 1
    from benchmark.models import build_encoder

    stride = build_encoder("sparse3d", "default").cfg.total_stride
    ext = ndlar_extent(32, stride, args.family)
    res.note(f"{args.family} default events: median of the largest per-axis extent = {ext} voxels "
             f"(32 nominal events, rounded up to the total stride {stride})"
             + ("" if args.with_extent else "; that grid is run only with --with-extent"))
    grids = sorted(set(args.grids) | ({ext} if args.with_extent else set()))
    rows, raw = [], []
    for g in grids:
        per = {}
        for impl in ("sparse", "dense"):
            print(f"[sparse_vs_dense] grid {g}^3, {impl} ...", flush=True)
            cmd = python_module_cmd("benchmarks.sparse_vs_dense", "--child", "--grid", str(g), "--impl", impl,
                                    "--batch-size", str(args.batch_size), "--repeats", str(args.repeats),
                                    "--threads", str(args.threads), "--family", args.family,
                                    family_refs=args.family_ref)
            r = run_child(cmd, timeout=args.timeout, env=child_env())
            if r["returncode"] != 0:
                why = (f"timed out after {args.timeout:g} s (train+inference, {args.repeats} repeats + warm-up)"
                       if r["timed_out"] else f"exit {r['returncode']}: {r['output'][-300:]}")
                res.skip(f"grid {g} {impl}: {why}")
                if impl == "dense" and "sparse" in per:
                    s = per["sparse"]
                    rows.append([g, s["events"], s["voxels"], s["params"], "", sig(s["train_s"]),
                                 f"timeout (> {args.timeout:g} s for all runs)" if r["timed_out"] else "failed",
                                 "", sig(s["infer_s"]), "", "", "", "", ""])
                continue
            per[impl] = last_json_line(r["output"])
            raw.append(per[impl])
        if len(per) == 2:
            s, d = per["sparse"], per["dense"]
            mem = {k: v["max_rss_mib"] - v["rss_before_model_mib"] for k, v in per.items()}
            rows.append([g, s["events"], s["voxels"], s["params"], d["params"], sig(s["train_s"]), sig(d["train_s"]),
                         sig(d["train_s"] / s["train_s"]), sig(s["infer_s"]), sig(d["infer_s"]),
                         sig(d["infer_s"] / s["infer_s"]), sig(mem["sparse"]), sig(mem["dense"]),
                         sig(mem["dense"] / max(mem["sparse"], 1e-3))])
    res.extra["raw"] = raw
    if rows:
        res.table(f"Sparse (spconv) vs dense (Conv3d) default encoder, {args.family} events, batch {args.batch_size}, "
                  f"{args.threads} thread(s)",
                  ["grid G", "events", "active voxels", "params sparse", "params dense", "sparse train s",
                   "dense train s", "dense/sparse train", "sparse infer s", "dense infer s", "dense/sparse infer",
                   "sparse peak MiB", "dense peak MiB", "dense/sparse memory"], rows,
                  "Peak MiB = max RSS of the measuring subprocess minus its RSS before the model was built "
                  "(includes activations, gradients and allocator caches); the peak counter is reset (VmHWM) just before the "
                  "timed runs. Parameter counts of the two networks are shown; they differ only in norm-layer "
                  "affine parameters (< 0.1%).")
    res.write(args.out_dir)
    return 0


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    raise SystemExit(main())
