"""The cost of every size preset, the table users plan with: events, disk and generation time per family
and preset, and the expected training time of each torch baseline under each preset.

    python -m benchmarks.preset_costs          # reads benchmarks/results/generation.json and encoders.json

Nothing is timed here: every figure is derived from the measured result files of
``python -m benchmarks.generation`` (per-core chunk rates at each preset's chunk size, whole-preset and
first-shard pool runs, disk) and ``python -m benchmarks.encoders`` (training-step and inference
events/s of each encoder size at the baselines' batch sizes), with the preset sizes, domains and chunk
costs from the generators and the epochs from the baselines' own configs.  Where a preset was not
generated whole, its figures are **extrapolations** (marked so in each row): core-hours from the
per-core rate at the preset's own chunk size, wall hours with the parallel efficiency measured on the
whole default preset, disk by rows.  Training estimates are upper bounds of the optimiser work
alone: every epoch run (no early stopping), data loading and the per-epoch bookkeeping not included;
contrastive methods and DANN process two views / two domains per event.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from benchmarks.common import REPO_ROOT, RESULTS_DIR, Result, make_generator, sig

NAME = "preset_costs"
FAMILIES = ("sfgd", "ndlar", "jets")
SPLITS = ("train", "validation", "test")
BASELINES = ("classifier", "augmented_classifier", "dann", "simclr", "supcon")


def _table(result: dict, title_start: str) -> dict | None:
    return next((t for t in result.get("tables", []) if t["title"].startswith(title_start)), None)


def _rows_as_dicts(table: dict | None) -> list[dict]:
    return [] if table is None else [dict(zip(table["columns"], r)) for r in table["rows"]]


def preset_shape(family: str, size: str) -> dict:
    """True events per split, rows per split (every domain the split has), chunks and chunk-cost units."""
    gen = make_generator(family)
    domains = gen.domains()
    out = {"events": {}, "rows": {}, "domains": {}, "chunks": 0, "units": 0.0}
    for split in SPLITS:
        split_domains = [d for d in domains if split in d.splits]
        chunks = gen.chunks(size, split)
        out["events"][split] = sum(len(c) for c in chunks)
        out["domains"][split] = len(split_domains)
        # generator variants render a fraction of each chunk (jets: "fraction_of_nominal")
        out["rows"][split] = sum(math.ceil(len(c) * float(d.parameters.get("fraction_of_nominal", 1.0)))
                                 for c in chunks for d in split_domains)
        out["chunks"] += len(chunks)
        out["units"] += sum(gen.chunk_cost(len(c), [d.name for d in split_domains]) for c in chunks)
    return out


def generation_rows(gen_result: dict) -> list[list]:
    """Per family and preset: events, rows, chunks, and (from the measurements) core-hours, wall hours
    on all workers and disk.  Core-hours: the preset's chunk cost at the per-core steady rate of its own
    chunk size.  Wall and disk come from the pool run of the whole default preset: wall = core-hours /
    (workers x the parallel efficiency measured there), disk = the default's bytes per row x rows (a
    first shard of a few chunks is dominated by the workers' start-up, so its time does not scale)."""
    per_core = _rows_as_dicts(_table(gen_result, "Generation per core"))
    pools = _rows_as_dicts(_table(gen_result, "Generation of a preset"))
    rows = []
    for family in FAMILIES:
        gen = make_generator(family)
        train_domains = [d.name for d in gen.domains() if "train" in d.splits]
        whole = {r["workers"]: r for r in pools if r["family"] == family and r["preset"] == "default"
                 and r["shard"] == "0/1"}
        many = max((w for w in whole if w > 1), default=None)
        for size in gen.sizes:
            shape = preset_shape(family, size)
            chunk_events = len(gen.chunks(size, "train")[0])
            # the per-core rate at this preset's chunk size (measured under any preset with that chunk size)
            core = next((r for r in sorted(per_core, key=lambda r: r["preset"] != size)
                         if r["family"] == family and r["domains"] == "all train domains"
                         and r["true events per chunk"] == chunk_events), None)
            core_h = wall_h = disk_gb = None
            basis = "not measured (no per-core run at this preset's chunk size)"
            if core is not None:
                units_per_s = gen.chunk_cost(core["true events per chunk"], train_domains) / core["steady s per chunk"]
                core_h = shape["units"] / units_per_s / 3600
                basis = "core-hours from the per-core rate"
            if many is not None and 1 in whole:
                rows_default = sum(preset_shape(family, "default")["rows"].values())
                disk_gb = whole[many]["disk MB (data files)"] * sum(shape["rows"].values()) / rows_default / 1000
                if size == "default":
                    wall_h = whole[many]["s"] / 3600
                    basis = "measured (whole preset)"
                elif core_h is not None:
                    efficiency = whole[many]["speed-up over 1 worker"] / many
                    wall_h = core_h / (many * efficiency)
                    basis = (f"EXTRAPOLATED: core-hours / ({many} workers x {efficiency:.2f}, the parallel efficiency "
                             f"of the whole default preset); disk scaled by rows")
            events = "/".join(f"{shape['events'][s]:,}" for s in SPLITS)
            doms = "/".join(str(shape["domains"][s]) for s in SPLITS)
            rows.append([family, size, events, doms, sum(shape["rows"].values()), shape["chunks"],
                         None if core_h is None else sig(core_h), None if wall_h is None else sig(wall_h),
                         many, None if disk_gb is None else sig(disk_gb), basis])
    return rows


