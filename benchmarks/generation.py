"""Generation cost of the built-in simulators as users pay it: per core at each preset's chunk size, a
whole preset on 1 and on all workers, and jets against plain Pythia 8 + FastJet.

    python -m benchmarks.generation                    # every family: default preset whole, first shards of full
    python -m benchmarks.generation --families jets --skip pool
    python -m benchmarks.generation --pool-sizes default --pool-chunks 6

Figures (medians over ``--repeats`` unless a table says one run):

* per core (one child process per family, preset and domain set, one thread): the preset's own chunks
  (``Generator.chunks``, e.g. 250 jets by default, 1000 under ``full``) of the train split, first chunk
  and then ``--repeats`` more; *start-up* = interpreter + imports (child wall time minus the timed
  work) and *first-chunk extra* = first chunk minus the steady median (the generator's own set-up,
  e.g. Pythia's initialisation, paid once per worker); *steady* = the median of the later chunks;
* pool: ``benchmark.data.materialise.generate`` into a fresh temporary cache (spawn start-up, HDF5
  writing, hashing, the dataset card included) of the whole ``default`` preset and of the first shard
  of ``full`` with at most ``--pool-chunks`` chunks (``--shard 0/N``), on ``--workers`` (default all
  cores) and on one worker; speed-up = one-worker time / pool time; disk = bytes of the data files;
* scaling: ndlar / sfgd nominal events/s at fixed kinetic energies (``--energies``), with the mean
  voxel count per event; jets: jets/s of each generator variant (initialisation excluded);
* plain Pythia: the nominal jets generator (Pythia + detector response + FastJet + selection +
  constituent bookkeeping, :func:`benchmark.simulators.jets.generator.simulate`) against plain
  Pythia 8 with the same settings + FastJet anti-kT R = 0.8 on the generator-level visible final state
  and the same jet selection, interleaved in one process (initialisation excluded from both).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import (Result, base_parser, child_env, family_available, last_json_line, make_generator,
                               median_time, python_module_cmd, rate, run_child, setup, sig)

NAME = "generation"
DEFAULT_FAMILIES = ("ndlar", "sfgd", "jets")
#: true events per timed chunk of the size-scaling runs
DEFAULT_SCALING_EVENTS = {"ndlar": 40, "sfgd": 100, "jets": 100}


def _rows_of(out: dict) -> int:
    return sum(len(cols["event_id"]) for cols in out.values())


def _voxels(cols: dict) -> float:
    if "coords" in cols:
        return float(np.mean([len(c) // 3 for c in cols["coords"]])) if len(cols["coords"]) else 0.0
    if "E" in cols:
        return float(np.mean([len(c) for c in cols["E"]])) if len(cols["E"]) else 0.0
    return float("nan")


def _child_per_core(family: str, size: str, all_domains: bool, repeats: int) -> dict:
    """In a fresh process: the first chunk of the preset's train split, then ``repeats`` more."""
    gen = make_generator(family)
    chunks = gen.chunks(size, "train")
    domains = None if all_domains else ["nominal"]
    times, rows = [], 0
    for k in range(repeats + 1):
        ids = chunks[k % len(chunks)]
        t = time.perf_counter()
        out = gen.generate_chunk("train", k, ids, 0, domains=domains)
        times.append(time.perf_counter() - t)
        rows = _rows_of(out)
    return {"chunk_events": len(chunks[0]), "domains": len(out), "rows_per_chunk": rows,
            "first_s": times[0], "steady_s": times[1:]}


def per_core(family: str, size: str, repeats: int, family_refs: list[str]) -> list[list]:
    """One row per domain set: start-up, first-chunk extra and steady per-core rate at the preset's chunks."""
    rows = []
    for all_domains in (False, True):
        cmd = python_module_cmd("benchmarks.generation", "--child-per-core", family, size, str(int(all_domains)),
                                "--repeats", str(repeats), family_refs=family_refs)
        r = run_child(cmd, env=child_env(), timeout=3600)
        if r["returncode"] != 0:
            raise RuntimeError(f"per-core child for {family}/{size} failed:\n{r['output'][-2000:]}")
        d = last_json_line(r["output"])
        steady = statistics.median(d["steady_s"])
        startup = r["wall_s"] - d["first_s"] - sum(d["steady_s"])
        n = d["chunk_events"]
        rows.append([family, size, "all train domains" if all_domains else "nominal", d["domains"], n,
                     sig(startup), sig(max(d["first_s"] - steady, 0.0)), sig(steady), rate(n, steady),
                     rate(d["rows_per_chunk"], steady)])
    return rows


