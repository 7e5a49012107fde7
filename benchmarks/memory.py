"""Peak memory (max RSS of a fresh subprocess) of generation, loading and training.

    python -m benchmarks.memory                         # sfgd + ndlar generation, sfgd loading, default training
    python -m benchmarks.memory --families ndlar sfgd jets --full-training

Each measurement runs in its own subprocess (``python -m benchmarks.memory --child <what>``) and the
figure is that process's peak resident set size from ``os.wait4``.  An "imports" child (numpy,
torch, spconv, the benchmark package, nothing done) gives the fixed floor every figure contains.

* generation: one ``generate_chunk`` of the generator's own ``chunk_size`` true events, every domain of
  the train split: what one worker of ``benchmark generate`` holds at most (a pool of W workers
  needs about W times this);
* loading: ``load_events`` of ``nominal/train`` plus building the baselines' encoder inputs of all of it
  in batches of 64 (``benchmarks.common.baseline_inputs``), on a dataset subset generated
  into a temporary cache (or ``--cache-dir``).  The split is held in memory as an EventSet, so memory
  grows linearly with the events loaded: the table gives the per-event slope over the floor and the
  linear extrapolation to the default and full presets (marked as extrapolated, not measured);
* training: ``--steps`` optimisation steps (AdamW) of the baselines' default encoder of the family
  (``benchmarks.common.baseline_encoder``) + linear head on a batch of generated ND-LAr events, in the
  baselines' input layout; ``--full-training`` adds the "full" (study-sized) encoder with a
  small batch, which is slow on a CPU.
"""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import (Result, base_parser, child_env, family_available, last_json_line, make_generator,
                               python_module_cmd, run_child, setup, sig)

NAME = "memory"
LOAD_SHARD = {"ndlar": "0/12", "sfgd": "0/10", "jets": "0/8", "toy": "0/1"}


