"""Generation rate of the built-in simulators: per core, with the process pool, and versus event size.

    python -m benchmarks.generation                       # short default (about 3 minutes on 2 busy cores)
    python -m benchmarks.generation --pool-families ndlar sfgd jets    # + the jets pool run (minutes)
    python -m benchmarks.generation --events 250 --pool-chunks 8 --repeats 5   # longer, full chunks

Figures (medians over ``--repeats``):

* per core: ``Generator.generate_chunk`` called directly in this process (one core, no I/O) on
  ``--events`` true events, once for the ``nominal`` domain only and once for all domains of the
  ``train`` split; "true events/s" counts each true event once however many domains it is rendered
  into, "rows/s" counts every (event, domain) row written;
* pool: ``benchmark.data.materialise.generate`` into a temporary cache with all cores
  (``--workers``, default ``os.cpu_count()``), i.e. spawn start-up, HDF5 writing and the dataset
  card included, on the first ``--pool-chunks`` chunks of the default preset (``--shard 0/N``);
  the same chunks with ``workers=1`` give the pool's speed-up;
* scaling: ndlar / sfgd nominal events/s at fixed kinetic energies (``--energies``), with the mean
  voxel count per event; jets: events/s of each generator variant (the nominal chunk also runs the
  Pythia initialisation, which is part of every chunk's cost).
"""
from __future__ import annotations

import shutil
import statistics
import tempfile
import time

import numpy as np

from benchmarks.common import Result, base_parser, family_available, make_generator, median_time, rate, setup, sig

NAME = "generation"
DEFAULT_EVENTS = {"ndlar": 40, "sfgd": 100, "jets": 20}
DEFAULT_FAMILIES = ("ndlar", "sfgd", "jets")


def _rows_of(out: dict) -> int:
    return sum(len(cols["event_id"]) for cols in out.values())