def _select_shard(family: str, size: str, n_chunks: int, seed: int, folder) -> tuple[str, int, int]:
    """The smallest N such that shard 0/N of preset ``size`` has at most ``n_chunks`` chunks (shard 0/N
    always holds chunk 0 of every split, so never fewer than one per split); N = 1, the whole preset,
    when ``n_chunks`` is 0."""
    import math

    from benchmark.data.materialise import plan_jobs

    per_split = [len(make_generator(family).chunks(size, s)) for s in ("train", "validation", "test")]
    n = 1
    if n_chunks > 0:  # chunks of shard 0/N: ceil(chunks / N) per split
        while sum(math.ceil(c / n) for c in per_split) > n_chunks and n < max(per_split):
            n += 1
    jobs, _ = plan_jobs(family, size, seed, folder, (0, n))
    return f"0/{n}", len(jobs), sum(j.n_events for j in jobs)


def pool(family: str, size: str, n_chunks: int, workers: int, repeats: int) -> list[list]:
    """materialise.generate into a fresh temporary cache on ``workers`` and on one worker."""
    from benchmark.data.materialise import generate

    rows = []
    tmp_root = tempfile.mkdtemp(prefix="simshift-bench-gen-")
    try:
        shard, chunks, n_events = _select_shard(family, size, n_chunks, 0, tmp_root)
        times = {}
        for w in ([workers, 1] if workers > 1 else [1]):
            runs = []
            for r in range(repeats):
                cache = f"{tmp_root}/w{w}r{r}"
                t = time.perf_counter()
                folder = generate(family, size, seed=0, workers=w, shard=shard, cache_dir=cache, progress=False)
                runs.append(time.perf_counter() - t)
                disk = sum(f.stat().st_size for f in Path(folder, "data").rglob("*.h5"))
                shutil.rmtree(cache, ignore_errors=True)
            times[w] = statistics.median(runs)
        for w, t in times.items():
            rows.append([family, size, shard, chunks, n_events, w, sig(t), rate(n_events, t),
                         sig(times[1] / t) if w != 1 else 1.0, sig(disk / 1e6)])
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
    """jets/s of each generator variant on ``n`` true jets (one warm-up chunk first: initialisation excluded)."""
    gen = make_generator("jets")
    ids = np.arange(n, dtype=np.int64)
    rows = []
    variants = [d.name for d in gen.domains() if d.kind in ("nominal", "variant")]
    for v in variants:
        split = "test" if any(d.name == v and d.test_only for d in gen.domains()) else "train"
        holder = {}

        def run():
            holder["out"] = gen.generate_chunk(split, 0, ids, 0, domains=[v])

        t = median_time(run, repeats=repeats, warmup=1)
        cols = holder["out"][v]
        made = len(cols["event_id"])
        rows.append(["jets", v, made, sig(_voxels(cols)), sig(t["median_s"]), rate(made, t["median_s"])])
    return rows


def _plain_pythia_jets(gen, label: int, n_jets: int) -> int:
    """Plain Pythia 8 + FastJet: generator-level visible final state, anti-kT R = 0.8, the same jet
    selection as the jets family; events until ``n_jets`` jets pass.  Returns the number of events."""
    from benchmark.simulators.jets import clustering, pythia

    done = tried = 0
    while done < n_jets:
        batch = pythia.generate_batch(gen, 100, label)
        jet_p4, _ = clustering.leading_jets(batch.event, batch.e, batch.px, batch.py, batch.pz, batch.n_events)
        ok, _ = clustering.select_jets(jet_p4, batch.tops)
        done += int(ok.sum())
        tried += batch.n_events
    return tried


def plain_pythia_ratio(n_jets: int, repeats: int) -> list[list]:
    """Our nominal jets generator against plain Pythia + FastJet, same settings, interleaved repeats."""
    from benchmark.simulators.jets import generator as G
    from benchmark.simulators.jets import pythia

    rows = []
    for label, name in ((1, "top"), (0, "QCD")):
        plain_gen = pythia.make_pythia("nominal", label, 4242)
        G.simulate("nominal", label, 5, np.random.default_rng(1), np.random.default_rng(2))  # initialise ours
        ours_t, plain_t = [], []
        for r in range(repeats):
            t = time.perf_counter()
            G.simulate("nominal", label, n_jets, np.random.default_rng(100 + r), np.random.default_rng(200 + r))
            ours_t.append(time.perf_counter() - t)
            t = time.perf_counter()
            _plain_pythia_jets(plain_gen, label, n_jets)
            plain_t.append(time.perf_counter() - t)
        ours, plain = statistics.median(ours_t), statistics.median(plain_t)
        rows.append([name, n_jets, sig(ours), rate(n_jets, ours), sig(plain), rate(n_jets, plain),
                     sig(ours / plain)])
    return rows


