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

It then projects the saving onto the grid (``results/baseline_grid.json`` at ``--grid-rev``, default
5cf4aa4: the last grid all of whose seeds scored with an encoder pass per protocol): each
``linear_probe+robustness`` fit of a torch baseline loses the measured per-seed saving of that baseline on
that family (of the classifier where the baseline was not measured: same encoder, another head), and the
``--jobs 2`` wall is recomputed as ``run_baseline_grid`` computes it (pairs handed longest first).  A
projection from measured parts, not a re-run of the grid.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import REPO_ROOT, RESULTS_DIR, Result, base_parser, family_available, setup, sig

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


def project_grid(saving_s: dict[tuple[str, str], float], grid: dict, jobs: int = 2) -> tuple[list[list], float, float]:
    """The grid's run-time table with each torch baseline's ``linear_probe+robustness`` fits shortened by
    the per-seed scoring saving measured here (``saving_s[(method, family)]``; the classifier's where the
    method was not measured), and the computed ``--jobs`` wall before and after."""
    from benchmarks.run_baseline_grid import BASELINES, FAMILIES, RUN_TIME, makespan, pair_hours, schedule

    table = next(t for t in grid["tables"] if t["title"].startswith(RUN_TIME))
    order = {(b, f): i for i, (b, f) in enumerate((b, f) for f in FAMILIES for b in BASELINES)}
    rows, projected = [], []
    for baseline, family, fit, n_fits, hours in (r for r in table["rows"] if r[0] != "all"):
        saving = 0.0
        if fit == "linear_probe+robustness" and baseline != "linear_probe":
            per_seed = saving_s.get((baseline, family), saving_s.get(("classifier", family)))
            if per_seed is None:
                raise ValueError(f"no scoring saving measured on {family}: run with --families {family}")
            saving = per_seed * n_fits / 3600
            rows.append([baseline, family, n_fits, hours, sig(saving), sig(hours - saving)])
        projected.append([baseline, family, fit, n_fits, hours - saving])
    before, after = pair_hours(table["rows"]), pair_hours(projected)
    pairs = sorted(before, key=lambda bf: order.get(bf, len(order)))
    walls = [makespan([h[bf] for bf in schedule(pairs, h)], jobs) for h in (before, after)]
    n_all = sum(r[3] for r in table["rows"] if r[0] != "all")
    rows.append(["all (whole grid)", "", n_all, round(sum(before.values()), 2),
                 sig(sum(before.values()) - sum(after.values())), round(sum(after.values()), 2)])
    return rows, walls[0], walls[1]


PROJECTION = "The grid's linear_probe+robustness fits with one encoder pass per test set (projected)"


GRID = RESULTS_DIR / "baseline_grid.json"
#: the last commit whose grid run-time table was measured entirely with an encoder pass per protocol (the
#: working tree's has rows re-run with one pass, which a projection would count twice)
GRID_BEFORE_ONE_PASS = "5cf4aa4"


def read_grid(rev: str) -> tuple[dict | None, str]:
    """The grid result as committed at git revision ``rev`` ("working-tree": the file as it is now) and how
    to name it; None (with the reason as the name) when it cannot be read."""
    rel = GRID.relative_to(REPO_ROOT).as_posix()
    if rev == "working-tree":
        return (json.loads(GRID.read_text()) if GRID.exists() else None), rel
    import subprocess

    text = subprocess.run(["git", "show", f"{rev}:{rel}"], cwd=REPO_ROOT, capture_output=True, text=True)
    if text.returncode != 0:
        return None, f"cannot read {rel} at {rev} ({text.stderr.strip()}; a shallow clone lacks it)"
    return json.loads(text.stdout), f"{rel} at {rev}"


