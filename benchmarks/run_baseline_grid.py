"""Run every baseline x family at the default size with 3 seeds, then submit the results.

    python -m benchmarks.run_baseline_grid [--families sfgd jets] [--baselines classifier ...] [--jobs 2]

Each run is ``python -m benchmark run baselines/<name> --dataset <family>`` (all protocols the
baseline supports, seeds 0 1 2) in its own process with one thread; ``--jobs`` runs that many at
once.  Results land in ``runs/grid/<name>/<family>/``; with ``--submit`` every result file is
passed to ``python -m benchmark submit`` (metrics recomputed from the predictions) and the
leaderboard pages are regenerated.  Wall time per run is written to ``benchmarks/results/grid_walltime.json``.
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


def run_one(name: str, family: str, out: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SIMSHIFT_QUIET": "1", "TQDM_DISABLE": "1"}
    cmd = [sys.executable, "-m", "benchmark", "run", f"baselines/{name}", "--dataset", family,
           "--out", str(out / name / family)]
    t0 = time.time()
    log = out / f"{name}_{family}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as fh:
        rc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT).returncode
    return {"baseline": name, "family": family, "rc": rc, "wall_s": round(time.time() - t0, 1),
            "command": " ".join(["python"] + cmd[1:]), "log": str(log)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--families", nargs="+", default=FAMILIES)
    ap.add_argument("--baselines", nargs="+", default=BASELINES)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "runs" / "grid"))
    ap.add_argument("--submit", action="store_true")
    args = ap.parse_args()
    out = Path(args.out)
    grid = [(b, f) for f in args.families for b in args.baselines]
    with ThreadPoolExecutor(args.jobs) as pool:
        records = list(pool.map(lambda bf: run_one(*bf, out), grid))
    for r in records:
        print(f"{r['baseline']:22s} {r['family']:6s} rc={r['rc']} {r['wall_s']:8.1f} s")
    path = ROOT / "benchmarks" / "results" / "grid_walltime.json"
    old = json.loads(path.read_text()) if path.exists() else []
    keep = [o for o in old if (o["baseline"], o["family"]) not in {(r["baseline"], r["family"]) for r in records}]
    path.write_text(json.dumps(keep + records, indent=1) + "\n")
    if args.submit:
        for result in sorted(out.glob("*/*/*/result.json")):
            subprocess.run([sys.executable, "-m", "benchmark", "submit", str(result)], cwd=ROOT)
        subprocess.run([sys.executable, "-m", "benchmark", "leaderboard"], cwd=ROOT)
    return 0 if all(r["rc"] == 0 for r in records) else 1


if __name__ == "__main__":
    raise SystemExit(main())
