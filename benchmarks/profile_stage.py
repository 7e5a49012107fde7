"""cProfile of the slowest stage found by the harness: generation (jets by default), or a training step.

    python -m benchmarks.profile_stage                               # jets generate_chunk, 20 jets, nominal
    python -m benchmarks.profile_stage --family ndlar --events 100 --all-domains
    python -m benchmarks.profile_stage --stage train_step --family ndlar
    python -m benchmarks.profile_stage --stage baseline_run --family sfgd --baseline classifier --tag run_sfgd

Why jets generation: in ``benchmarks.generation`` it is the slowest per event by far (Pythia 8
event generation + FastJet clustering per jet, a few jets/s per core against tens to hundreds of
events/s for ndlar/sfgd), and a full jets dataset is millions of jets.  The top entries by own time
and by cumulative time go into the result file; the raw ``.pstats`` is written next to it so it
can be opened with ``python -m pstats`` or snakeviz.

``--stage baseline_run`` profiles one seed of ``python -m benchmark run baselines/<baseline>`` in
process (one protocol, data materialised first and not profiled); it found that resolving datasets
through ``datasets.load_dataset`` (56 calls for one sfgd seed) cost as much as training, which
``benchmark.data.loader.cached_split`` now does once per domain.
"""
from __future__ import annotations

import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.common import REPO_ROOT, RESULTS_DIR, Result, base_parser, family_available, generated_events, make_generator, setup, sig

NAME = "profile_stage"


def _top(stats: pstats.Stats, key: str, n: int) -> list[list]:
    stats.sort_stats(key)
    rows = []
    for func in stats.fcn_list[:n]:
        cc, nc, tt, ct, _ = stats.stats[func]
        filename, line, name = func
        short = filename.replace(str(Path(sys.prefix)), "<venv>").split("/site-packages/")[-1]
        short = short.split("/work/main/")[-1]
        rows.append([f"{short}:{line}({name})", nc, sig(tt), sig(ct)])
    return rows


def main(argv=None) -> int:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--stage", choices=("generation", "train_step", "baseline_run"), default="generation")
    p.add_argument("--baseline", default="classifier", help="with --stage baseline_run: baselines/<name>, or a method folder")
    p.add_argument("--protocol", default="robustness", help="with --stage baseline_run")
    p.add_argument("--epochs", type=int, default=None, help="with --stage baseline_run: override the epochs")
    p.add_argument("--cache-dir", default=None, help="with --stage baseline_run: dataset cache root")
    p.add_argument("--family", default="jets")
    p.add_argument("--events", type=int, default=60)
    p.add_argument("--all-domains", action="store_true", help="render every train domain (default: nominal only)")
    p.add_argument("--top", type=int, default=20)
    args = p.parse_args(argv)
    setup(args)
    res = Result(NAME, argv if argv is not None else sys.argv[1:], args.tag)
    ok, why = family_available(args.family)
    if not ok:
        res.skip(f"family {args.family}: {why}")
        res.write(args.out_dir)
        return 1
    if args.stage == "generation":
        gen = make_generator(args.family)
        ids = np.arange(args.events, dtype=np.int64)
        domains = None if args.all_domains else ["nominal"]

        def work():
            gen.generate_chunk("train", 0, ids, 0, domains=domains)
        # warm-up outside the profile: first-call imports (awkward, fastjet) are not the stage's steady cost
        gen.generate_chunk("train", 1, ids[:2], 0, domains=["nominal"])
        what = f"{args.family} generate_chunk, {args.events} events, {'all train domains' if domains is None else 'nominal'}"
    elif args.stage == "baseline_run":
        import tempfile

        from benchmark.data.materialise import generate
        from benchmark.runner import run_method

        generate(args.family, cache_dir=args.cache_dir, progress=False)   # a no-op when already complete
        out = tempfile.mkdtemp(prefix="simshift-profile-")

        def work():
            method = Path(args.baseline) if "/" in args.baseline else REPO_ROOT / "baselines" / args.baseline
            run_method(method, family=args.family, protocols=[args.protocol],
                       seeds=[0], out=out, cache_dir=args.cache_dir, epochs=args.epochs, progress=False)
        what = (f"{args.baseline} on {args.family} ({args.protocol}, seed 0"
                + (f", {args.epochs} epochs" if args.epochs else "") + ")")
    else:
        import torch

        from benchmark.data.registry import get_family
        from benchmark.models import LinearHead
        from benchmarks.common import baseline_encoder, baseline_inputs

        spec = get_family(args.family)
        ev = generated_events(args.family, args.events)
        batch = baseline_inputs(ev)(np.arange(len(ev)))   # the baselines' input path and encoder
        enc = baseline_encoder(args.family, "default")
        head = LinearHead(enc.out_dim, spec.num_classes)
        opt = torch.optim.AdamW([*enc.parameters(), *head.parameters()])
        y = torch.as_tensor(ev.labels)

        def work():
            for _ in range(3):
                loss = torch.nn.functional.cross_entropy(head(enc(batch)), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
        what = f"{args.family} training step x3 (default encoder, batch {len(ev)})"
    print(f"[profile_stage] profiling {what} ...", flush=True)
    prof = cProfile.Profile()
    t = time.perf_counter()
    prof.enable()
    work()
    prof.disable()
    wall = time.perf_counter() - t
    stats = pstats.Stats(prof, stream=io.StringIO())
    out_dir = Path(args.out_dir) if args.out_dir else RESULTS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = out_dir / f"{res.name}.pstats"
    stats.dump_stats(str(raw))
    res.extra["profiled"] = what
    res.extra["profiled_wall_s"] = round(wall, 2)
    res.note(f"profiled: {what}; wall {wall:.1f} s under cProfile (profiling overhead included); raw stats: {raw.name}")
    hf = [(v[1], v[3]) for (f, _, n), v in stats.stats.items() if n == "load_dataset" and f.endswith("datasets/load.py")]
    if hf:
        res.note(f"datasets.load_dataset: {hf[0][0]} calls, {hf[0][1]:.1f} s cumulative")
    cols = ["function", "calls", "own s", "cumulative s"]
    res.table(f"Top {args.top} by own time: {what}", cols, _top(stats, "tottime", args.top))
    res.table(f"Top {args.top} by cumulative time: {what}", cols, _top(stats, "cumulative", args.top))
    res.write(args.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
