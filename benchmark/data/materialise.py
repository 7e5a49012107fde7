"""Run a built-in simulator into a materialised dataset folder: parallel, sharded, resumable.

Work is split into chunks of true events (see :mod:`benchmark.simulators.base`).  Chunk ``k`` of a
split belongs to shard ``k % N`` for ``--shard i/N``, so a batch system can run the N shards as
independent jobs into the same folder.  A chunk whose files are all on disk is skipped, so an
interrupted run resumes where it stopped; files are written atomically by the workers.
"""
from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from benchmark.data.paths import dataset_folder
from benchmark.data.portable import numpy_is_portable, portable_numpy_for_children
from benchmark.data.registry import SPLITS, check_name, family_ref, get_family, register_family
from benchmark.data.writer import (CorruptPart, DatasetWriter, GenerationConflict, part_events, part_path,  # noqa: F401
                                   part_stat_entry, remove_temporary_files)


@dataclass(frozen=True)
class ChunkJob:
    family: str
    split: str
    chunk_index: int
    first_event: int
    n_events: int
    seed: int
    version: str
    domains: tuple[str, ...]
    folder: str
    family_ref: str  # "module:attribute", so spawned workers find families registered at run time


def parse_shard(text: str | tuple[int, int] | None) -> tuple[int, int]:
    """``"i/N"`` -> (i, N) with 0 <= i < N."""
    if text is None:
        return 0, 1
    if isinstance(text, tuple):
        i, n = text
    else:
        try:
            i, n = (int(x) for x in str(text).split("/"))
        except ValueError:
            raise ValueError(f"--shard must look like i/N (e.g. 0/4), got {text!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise ValueError(f"--shard {i}/{n}: need N >= 1 and 0 <= i < N")
    return i, n


def _make_generator(family: str):
    spec = get_family(family)
    src = spec.source("generated")
    if src.make_generator is None:
        raise ValueError(f"family {family!r} has no built-in generator")
    return src.make_generator()


_WORKER_GENERATORS: dict[str, Any] = {}


def _run_chunk(job: ChunkJob) -> tuple[ChunkJob, dict[str, dict]]:
    """Worker: render one chunk into every domain, write the missing part files and hash them here
    (the parent's ``finalize`` would otherwise hash every part serially: about 16 s of the sfgd default
    preset's 50 s on 2 workers, BENCHMARKS.md). Returns the parts' stat-cache entries."""
    import numpy as np

    gen = _WORKER_GENERATORS.get(job.family)
    if gen is None:
        register_family(job.family_ref, job.family, replace=True)
        gen = _WORKER_GENERATORS[job.family] = _make_generator(job.family)
    spec = get_family(job.family)
    writer = DatasetWriter(job.folder, spec, spec.source("generated"), {"version": job.version, "seed": job.seed})
    todo = [d for d in job.domains if not writer.part_path(d, job.split, job.chunk_index).exists()]
    if not todo:
        return job, {}
    ids = np.arange(job.first_event, job.first_event + job.n_events, dtype=np.int64)
    out = gen.generate_chunk(job.split, job.chunk_index, ids, job.seed, domains=list(todo))
    entries = {}
    for d in todo:
        if d not in out:
            raise RuntimeError(f"generator for {job.family!r} returned no data for domain {d!r}")
        path = writer.write_part(d, job.split, job.chunk_index, out[d])
        entries[path.relative_to(writer.folder).as_posix()] = part_stat_entry(path, len(out[d]["event_id"]))
    return job, entries


def plan_jobs(family: str, size: str, seed: int, folder: Path, shard=(0, 1),
              domains: list[str] | None = None, splits=SPLITS) -> tuple[list[ChunkJob], list[Path]]:
    """All chunk jobs of this shard (and of ``domains``, ``splits``) and every part file the complete
    dataset has."""
    gen = _make_generator(family)
    check_name("size preset", size, gen.sizes)
    all_domains = {d.name: d for d in gen.domains()}
    chosen = list(all_domains) if domains is None else [check_name("domain", d, all_domains) for d in domains]
    i, n = parse_shard(shard)
    jobs, expected = [], []
    for split in SPLITS:
        split_domains = tuple(d for d in chosen if split in all_domains[d].splits) if split in splits else ()
        for k, ids in enumerate(gen.chunks(size, split)):
            # the complete dataset has every domain, whatever subset this run makes
            expected += [part_path(folder, d, split, k) for d in all_domains if split in all_domains[d].splits]
            if split_domains and k % n == i:
                jobs.append(ChunkJob(family, split, k, int(ids[0]), len(ids), seed, gen.version, split_domains,
                                     str(folder), family_ref(family)))
    return jobs, expected


def largest_first(jobs: list[ChunkJob], gen) -> list[ChunkJob]:
    """Jobs in decreasing ``Generator.chunk_cost``: the pool starts the longest chunks first, so that no
    long chunk (e.g. a jets test chunk with the Vincia variant) runs alone at the end.  The order
    changes no byte: every chunk has its own seed."""
    return sorted(jobs, key=lambda j: -gen.chunk_cost(j.n_events, j.domains))


def _drop_damaged_parts(folder: Path, provenance: dict, progress: bool) -> None:
    """Resuming: delete parts that no longer match their recorded hash or cannot be read, so they are
    regenerated (a damaged disk, a file truncated by hand); each one is named."""
    from benchmark.data.provenance import verify

    recorded = provenance.get("files", {})
    bad = [folder / rel for rel in verify(folder) if (folder / rel).exists()]
    for path in sorted(folder.glob("data/*/*.h5")):
        rel = path.relative_to(folder).as_posix()
        if path.name.startswith(".") or rel in recorded:
            continue
        try:
            part_events(path)
        except CorruptPart:
            bad.append(path)
    for path in bad:
        if progress:
            print(f"[simshift] {path} is damaged (hash or HDF5 check failed): regenerating it")
        path.unlink(missing_ok=True)


def generate(family: str, size: str = "default", seed: int = 0, workers: int | None = None,
             shard: str | tuple[int, int] | None = None, cache_dir: str | os.PathLike | None = None,
             domains: list[str] | None = None, folder: str | os.PathLike | None = None,
             progress: bool = True, splits: tuple[str, ...] | list[str] = SPLITS) -> Path:
    """Generate (or finish generating) ``family`` at preset ``size``; return the dataset folder.

    ``domains`` / ``splits`` / ``shard`` restrict what this call makes (e.g. only the test splits, to
    verify leaderboard entries); the folder is ``complete`` once every part of every domain exists.
    """
    splits = tuple(check_name("split", s, SPLITS) for s in splits)
    spec = get_family(family)
    source = spec.source("generated")
    gen = _make_generator(family)
    folder = Path(folder) if folder is not None else dataset_folder(family, "generated", size, cache_dir)
    info = {"version": gen.version, "seed": int(seed), "size": size,
            "sizes": gen.sizes.get(size, {}), "generator_parameters": gen.parameters()}
    writer = DatasetWriter(folder, spec, source, info)
    old = writer.claim()  # identity recorded before the first part; a foreign folder is refused here
    stale = remove_temporary_files(folder)
    if stale and progress:
        print(f"[simshift] removed {len(stale)} temporary file(s) of an interrupted writer in {folder}")
    if old is not None:
        _drop_damaged_parts(folder, old, progress)
    jobs, expected = plan_jobs(family, size, seed, folder, shard, domains, splits)
    todo = [j for j in jobs if any(not part_path(folder, d, j.split, j.chunk_index).exists() for d in j.domains)]
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    bar = tqdm(total=sum(j.n_events for j in todo), unit="event", desc=f"generate {family}/{size}",
               disable=not progress or not todo)
    known: dict[str, dict] = {}
    try:
        if workers == 1 and numpy_is_portable():
            for job in todo:
                known.update(_run_chunk(job)[1])
                bar.update(job.n_events)
        elif todo:
            import multiprocessing as mp

            todo = largest_first(todo, gen)
            with portable_numpy_for_children(), \
                    ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
                futures = [pool.submit(_run_chunk, j) for j in todo]
                for fut in as_completed(futures):
                    job, entries = fut.result()
                    known.update(entries)
                    bar.update(job.n_events)
    finally:
        bar.close()
        if todo:  # files changed: the per-folder Arrow cache of the loader is stale
            import shutil
            shutil.rmtree(folder / ".hf_cache", ignore_errors=True)
        writer.finalize(expected, known_parts=known)
    return folder
