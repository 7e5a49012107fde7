"""Data loading throughput against a plain h5py read, and against what one training step consumes.

    python -m benchmarks.loading                                   # ndlar nominal/train, about 2 minutes
    python -m benchmarks.loading --cache-dir ~/.cache/simshift     # an already materialised dataset
    python -m benchmarks.loading --families ndlar sfgd jets --batch-size 128

For each family (``nominal`` domain, ``train`` split):

* loader: ``benchmark.data.loader.load_events`` (Hugging Face dataset -> Arrow -> EventSet) then the
  torch baselines' encoder inputs (the event kind's ``inputs``, ``benchmarks.common.baseline_inputs``:
  voxels collated, jets preprocessed once and cut to JetCLR's 50 constituents) over the whole split in
  shuffled batches of ``--batch-size``.
  The first ``load_events`` call converts the HDF5 parts into the Hugging Face Arrow cache ("cold");
  later calls reuse it ("warm"); both are reported.
* plain h5py: the fastest direct read of the same HDF5 part files we know: ``ds[()]`` of every column
  (vlen columns come back as object arrays of numpy arrays) then one ``np.concatenate`` into flat arrays
  with offsets, built into an EventSet by the same kind code as the loader's, then the same inputs.  The ratio
  loader/h5py is the figure (> 1 means the loader is faster).
* training step: one optimisation step (forward, backward, AdamW) of the baselines' default encoder of
  the family (``benchmarks.common.baseline_encoder``) plus a linear head with cross-entropy, on the same
  batches;
  ``loading >= 10 x training`` is checked and reported.

Unless ``--cache-dir`` is given the data are generated into a temporary cache first: the whole
``nominal`` train split of the default preset, the split a baseline reads (a shard of it would not load:
the loader reads only complete domains; generation time is not part of any loading figure).
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import (Result, base_parser, baseline_encoder, baseline_inputs, family_available,
                               flatten_ragged, isolate_hf_cache, median_time, rate, setup, sig)

NAME = "loading"


def h5py_read(folder: Path, domain: str, split: str, kind: str):
    """Plain h5py read of one split's part files into an EventSet (flat arrays + offsets)."""
    import h5py

    from benchmark.kinds import get_kind

    files = sorted((folder / "data" / domain).glob(f"{split}-*.h5"))
    if not files:
        raise FileNotFoundError(f"no {split} parts in {folder / 'data' / domain}")
    k = get_kind(kind)
    ids, labels, ragged = [], [], {}
    for f in files:
        with h5py.File(f, "r") as h5:
            ids.append(h5["event_id"][()])
            labels.append(h5["label"][()])
            for n in k.ragged_columns:
                ragged.setdefault(n, []).extend(h5[n][()])
    event_id = np.concatenate(ids).astype(np.int64)
    label = np.concatenate(labels).astype(np.int64)
    return k.event_set("?", domain, split, event_id, {n: flatten_ragged(v) for n, v in ragged.items()},
                       labels=label)


def batches(n: int, batch_size: int, seed: int = 0) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def collate_all(events, index_batches):
    """The baselines' encoder inputs of every batch (built per EventSet, as the baselines do)."""
    inputs = baseline_inputs(events)
    return [inputs(idx) for idx in index_batches]