def _voxels(cols: dict) -> float:
    if "coords" in cols:
        return float(np.mean([len(c) // 3 for c in cols["coords"]])) if len(cols["coords"]) else 0.0
    if "E" in cols:
        return float(np.mean([len(c) for c in cols["E"]])) if len(cols["E"]) else 0.0
    return float("nan")


def per_core(family: str, n: int, repeats: int) -> list[list]:
    """Single-process generate_chunk timing, nominal only and all train domains."""
    gen = make_generator(family)
    ids = np.arange(n, dtype=np.int64)
    rows = []
    for label, domains in (("nominal", ["nominal"]), ("all train domains", None)):
        holder = {}

        def run():
            holder["out"] = gen.generate_chunk("train", 0, ids, 0, domains=domains)

        t = median_time(run, repeats=repeats, warmup=1)
        out = holder["out"]
        rows.append([family, label, len(out), n, sig(t["median_s"]), rate(n, t["median_s"]),
                     rate(_rows_of(out), t["median_s"]), sig(_voxels(out["nominal"]))])
    return rows


def _select_shard(family: str, n_chunks: int, seed: int, folder) -> tuple[str, int]:
    """The smallest N such that shard 0/N of the default preset has at most ``n_chunks`` chunks."""
    from benchmark.data.materialise import plan_jobs

    total = len(plan_jobs(family, "default", seed, folder)[0])
    best = None
    for n in range(1, total + 1):
        jobs, _ = plan_jobs(family, "default", seed, folder, (0, n))
        best = (f"0/{n}", sum(j.n_events for j in jobs))
        if len(jobs) <= n_chunks:
            break
    return best  # shard 0/N always holds chunk 0 of every split, so at least one chunk per split


def pool(family: str, n_chunks: int, workers: int, repeats: int, single_too: bool) -> list[list]:
    """materialise.generate into a fresh temporary cache each time (pool overhead included)."""
    from benchmark.data.materialise import generate

    rows = []
    tmp_root = tempfile.mkdtemp(prefix="simshift-bench-gen-")
    try:
        shard, n_events = _select_shard(family, n_chunks, 0, tmp_root)
        for w in ([workers, 1] if single_too and workers > 1 else [workers]):
            times = []
            for r in range(repeats):
                cache = f"{tmp_root}/w{w}r{r}"
                t = time.perf_counter()
                generate(family, "default", seed=0, workers=w, shard=shard, cache_dir=cache, progress=False)
                times.append(time.perf_counter() - t)
                shutil.rmtree(cache, ignore_errors=True)
            med = statistics.median(times)
            rows.append([family, w, shard, n_events, sig(med), rate(n_events, med), rate(n_events / w, med)])
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    return rows


def _fixed_energy_ndlar(energy: float):
    """NDLArGenerator whose true particles all get one kinetic energy (for the size scaling)."""
    from benchmark.simulators.ndlar.generator import NDLArGenerator

    class FixedEnergy(NDLArGenerator):
        @staticmethod
        def truth(seed, event_ids):
            t = NDLArGenerator.truth(seed, event_ids)
            t["kinetic_energy"][:] = energy
            return t

    return FixedEnergy()


def _fixed_energy_generator(family: str, energy: float):
    if family == "ndlar":
        return _fixed_energy_ndlar(energy)
    if family == "sfgd":
        from benchmark.simulators.sfgd import constants as C
        from benchmark.simulators.sfgd.generator import SFGDGenerator

        return SFGDGenerator(kinetic_energy_range={c: (energy, energy) for c in C.CLASS_NAMES})
    raise ValueError(family)


def scaling_energy(family: str, energies: list[float], n: int, repeats: int) -> list[list]:
    rows = []
    ids = np.arange(n, dtype=np.int64)
    for e in energies:
        gen = _fixed_energy_generator(family, e)
        holder = {}

        def run():
            holder["out"] = gen.generate_chunk("train", 0, ids, 0, domains=["nominal"])

        t = median_time(run, repeats=repeats, warmup=1)
        cols = holder["out"]["nominal"]
        vox = _voxels(cols)
        rows.append([family, e, n, sig(vox), sig(t["median_s"]), rate(n, t["median_s"]),
                     rate(n * vox, t["median_s"])])
    return rows


def scaling_jets(n: int, repeats: int) -> list[list]:
    gen = make_generator("jets")
    ids = np.arange(n, dtype=np.int64)
    rows = []
    variants = [d.name for d in gen.domains() if d.kind in ("nominal", "variant")]
    for v in variants:
        split = "test" if any(d.name == v and d.test_only for d in gen.domains()) else "train"
        holder = {}

        def run():
            holder["out"] = gen.generate_chunk(split, 0, ids, 0, domains=[v])

        t = median_time(run, repeats=repeats, warmup=0)
        cols = holder["out"][v]
        made = len(cols["event_id"])
        rows.append(["jets", v, made, sig(_voxels(cols)), sig(t["median_s"]), rate(made, t["median_s"])])
    return rows


def main(argv=None) -> int:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--families", nargs="+", default=list(DEFAULT_FAMILIES))
    p.add_argument("--events", type=int, help="true events per timed chunk (default: ndlar 40, sfgd 100, jets 20)")
    p.add_argument("--pool-chunks", type=int, default=3,
                   help="chunks of the default preset the pool run generates (at least one per split)")
    p.add_argument("--workers", type=int, default=None, help="pool workers (default: all cores)")
    p.add_argument("--pool-families", nargs="*", default=["ndlar", "sfgd", "toy"],
                   help="families with a pool run (default not jets: 3 jets chunks take minutes; add it for the "
                        "full picture)")
    p.add_argument("--pool-single", nargs="*", default=["ndlar", "sfgd", "toy"],
                   help="families whose pool run is repeated with workers=1 for the speed-up (default: not jets, "
                        "whose chunks take tens of seconds)")
    p.add_argument("--energies", type=float, nargs="+", default=[100.0, 1000.0],
                   help="kinetic energies (MeV) of the size-scaling runs")
    p.add_argument("--skip", nargs="+", default=[], choices=("per_core", "pool", "scaling"))
    args = p.parse_args(argv)
    setup(args)
    import os

    res = Result(NAME, argv if argv is not None else __import__("sys").argv[1:], args.tag)
    workers = args.workers or os.cpu_count() or 1
    core_rows, pool_rows, energy_rows, jet_rows = [], [], [], []
    for fam in args.families:
        ok, why = family_available(fam)
        if not ok:
            res.skip(f"family {fam}: cannot import its module ({why})")
            continue
        n = args.events or DEFAULT_EVENTS.get(fam, 20)
        print(f"[generation] {fam}: per core ({n} events) ...", flush=True)
        if "per_core" not in args.skip:
            core_rows += per_core(fam, n, args.repeats)
        if "pool" not in args.skip and fam in args.pool_families:
            print(f"[generation] {fam}: pool ({args.pool_chunks} chunks, {workers} workers) ...", flush=True)
            pool_rows += pool(fam, args.pool_chunks, workers, 1, fam in args.pool_single)
        if "scaling" not in args.skip:
            print(f"[generation] {fam}: scaling ...", flush=True)
            if fam in ("ndlar", "sfgd"):
                energy_rows += scaling_energy(fam, args.energies, n, args.repeats)
            elif fam == "jets":
                jet_rows += scaling_jets(n, 1)
            else:
                res.skip(f"scaling for {fam}: only ndlar/sfgd (energy) and jets (variants) have a size knob")
    if core_rows:
        res.table("Generation per core (generate_chunk in-process, no I/O)",
                  ["family", "domains", "n domains", "true events", "median s", "true events/s",
                   "rows/s (event x domain)", "mean voxels or constituents (nominal)"], core_rows,
                  "One process, torch/numpy single-threaded; 'all train domains' renders every domain of the train "
                  "split from the same true events.")
    if pool_rows:
        res.table("Generation with the process pool (materialise.generate into a temp cache, HDF5 + card)",
                  ["family", "workers", "shard", "true events", "median s", "true events/s", "true events/s per worker"],
                  pool_rows, "All domains of every split in the selected chunks; spawn start-up, pickling and "
                  "atomic HDF5 writes included. workers=1 runs in-process (no pool).")
    if energy_rows:
        res.table("Generation vs event size (nominal domain, fixed kinetic energy, every class)",
                  ["family", "kinetic energy MeV", "events", "mean voxels/event", "median s", "events/s",
                   "voxels/s"], energy_rows)
    if jet_rows:
        res.table("Generation per jets variant (one chunk, Pythia initialisation included)",
                  ["family", "variant", "jets", "mean constituents", "s", "jets/s"], jet_rows,
                  "One run each (Pythia chunks are slow); variants render fraction x the nominal jets.")
    res.write(args.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
