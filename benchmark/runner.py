"""``python -m benchmark run <method folder>``: run a method under the protocols, write results.

For each seed the runner builds the task, hands ``fit`` only what the protocol allows
(:meth:`benchmark.tasks.Task.method_data`: labelled source train/validation, and the unlabelled target
train under ``domain_shift``), and only then gives the test inputs to ``predict`` / ``embed``.
Protocols of one *fit group* (:attr:`benchmark.protocols.Protocol.fit_group`) entitle a method to the
same data, so one fit per seed serves them: ``robustness`` scores the fitted model's ``predict`` and
``linear_probe`` sends its ``embed`` through the benchmark's probe, over the same test EventSets (the
torch methods run their encoder over each once: ``TorchMethod.embed``).  ``domain_shift`` (more data:
the target train) is a fit of its own.  How each protocol scores is its own class's business.  Output, under ``<out>`` (default ``runs/<method>/<family>_<source>_<size>/from_<source domain>``)::

    <protocol>[_<target>]/result.json                      the result file (validated)
    <protocol>[_<target>]/predictions/seed<k>/<domain>.npz  what it was scored from
    <protocol>[_<target>]/seed<k>/done.json                 the finished seed and its fingerprint
    models/<fit>/seed<k>/                                   the method's checkpoints (resumable)

A finished seed is reused, and a checkpoint resumed, only when its *fingerprint* matches the run asked
for: the data (test sha256s, train/validation digests), the method's resolved config and code, epochs,
sizes, source and target domains, the package version and its Python source.  Anything else is
recomputed, and the message says which field changed.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tabulate import tabulate

from benchmark import __version__
from benchmark.data.loader import DatasetNotMaterialised, resolve_folder
from benchmark.data.provenance import read_provenance, split_digest
from benchmark.data.registry import check_name, family_names, get_family
from benchmark.data.writer import write_text_atomic
from benchmark.evaluation import save_predictions
from benchmark.methods.base import MethodSpec, RunContext, load_method_spec
from benchmark.protocols import get_protocol
from benchmark.tasks import Task, get_task
from benchmark.training.hparams import model_size_for

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


class DataNotReady(RuntimeError):
    """The dataset a run needs is missing or incomplete and generating it was not allowed."""


def ensure_data(family: str, source: str | None, size: str, cache_dir, allow_generate: bool,
                domains: list[str] | None = None) -> None:
    """Generate the embedded default if it is missing or incomplete (published sources must be fetched).

    With ``allow_generate=False`` (``--no-generate``) nothing is ever generated: a missing or
    incomplete dataset is an error that says what is missing and the command that makes it.
    ``domains``: only these must be complete (and only these are generated), e.g. the source and target
    of ``domain_shift``; None: every domain of the source.
    """
    spec = get_family(family)
    src = spec.source(source)
    domains = list(dict.fromkeys(domains)) if domains else None   # e.g. [source, target]: source == target
    cache = f" --cache-dir {cache_dir}" if cache_dir else ""
    only = f" --domains {' '.join(domains)}" if domains else ""
    how = (f"python -m benchmark generate {family} --size {size}{only}{cache}" if src.kind == "generated"
           else f"python -m benchmark fetch {family} --source {src.name}{cache}")
    try:
        folder = resolve_folder(family, src.name, size, cache_dir)
        prov = read_provenance(folder)
        have = set(prov.get("domains_complete", prov.get("events", {})))
        need = set(domains or src.domain_names)
        if prov.get("complete", False) or need <= have:
            return
        if src.kind != "generated" or not allow_generate:
            missing = sorted(need - have)
            raise DataNotReady(f"{family}/{src.name}/{size} in {folder} is incomplete: domain(s) "
                               f"{', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''} are missing or "
                               f"partial ({prov.get('n_missing_parts', '?')} part files missing). "
                               f"Complete it with: {how}")
    except DatasetNotMaterialised:
        if src.kind != "generated" or not allow_generate:
            raise
    from benchmark.data.materialise import generate

    if not is_main_process():
        raise RuntimeError(f"generate the dataset before launching several ranks: {how}")
    which = f" ({', '.join(domains)})" if domains else ""
    print(f"[simshift] materialising {family}/{src.name}/{size}{which} first (one time) ...", flush=True)
    generate(family, size=size, cache_dir=cache_dir, domains=domains)


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


# ----------------------------------------------------------------------------------- fingerprints
def data_fingerprint(task: Task) -> dict:
    """What names the exact data of a task: test sha256s of the scored domains, train/validation
    digests of the source (and the target train under domain_shift), version and seed."""
    folder = task.folder
    prov = read_provenance(folder)
    fp = {"version": str(prov.get("version")), "seed": prov.get("seed"),
          "source_train": split_digest(folder, task.source_domain, "train"),
          "source_validation": split_digest(folder, task.source_domain, "validation"),
          "test": {d: split_digest(folder, d, "test") for d in task.domains}}
    if task.target_domain:
        fp["target_train"] = split_digest(folder, task.target_domain, "train")
    return fp


@functools.lru_cache(maxsize=None)
def package_code_digest(root: Path = Path(__file__).resolve().parent) -> str:
    """sha256 over the Python source of the ``benchmark`` package under ``root`` (paths and contents).
    The built-in baselines' training loop, the protocols and the scorer live there, and a checkout of
    the repository changes them without a version bump: a finished seed made by other code is not this
    run's. Notes, manifests and data are not hashed."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def method_code_digest(spec: MethodSpec) -> str:
    """sha256 over the method's entry point or command and the files of its folder (code, programs in any
    language), except method.yaml and the Markdown notes. method.yaml is not hashed as text: what it means
    for a run is the fingerprint's ``config`` (:func:`family_config`), so a comment, or the block of
    another family, does not throw away finished seeds."""
    digest = hashlib.sha256(f"entry={spec.entry}\0command={spec.command}\0".encode())
    for path in sorted(p for p in spec.folder.iterdir() if p.is_file() and not p.name.startswith(".")
                       and p.name != "method.yaml" and p.suffix != ".md"):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def family_config(config: dict, family: str) -> dict:
    """The part of a resolved method config that a run on ``family`` reads: ``per_family`` keeps only
    that family's entry (and goes when it has none, as if the method had no such block)."""
    out = dict(config)
    per = out.pop("per_family", None)
    if isinstance(per, dict) and family in per:
        out["per_family"] = {family: per[family]}
    elif per is not None and not isinstance(per, dict):
        out["per_family"] = per  # malformed: kept, so the method's own check reports it
    return out