def train_step_rate(family: str, n_classes: int, collated: list, labels: np.ndarray, index_batches, repeats: int,
                    device: str = "cpu") -> tuple[float, float, int]:
    """(median s per step, events/s, steps timed) of one optimisation step of the default encoder."""
    import torch

    from benchmark.models import LinearHead
    from benchmark.training.loop import to_device

    torch.manual_seed(0)
    enc = baseline_encoder(family, "default").to(device)
    head = LinearHead(enc.out_dim, n_classes).to(device)
    opt = torch.optim.AdamW([*enc.parameters(), *head.parameters()], lr=1e-3)
    full = [i for i, idx in enumerate(index_batches) if len(idx) == len(index_batches[0])] or [0]
    k = {"i": 0}

    def step():
        j = full[k["i"] % len(full)]
        k["i"] += 1
        batch = to_device(collated[j], device)
        y = torch.as_tensor(labels[index_batches[j]], device=device)
        loss = torch.nn.functional.cross_entropy(head(enc(batch)), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    steps = max(repeats, 3)
    t = median_time(step, repeats=steps, warmup=1)
    return t["median_s"], rate(len(index_batches[full[0]]), t["median_s"]), steps


def bench_family(res: Result, family: str, cache: Path, args) -> list[list]:
    from benchmark.data.loader import load_events, resolve_folder
    from benchmark.data.registry import get_family

    spec = get_family(family)
    folder = resolve_folder(family, "generated", "default", cache)
    t0 = time.perf_counter()
    ev = load_events(family, "nominal", "train", cache_dir=cache)
    cold = time.perf_counter() - t0
    n = len(ev)
    idx = batches(n, args.batch_size)
    holder = {}

    def loader_all():
        e = load_events(family, "nominal", "train", cache_dir=cache)
        holder["ev"] = e
        holder["batches"] = collate_all(e, idx)

    def loader_only():
        load_events(family, "nominal", "train", cache_dir=cache)

    def collate_only():
        collate_all(ev, idx)

    def h5_all():
        e = h5py_read(folder, "nominal", "train", spec.event_kind)
        collate_all(e, idx)

    def h5_only():
        h5py_read(folder, "nominal", "train", spec.event_kind)

    r = args.repeats
    t_loader = median_time(loader_all, r)["median_s"]
    t_load = median_time(loader_only, r)["median_s"]
    t_coll = median_time(collate_only, r)["median_s"]
    t_h5 = median_time(h5_all, r)["median_s"]
    t_h5o = median_time(h5_only, r)["median_s"]
    # same content check: the comparison is only fair if both paths read the same events
    e_h5 = h5py_read(folder, "nominal", "train", spec.event_kind)
    if not (np.array_equal(np.sort(e_h5.event_id), np.sort(ev.event_id)) and e_h5.offsets[-1] == ev.offsets[-1]):
        raise RuntimeError(f"{family}: h5py and load_events read different events; the comparison is void")
    rows = [[family, n, "load_events (first call, builds the HF Arrow cache)", sig(cold), rate(n, cold), ""],
            [family, n, "load_events (warm)", sig(t_load), rate(n, t_load), ""],
            [family, n, f"collate only (batches of {args.batch_size})", sig(t_coll), rate(n, t_coll), ""],
            [family, n, "loader: load_events (warm) + collate", sig(t_loader), rate(n, t_loader), 1.0],
            [family, n, "plain h5py read", sig(t_h5o), rate(n, t_h5o), ""],
            [family, n, "plain h5py read + collate", sig(t_h5), rate(n, t_h5), sig(t_h5 / t_loader)]]
    step_s, step_rate, steps = train_step_rate(family, spec.num_classes, holder["batches"],
                                               ev.labels, idx, r, args.device)
    loader_rate = n / t_loader
    epoch_rate = n / t_coll
    ok = loader_rate >= 10 * step_rate
    res.extra.setdefault("checks", []).append(
        {"family": family, "events": n, "loader_events_per_s": sig(loader_rate), "collate_events_per_s": sig(epoch_rate),
         "train_step_events_per_s": step_rate, "ratio": sig(loader_rate / step_rate),
         "ratio_per_epoch": sig(epoch_rate / step_rate), "loading_at_least_10x_training": bool(ok),
         "per_epoch_at_least_10x_training": bool(epoch_rate >= 10 * step_rate)})
    res.note(f"{family}: loader (load_events + collate, first pass) {sig(loader_rate)} events/s vs one training step "
             f"{step_rate} events/s (default encoder, batch {args.batch_size}, {args.threads} thread(s), median of "
             f"{steps} steps): ratio {sig(loader_rate / step_rate)} -> loading >= 10x training: {'YES' if ok else 'NO'}. "
             f"Later epochs only collate from the in-memory EventSet: {sig(epoch_rate)} events/s, ratio "
             f"{sig(epoch_rate / step_rate)}. load_events has a fixed cost (Hugging Face load_dataset) that weighs "
             f"more on small splits ({n} events here).")
    rows.append([family, len(idx[0]), f"training step (default encoder + linear head, AdamW, {args.device})",
                 sig(step_s), step_rate, ""])
    return rows


def main(argv=None) -> int:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--families", nargs="+", default=["ndlar"])
    p.add_argument("--cache-dir", help="use datasets already materialised here (default: generate a temp subset)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="cpu", help="device of the training step (cpu, cuda)")
    args = p.parse_args(argv)
    setup(args)
    import sys

    res = Result(NAME, argv if argv is not None else sys.argv[1:], args.tag)
    tmp = None if args.cache_dir else tempfile.mkdtemp(prefix="simshift-bench-load-")
    cache = Path(args.cache_dir or tmp)
    hf_tmp = tempfile.mkdtemp(prefix="simshift-bench-hf-")
    isolate_hf_cache(hf_tmp)
    rows = []
    try:
        for fam in args.families:
            ok, why = family_available(fam)
            if not ok:
                res.skip(f"family {fam}: cannot import its module ({why})")
                continue
            if tmp is not None:
                from benchmark.data.materialise import generate

                print(f"[loading] generating {fam} nominal/train into {cache} (not timed) ...", flush=True)
                t = time.perf_counter()
                generate(fam, "default", seed=0, cache_dir=cache, progress=False, domains=["nominal"],
                         splits=["train"])
                res.note(f"{fam}: test data = the default preset's nominal/train, generated in "
                         f"{time.perf_counter() - t:.1f} s (not part of any figure)")
            print(f"[loading] {fam}: timing ...", flush=True)
            rows += bench_family(res, fam, cache, args)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(hf_tmp, ignore_errors=True)
    if rows:
        res.table("Loading: loader vs plain h5py vs one training step (nominal/train)",
                  ["family", "events", "path", "median s", "events/s", "h5py time / loader time"], rows,
                  "'h5py time / loader time' > 1 means the loader is faster than the plain h5py read. "
                  "The training-step row times one batch; its events/s is what training consumes.")
    res.write(args.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
