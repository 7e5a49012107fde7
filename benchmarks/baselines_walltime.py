"""Wall time of ``python -m benchmark run baselines/<name> --dataset <family>`` at the default size.

    python -m benchmarks.baselines_walltime                               # linear_probe x sfgd, seed 0 only
    python -m benchmarks.baselines_walltime --all                         # every baseline x family (hours on 2 cores)
    python -m benchmarks.baselines_walltime --only simclr:ndlar dann --seeds 0 1 2

Each run is a fresh subprocess with a fresh output folder (``--out`` in a temporary directory) and
``--no-generate``: the data are materialised first (into ``--cache-dir``, default the normal cache)
and that generation time is reported separately, so it is not counted in the run's wall time.
Peak memory is the run process's max RSS (``os.wait4``).  ``--only`` takes ``name`` or ``name:family``.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.common import REPO_ROOT, Result, base_parser, child_env, family_available, run_child, setup, sig

NAME = "baselines_walltime"
DEFAULT_ONLY = ["linear_probe:sfgd"]


def discover(baselines_dir: Path) -> dict[str, list[str]]:
    """baseline name -> families it supports (from its method.yaml)."""
    out = {}
    for f in sorted(baselines_dir.glob("*/method.yaml")):
        spec = yaml.safe_load(f.read_text()) or {}
        out[f.parent.name] = list(spec.get("families") or [])
    return out


def select(available: dict[str, list[str]], only: list[str] | None) -> list[tuple[str, str]]:
    pairs = [(b, f) for b, fams in available.items() for f in fams]
    if not only:
        return pairs
    chosen = []
    for item in only:
        name, _, fam = item.partition(":")
        if name not in available:
            raise SystemExit(f"--only {item!r}: no baselines/{name}/method.yaml; available: {', '.join(available)}")
        if fam and fam not in available[name]:
            raise SystemExit(f"--only {item!r}: {name} does not list family {fam!r} (it has {available[name]})")
        chosen += [(name, f) for f in ([fam] if fam else available[name])]
    return list(dict.fromkeys(chosen))


def ensure_generated(family: str, cache_dir: str | None) -> tuple[float | None, str]:
    """Materialise the default preset if missing; (seconds, how) -- None seconds when it was already there."""
    from benchmark.data.loader import resolve_folder
    from benchmark.data.materialise import generate
    from benchmark.data.provenance import read_provenance

    folder = resolve_folder(family, "generated", "default", cache_dir, must_exist=False)
    if (folder / "README.md").exists() and read_provenance(folder).get("complete", False):
        return None, f"already materialised in {folder}"
    t = time.perf_counter()
    generate(family, "default", cache_dir=cache_dir, progress=True)
    return time.perf_counter() - t, f"generated into {folder} with {os.cpu_count()} workers"


def main(argv=None) -> int:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", help=f"name or name:family (default {' '.join(DEFAULT_ONLY)})")
    p.add_argument("--all", action="store_true", help="every baseline x every family it lists")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds per run (the runner's default is 0 1 2)")
    p.add_argument("--epochs", type=int, help="override the methods' epochs")
    p.add_argument("--protocol", help="one protocol (default: all the method supports)")
    p.add_argument("--cache-dir", help="dataset cache root (default $SIMSHIFT_CACHE or ~/.cache/simshift)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    p.add_argument("--baselines-dir", default=str(REPO_ROOT / "baselines"))
    args = p.parse_args(argv)
    setup(args)
    res = Result(NAME, argv if argv is not None else sys.argv[1:], args.tag)
    available = discover(Path(args.baselines_dir))
    if not available:
        res.skip(f"no baselines found under {args.baselines_dir}")
        res.write(args.out_dir)
        return 1
    pairs = select(available, None if args.all else (args.only or DEFAULT_ONLY))
    gen_rows, run_rows = [], []
    generated: dict[str, bool] = {}
    for name, fam in pairs:
        if fam not in generated:
            ok, why = family_available(fam)
            if not ok:
                res.skip(f"family {fam}: {why}")
                generated[fam] = False
            else:
                print(f"[baselines_walltime] data for {fam} ...", flush=True)
                secs, how = ensure_generated(fam, args.cache_dir)
                gen_rows.append([fam, "default", "" if secs is None else sig(secs), how])
                generated[fam] = True
        if not generated[fam]:
            continue
        out = tempfile.mkdtemp(prefix=f"simshift-bench-run-{name}-{fam}-")
        cmd = [sys.executable, "-m", "benchmark", "run", str(Path(args.baselines_dir) / name), "--dataset", fam,
               "--out", out, "--no-generate", "--seeds", *map(str, args.seeds)]
        if args.cache_dir:
            cmd += ["--cache-dir", args.cache_dir]
        if args.epochs:
            cmd += ["--epochs", str(args.epochs)]
        if args.protocol:
            cmd += ["--protocol", args.protocol]
        print(f"[baselines_walltime] {' '.join(cmd[1:])} ...", flush=True)
        try:
            r = run_child(cmd, timeout=args.timeout, env=child_env())
        finally:
            shutil.rmtree(out, ignore_errors=True)
        status = "ok" if r["returncode"] == 0 else ("timeout" if r["timed_out"] else f"exit {r['returncode']}")
        if r["returncode"] != 0:
            res.skip(f"{name} x {fam}: {status}: {r['output'][-400:]}")
        run_rows.append([name, fam, " ".join(map(str, args.seeds)), args.protocol or "all", status, sig(r["wall_s"]),
                         sig(r["max_rss_mib"])])
    if gen_rows:
        res.table("Data generation before the runs (not counted in the run times)",
                  ["family", "size", "generation s", "how"], gen_rows)
    if run_rows:
        res.table("Baseline wall time (python -m benchmark run, default size, CPU)",
                  ["baseline", "family", "seeds", "protocols", "status", "wall s", "peak RSS MiB"], run_rows,
                  "Wall time of the whole command (all protocols the method supports, the seeds listed), "
                  "fresh output folder, data already materialised.")
    res.write(args.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