def _child(args) -> dict:
    import torch

    torch.set_num_threads(1)
    import benchmark.models  # noqa: F401 - the floor includes the package and spconv
    import benchmark.data.loader  # noqa: F401

    out: dict = {"what": args.child}
    if args.child == "generation":
        gen = make_generator(args.family)
        ids = np.arange(gen.chunk_size, dtype=np.int64)
        t = time.perf_counter()
        res = gen.generate_chunk("train", 0, ids, 0)
        out.update(events=int(gen.chunk_size), domains=len(res), seconds=time.perf_counter() - t)
    elif args.child == "loading":
        from benchmarks.common import isolate_hf_cache

        isolate_hf_cache(tempfile.mkdtemp(prefix="simshift-bench-hf-"))  # no stale shared cache (see there)
        from benchmark.data.loader import load_events
        from benchmarks.common import baseline_inputs

        ev = load_events(args.family, "nominal", "train", cache_dir=args.cache_dir)
        order = np.random.default_rng(0).permutation(len(ev))
        inputs = baseline_inputs(ev)
        for i in range(0, len(ev), 64):
            inputs(order[i:i + 64])
        arrays = [ev.event_id, ev.offsets, ev.coords, ev.charge, ev.p4, *ev.meta.values()]
        if ev.has_labels:
            arrays.append(ev.labels)
        out.update(events=len(ev), constituents=int(ev.offsets[-1]),
                   eventset_bytes=int(sum(a.nbytes for a in arrays if a is not None)))
    elif args.child == "training":
        from benchmark.data.registry import get_family
        from benchmark.models import LinearHead
        from benchmarks.common import baseline_encoder, baseline_inputs, generated_events

        ev = generated_events(args.family, args.batch_size)
        spec = get_family(args.family)
        batch = baseline_inputs(ev)(np.arange(len(ev)))
        y = torch.as_tensor(ev.labels)
        torch.manual_seed(0)
        enc = baseline_encoder(args.family, args.size)
        head = LinearHead(enc.out_dim, spec.num_classes)
        opt = torch.optim.AdamW([*enc.parameters(), *head.parameters()], lr=1e-4)
        t = time.perf_counter()
        for _ in range(args.steps):
            loss = torch.nn.functional.cross_entropy(head(enc(batch)), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        out.update(events=len(ev), steps=args.steps, size=args.size, seconds=time.perf_counter() - t,
                   params=sum(p.numel() for p in enc.parameters()))
    elif args.child != "imports":
        raise SystemExit(f"unknown child {args.child!r}")
    print(json.dumps(out), flush=True)
    return out


def measure(res: Result, label: str, args, *child_args: str, timeout: float) -> dict | None:
    cmd = python_module_cmd("benchmarks.memory", "--child", *child_args, family_refs=args.family_ref)
    print(f"[memory] {label} ...", flush=True)
    r = run_child(cmd, timeout=timeout, env=child_env())
    if r["returncode"] != 0:
        why = f"timed out after {timeout:g} s" if r["timed_out"] else f"exit {r['returncode']}: {r['output'][-400:]}"
        res.skip(f"{label}: {why}")
        return None
    info = last_json_line(r["output"])
    info.update(max_rss_mib=r["max_rss_mib"], wall_s=r["wall_s"])
    return info


def main(argv=None) -> int:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--families", nargs="+", default=["sfgd", "ndlar"], help="generation families")
    p.add_argument("--loading-family", default="sfgd")
    p.add_argument("--cache-dir", help="materialised datasets to load (default: generate a temp subset)")
    p.add_argument("--training-family", default="ndlar")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--full-training", action="store_true", help="also the 'full' encoder (slow on CPU)")
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--child", help=__import__("argparse").SUPPRESS)
    p.add_argument("--family", help=__import__("argparse").SUPPRESS)
    p.add_argument("--size", default="default", help=__import__("argparse").SUPPRESS)
    args = p.parse_args(argv)
    setup(args)
    if args.child:
        _child(args)
        return 0
    res = Result(NAME, argv if argv is not None else sys.argv[1:], args.tag)
    rows = []
    floor = measure(res, "imports only", args, "imports", timeout=args.timeout)
    base = floor["max_rss_mib"] if floor else float("nan")
    if floor:
        rows.append(["floor", "imports only (numpy, torch, spconv, benchmark)", "", "", sig(base), "", ""])
    for fam in args.families:
        ok, why = family_available(fam)
        if not ok:
            res.skip(f"generation memory of {fam}: {why}")
            continue
        r = measure(res, f"generation {fam}", args, "generation", "--family", fam, timeout=args.timeout)
        if r:
            rows.append(["generation", f"{fam}: one chunk, all {r['domains']} train domains", r["events"], "",
                         sig(r["max_rss_mib"]), sig(r["max_rss_mib"] - base), "measured"])
    fam = args.loading_family
    ok, why = family_available(fam)
    tmp = None
    if not ok:
        res.skip(f"loading memory of {fam}: {why}")
    else:
        cache = args.cache_dir
        try:
            if cache is None:
                from benchmark.data.materialise import generate

                tmp = cache = tempfile.mkdtemp(prefix="simshift-bench-mem-")
                print(f"[memory] generating {fam} shard {LOAD_SHARD.get(fam, '0/1')} (not measured) ...", flush=True)
                generate(fam, "default", shard=LOAD_SHARD.get(fam, "0/1"), cache_dir=cache, progress=False)
            r = measure(res, f"loading {fam}", args, "loading", "--family", fam, "--cache-dir", str(cache),
                        timeout=args.timeout)
        finally:
            if tmp:
                shutil.rmtree(tmp, ignore_errors=True)
        if r:
            n = r["events"]
            above = r["max_rss_mib"] - base
            per_event = r["eventset_bytes"] / max(n, 1)  # exact bytes of the in-memory arrays per event
            fixed = above - r["eventset_bytes"] / 2**20
            rows.append(["loading", f"{fam}: nominal/train + encoder inputs", n, r["constituents"], sig(r["max_rss_mib"]),
                         sig(above), f"measured (EventSet arrays {sig(r['eventset_bytes'] / 2**20)} MiB)"])
            gen = make_generator(fam)
            for preset in ("default", "full"):
                n_p = gen.sizes.get(preset, {}).get("train")
                if n_p:
                    est = above + (n_p - n) * per_event / 2**20
                    rows.append(["loading", f"{fam}: nominal/train at preset {preset!r}", n_p, "",
                                 sig(base + est), sig(est), "EXTRAPOLATED lower bound (see note)"])
            res.note(f"loading extrapolation ({fam}): the measured peak at {n} events is the floor + "
                     f"{sig(fixed)} MiB of size-independent overhead (datasets/pyarrow import, Arrow cache build) + "
                     f"the EventSet arrays, {sig(per_event)} bytes/event (exact nbytes, {sig(r['constituents'] / n)} "
                     "voxels/event). Estimate at N events = measured peak + (N - n) x bytes/event. It is a LOWER "
                     "bound: while load_events converts, the Arrow table (memory-mapped by Hugging Face, so it "
                     "counts in RSS once touched) and the numpy copies coexist, which can add up to the same again. "
                     "Not measured at those sizes.")
    sizes = ["default"] + (["full"] if args.full_training else [])
    ok, why = family_available(args.training_family)
    for size in sizes if ok else []:
        r = measure(res, f"training {args.training_family} {size}", args, "training", "--family",
                    args.training_family, "--size", size, "--batch-size",
                    str(args.batch_size if size == "default" else min(args.batch_size, 4)), "--steps",
                    str(args.steps if size == "default" else 1), timeout=args.timeout)
        if r:
            rows.append(["training", f"{args.training_family}: {size} encoder ({r['params']} params), "
                         f"{r['steps']} AdamW steps, batch {r['events']}", r["events"], "", sig(r["max_rss_mib"]),
                         sig(r["max_rss_mib"] - base), "measured"])
    if not ok:
        res.skip(f"training memory: {why}")
    if not args.full_training:
        res.note("full-size encoder training not run (pass --full-training): the study-sized sparse encoder has "
                 "~100 M parameters (params + grads + 2 AdamW moments = 16 bytes/parameter before activations) "
                 "and is meant for a GPU.")
    res.table("Peak memory (max RSS of a subprocess)",
              ["stage", "what", "events", "voxels/constituents", "peak RSS MiB", "above floor MiB", "how"], rows,
              "Floor = a child that only imports the libraries. Peak RSS of one generation worker; a pool of W "
              "workers needs about W times that.")
    res.write(args.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