def fingerprint_diff(old: dict | None, new: dict) -> list[str]:
    """The top-level fields in which two fingerprints differ (``["no fingerprint"]`` for old runs)."""
    if not old:
        return ["no fingerprint recorded (made by an older version)"]
    return [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]


@dataclass
class FitPlan:
    """One fit per seed and the protocols scored from it."""

    name: str                 # folder under models/: "inductive" or "domain_shift_<target>"
    tasks: list[Task]         # one per protocol, in the order asked for


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def run_fit_seed(spec: MethodSpec, plan: FitPlan, seed: int, context: RunContext, out: Path,
                 fingerprint: dict, progress: bool) -> dict[str, dict]:
    """Fit once for ``seed`` (or reuse what matches) and score every protocol of ``plan``.

    Returns ``{protocol folder: done record}``.
    """
    records, todo = {}, []
    for task in plan.tasks:
        folder = out / protocol_folder(task)
        done = folder / f"seed{seed}" / "done.json"
        old = _read_json(done) if done.exists() else None
        changed = fingerprint_diff(old.get("fingerprint") if old else None, fingerprint) if old else None
        if old is not None and not changed:
            print(f"[simshift] {spec.name} {protocol_folder(task)} seed {seed}: done earlier with the same "
                  f"data, config and code; reusing {done}")
            records[protocol_folder(task)] = old
            continue
        if old is not None:
            print(f"[simshift] {spec.name} {protocol_folder(task)} seed {seed}: the earlier result differs in "
                  f"{', '.join(changed)}; recomputing")
            done.unlink()
        todo.append(task)
    if not todo:
        return records

    workdir = out / "models" / plan.name / f"seed{seed}"
    marker = workdir / "fingerprint.json"
    if workdir.exists():
        old_fp = _read_json(marker)
        changed = fingerprint_diff(old_fp, fingerprint)
        if changed:
            print(f"[simshift] {workdir}: checkpoints of another run (differs in {', '.join(changed)}); "
                  f"starting this seed afresh")
            shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if is_main_process():
        write_text_atomic(marker, json.dumps(fingerprint, indent=1, sort_keys=True) + "\n")

    task0 = todo[0]
    tgt = f" -> {task0.target_domain}" if task0.target_domain else ""
    print(f"[simshift] {spec.name} on {task0.family.name} (fit for {', '.join(t.protocol for t in todo)}{tgt}), "
          f"seed {seed}", flush=True)
    seed_everything(seed)
    context.workdir = workdir
    context.protocol = task0.protocol
    method = spec.instantiate(context)
    t0 = time.time()
    method.fit(task0.method_data())
    resumed_s = float(getattr(method, "resumed_fit_s", 0.0) or 0.0)   # done by earlier, interrupted processes
    fit_s = time.time() - t0 + resumed_s
    test = {}  # test inputs exist for the method only from here on (every domain a protocol of the plan scores)
    for task in todo:
        test.update(task.test_inputs())
    for task in todo:
        t1 = time.time()
        report, predictions = task.rules.score(task, method, test)
        if not is_main_process():
            continue
        folder = out / protocol_folder(task)
        from benchmark.results import prediction_relpath

        for d, (ids, scores) in predictions.items():
            save_predictions(folder / prediction_relpath(seed, d), ids, scores)
        record = {"seed": seed, "per_domain": report["per_domain"], "summary": report["summary"],
                  "n_parameters": method.num_parameters(), "fit_time_s": fit_s, "fit_time_resumed_s": resumed_s,
                  "score_time_s": time.time() - t1, "wall_time_s": fit_s + time.time() - t1,
                  "fit_shared_with": [t.protocol for t in todo if t is not task],
                  "fingerprint": fingerprint}
        write_text_atomic(folder / f"seed{seed}" / "done.json", json.dumps(record, default=float) + "\n")
        records[protocol_folder(task)] = record
    return records


