"""Training-step and inference throughput of the shared encoders, as the baselines run them, CPU or GPU.

    python -m benchmarks.encoders                                # default and full encoders, CPU, 1 thread
    python -m benchmarks.encoders --sizes default
    python -m benchmarks.encoders --device cuda --sizes default full

Inputs are real generated events (``generate_chunk`` of the ``nominal`` domain, not read from disk):
ND-LAr and SFGD events for the sparse ConvNeXt encoder (spconv backend), jets (Pythia) for the jet
transformer. Batch and encoder are the torch baselines' own (``benchmarks.common.baseline_inputs`` /
``baseline_encoder``: the event kind's ``inputs`` and ``build_encoder`` with the family's training
defaults), so jets are JetCLR's 50 preprocessed constituents, not the raw collate's 200.  Batch sizes
are the family's training defaults at each size (``benchmark.training.hparams``: the training batch
for the step, ``eval_batch_size`` for inference) unless ``--batch-size`` is given.  Training step =
forward + backward of a linear head's cross-entropy + the optimiser step (Adam/AdamW as the defaults);
inference = ``eval()`` + ``torch.no_grad()``.  Figures are events/s = batch size / median seconds;
the first call (warm-up: allocations, spconv's algorithm choice) is timed apart as the start-up.
Each encoder is timed in its own process (its events generated there, not timed): a batch that does
not fit in memory gets the process killed, and the row is re-measured at half the batch (noted).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from benchmarks.common import (Result, base_parser, baseline_encoder, baseline_inputs, child_env, family_available,
                               generated_events, last_json_line, median_time, python_module_cmd, rate, run_child, setup,
                               sig)

NAME = "encoders"
SPARSE_FAMILIES = ("ndlar", "sfgd")


def _sync(device: str):
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def baseline_batch_sizes(family: str, size: str) -> tuple[int, int]:
    """(training batch, inference batch) of the torch baselines for ``family`` at ``size``."""
    from benchmark.training.hparams import training_defaults

    d = training_defaults(family, size)
    return int(d["batch_size"]), int(d["eval_batch_size"])


def time_encoder(family: str, size: str, events, train_batch: int, infer_batch: int, repeats: int, device: str,
                 n_classes: int) -> dict:
    import torch

    from benchmark.models import LinearHead
    from benchmark.training.hparams import training_defaults
    from benchmark.training.loop import LoopConfig, make_optimizer, to_device

    torch.manual_seed(0)
    make = baseline_inputs(events)
    idx_tr, idx_in = np.arange(min(train_batch, len(events))), np.arange(min(infer_batch, len(events)))
    batch_tr, batch_in = to_device(make(idx_tr), device), to_device(make(idx_in), device)
    y = torch.as_tensor(events.labels[idx_tr] % n_classes, device=device)
    enc = baseline_encoder(family, size).to(device)
    head = LinearHead(enc.out_dim, n_classes).to(device)
    n_par = sum(p.numel() for p in enc.parameters())
    d = training_defaults(family, size)
    opt = make_optimizer([*enc.named_parameters(), *head.named_parameters()],
                         LoopConfig(epochs=1, lr=d["lr"], weight_decay=d["weight_decay"], optimizer=d["optimizer"]))

    def train():
        enc.train()
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(head(enc(batch_tr)), y)
        loss.backward()
        opt.step()
        _sync(device)

    def infer():
        enc.eval()
        with torch.no_grad():
            enc(batch_in)
        _sync(device)

    out = {}
    for name, fn in (("train", train), ("infer", infer)):
        t = time.perf_counter()
        fn()
        first = time.perf_counter() - t
        out[f"{name}_s"] = median_time(fn, repeats, warmup=0)["median_s"]
        out[f"{name}_startup_s"] = max(first - out[f"{name}_s"], 0.0)
    sizes = events.sizes()[idx_tr]
    return {"encoder": type(enc).__name__, "params": n_par, "train_batch": len(idx_tr), "infer_batch": len(idx_in),
            "mean_size": float(sizes.mean()), **out}


def _time_in_child(family: str, size: str, train_batch: int, infer_batch: int, args) -> tuple[dict | None, str]:
    """Time one encoder in a fresh process, so that running out of memory (the kernel kills the process,
    nothing to catch) costs this row only; halve the batch until it fits (down to 8)."""
    why = ""
    while True:
        cmd = python_module_cmd("benchmarks.encoders", "--child", family, size, str(train_batch), str(infer_batch),
                                "--repeats", str(args.repeats), "--threads", str(args.threads),
                                "--device", args.device, family_refs=args.family_ref)
        out = run_child(cmd, env=child_env(), timeout=3600)
        if out["returncode"] == 0:
            return last_json_line(out["output"]), why
        killed = out["returncode"] in (-9, 137) or "out of memory" in out["output"].lower()
        why = (f"killed at batch {train_batch} (out of memory: peak RSS {out['max_rss_mib']:.0f} MiB)" if killed
               else f"exit {out['returncode']}: {out['output'][-300:]}")
        if not killed or train_batch <= 8:
            return None, why
        train_batch, infer_batch = train_batch // 2, min(infer_batch, train_batch // 2)


def _child(family: str, size: str, train_batch: int, infer_batch: int, args) -> dict:
    from benchmark.data.registry import get_family

    spec = get_family(family)
    events = generated_events(family, max(train_batch, infer_batch))
    return time_encoder(family, size, events, train_batch, infer_batch, args.repeats, args.device, spec.num_classes)


def main(argv=None) -> int:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--families", nargs="+", default=["ndlar", "sfgd", "jets"])
    p.add_argument("--sizes", nargs="+", default=["default", "full"], choices=("default", "full"))
    p.add_argument("--batch-size", type=int, default=None,
                   help="one batch size for training and inference (default: the baselines' own per family and size)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--child", nargs=4, metavar=("FAMILY", "SIZE", "TRAIN_BATCH", "INFER_BATCH"),
                   help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    setup(args)
    if args.child:
        fam, size, tb, ib = args.child
        print(json.dumps(_child(fam, size, int(tb), int(ib), args)))
        return 0
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
        batches = {size: ((args.batch_size,) * 2 if args.batch_size else baseline_batch_sizes(fam, size))
                   for size in args.sizes}
        for size in args.sizes:
            print(f"[encoders] {fam} / {spec.event_kind} / {size} ...", flush=True)
            r, why = _time_in_child(fam, size, *batches[size], args)
            if r is None:
                res.skip(f"{fam} {size} encoder: {why}")
                continue
            if r["train_batch"] < batches[size][0]:
                res.note(f"{fam} {size}: the baselines' training batch of {batches[size][0]} did not fit in this "
                         f"machine's memory ({why}); measured at {r['train_batch']}")
            rows.append([fam, r["encoder"], size, r["params"], sig(r["mean_size"]), r["train_batch"],
                         sig(r["train_startup_s"]), sig(r["train_s"]), rate(r["train_batch"], r["train_s"]),
                         r["infer_batch"], sig(r["infer_s"]), rate(r["infer_batch"], r["infer_s"])])
    if rows:
        res.table(f"Encoder throughput ({args.device}, {args.threads} thread(s))",
                  ["family", "encoder", "size", "parameters", "mean voxels/constituents", "train batch",
                   "train start-up s", "train s/step", "train events/s", "inference batch", "inference s/batch",
                   "inference events/s"], rows,
                  "train step = forward + backward of a linear head's cross-entropy + the optimiser step, at the "
                  "baselines' training batch; inference = eval + no_grad at their inference batch; start-up = the "
                  f"first step's extra time. Median of {args.repeats} after the first.")
    res.write(args.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
