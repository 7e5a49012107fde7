"""``python -m benchmark run <method folder>``: run a method under the protocols, write results.

For each protocol and seed the runner builds the task, gives the method only what the protocol
allows (:meth:`benchmark.tasks.Task.method_data`), scores its predictions (or, for
``linear_probe``, fits the benchmark's probe on its embeddings), and writes

    <out>/<protocol>[_<target>]/result.json                      the result file (validated)
    <out>/<protocol>[_<target>]/predictions/seed<k>/<domain>.npz  what it was scored from
    <out>/<protocol>[_<target>]/seed<k>/                          the method's checkpoints, done.json

A seed whose ``done.json`` exists is not run again, and methods checkpoint inside their seed
folder, so an interrupted run resumes when the same command is given again.
"""
from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import numpy as np
from tabulate import tabulate

from benchmark.data.loader import DatasetNotMaterialised, resolve_folder
from benchmark.data.provenance import read_provenance, split_digest
from benchmark.data.registry import check_name, get_family
from benchmark.data.writer import write_text_atomic
from benchmark.evaluation import save_predictions
from benchmark.methods.base import MethodSpec, RunContext, load_method_spec
from benchmark.tasks import Task, get_task

DEFAULT_SEEDS = (0, 1, 2)
CODE_URL = "https://github.com/simshift/simshift"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover - non-torch methods
        pass


def is_main_process() -> bool:
    """Under torchrun every rank runs this code; only rank 0 writes files and prints tables."""
    return int(os.environ.get("RANK", "0")) == 0


def ensure_data(family: str, source: str | None, size: str, cache_dir, allow_generate: bool) -> None:
    """Generate the embedded default if it is missing (published sources must be fetched)."""
    spec = get_family(family)
    src = spec.source(source)
    try:
        folder = resolve_folder(family, src.name, size, cache_dir)
        if read_provenance(folder).get("complete", False):
            return
    except DatasetNotMaterialised:
        if src.kind != "generated" or not allow_generate:
            raise
    from benchmark.data.materialise import generate

    if not is_main_process():
        raise RuntimeError("generate the dataset before launching several ranks: "
                           f"python -m benchmark generate {family} --size {size}")
    print(f"[simshift] materialising {family}/{src.name}/{size} first (one time) ...", flush=True)
    generate(family, size=size, cache_dir=cache_dir)


def _method_block(spec: MethodSpec, n_parameters) -> dict:
    url = spec.code_url
    if not url:  # a folder of this repository: link to it; elsewhere the author must give code_url
        try:
            rel = spec.folder.resolve().relative_to(Path(__file__).resolve().parents[1]).as_posix()
            url = f"{CODE_URL}/tree/main/{rel}"
        except ValueError:
            url = CODE_URL
    return {"name": spec.name, "description": spec.description or spec.name, "code_url": url,
            "framework": spec.framework, "n_parameters": n_parameters, "standard": True}


def run_one_seed(spec: MethodSpec, task: Task, seed: int, size: str, device: str, workdir: Path,
                 epochs: int | None, progress: bool = True) -> tuple[dict, dict, int | None]:
    """Fit and score one seed; returns (report, predictions, n_parameters)."""
    seed_everything(seed)
    context = RunContext(family=task.family, protocol=task.protocol, seed=seed, size=size, device=device,
                         workdir=workdir, epochs=epochs, progress=progress)
    config = spec.resolved_config(size)
    cls = spec.load_class()
    if spec.command is not None:
        config = {**config, "_folder": str(spec.folder)}
        method = cls(config, context, command=spec.command)
    else:
        method = cls(config, context)
    data = task.method_data()
    method.fit(data)
    if task.protocol == "linear_probe":
        emb = {"train": (data.train.event_id, method.embed(data.train)),
               "validation": (data.validation.event_id, method.embed(data.validation))}
        emb.update({d: (ev.event_id, method.embed(ev)) for d, ev in data.test.items()})
        report = task.evaluate_embeddings(emb)
        predictions = report.pop("predictions")
    else:
        # scored exactly as saved (float32), so a submission recomputes the same metrics
        predictions = {d: (ev.event_id, np.asarray(method.predict(ev), dtype=np.float32))
                       for d, ev in data.test.items()}
        report = task.evaluate(predictions)
    return report, predictions, method.num_parameters()