def main(argv=None) -> int:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--families", nargs="+", default=list(DEFAULT_FAMILIES))
    p.add_argument("--core-sizes", nargs="+", default=["default", "full"],
                   help="presets whose chunk size the per-core runs use")
    p.add_argument("--pool-sizes", nargs="+", default=["default", "full"], help="presets of the pool runs")
    p.add_argument("--pool-chunks", type=int, default=4,
                   help="chunks of the first shard of the non-default presets (the default preset runs whole)")
    p.add_argument("--pool-repeats", type=int, default=1, help="runs per pool figure (whole presets take minutes)")
    p.add_argument("--workers", type=int, default=None, help="pool workers (default: all cores)")
    p.add_argument("--energies", type=float, nargs="+", default=[100.0, 1000.0],
                   help="kinetic energies (MeV) of the size-scaling runs")
    p.add_argument("--pythia-jets", type=int, default=200, help="jets per timed run of the plain-Pythia comparison")
    p.add_argument("--skip", nargs="+", default=[], choices=("per_core", "pool", "scaling", "pythia"))
    p.add_argument("--child-per-core", nargs=3, metavar=("FAMILY", "SIZE", "ALL_DOMAINS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child_per_core:
        args.child = True
        setup(args)
        family, size, all_domains = args.child_per_core
        print(json.dumps(_child_per_core(family, size, all_domains == "1", args.repeats)))
        return 0
    setup(args)
    res = Result(NAME, argv if argv is not None else sys.argv[1:], args.tag)
    workers = args.workers or os.cpu_count() or 1
    core_rows, pool_rows, energy_rows, jet_rows, pythia_rows = [], [], [], [], []
    for fam in args.families:
        ok, why = family_available(fam)
        if not ok:
            res.skip(f"family {fam}: cannot import its module ({why})")
            continue
        sizes = make_generator(fam).sizes
        if "per_core" not in args.skip:
            for size in [s for s in args.core_sizes if s in sizes]:
                print(f"[generation] {fam}/{size}: per core ...", flush=True)
                core_rows += per_core(fam, size, args.repeats, args.family_ref)
        if "pool" not in args.skip:
            for size in [s for s in args.pool_sizes if s in sizes]:
                n_chunks = 0 if size == "default" else args.pool_chunks
                print(f"[generation] {fam}/{size}: pool ({workers} workers and 1) ...", flush=True)
                pool_rows += pool(fam, size, n_chunks, workers, args.pool_repeats)
        if "scaling" not in args.skip:
            print(f"[generation] {fam}: scaling ...", flush=True)
            n = DEFAULT_SCALING_EVENTS.get(fam, 20)
            if fam in ("ndlar", "sfgd"):
                energy_rows += scaling_energy(fam, args.energies, n, args.repeats)
            elif fam == "jets":
                jet_rows += scaling_jets(n, 1)
            else:
                res.skip(f"scaling for {fam}: only ndlar/sfgd (energy) and jets (variants) have a size knob")
        if fam == "jets" and "pythia" not in args.skip:
            print("[generation] jets: against plain Pythia + FastJet ...", flush=True)
            pythia_rows += plain_pythia_ratio(args.pythia_jets, args.repeats)
    if core_rows:
        res.table("Generation per core at each preset's chunk size (train split, one process, one thread)",
                  ["family", "preset", "domains", "n domains", "true events per chunk", "start-up s (imports)",
                   "first-chunk extra s", "steady s per chunk", "true events/s", "rows/s (event x domain)"],
                  core_rows, f"Median of {args.repeats} chunks after the first. 'all train domains' renders every "
                  "domain of the train split from the same true events (jets: one Pythia run serves every "
                  "detector-level domain, each generator variant is its own run).")
    if pool_rows:
        res.table("Generation of a preset on all workers and on one (materialise.generate, HDF5 + card)",
                  ["family", "preset", "shard", "chunks", "true events", "workers", "s", "true events/s",
                   "speed-up over 1 worker", "disk MB (data files)"], pool_rows,
                  f"{args.pool_repeats} run(s) each (median). The default preset whole; of larger presets the "
                  "first shard (--shard 0/N) with the chunks shown. Spawn start-up, pickling, atomic HDF5 writes, "
                  "hashing and the dataset card included; workers=1 runs in-process (no pool) where numpy is on its "
                  "portable kernels (benchmark.data.portable), else in one spawned worker. The pool starts the "
                  "most expensive chunks first (Generator.chunk_cost).")
    if energy_rows:
        res.table("Generation vs event size (nominal domain, fixed kinetic energy, every class)",
                  ["family", "kinetic energy MeV", "events", "mean voxels/event", "median s", "events/s",
                   "voxels/s"], energy_rows)
    if jet_rows:
        res.table("Generation per jets variant (one chunk after a warm-up chunk: Pythia initialised)",
                  ["family", "variant", "jets", "mean constituents", "s", "jets/s"], jet_rows,
                  "One run each; variants render fraction x the nominal jets.")
    if pythia_rows:
        res.table("Jets generator against plain Pythia 8 + FastJet (same settings, one process, interleaved)",
                  ["process", "jets", "ours s", "ours jets/s", "plain s", "plain jets/s", "ours / plain time"],
                  pythia_rows, f"Median of {args.repeats} interleaved runs; initialisation excluded from both. "
                  "Plain = Pythia 8 (the family's nominal settings) + FastJet anti-kT R = 0.8 on the visible "
                  "generator-level final state + the same 550-650 GeV / |eta| / truth-match selection; ours adds "
                  "the detector response (tracks, ECAL/HCAL cells, e-flow) and the constituent arrays.")
    res.write(args.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