def _effective(baseline: str, family: str, size: str) -> tuple[dict, type]:
    from benchmark.methods.base import load_method_spec
    from benchmark.methods.torch import COMMON, effective_config

    spec = load_method_spec(REPO_ROOT / "baselines" / baseline)
    cls = spec.load_class()
    return effective_config(spec.config, family, size, {**COMMON, **cls.EXTRA}), cls


def training_rows(enc_result: dict) -> list[list]:
    from benchmark.methods.torch import DANN, Contrastive

    rates = {(r["family"], r["size"]): r for r in _rows_as_dicts(_table(enc_result, "Encoder throughput"))}
    rows = []
    for family in FAMILIES:
        for size in ("default", "full"):
            shape = preset_shape(family, size)
            for baseline in BASELINES:
                cfg, cls = _effective(baseline, family, size)
                rate = rates.get((family, cfg["encoder_size"]))
                if rate is None:
                    rows.append([family, size, baseline, cfg["encoder_size"], cfg["epochs"], None, None, None, None,
                                 "encoder size not measured"])
                    continue
                n_train = shape["events"]["train"]
                if cfg.get("max_train_events"):
                    n_train = min(n_train, int(cfg["max_train_events"]))
                views = 2 if issubclass(cls, (Contrastive, DANN)) else 1
                train_s = cfg["epochs"] * n_train * views / rate["train events/s"]
                if issubclass(cls, Contrastive):  # features of train + validation once, then a linear head
                    eval_s = (n_train + shape["events"]["validation"]) / rate["inference events/s"]
                else:  # model selection: the validation split after every epoch
                    eval_s = cfg["epochs"] * shape["events"]["validation"] / rate["inference events/s"]
                score_s = shape["rows"]["test"] / rate["inference events/s"]
                per_seed_h = (train_s + eval_s + score_s) / 3600
                rows.append([family, size, baseline, cfg["encoder_size"], cfg["epochs"], views,
                             sig(train_s / 3600), sig(per_seed_h), sig(3 * per_seed_h),
                             "EXTRAPOLATED from the step rates"])
    return rows


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out-dir", default=str(RESULTS_DIR),
                   help="the results folder: generation.json and encoders.json are read, preset_costs.json written here")
    args = p.parse_args(argv)
    res_dir = Path(args.out_dir)
    inputs = {}
    for name in ("generation", "encoders"):
        f = res_dir / f"{name}.json"
        if not f.exists():
            raise SystemExit(f"{f} is missing: run `python -m benchmarks.{name}` first (on a quiet machine)")
        inputs[name] = json.loads(f.read_text())
    res = Result(NAME, argv if argv is not None else sys.argv[1:])
    res.extra["derived"] = "from generation.json and encoders.json (nothing timed)"
    res.table("Presets: events, disk and generation time (from benchmarks.generation)",
              ["family", "preset", "true events train/validation/test", "domains train/validation/test",
               "rows (event x domain)", "chunks", "generation core-hours", "generation wall h on all workers",
               "workers", "disk GB", "basis"], generation_rows(inputs["generation"]),
              "core-hours: the preset's chunk cost (Generator.chunk_cost) at the per-core steady rate of its own "
              "chunk size (start-up per worker not included); wall and disk: the pool run of the whole default "
              "preset, scaled as the basis column says "
              f"(measured on {inputs['generation']['created']}, commit {inputs['generation']['machine'].get('git_commit')}).")
    res.table("Expected training time per baseline and preset, CPU, one thread (from benchmarks.encoders)",
              ["family", "preset", "baseline", "encoder", "epochs", "events per sample (views)",
               "training h per seed", "h per seed (with validation and scoring)", "h for 3 seeds", "basis"],
              training_rows(inputs["encoders"]),
              "Upper bounds of the optimiser work: every epoch at the measured training-step rate of the encoder "
              "size the baseline uses, validation and test scoring at the inference rate (robustness: every test "
              "domain); early stopping (patience at the default size), data loading and bookkeeping not "
              "included. The default-size rows can be checked against the measured grid (baseline_grid). "
              f"Encoder rates measured on {inputs['encoders']['created']}.")
    res.write(res_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