def run_protocol(spec: MethodSpec, family: str, protocol: str, seeds, size: str, device: str, out: Path,
                 source: str | None, source_domain: str, target: str | None, cache_dir,
                 epochs: int | None = None, progress: bool = True) -> Path:
    """Run all seeds of one protocol and write its result file; return the result path."""
    from benchmark.results import build_result, describe_hardware, prediction_relpath, write_result

    task = get_task(protocol, family, source=source, size=size, source_domain=source_domain,
                    target_domain=target, cache_dir=cache_dir)
    folder = out / (protocol if task.target_domain is None else f"{protocol}_{task.target_domain}")
    per_seed, files, n_params, t_start = [], {}, None, time.time()
    for seed in seeds:
        workdir = folder / f"seed{seed}"
        done = workdir / "done.json"
        if done.exists():
            record = json.loads(done.read_text())
            print(f"[simshift] {spec.name} {protocol} seed {seed}: done earlier, reusing {done}")
        else:
            print(f"[simshift] {spec.name} on {family} ({task.protocol}"
                  f"{' -> ' + task.target_domain if task.target_domain else ''}), seed {seed}", flush=True)
            t0 = time.time()
            report, predictions, n = run_one_seed(spec, task, seed, size, device, workdir, epochs, progress)
            if not is_main_process():
                continue
            for d, (ids, scores) in predictions.items():
                save_predictions(folder / prediction_relpath(seed, d), ids, scores)
            record = {"seed": seed, "per_domain": report["per_domain"], "summary": report["summary"],
                      "n_parameters": n, "wall_time_s": time.time() - t0}
            write_text_atomic(done, json.dumps(record, default=float) + "\n")
        per_seed.append(record)
        n_params = record.get("n_parameters", n_params)
        files[f"seed{seed}"] = {d: prediction_relpath(seed, d) for d in task.domains}
    if not is_main_process():
        return folder / "result.json"
    data_folder = task.folder
    prov = read_provenance(data_folder)
    dataset = {"family": family, "source": task.source.name, "version": str(prov.get("version")),
               "size": str(prov.get("size")), "seed": prov.get("seed"),
               "test_sha256": {d: split_digest(data_folder, d, "test") for d in task.domains}}
    result = build_result(
        method=_method_block(spec, n_params), dataset=dataset, protocol=protocol,
        source_domain=task.source_domain, target_domain=task.target_domain, domains=task.domains,
        domain_parameters={d: task.source.domain(d).parameters for d in task.domains},
        seeds=list(seeds), per_seed=[{k: r[k] for k in ("seed", "per_domain", "summary")} for r in per_seed],
        hardware=describe_hardware(device),
        wall_time_s=sum(r.get("wall_time_s", 0.0) for r in per_seed) or time.time() - t_start,
        predictions=files)
    path = write_result(folder / "result.json", result)
    print_summary(result)
    print(f"[simshift] wrote {path}")
    return path


def print_summary(result: dict) -> None:
    metric = get_family(result["dataset"]["family"]).primary_metric
    agg = result["aggregate"]["per_domain"]
    rows = []
    for d in result["domains"]:
        m = agg[d][metric]
        rows.append([d, f"{m['mean']:.4f} ± {m['std']:.4f}" if m.get("std") is not None else f"{m['mean']:.4f}"])
    print(tabulate(rows, headers=["domain", f"{metric} (mean ± std over {len(result['seeds'])} seeds)"]))
    s = result["aggregate"]["summary"]
    if s:
        keys = [k for k in ("nominal", "mean_shifted", "worst", "drop", "agreement") if k in s]
        print(tabulate([[k, f"{s[k]['mean']:.4f}"] for k in keys], headers=["summary", "mean"]))


def run_method(method: str | Path, family: str | None = None, protocols: list[str] | None = None,
               seeds=None, size: str = "default", device: str = "cpu", out: str | Path | None = None,
               source: str | None = None, source_domain: str = "nominal", target: str | None = None,
               cache_dir=None, epochs: int | None = None, allow_generate: bool = True,
               progress: bool = True) -> list[Path]:
    """Python entry point of ``run``; returns the result files written."""
    spec = load_method_spec(method)
    families = spec.families or ["ndlar", "sfgd", "jets"]
    family = check_name(f"family of method {spec.name!r}", family, families) if family else families[0]
    protocols = [check_name(f"protocol of method {spec.name!r}", p, spec.protocols)
                 for p in (protocols or spec.protocols)]
    seeds = list(seeds or DEFAULT_SEEDS)
    ensure_data(family, source, size, cache_dir, allow_generate)
    fam = get_family(family)
    src_name = fam.source(source).name
    out = Path(out) if out else Path("runs") / spec.name / f"{family}_{src_name}_{size}"
    paths = []
    for protocol in protocols:
        tgt = target
        if protocol == "domain_shift" and tgt is None:
            tgt = fam.default_target or next(d.name for d in fam.source(source).domains
                                             if d.name != source_domain and not d.test_only)
        paths.append(run_protocol(spec, family, protocol, seeds, size, device, out, source, source_domain,
                                  tgt if protocol == "domain_shift" else None, cache_dir, epochs, progress))
    return paths


def run_from_cli(args) -> int:
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError(f"--device {args.device} asked for, but torch sees no CUDA device "
                               f"(torch {torch.__version__}); use --device cpu")
    run_method(args.method, family=args.family, protocols=[args.protocol] if args.protocol else None,
               seeds=args.seeds, size=args.size, device=args.device, out=args.out, source=args.source,
               source_domain=args.source_domain, target=args.target, cache_dir=args.cache_dir,
               epochs=args.epochs, allow_generate=not args.no_generate,
               progress=not os.environ.get("SIMSHIFT_QUIET"))
    return 0
