"""Run every baseline x family at the default size with 3 seeds, then submit the results.

    python -m benchmarks.run_baseline_grid [--families sfgd jets] [--baselines classifier ...] [--jobs 2]
    python -m benchmarks.run_baseline_grid --collect-only      # only tabulate what is already there

Each run is ``python -m benchmark run baselines/<name> --dataset <family>`` (all protocols the
baseline supports, seeds 0 1 2) in its own process with one thread; ``--jobs`` runs that many at
once. Results land in ``runs/grid/<name>/<family>/``; with ``--submit`` every result file is passed
to ``python -m benchmark submit`` (metrics recomputed from the predictions) and the leaderboard pages
are regenerated.  The tables (headline metrics, each learned baseline's margin over
the physics-feature floor of the same protocol, run times, the shifts that hurt most) are written to
``benchmarks/results/baseline_grid.json`` (rendered into BENCHMARKS.md by ``python -m benchmarks.report``);
rows of (baseline, family, protocol) with no runs under ``--out`` are kept from that file, so the grid can
be run (``--protocols``) and tabulated in several sittings.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINES = ["linear_probe", "classifier", "augmented_classifier", "dann", "simclr", "supcon"]
FAMILIES = ["sfgd", "jets", "ndlar"]
HEADLINE = "Baselines x families at the default size, seeds 0 1 2 (headline metric: mean ± std over seeds)"
RUN_TIME = "Run time of the grid's finished seeds (each fit counted once)"
DROPS = "Which shifts hurt: robustness protocol, the three domains with the largest drop from nominal"
RECALL = "Where the accuracy is lost: recall per class on the source test set"


def run_one(name: str, family: str, out: Path, protocols: list[str] | None = None) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SIMSHIFT_QUIET": "1", "TQDM_DISABLE": "1"}
    cmd = [sys.executable, "-m", "benchmark", "run", f"baselines/{name}", "--dataset", family,
           "--out", str(out / name / family)] + (["--protocol", *protocols] if protocols else [])
    t0 = time.time()
    log = out / f"{name}_{family}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as fh:
        rc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT).returncode
    return {"baseline": name, "family": family, "rc": rc, "wall_s": round(time.time() - t0, 1),
            "command": " ".join(["python"] + cmd[1:]).replace(str(ROOT) + "/", ""), "log": str(log.relative_to(ROOT) if log.is_relative_to(ROOT) else log)}


#: the physics-feature floor every learned baseline must beat (issue 15: by more than twice its seed std)
FLOOR = "linear_probe"


def _headline_rows(out: Path, name: str, family: str) -> tuple[list[list], dict[str, dict]]:
    """One row per result file of a run: protocol, headline metric and its mean +- std over seeds; and the
    unrounded ``{mean, std}`` of the nominal and mean-shifted scores per row key (for the floor margins)."""
    rows, values = [], {}
    for result in sorted((out / name / family).glob("*/result.json")):
        r = json.loads(result.read_text())
        summ = r["aggregate"]["summary"]
        # one seed has no spread (std None): the mean alone, the seeds column says why
        fmt = lambda k: (f"{summ[k]['mean']:.3f}" if summ[k]["std"] is None  # noqa: E731
                         else f"{summ[k]['mean']:.3f} ± {summ[k]['std']:.3f}")
        rows.append([name, family, result.parent.name, r["per_seed"][0]["summary"]["metric"], len(r["seeds"]),
                     fmt("nominal"), fmt("mean_shifted"), fmt("worst"), fmt("drop"),
                     round(r.get("wall_time_s", 0.0), 1)])
        values[_row_key(rows[-1])] = {k: {"mean": summ[k]["mean"], "std": summ[k]["std"]}
                                      for k in ("nominal", "mean_shifted")}
    return rows, values


def _row_key(row: list) -> str:
    return "/".join(str(c) for c in row[:3])


def _parse_cell(cell: str) -> dict:
    """``"0.665 ± 0.003"`` (or ``"0.665"``: one seed) -> ``{mean, std}``: rows kept from a file written
    before the unrounded values were recorded."""
    mean, _, std = str(cell).partition(" ± ")
    return {"mean": float(mean), "std": float(std) if std else None}


def _floor_margin_rows(rows: list[list], values: dict[str, dict]) -> list[list]:
    """Each learned baseline's margin over the physics-feature floor of the same family and protocol
    (same target under ``domain_shift``, hence the same labelled source events), and whether it beats
    the floor by more than twice its own seed standard deviation (issue 15's target)."""
    by_key = {_row_key(r): r for r in rows}

    def value(row, what):
        return values.get(_row_key(row), {}).get(what) or _parse_cell(row[5 if what == "nominal" else 6])

    out_rows = []
    for row in rows:
        if row[0] == FLOOR:
            continue
        floor = by_key.get(_row_key([FLOOR, row[1], row[2]]))
        cells = []
        for what in ("nominal", "mean_shifted"):
            v = value(row, what)
            if floor is None:
                cells += ["–", "–", "–"]
                continue
            f = value(floor, what)["mean"]
            margin = v["mean"] - f
            if v["std"] is None:
                verdict = "one seed"
            else:
                verdict = "yes" if margin > 2 * v["std"] else f"no (by {2 * v['std'] - margin:.3f})"
            cells += [f"{f:.3f}", f"{margin:+.3f}", verdict]
        out_rows.append(row[:4] + cells)
    return out_rows


def _kept(previous: dict | None, title_start: str, tabulated: set[tuple[str, str, str]],
          protocols_of=lambda row: [row[2]]) -> list[list]:
    """Rows of a previous grid table none of whose protocols (``protocols_of(row)``; the headline table:
    its protocol column) were tabulated from runs this time (``tabulated``: (baseline, family, protocol))."""
    for table in (previous or {}).get("tables", []):
        if table["title"].startswith(title_start):
            return [row for row in table["rows"] if row[0] != "all"
                    and not any((row[0], row[1], p) in tabulated for p in protocols_of(row))]
    return []


def _fit_protocols(row: list) -> list[str]:
    """The protocols scored from the fits of a run-time row (its ``fit`` column: joined by '+')."""
    return str(row[2]).split("+")


def _run_time_rows(out: Path, order: dict[tuple[str, str], int]) -> list[list]:
    """Run time per (baseline, family, fit) with each fit counted once: protocols that share a fit (the
    done.json's ``fit_shared_with``) each record its time in their ``wall_time_s``, so summing those
    would count it twice. ``fit`` names the protocols scored from it ("linear_probe+robustness")."""
    cells: dict[tuple[str, str, str], dict] = {}
    for done in sorted(out.glob("*/*/*/seed*/done.json")):
        d = json.loads(done.read_text())
        baseline, family, protocol = done.parts[-5], done.parts[-4], done.parts[-3]
        fit = "+".join(sorted({protocol, *d.get("fit_shared_with", [])}))
        cell = cells.setdefault((baseline, family, fit), {"seeds": set(), "s": 0.0})
        cell["s"] += d.get("score_time_s", 0.0)
        if done.parent.name not in cell["seeds"]:   # the first protocol of this (seed, fit) adds the fit
            cell["seeds"].add(done.parent.name)
            cell["s"] += d.get("fit_time_s", 0.0)
    rows = [[b, f, fit, len(c["seeds"]), round(c["s"] / 3600, 3)]   # one fit per seed of a fit group
            for (b, f, fit), c in sorted(cells.items(), key=lambda kv: (order.get(kv[0][:2], len(order)), kv[0][2]))]
    return rows + [["all", "", "", sum(r[3] for r in rows), round(sum(c["s"] for c in cells.values()) / 3600, 2)]]


def _degradation_rows(out: Path, name: str, family: str, n_worst: int = 3) -> list[list]:
    """For the robustness result of a run: the domains with the largest mean drop from nominal."""
    path = out / name / family / "robustness" / "result.json"
    if not path.exists():
        return []
    r = json.loads(path.read_text())
    metric = r["per_seed"][0]["summary"]["metric"]
    means = {d: v[metric]["mean"] for d, v in r["aggregate"]["per_domain"].items()}
    nominal = means.pop("nominal")
    worst = sorted(means, key=means.get)[:n_worst]
    return [[name, family, metric, f"{nominal:.3f}"] + [f"{d} {means[d] - nominal:+.3f}" for d in worst]
            + [sum(1 for v in means.values() if v < nominal - 0.02), len(means)]]


def _class_recall_rows(submissions: Path) -> list[list]:
    """Per-class recall on the source test set (seed mean), of every baseline's leaderboard entry at the
    default size on the multi-class families: where the accuracy a method misses is lost (e.g. ND-LAr's
    electron/photon pair, told apart by the charge of the first centimetres of the shower)."""
    import numpy as np

    from benchmark.data.registry import get_family

    rows = []
    for path in sorted(submissions.glob("*.json")):
        r = json.loads(path.read_text())
        family, name = r["dataset"]["family"], r["method"]["name"]
        if (r["dataset"].get("size") != "default" or r["source_domain"] != "nominal" or name not in BASELINES
                or family not in FAMILIES):  # the grid's runs: default size, trained on nominal
            continue
        classes = get_family(family).class_names
        if len(classes) < 3:
            continue
        recalls = []
        for seed in r["per_seed"]:
            cm = np.asarray(seed["per_domain"][r["source_domain"]]["confusion_matrix"], dtype=float)
            recalls.append(cm.diagonal() / np.maximum(cm.sum(1), 1))
        mean = np.mean(recalls, axis=0)
        rows.append([name, family, r["protocol"] + (f"_{r['target_domain']}" if r.get("target_domain") else ""),
                     len(recalls), ", ".join(f"{c} {v:.2f}" for c, v in zip(classes, mean))])
    order = {(b, f): i for i, (b, f) in enumerate((b, f) for f in FAMILIES for b in BASELINES)}
    return sorted(rows, key=lambda row: (order.get((row[0], row[1]), len(order)), row[2]))


def pair_hours(run_time_rows: list[list]) -> dict[tuple[str, str], float]:
    """Hours of each (baseline, family) pair: the sum of its fits' rows in the run-time table."""
    hours: dict[tuple[str, str], float] = {}
    for row in run_time_rows:
        if row[0] != "all":
            hours[row[0], row[1]] = hours.get((row[0], row[1]), 0.0) + row[4]
    return hours


def schedule(pairs: list[tuple[str, str]], hours: dict[tuple[str, str], float]) -> list[tuple[str, str]]:
    """The order in which the pairs are handed to the processes: longest recorded run time first (Graham's
    LPT rule, R. L. Graham, SIAM J. Appl. Math. 17 (1969) 416, within 4/3 of the best wall), pairs with no
    recorded time before them (they may be the longest) in the given order. In the grid's own order the two
    longest pairs (SimCLR on jets, SupCon on ND-LAr) came late and set the tail: 6.22 h against 6.13 h for
    the run time split evenly."""
    unknown = [bf for bf in pairs if bf not in hours]
    return unknown + sorted((bf for bf in pairs if bf in hours), key=lambda bf: -hours[bf])


def makespan(costs: list[float], workers: int) -> float:
    """Wall time of jobs of these costs handed, in this order, to the first free of ``workers``."""
    free = [0.0] * max(workers, 1)
    for c in costs:
        free[free.index(min(free))] += c
    return max(free)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--families", nargs="+", default=FAMILIES)
    ap.add_argument("--baselines", nargs="+", default=BASELINES)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "runs" / "grid"))
    ap.add_argument("--protocols", nargs="+", metavar="PROTOCOL",
                    help="run only these protocols (passed to `run --protocol`); the rows of the others are kept")
    ap.add_argument("--submit", action="store_true")
    ap.add_argument("--collect-only", action="store_true",
                    help="train nothing: tabulate the result files already under --out (e.g. after runs made "
                         "in several sittings, some with `run --protocol ...`)")
    args = ap.parse_args(argv)
    from benchmarks.common import RESULTS_DIR, Result

    result = Result("baseline_grid", argv if argv is not None else sys.argv[1:])
    result.command = result.command.replace("benchmarks.baseline_grid", "benchmarks.run_baseline_grid")
    if args.collect_only:  # a table of finished runs: nothing is timed now, the load now says nothing
        result.extra["derived"] = "tabulates the result and done.json files under runs/grid"
    result.note("Rows of (baseline, family, protocol) not run by this invocation are kept from earlier ones; every "
                "run is `python -m benchmark run baselines/<baseline> --dataset <family> --out "
                "runs/grid/<baseline>/<family>` (seeds 0 1 2, one thread), reused when its fingerprint matches.")
    out = Path(args.out)
    # rows of (baseline, family, protocol) with no results under --out this time are kept from the previous
    # result file, so that the grid can be run (and tabulated) in several sittings
    previous_path = RESULTS_DIR / "baseline_grid.json"
    previous = json.loads(previous_path.read_text()) if previous_path.exists() else None
    recorded = pair_hours(next((t["rows"] for t in (previous or {}).get("tables", [])
                                if t["title"].startswith(RUN_TIME)), []))
    grid = schedule([(b, f) for f in args.families for b in args.baselines], recorded)
    if args.collect_only:
        records = [{"baseline": b, "family": f, "rc": 0} for b, f in grid if any((out / b / f).glob("*/result.json"))]
    else:
        with ThreadPoolExecutor(args.jobs) as pool:
            records = list(pool.map(lambda bf: run_one(*bf, out, args.protocols), grid))
    new_rows, values = [], {}
    for r in records:
        if r["rc"] != 0:
            result.skip(f"{r['baseline']} on {r['family']}: exit {r['rc']}, see {r['log']}")
        rows_bf, values_bf = _headline_rows(out, r["baseline"], r["family"])
        new_rows += rows_bf
        values.update(values_bf)
    # (baseline, family, protocol) with a result file under --out this time; the rest is kept from before
    tabulated = {tuple(row[:3]) for row in new_rows}
    rows = _kept(previous, HEADLINE, tabulated) + new_rows
    values.update({k: v for k, v in (previous or {}).get("headline_values", {}).items()
                   if tuple(k.split("/")[:3]) not in tabulated})
    order = {(b, f): i for i, (b, f) in enumerate((b, f) for f in FAMILIES for b in BASELINES)}
    rows.sort(key=lambda row: (order.get((row[0], row[1]), len(order)), row[2]))
    result.extra["headline_values"] = {k: values[k] for k in sorted(values)}
    result.table(
        HEADLINE,
        ["baseline", "family", "protocol", "metric", "seeds", "nominal", "mean shifted", "worst", "drop",
         "train+eval s (sum over seeds)"], rows,
        note="Each row is one result file under runs/grid/<baseline>/<family>/<protocol>/; the time is the sum "
             "of the per-seed wall times recorded in its done.json files, one thread per run (the grid "
             "runs --jobs processes side by side): a fit that two protocols share is in both rows (the next table "
             "counts it once). domain_shift rows: 'mean shifted' and 'worst' are the "
             "target domain. linear_probe rows score a logistic regression on frozen embeddings.")
    result.table(
        "Margin over the physics-feature floor (baselines/linear_probe, same family and protocol)",
        ["baseline", "family", "protocol", "metric", "floor nominal", "margin nominal", "> 2 std?",
         "floor mean shifted", "margin mean shifted", "> 2 std? (shifted)"],
        _floor_margin_rows(rows, values),
        note="Margin = the baseline's seed-mean score minus the floor's (the physics-feature logistic regression "
             "fitted on the same labelled source events: under domain_shift on the paired families, the half of "
             "the source train disjoint from the target's, as the adaptation methods); '> 2 std?' is issue 15's "
             "target: a margin above twice the baseline's own seed standard deviation, 'no (by x)' says how much "
             "is missing. domain_shift rows: 'mean shifted' is the target domain. '–': the floor was not run "
             "under that protocol.")
    run_time = _run_time_rows(out, order)[:-1]
    timed = {(row[0], row[1], p) for row in run_time for p in _fit_protocols(row)}
    run_time = sorted(run_time + _kept(previous, RUN_TIME, timed, _fit_protocols),
                      key=lambda row: (order.get((row[0], row[1]), len(order)), row[2]))
    run_time.append(["all", "", "", sum(row[3] for row in run_time), round(sum(row[4] for row in run_time), 2)])
    hours = pair_hours(run_time)
    in_order = sorted(hours, key=lambda bf: order.get(bf, len(order)))
    wall = makespan([hours[bf] for bf in schedule(in_order, hours)], args.jobs)
    result.note(f"Wall time of the whole grid with --jobs {args.jobs} (computed, not measured: each (baseline, "
                f"family) pair at its run time in the next table, handed longest first, as the next run "
                f"schedules them, to the first free process): {wall:.2f} h; the run time divided by {args.jobs} "
                f"processes: {sum(hours.values()) / max(args.jobs, 1):.2f} h.")
    result.table(
        RUN_TIME, ["baseline", "family", "fit (protocols scored from it)", "fits (one per seed)", "run time h"],
        run_time,
        note="Fit time of every (seed, fit) once, plus the scoring time of each protocol, from the done.json "
             "files, one thread per run. Not included: process start-up and reading the data (16 s of the "
             "1194 s process wall time of a SimCLR seed on ND-LAr, both protocols). Rows whose protocols have no "
             "done.json under --out this time are kept from the previous file; 'all' sums the rows (their hours, "
             "rounded).")
    drops = [row for b, f in sorted(order, key=order.get) for row in _degradation_rows(out, b, f)]
    drops = sorted(drops + _kept(previous, DROPS, {(row[0], row[1], "robustness") for row in drops},
                                 lambda row: ["robustness"]),
                   key=lambda row: order.get((row[0], row[1]), len(order)))
    result.table(
        DROPS,
        ["baseline", "family", "metric", "nominal", "worst", "2nd", "3rd", "domains > 0.02 below nominal",
         "shifted domains"], drops,
        note="Differences are of the seed-mean metric (domain minus nominal). linear_probe rows are the "
             "physics-feature logistic regression; the others are each method's own classifier.")
    result.table(
        RECALL, ["baseline", "family", "protocol", "seeds", "recall per true class (source test set)"],
        _class_recall_rows(ROOT / "leaderboard" / "submissions"),
        note="From the leaderboard's result files at the default size (leaderboard/submissions; regenerated "
             "by --collect-only after a resubmission): the fraction of each true class's test events the "
             "method labels correctly, mean over seeds. Families with two classes (jets) are left out: their "
             "metric is the AUC.")
    result.write()
    if args.submit:
        for path in sorted(out.glob("*/*/*/result.json")):
            subprocess.run([sys.executable, "-m", "benchmark", "submit", str(path)], cwd=ROOT)
        subprocess.run([sys.executable, "-m", "benchmark", "leaderboard"], cwd=ROOT)
    return 0 if all(r["rc"] == 0 for r in records) else 1


if __name__ == "__main__":
    raise SystemExit(main())