def add_projection(res: Result, saving_s: dict[tuple[str, str], float], grid_rev: str = GRID_BEFORE_ONE_PASS) -> None:
    """Add (or replace) the projection of the measured savings onto the grid's run-time table."""
    res.tables = [t for t in res.tables if t["title"] != PROJECTION]
    if not {f for _, f in saving_s} >= {"sfgd", "jets", "ndlar"}:
        res.skip("grid projection: needs savings measured on sfgd, jets and ndlar")
        return
    grid, grid_name = read_grid(grid_rev)
    if grid is None:
        res.skip(f"grid projection: {grid_name}")
        return
    rows, wall_before, wall_after = project_grid(saving_s, grid)
    res.table(PROJECTION, ["baseline", "family", "fits (one per seed)", "run time h (grid table)", "scoring saving h",
                           "projected run time h"], rows,
              note=f"Computed, not a re-run: the run-time table of {grid_name} (every seed "
                   "scored with an encoder pass per protocol) less the per-seed saving measured here (separate s - "
                   "shared s) times the fits; baselines not measured take the classifier's saving on that family "
                   "(same encoder, another head). Wall of the whole grid with --jobs 2, computed as "
                   "run_baseline_grid does (each pair at its run time, handed longest first to the first free "
                   f"process): {wall_before:.2f} h with these fits as measured, {wall_after:.2f} h projected.")
    res.extra["grid_wall_jobs2_h"] = {"before": round(wall_before, 3), "projected": round(wall_after, 3)}


def reproject(path: Path, grid_rev: str) -> int:
    """``--project-only``: recompute the projection of a stored result (e.g. after the grid table changed)."""
    from benchmark.data.writer import write_text_atomic

    data = json.loads(path.read_text())
    measured = data["tables"][0]
    col = {c: i for i, c in enumerate(measured["columns"])}
    saving_s = {(r[col["method"]], r[col["family"]]): r[col["separate s"]] - r[col["shared s"]]
                for r in measured["rows"]}
    res = Result(NAME, None)
    res.tables, res.skipped = data["tables"], []
    add_projection(res, saving_s, grid_rev)
    data["projection_command"] = f"python -m benchmarks.scoring --project-only --grid-rev {grid_rev}"
    kept = [msg for msg in data.get("skipped", []) if not msg.startswith("grid projection:")]
    data["tables"], data["skipped"] = res.tables, kept + res.skipped
    data.pop("grid_wall_jobs2_h", None)   # a skipped projection leaves no stale figure behind
    data.update(res.extra)
    write_text_atomic(path, json.dumps(data, indent=1) + "\n")
    for t in res.tables[1:]:
        print(f"## {t['title']}\n{t['note']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--families", nargs="+", default=["ndlar", "sfgd", "jets"])
    p.add_argument("--methods", nargs="+", default=["classifier"],
                   help="baselines (names under baselines/ or method folders) with both protocols")
    p.add_argument("--epochs", type=int, default=1, help="training epochs before scoring (default 1)")
    p.add_argument("--cache-dir", help="data cache (default: the normal one)")
    p.add_argument("--project-only", action="store_true",
                   help="measure nothing: recompute the grid projection of the stored result in --out-dir")
    p.add_argument("--grid-rev", metavar="GIT_REV", default=GRID_BEFORE_ONE_PASS,
                   help="project onto baseline_grid.json as committed at this revision ('working-tree': as it "
                        f"is now); its seeds must all have scored with an encoder pass per protocol (default "
                        f"{GRID_BEFORE_ONE_PASS}, the last such grid)")
    args = p.parse_args(argv)
    if args.project_only:
        stem = NAME + (f"_{args.tag}" if args.tag else "")
        return reproject((Path(args.out_dir) if args.out_dir else RESULTS_DIR) / f"{stem}.json", args.grid_rev)
    setup(args)
    res = Result(NAME, argv if argv is not None else sys.argv[1:], args.tag)
    rows, saving_s = [], {}
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
                saving_s[Path(name).name, family] = sum(sep) - sum(sha)
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
    add_projection(res, saving_s, args.grid_rev)
    res.write(args.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
