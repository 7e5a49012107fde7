"""Learning curves: nominal test score of the supervised classifier and of the physics-feature probe
against the number of training events, per family, with per-epoch train/validation curves.

    python -m benchmark generate sfgd --size large --domains nominal      # once per family
    python -m benchmarks.learning_curves --family sfgd --data-size large --events 1000 3000 10000 30000

Each point trains ``baselines/classifier`` (the family's default recipe from
``benchmark/training/hparams.py`` at ``--model-size``) on a fixed random subset of ``nominal/train`` of
that many events (the same subset mechanism as ``--max-train-events``), selects the best epoch on
``nominal/validation`` and scores ``nominal/test`` with the family's primary metric (accuracy; AUC for
jets). ``baselines/linear_probe`` (logistic regression on hand-made observables) is fitted on the
same subset. Writes (merging with the other families already there) ``docs/learning_curves.json``,
``docs/learning_curves.md`` (one table per family) and ``docs/learning_curves.png``; one thread.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

#: the key of each family's curve measured with its current default recipe (plotted, listed first); the
#: plain family keys hold the first recipe's curve. Update it when a default recipe changes and its curve is re-measured.
CURRENT_RECIPE = {"sfgd": "sfgd/align", "ndlar": "ndlar/max_align_embed16_ema_large", "jets": "jets/e20"}


def with_variant(cfg: dict, family: str, variant: dict | None) -> dict:
    """``cfg`` (a method's resolved config) with the variant's keys set at the top level AND removed from
    its ``per_family`` entry for ``family``: that entry is applied last (``effective_config``), so a key it
    also sets (e.g. the augmented classifier's ND-LAr ``encoder`` and ``augment``) would silently win over
    the variant being measured."""
    if not variant:
        return cfg
    out = {**cfg, **variant}
    per = out.get("per_family")
    if isinstance(per, dict) and isinstance(per.get(family), dict):
        out["per_family"] = {**per, family: {k: v for k, v in per[family].items() if k not in variant}}
    return out


def run_point(family: str, n: int, seed: int, data_size: str, model_size: str, cache_dir, workdir: Path,
              epochs: int | None, methods=("classifier", "linear_probe"), config: dict | None = None,
              learner: str = "classifier") -> dict:
    import torch

    from benchmark.data.registry import get_family
    from benchmark.methods.base import RunContext, load_method_spec
    from benchmark.runner import seed_everything
    from benchmark.tasks import MethodData, get_task
    from benchmark.training.loop import derive_seed

    task = get_task("robustness", family, size=data_size, domains=["nominal"], cache_dir=cache_dir)
    full = task.method_data()
    rng = np.random.default_rng(derive_seed("subset", "train", seed))
    train = full.train if n >= len(full.train) else full.train.subset(np.sort(rng.choice(len(full.train), n,
                                                                                          replace=False)))
    data = MethodData(full.protocol, full.family, full.source_domain, train, full.validation, {})
    test = task.test_inputs()["nominal"]
    metric = get_family(family).primary_metric
    out = {"family": family, "n_train": len(train), "seed": seed, "metric": metric, "learner": learner,
           "config": config or {}}
    for name in methods:
        spec = load_method_spec(ROOT / "baselines" / (learner if name == "classifier" else name))
        seed_everything(seed)
        wd = workdir / f"{family}-{learner if name == 'classifier' else name}-{hashlib.sha1(json.dumps(config or {}, sort_keys=True).encode()).hexdigest()[:8]}-{n}-{seed}"
        shutil.rmtree(wd, ignore_errors=True)   # always a fresh fit (a stale checkpoint would be resumed)
        ctx = RunContext(family=task.family, protocol="robustness", seed=seed, size=data_size, device="cpu",
                         workdir=wd, epochs=epochs, progress=False)
        ctx.model_size = model_size
        cfg = spec.resolved_config(model_size)
        cfg = with_variant(cfg, family, config) if name == "classifier" else cfg
        method = spec.load_class()(cfg, ctx)
        t0 = time.perf_counter()
        method.fit(data)
        fit_s = time.perf_counter() - t0
        scores = np.asarray(method.predict(test), dtype=np.float32)
        rep = task.evaluate({"nominal": (test.event_id, scores)})
        row = {"test": float(rep["per_domain"]["nominal"][metric]), "fit_s": fit_s,
               "threads": torch.get_num_threads()}
        if hasattr(method, "cfg"):   # the effective recipe (family table + method.yaml + variant)
            row["recipe"] = {k: method.cfg.get(k) for k in ("epochs", "batch_size", "lr", "optimizer", "weight_decay",
                                                            "schedule", "warmup", "patience", "encoder")}
        if name == "classifier" and hasattr(method, "embed"):   # the benchmark's linear probe on the embedding
            from benchmark.evaluation import fit_linear_probe, full_proba

            probe, _ = fit_linear_probe(method.embed(train), train.labels, method.embed(data.validation),
                                        data.validation.labels, task.family.num_classes, metric)
            lp = full_proba(probe, method.embed(test), task.family.num_classes).astype(np.float32)
            row["linear_probe_test"] = float(task.evaluate({"nominal": (test.event_id, lp)})
                                             ["per_domain"]["nominal"][metric])
        hist = getattr(method, "history", None) or getattr(method, "pretrain_history", None)
        if hist is not None:
            row.update(best_epoch=hist.best_epoch, best_val=hist.best_score, epochs_run=hist.epochs_done,
                       history=[{k: v for k, v in h.items()} for h in hist.history],
                       events_per_s=float(np.median([h["events_per_s"] for h in hist.history])),
                       n_parameters=method.num_parameters())
        out[name] = row
        lp_txt = f", its embedding's linear probe {row['linear_probe_test']:.4f}" if "linear_probe_test" in row else ""
        print(f"[learning_curves] {family} n={len(train)} seed={seed} {spec.name}: test {metric} {row['test']:.4f}"
              f"{lp_txt} ({fit_s:.0f} s)", flush=True)
    return out


def markdown(rows: list[dict]) -> str:
    from tabulate import tabulate

    fam = rows[0]["family"]
    metric = rows[0]["metric"]
    table = []
    for r in rows:
        c, f = r["classifier"], r["linear_probe"]
        table.append([r["n_train"], r["seed"], f"{c['test']:.4f}", f"{f['test']:.4f}", f"{c['test'] - f['test']:+.4f}",
                      f"{c.get('linear_probe_test', float('nan')):.4f}",
                      c.get("best_epoch"), c.get("epochs_run"), f"{(c.get('best_val') or float('nan')):.4f}",
                      f"{c.get('events_per_s', 0):.0f}", f"{c['fit_s']:.0f}"])
    learner = rows[0].get("learner", "classifier")
    head = ["train events", "seed", f"{learner} test {metric}", f"physics probe test {metric}", "margin",
            "linear probe on its embedding", "best epoch", "epochs run", f"classifier val {metric}", "train ev/s", "classifier fit s"]
    return f"### Learning curve: {fam}, nominal test {metric}\n\n" + tabulate(table, head, tablefmt="github") + "\n"


def plot(out_png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    store = json.loads((DOCS / "learning_curves.json").read_text())
    keys = [CURRENT_RECIPE.get(f, f) for f in ("sfgd", "ndlar", "jets")]
    keys = [k for k in keys if k in store]                          # the current default recipes only
    fig, axes = plt.subplots(2, len(keys), figsize=(5 * len(keys), 8), squeeze=False)
    for j, key in enumerate(keys):
        rows = store[key]["rows"]
        fam, metric = rows[0]["family"], rows[0]["metric"]
        ns = sorted({r["n_train"] for r in rows})
        for name, style in (("classifier", "o-"), ("linear_probe", "s--")):
            m = [np.mean([r[name]["test"] for r in rows if r["n_train"] == n]) for n in ns]
            axes[0, j].plot(ns, m, style, label={"linear_probe": "physics-feature probe"}.get(name, name))
        axes[0, j].set_xscale("log")
        axes[0, j].set_xlabel("training events")
        axes[0, j].set_ylabel(f"nominal test {metric}")
        axes[0, j].set_title(f"{fam}: current default recipe ({key})", fontsize=9)
        axes[0, j].legend()
        for r in rows:
            h = r["classifier"].get("history") or []
            ep = [x["epoch"] for x in h]
            line, = axes[1, j].plot(ep, [x.get("select", np.nan) for x in h], "-", label=f"val, n={r['n_train']}")
            axes[1, j].plot(ep, [x.get("accuracy", np.nan) for x in h], ":", color=line.get_color())
        axes[1, j].set_xlabel("epoch")
        axes[1, j].set_ylabel(f"validation {metric} (solid), train accuracy (dotted)")
        axes[1, j].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)


# where this machine keeps its scratch files and data: not part of what was measured, so kept out of the docs
MACHINE_LOCAL_OPTIONS = ("--workdir", "--cache-dir")


def recorded_command(args: list[str]) -> str:
    """The command as a reader can re-type it: shell-quoted (a ``--config`` JSON survives a copy and paste),
    without the machine-local ``--workdir`` and ``--cache-dir`` paths, which do not change any figure."""
    kept, skip_value = [], False
    for a in args:
        if skip_value:
            skip_value = False
        elif a in MACHINE_LOCAL_OPTIONS:
            skip_value = True
        elif a.split("=", 1)[0] not in MACHINE_LOCAL_OPTIONS:
            kept.append(a)
    return "python -m benchmarks.learning_curves " + shlex.join(kept)


def _commands(block: dict) -> list[str]:
    return block.get("commands") or [block["command"]]


def write_docs() -> None:
    """docs/learning_curves.md and .png from docs/learning_curves.json."""
    store = json.loads((DOCS / "learning_curves.json").read_text())
    md = ("# Learning curves\n\nMade by `benchmarks/learning_curves.py` (one CPU thread); plot: `learning_curves.png`.\n"
          "Each row: the learned baseline trained with the family's default recipe "
          "(`benchmark/training/hparams.py`: AdamW, weight decay 0.05, 5 % warm-up + cosine, best epoch on "
          "`nominal/validation`) on a fixed random subset of `nominal/train` of the given size, scored on "
          "`nominal/test`; the physics-feature probe (`baselines/linear_probe`) fitted on the same subset; "
          "'linear probe on its embedding' = the benchmark's linear classifier test on the learned encoder. "
          "Keys with a '/' are measured variants of the recipe (their `config` is in `learning_curves.json`). "
          "The curves of each family's current default recipe come first (and are the plot): "
          + ", ".join(f"`{k}`" for k in CURRENT_RECIPE.values() if k in store) + "; the plain family keys are "
          "the first recipe's curves.\n\n")
    first = [k for k in CURRENT_RECIPE.values() if k in store]
    for key, block in [(k, store[k]) for k in first] + [(k, b) for k, b in store.items() if k not in first]:
        md += markdown(block["rows"]).replace("### Learning curve: ", f"### Learning curve ({key}): ", 1) \
            + (f"\n{block['note'].rstrip('.')}.\n" if block.get("note") else "") \
            + "\nCommand" + "s" * (len(_commands(block)) > 1) + ": " \
            + "; ".join(f"`{c}`" for c in _commands(block)) + f" ({block['threads']} thread).\n\n"
    (DOCS / "learning_curves.md").write_text(md)
    plot(DOCS / "learning_curves.png")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--family", required=False)
    ap.add_argument("--docs-only", action="store_true", help="only rewrite the .md/.png from the .json")
    ap.add_argument("--events", type=int, nargs="+", default=[1000, 3000, 10000, 30000])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--data-size", default="large")
    ap.add_argument("--model-size", default="default")
    ap.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    ap.add_argument("--cache-dir", default=os.environ.get("SIMSHIFT_CACHE"))
    ap.add_argument("--workdir", default="/tmp/simshift_learning_curves")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--config", default=None, help="JSON merged into the classifier's config (a variant)")
    ap.add_argument("--learner", default="classifier", help="the learned baseline (a folder of baselines/)")
    ap.add_argument("--tag", default=None, help="store under '<family>/<tag>' (variants of the recipe)")
    args = ap.parse_args(argv)
    if args.docs_only:
        write_docs()
        return 0
    if not args.family:
        ap.error("--family is required")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    import torch

    torch.set_num_threads(args.threads)
    DOCS.mkdir(exist_ok=True)
    json_path = DOCS / "learning_curves.json"
    command = recorded_command(argv if argv is not None else sys.argv[1:])
    rows = []
    for n in args.events:
        for seed in args.seeds:
            rows.append(run_point(args.family, n, seed, args.data_size, args.model_size, args.cache_dir,
                                  Path(args.workdir), args.epochs, config=json.loads(args.config or "{}"), learner=args.learner))
            store = json.loads(json_path.read_text()) if json_path.exists() else {}
            key = args.family + (f"/{args.tag}" if args.tag else "")
            # merge: a point measured again replaces the old one, other points of the key stay
            new = {(r["n_train"], r["seed"]) for r in rows}
            kept = [r for r in store.get(key, {}).get("rows", []) if (r["n_train"], r["seed"]) not in new]
            prev = store.get(key, {})   # its note and the commands of the points measured before stay
            commands = prev.get("commands") or ([prev["command"]] if "command" in prev else [])
            prev.pop("command", None)
            store[key] = {**prev, "commands": commands + [command] * (command not in commands),
                          "data_size": args.data_size, "model_size": args.model_size,
                          "threads": args.threads, "rows": sorted(kept + rows, key=lambda r: (r["n_train"], r["seed"]))}
            json_path.write_text(json.dumps(store, indent=1, default=str))
    write_docs()
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
