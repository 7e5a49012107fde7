"""Training (forward + backward) and inference throughput of the shared encoders, CPU or GPU.

    python -m benchmarks.encoders                                # default-size encoders, CPU, 1 thread
    python -m benchmarks.encoders --sizes default full --batch-size 16
    python -m benchmarks.encoders --device cuda --sizes default full --batch-size 256

Inputs are real generated events (``generate_chunk`` of the ``nominal`` domain, not read from disk):
ND-LAr and SFGD events for the sparse ConvNeXt encoder (spconv backend), jets (Pythia) for the jet
transformer. Batch and encoder are the torch baselines' own (``benchmarks.common.baseline_inputs`` /
``baseline_encoder``: the event kind's ``inputs`` and ``build_encoder`` with the family's training
defaults), so jets are JetCLR's 50 preprocessed constituents, not the raw collate's 200.  Training = forward + ``loss.backward()`` of a
linear head's cross-entropy (no optimiser step: that is ``benchmarks.loading``'s training-step figure);
inference = ``eval()`` + ``torch.no_grad()``.  Figures are events/s = batch size / median seconds.
"""
from __future__ import annotations

import time

import numpy as np

from benchmarks.common import (Result, base_parser, baseline_encoder, baseline_inputs, family_available, generated_events,
                               median_time, rate, setup, sig)

NAME = "encoders"
SPARSE_FAMILIES = ("ndlar", "sfgd")


def _sync(device: str):
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_encoder(family: str, size: str, events, batch_size: int, repeats: int, device: str,
                 n_classes: int) -> dict:
    import torch

    from benchmark.models import LinearHead
    from benchmark.training.loop import to_device

    torch.manual_seed(0)
    idx = np.arange(min(batch_size, len(events)))
    batch = to_device(baseline_inputs(events)(idx), device)
    y = torch.as_tensor(events.labels[idx] % n_classes, device=device)
    enc = baseline_encoder(family, size).to(device)
    head = LinearHead(enc.out_dim, n_classes).to(device)
    n_par = sum(p.numel() for p in enc.parameters())

    def train():
        enc.train()
        loss = torch.nn.functional.cross_entropy(head(enc(batch)), y)
        loss.backward()
        _sync(device)

    def infer():
        enc.eval()
        with torch.no_grad():
            enc(batch)
        _sync(device)

    t_tr = median_time(train, repeats)["median_s"]
    t_in = median_time(infer, repeats)["median_s"]
    sizes = events.sizes()[idx]
    return {"encoder": type(enc).__name__, "params": n_par, "batch": len(idx), "mean_size": float(sizes.mean()),
            "train_s": t_tr, "infer_s": t_in}


def main(argv=None) -> int:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--families", nargs="+", default=["ndlar", "sfgd", "jets"])
    p.add_argument("--sizes", nargs="+", default=["default"], choices=("default", "full"))
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    setup(args)
    import sys

    import torch

    res = Result(NAME, argv if argv is not None else sys.argv[1:], args.tag)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        res.skip(f"--device {args.device}: torch reports no CUDA device here; nothing measured on GPU")
        res.write(args.out_dir)
        return 1
    from benchmark.data.registry import get_family

    rows = []
    for fam in args.families:
        ok, why = family_available(fam)
        if not ok:
            res.skip(f"family {fam}: cannot import its module ({why})")
            continue
        spec = get_family(fam)
        print(f"[encoders] generating {args.batch_size} {fam} events (not timed) ...", flush=True)
        t = time.perf_counter()
        events = generated_events(fam, args.batch_size)
        res.note(f"{fam}: {len(events)} events generated in {time.perf_counter() - t:.1f} s (not timed)")
        for size in args.sizes:
            print(f"[encoders] {fam} / {spec.event_kind} / {size} ...", flush=True)
            try:
                r = time_encoder(fam, size, events, args.batch_size, args.repeats, args.device, spec.num_classes)
            except (RuntimeError, MemoryError) as exc:  # e.g. out of memory for "full" on a small machine
                res.skip(f"{fam} {size} encoder: {type(exc).__name__}: {str(exc)[:200]}")
                continue
            rows.append([fam, r["encoder"], size, r["params"], r["batch"], sig(r["mean_size"]), sig(r["train_s"]),
                         rate(r["batch"], r["train_s"]), sig(r["infer_s"]), rate(r["batch"], r["infer_s"])])
    if rows:
        res.table(f"Encoder throughput ({args.device}, {args.threads} thread(s))",
                  ["family", "encoder", "size", "parameters", "batch", "mean voxels/constituents", "train s/batch",
                   "train events/s", "inference s/batch", "inference events/s"], rows,
                  "train = forward + backward of a linear head's cross-entropy; inference = eval + no_grad.")
    res.write(args.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