def protocol_folder(task: Task) -> str:
    return task.protocol if task.target_domain is None else f"{task.protocol}_{task.target_domain}"


def write_protocol_result(spec: MethodSpec, task: Task, seeds, per_seed: list[dict], device: str,
                          out: Path) -> Path:
    """The result file of one protocol from its per-seed records."""
    from benchmark.results import build_result, describe_hardware, prediction_relpath, write_result

    folder = out / protocol_folder(task)
    prov = read_provenance(task.folder)
    dataset = {"family": task.family.name, "source": task.source.name, "version": str(prov.get("version")),
               "size": str(prov.get("size")), "seed": prov.get("seed"),
               "test_sha256": {d: split_digest(task.folder, d, "test") for d in task.domains}}
    n_params = next((r.get("n_parameters") for r in per_seed if r.get("n_parameters") is not None), None)
    result = build_result(
        method=_method_block(spec, n_params), dataset=dataset, protocol=task.protocol,
        source_domain=task.source_domain, target_domain=task.target_domain, domains=task.domains,
        domain_parameters={d: task.source.domain(d).parameters for d in task.domains},
        seeds=list(seeds), per_seed=[{k: r[k] for k in ("seed", "per_domain", "summary")} for r in per_seed],
        hardware=describe_hardware(device),
        wall_time_s=sum(r.get("wall_time_s", 0.0) for r in per_seed),
        predictions={f"seed{s}": {d: prediction_relpath(s, d) for d in task.domains} for s in seeds})
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
    print(f"\n{result['method']['name']} — {result['protocol']}"
          f"{' -> ' + result['target_domain'] if result.get('target_domain') else ''}")
    print(tabulate(rows, headers=["domain", f"{metric} (mean ± std over {len(result['seeds'])} seeds)"]))
    s = result["aggregate"]["summary"]
    if s:
        keys = [k for k in ("nominal", "mean_shifted", "worst", "drop", "agreement") if k in s]
        rows = [[k, "–" if s[k].get("mean") is None else f"{s[k]['mean']:.4f}"] for k in keys]
        print(tabulate(rows, headers=["summary", "mean"]))


def default_out(spec: MethodSpec, family: str, source: str, size: str, source_domain: str,
                model_size: str, max_train_events: int | None) -> Path:
    """``runs/<method>/<family>_<source>_<size>/from_<source domain>[...]``: every choice that changes the
    numbers is in the path (the target of domain_shift is in the protocol folder below it)."""
    name = f"from_{source_domain}"
    if model_size != size:
        name += f"_model_{model_size}"
    if max_train_events is not None:
        name += f"_train{max_train_events}"
    return Path("runs") / spec.name / f"{family}_{source}_{size}" / name


