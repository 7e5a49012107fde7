"""Scoring one fitted model under ``robustness`` and ``linear_probe``: one encoder pass per test set or two.

    python -m benchmarks.scoring                                   # classifier on ndlar, sfgd, jets
    python -m benchmarks.scoring --families ndlar --methods classifier simclr

The runner fits once per seed and scores that model under every protocol of its fit group
(``benchmark.runner.run_fit_seed``): ``robustness`` through the method's ``predict`` (a head on the
encoder output) and ``linear_probe`` through its ``embed`` (the encoder output itself, then the
benchmark's logistic regression), over the test split of every domain of the family.  The torch methods
keep the encoder output of each test EventSet (``TorchMethod.embed``), so the second protocol does not
run the encoder over the same events again.  This script measures both ways in one process on the same
fitted model (``--epochs`` of training, 1 by default: inference time does not depend on how well the
model learned):

* ``separate``: the stored outputs are dropped before each protocol (what each protocol cost when it
  made its own pass);
* ``shared``: both protocols in a row, as the runner scores them.

It checks that both ways give the same predictions (the comparison is void otherwise) and reports the
seconds per protocol and the ratio.  Data: the default preset in ``--cache-dir`` (generated if missing).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import REPO_ROOT, Result, base_parser, family_available, setup, sig

NAME = "scoring"
PROTOCOLS = ("robustness", "linear_probe")


def fitted(method_name: str, family: str, cache_dir, epochs: int, workdir: Path):
    """The method fitted once (as the runner does for a seed) and the tasks of its two protocols."""
    from benchmark.data.registry import get_family
    from benchmark.methods.base import RunContext, load_method_spec
    from benchmark.runner import ensure_data, seed_everything
    from benchmark.tasks import get_task

    ensure_data(family, None, "default", cache_dir, True)
    tasks = [get_task(p, family, cache_dir=cache_dir) for p in PROTOCOLS]
    tasks[1].share_cache(tasks[0])
    folder = Path(method_name) if Path(method_name).is_dir() else REPO_ROOT / "baselines" / method_name
    spec = load_method_spec(folder)
    seed_everything(0)
    ctx = RunContext(family=get_family(family), protocol=PROTOCOLS[0], seed=0, workdir=workdir, epochs=epochs,
                     progress=False)
    method = spec.instantiate(ctx)
    t0 = time.perf_counter()
    method.fit(tasks[0].method_data())
    return method, tasks, time.perf_counter() - t0


def score_both(method, tasks, test, shared: bool) -> tuple[list[float], dict, int]:
    """Seconds per protocol, the predictions of each and the number of encoder passes over a test set,
    scoring as the runner does (from a process's state after ``fit``: neither the encoder outputs nor the
    collated inputs of the test sets are built)."""
    seconds, preds = [], {}
    method._embeddings.clear()
    method._inputs_cache.clear()
    test_sets = {id(ev) for ev in test.values()}
    passes = []
    run = type(method)._run
    method._run = lambda fn, events, desc: passes.append(id(events) in test_sets) or run(method, fn, events, desc)
    try:
        for task in tasks:
            if not shared:
                method._embeddings.clear()
            t0 = time.perf_counter()
            _, predictions = task.rules.score(task, method, test)
            seconds.append(time.perf_counter() - t0)
            preds[task.protocol] = predictions
    finally:
        del method._run
    return seconds, preds, sum(passes)


def same_predictions(a: dict, b: dict) -> bool:
    return all(np.array_equal(a[p][d][0], b[p][d][0]) and np.array_equal(a[p][d][1], b[p][d][1])
               for p in a for d in a[p])


def main(argv: list[str] | None = None) -> int:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--families", nargs="+", default=["ndlar", "sfgd", "jets"])
    p.add_argument("--methods", nargs="+", default=["classifier"],
                   help="baselines (names under baselines/ or method folders) with both protocols")
    p.add_argument("--epochs", type=int, default=1, help="training epochs before scoring (default 1)")
    p.add_argument("--cache-dir", help="data cache (default: the normal one)")
    args = p.parse_args(argv)
    setup(args)
    res = Result(NAME, argv)
    rows = []
    for family in args.families:
        ok, why = family_available(family)
        if not ok:
            res.skip(f"{family}: {why}")
            continue
        for name in args.methods:
            with tempfile.TemporaryDirectory(prefix="simshift-scoring-") as tmp:
                method, tasks, fit_s = fitted(name, family, args.cache_dir, args.epochs, Path(tmp))
                test = {}
                for task in tasks:
                    test.update(task.test_inputs())
                n_test = sum(len(ev) for ev in test.values())
                sep, pred_sep, passes_sep = score_both(method, tasks, test, shared=False)
                sha, pred_sha, passes_sha = score_both(method, tasks, test, shared=True)
                if not same_predictions(pred_sep, pred_sha):
                    raise RuntimeError(f"{name} on {family}: shared and separate encoder passes gave different "
                                       "predictions; the comparison is void")
                rows.append([family, Path(name).name, len(test), n_test, sig(fit_s), passes_sep, sig(sep[0]),
                             sig(sep[1]), sig(sum(sep)), passes_sha, sig(sha[0]), sig(sha[1]), sig(sum(sha)),
                             sig(sum(sep) / sum(sha))])
    res.table("Scoring robustness then linear_probe: an encoder pass per protocol (separate) or one (shared)",
              ["family", "method", "test domains", "test events", f"fit s ({args.epochs} epoch)",
               "separate: encoder passes", "separate: robustness s", "separate: linear_probe s", "separate s",
               "shared: encoder passes", "shared: robustness s", "shared: linear_probe s", "shared s",
               "separate / shared"], rows,
              note=f"One process, {args.threads} torch thread(s), seed 0; predictions of both ways checked "
                   "identical. Encoder passes: over a test set, both protocols together. linear_probe also embeds the source train and validation splits and fits "
                   "its logistic regression: that part is the same both ways.")
    res.write(args.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