def run_method(method: str | Path | MethodSpec, family: str | None = None, protocols: list[str] | None = None,
               seeds=None, size: str = "default", device: str = "cpu", out: str | Path | None = None,
               source: str | None = None, source_domain: str = "nominal", target: str | None = None,
               cache_dir=None, epochs: int | None = None, allow_generate: bool = True,
               progress: bool = True, model_size: str | None = None,
               max_train_events: int | None = None) -> list[Path]:
    """Python entry point of ``run``; returns the result files written (one per protocol).

    ``method`` is a method folder, or a :class:`MethodSpec` already loaded from one and changed in code
    (a study overriding part of the config, e.g. :mod:`benchmark.studies.jet_augmentations`): its config
    is what is fingerprinted and what the method gets, so each variant runs and resumes on its own.
    """
    spec = method if isinstance(method, MethodSpec) else load_method_spec(method)
    families = spec.families or family_names()
    family = check_name(f"family of method {spec.name!r}", family, families) if family else families[0]
    protocols = [check_name(f"protocol of method {spec.name!r}", p, spec.protocols)
                 for p in (protocols or spec.protocols)]
    seeds = list(seeds or DEFAULT_SEEDS)
    model_size = model_size or model_size_for(size)
    fam = get_family(family)
    src_name = fam.source(source).name
    rules = [get_protocol(p) for p in protocols]
    trainable = [d.name for d in fam.source(source).domains if not d.test_only]
    tgt = None
    if any(r.needs_target for r in rules):
        tgt = target or next(r.default_target(trainable, source_domain, fam.default_target)
                             for r in rules if r.needs_target)
    elif target is not None:
        raise ValueError(f"--target only applies to protocols with a target domain, not {', '.join(protocols)}")
    # domain_shift scores the source and the target only: a dataset holding just those two is enough
    needed = [source_domain, tgt] if all(r.needs_target for r in rules) else None
    ensure_data(family, source, size, cache_dir, allow_generate, domains=needed)
    out = Path(out) if out else default_out(spec, family, src_name, size, source_domain, model_size,
                                            max_train_events)
    out = out.resolve()

    tasks = [get_task(r.name, family, source=source, size=size, source_domain=source_domain,
                      target_domain=tgt if r.needs_target else None, cache_dir=cache_dir) for r in rules]
    # protocols of one fit group entitle the method to the same data: one fit per seed serves them all
    plans: dict[str, FitPlan] = {}
    for task in tasks:
        name = task.rules.fit_group + (f"_{task.target_domain}" if task.target_domain else "")
        plan = plans.setdefault(name, FitPlan(name, []))
        if plan.tasks:
            task.share_cache(plan.tasks[0])  # same data: read each split once
        plan.tasks.append(task)
    plans = list(plans.values())

    config = spec.resolved_config(model_size)
    if max_train_events is not None:
        config["max_train_events"] = int(max_train_events)
    paths = []
    for plan in plans:
        # every task of a plan sees the same fit data; the fingerprint covers every scored domain
        fp_task = max(plan.tasks, key=lambda t: len(t.domains))
        fingerprint = {"data": data_fingerprint(fp_task),
                       "config": json.loads(json.dumps(family_config(config, fam.name), default=str)),
                       "code": {"benchmark": __version__, "package": package_code_digest(),
                                "method": method_code_digest(spec)},
                       "epochs": epochs, "size": size, "model_size": model_size,
                       "max_train_events": max_train_events, "source_domain": source_domain,
                       "target_domain": fp_task.target_domain, "fit": plan.name}
        per_protocol: dict[str, list[dict]] = {protocol_folder(t): [] for t in plan.tasks}
        for seed in seeds:
            context = RunContext(family=fam, protocol=plan.tasks[0].protocol, seed=seed, size=size,
                                 device=device, workdir=out, epochs=epochs, progress=progress,
                                 model_size=model_size, max_train_events=max_train_events)
            records = run_fit_seed(spec, plan, seed, context, out, fingerprint, progress)
            for key, rec in records.items():
                per_protocol[key].append(rec)
        if not is_main_process():
            continue
        for task in plan.tasks:
            paths.append(write_protocol_result(spec, task, seeds, per_protocol[protocol_folder(task)], device, out))
    return paths


def run_from_cli(args) -> int:
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError(f"--device {args.device} asked for, but torch sees no CUDA device "
                               f"(torch {torch.__version__}); use --device cpu")
    run_method(args.method, family=args.family, protocols=args.protocol or None,
               seeds=args.seeds, size=args.size, device=args.device, out=args.out, source=args.source,
               source_domain=args.source_domain, target=args.target, cache_dir=args.cache_dir,
               epochs=args.epochs, allow_generate=not args.no_generate,
               progress=not os.environ.get("SIMSHIFT_QUIET"), model_size=args.model_size,
               max_train_events=args.max_train_events)
    return 0
