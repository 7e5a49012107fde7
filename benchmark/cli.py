"""``python -m benchmark``: list, info, generate, release, fetch, run, evaluate, submit, leaderboard, card.

Every sub-command has ``--help``.  Wrong names (family, domain, protocol, method, split) end with
an error that lists the valid ones; errors are printed as one clear message, not a traceback
(``SIMSHIFT_DEBUG=1`` shows the traceback).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from tabulate import tabulate

from benchmark import __version__
from benchmark.data.registry import SPLITS, family_names, get_family

REPO_ROOT = Path(__file__).resolve().parents[1]


def baselines_dir() -> Path:
    """The ``baselines/`` folder: the current directory's, else the one of this checkout."""
    here = Path.cwd() / "baselines"
    return here if here.is_dir() else REPO_ROOT / "baselines"


def baseline_names() -> list[str]:
    root = baselines_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "method.yaml").exists())


# -- commands -------------------------------------------------------------------------------------
def cmd_list(args) -> int:
    from benchmark.tasks import PROTOCOLS

    families = [args.family] if args.family else family_names()
    for name in families:
        spec = get_family(name)
        print(f"\n{spec.name}: {spec.title} — {spec.num_classes} classes ({', '.join(spec.class_names)}); "
              f"primary metric {spec.primary_metric}")
        for src in spec.sources.values():
            rows = [[d.name, d.kind, "/".join(d.splits),
                     ", ".join(f"{k}={v}" for k, v in list(d.parameters.items())[:4])
                     + (" ..." if len(d.parameters) > 4 else "")] for d in src.domains]
            print(f"  source {src.name} ({src.kind}): {len(rows)} domains")
            print(tabulate(rows, headers=["domain", "kind", "splits", "parameters"], tablefmt="simple"))
    print("\nsplits: " + ", ".join(SPLITS))
    print("protocols:")
    for p, text in PROTOCOLS.items():
        print(f"  {p:13s} {text}")
    print("baselines: " + (", ".join(f"baselines/{b}" for b in baseline_names()) or "none found"))
    return 0


def cmd_info(args) -> int:
    from benchmark.data.paths import dataset_folder

    spec = get_family(args.family)
    src = spec.source(args.source)
    print(f"{spec.name}/{src.name}: {spec.title} ({src.kind})")
    if src.kind == "generated":
        gen = src.make_generator()
        print(f"generator version {gen.version}; sizes: {json.dumps(gen.sizes)}")
        print("generator parameters: " + json.dumps(gen.parameters(), indent=1, default=str))
    else:
        conv = src.make_fetcher()
        rows = [[f.name, f.size, f.known_hash, f.url] for f in conv.files]
        print(tabulate(rows, headers=["file", "bytes", "checksum", "url"]))
    size = args.size or ("default" if src.kind == "generated" else "full")
    folder = dataset_folder(spec.name, src.name, size, args.cache_dir)
    if (folder / "provenance.json").exists():
        prov = json.loads((folder / "provenance.json").read_text())
        print(f"\nmaterialised at {folder} (complete: {prov['complete']}, seed {prov.get('seed')}, "
              f"version {prov.get('version')})")
        rows = [[rel, rec["n_events"], rec["bytes"], rec["sha256"]] for rel, rec in sorted(prov["files"].items())]
        if not args.all_files and len(rows) > 30:
            print(tabulate(rows[:30], headers=["file", "events", "bytes", "sha256"]))
            print(f"... {len(rows) - 30} more files (--all-files)")
        else:
            print(tabulate(rows, headers=["file", "events", "bytes", "sha256"]))
    else:
        print(f"\nnot materialised at {folder}")
    return 0


def cmd_generate(args) -> int:
    from benchmark.data.materialise import generate

    from benchmark.data.release import compare_with_release

    folder = generate(args.family, size=args.size, seed=args.seed, workers=args.workers, shard=args.shard,
                      cache_dir=args.cache_dir, domains=args.domains, progress=not args.quiet,
                      splits=args.splits or ("train", "validation", "test"))
    prov = json.loads((folder / "provenance.json").read_text())
    print(f"{args.family}: {folder} (complete: {prov['complete']}; "
          f"{sum(sum(s.values()) for s in prov['events'].values())} events over {len(prov['events'])} domains)")
    same = compare_with_release(folder, args.family, args.size, args.seed, str(prov.get("version")))
    if same:
        print(same)
    print(f'load with: datasets.load_dataset("{folder}", "nominal")')
    return 0


def cmd_study(args) -> int:
    if args.study == "crosstalk-grid":
        from benchmark.studies.crosstalk_grid import run_grid

        run_grid(args.method, seeds=args.seeds or (0, 1, 2), size=args.size, out=args.out, cache_dir=args.cache_dir,
                 device=args.device, epochs=args.epochs, model_size=args.model_size,
                 progress=not os.environ.get("SIMSHIFT_QUIET"))
        return 0
    if args.study == "jet-augmentations":
        from benchmark.studies.jet_augmentations import run_ablation

        command = "python -m benchmark study jet-augmentations " + " ".join(sys.argv[3:]) if len(sys.argv) > 3 else None
        run_ablation(args.method, seeds=args.seeds or (0, 1, 2), sets=args.sets, size=args.size, out=args.out,
                     cache_dir=args.cache_dir, device=args.device, epochs=args.epochs, model_size=args.model_size,
                     progress=not os.environ.get("SIMSHIFT_QUIET"), command=command)
        return 0
    from benchmark.studies.parameter_curves import run_curves

    curves = run_curves(args.result, domain=args.domain, bins=args.bins, binning=args.binning, out=args.out,
                        cache_dir=args.cache_dir)
    for p, c in curves["parameters"].items():
        rows = [[f"{lo:.4g}-{hi:.4g}", n, "–" if m is None else f"{m:.4f}", f"{s:.4f}"]
                for lo, hi, n, m, s in zip(c["edges"][:-1], c["edges"][1:], c["n"], c["mean"], c["std_over_seeds"])]
        print(f"\n{curves['metric']} against {p} ({curves['domain']}, mean and std over seeds)")
        print(tabulate(rows, headers=[p, "events", curves["metric"], "std"]))
    return 0


def cmd_release(args) -> int:
    from benchmark.data.release import make_release

    path = make_release(args.family, size=args.size, out=args.out, cache_dir=args.cache_dir, base_url=args.base_url,
                        link=args.link)
    manifest = json.loads(path.read_text())
    total = sum(f["bytes"] for f in manifest["files"])
    print(f"{args.family}/{args.size}: release of {len(manifest['files'])} files ({total / 1e6:.1f} MB) in "
          f"{path.parent}; manifest {path}")
    return 0


def cmd_fetch(args) -> int:
    from benchmark.sources.base import fetch

    if args.source == "release":
        from benchmark.data.release import fetch_release

        folder = fetch_release(args.family, size=args.size or "default", cache_dir=args.cache_dir,
                               base_url=args.base_url, local_dir=args.local_dir, progress=not args.quiet)
        print(f"{args.family}/release -> {folder} (the same folder `generate` makes)")
        return 0
    options = {k: v for k, v in (("max_jets", args.max_jets), ("max_files", args.max_files)) if v is not None}
    folder = fetch(args.family, args.source, cache_dir=args.cache_dir, local_dir=args.local_dir,
                   progress=not args.quiet, **options)
    print(f"{args.family}/{args.source}: {folder}")
    return 0


def cmd_run(args) -> int:
    from benchmark.runner import run_from_cli

    return run_from_cli(args)


def cmd_evaluate(args) -> int:
    from benchmark.evaluation import load_predictions
    from benchmark.tasks import get_task

    task = get_task(args.protocol, args.family, source=args.source, size=args.size,
                    source_domain=args.source_domain, target_domain=args.target, cache_dir=args.cache_dir)
    preds = load_predictions(args.predictions)
    report = task.evaluate(preds)
    rows = [[d, m["accuracy"], m["auc"], m.get("rejection_at_30", ""), m["n_events"]]
            for d, m in report["per_domain"].items()]
    print(tabulate(rows, headers=["domain", "accuracy", "auc", "1/eps_B@0.3", "events"], floatfmt=".4f"))
    if report["summary"]:
        print(json.dumps(report["summary"], indent=1))
    if args.output:
        from benchmark.data.writer import write_text_atomic

        write_text_atomic(args.output, json.dumps(report, indent=1) + "\n")
    return 0


def cmd_submit(args) -> int:
    from benchmark.results import submit

    report = submit(args.result, predictions=args.predictions, dry_run=args.dry_run,
                    leaderboard_dir=args.leaderboard_dir, cache_dir=args.cache_dir)
    print(report)
    return 0


def cmd_leaderboard(args) -> int:
    if args.check:
        from benchmark.leaderboard import check_leaderboard

        done = check_leaderboard(args.leaderboard_dir, cache_dir=args.cache_dir)
        print(f"leaderboard check passed ({len(done)} checks)")
        return 0
    from benchmark.leaderboard import generate_leaderboard

    for path in generate_leaderboard(args.leaderboard_dir):
        print(f"wrote {path}")
    return 0


def cmd_card(args) -> int:
    """Render the committed dataset card ``datasets/<family>/README.md`` from the family spec."""
    from benchmark.data.writer import render_card, write_text_atomic

    spec = get_family(args.family)
    parts = []
    for src in spec.sources.values():
        parts.append(render_card(spec, src, {"note": "rendered from the family specification; "
                                                     "materialised folders add version, seed and counts"}))
    out = Path(args.out) if args.out else REPO_ROOT / "datasets" / spec.name / "README.md"
    # the first source's card is the repository card; further sources are appended as sections
    text = parts[0] + "".join("\n\n<!-- next source -->\n" + p.split("---\n", 2)[2] for p in parts[1:])
    write_text_atomic(out, text)
    print(f"wrote {out}")
    return 0


# -- parser ---------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmark",
                                description="SimShift: robustness of ML models to detector-simulation shifts.")
    p.add_argument("--version", action="version", version=f"simshift {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, func, help_text):
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.set_defaults(func=func)
        return sp

    def cache(sp):
        sp.add_argument("--cache-dir", help="dataset cache root (default: $SIMSHIFT_CACHE or ~/.cache/simshift)")

    sp = add("list", cmd_list, "families, domains, splits, protocols and baselines")
    sp.add_argument("--family", help="only this family")

    sp = add("info", cmd_info, "a family's source: generator version/parameters or published files; "
                               "materialised files with sizes and sha256")
    sp.add_argument("family")
    sp.add_argument("--source", help="generated (default) or a published source")
    sp.add_argument("--size", help="size preset / subset name (default: default / full)")
    sp.add_argument("--all-files", action="store_true", help="list every file")
    cache(sp)

    sp = add("generate", cmd_generate, "materialise a family with its built-in simulator (resumable)")
    sp.add_argument("family")
    sp.add_argument("--size", default="default",
                    help="size preset: default (minutes on a laptop), large (more training events) or full (the study)")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    sp.add_argument("--shard", default=None, help="i/N: generate only chunks k with k %% N == i")
    sp.add_argument("--domains", nargs="+", help="only these domains (default: all)")
    sp.add_argument("--splits", nargs="+", choices=["train", "validation", "test"],
                    help="only these splits (default: all)")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    cache(sp)

    sp = add("release", cmd_release, "write a complete generated dataset as a release folder with its manifest")
    sp.add_argument("family")
    sp.add_argument("--size", default="default")
    sp.add_argument("--out", help="release folder (new or empty; default simshift-<family>-<size>)")
    sp.add_argument("--base-url", help="where the release will be served from (recorded in the manifest)")
    sp.add_argument("--link", action="store_true",
                    help="hard-link the data files instead of copying them (--out on the cache's file system)")
    cache(sp)

    sp = add("fetch", cmd_fetch, "download (or ingest) a published source and convert it")
    sp.add_argument("family")
    sp.add_argument("--source", required=True,
                    help="published source name (see `list`), or `release` for SimShift's standard release")
    sp.add_argument("--size", help="release size (with --source release; default: default)")
    sp.add_argument("--base-url", help="release location (with --source release; default: the manifest's, "
                                       "or $SIMSHIFT_MIRROR)")
    sp.add_argument("--local-dir", help="folder holding files you already downloaded (checked, then ingested)")
    sp.add_argument("--max-jets", type=int, help="convert at most this many jets per split/domain")
    sp.add_argument("--max-files", type=int, help="download at most this many files per domain")
    sp.add_argument("--quiet", action="store_true")
    cache(sp)

    sp = add("run", cmd_run, "run a method folder (e.g. baselines/simclr) under the benchmark's protocols")
    sp.add_argument("method", help="folder with a method.yaml")
    sp.add_argument("--dataset", "--family", dest="family", help="family (default: the method's first)")
    sp.add_argument("--protocol", nargs="+", metavar="PROTOCOL",
                    help="one or more of robustness, domain_shift, linear_probe (default: all the method supports; "
                         "protocols with the same entitlement share one fit per seed)")
    sp.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds (default 0 1 2)")
    sp.add_argument("--size", default="default",
                    help="data size preset (generator preset): default, large (more events) or full")
    sp.add_argument("--model-size", default=None,
                    help="preset of the method's own settings (encoder width, recipe): default or full "
                         "(default: the same as --size, or default for a data-only preset such as large)")
    sp.add_argument("--max-train-events", type=int, default=None,
                    help="train on at most this many source events (learning curves; default: the method's config)")
    sp.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    sp.add_argument("--source", help="data source (default generated)")
    sp.add_argument("--source-domain", default="nominal")
    sp.add_argument("--target", help="target domain for domain_shift")
    sp.add_argument("--epochs", type=int, help="override the method's epochs")
    sp.add_argument("--out", help="output folder (default runs/<method>/<family>_<source>_<size>/from_<source domain>)")
    sp.add_argument("--no-generate", action="store_true",
                    help="never generate: fail, naming what is missing, if the data are absent or incomplete")
    cache(sp)

    sp = add("study", cmd_study, "the original studies' analyses: crosstalk-grid, jet-augmentations, "
                               "parameter-curves")
    study = sp.add_subparsers(dest="study", required=True, metavar="STUDY")
    def training_study(parser, out_help: str) -> None:  # the flags every study that trains shares
        parser.add_argument("--size", default="default")
        parser.add_argument("--model-size")
        parser.add_argument("--epochs", type=int)
        parser.add_argument("--device", default="cpu")
        parser.add_argument("--out", help=out_help)
        cache(parser)

    g = study.add_parser("crosstalk-grid", help="train at each crosstalk fraction, score the whole scan (sfgd)")
    g.add_argument("method", help="method folder, e.g. baselines/classifier")
    g.add_argument("--seeds", type=int, nargs="+")
    training_study(g, "output folder (default runs/<method>/sfgd_generated_<size>/crosstalk_grid)")
    from benchmark.studies.jet_augmentations import AUGMENTATION_SETS

    j = study.add_parser("jet-augmentations", help="JetCLR's ablation: the linear classifier test per jet "
                                                   "augmentation set (arXiv:2108.04253)")
    j.add_argument("method", nargs="?", default="baselines/simclr",
                   help="a contrastive method folder (default baselines/simclr)")
    j.add_argument("--seeds", type=int, nargs="+", help="seeds (default 0 1 2)")
    j.add_argument("--sets", nargs="+", choices=list(AUGMENTATION_SETS),
                   help=f"augmentation sets (default all, in this order: {' '.join(AUGMENTATION_SETS)})")
    training_study(j, "output folder (default runs/<method>/jets_generated_<size>/jet_augmentations)")
    c = study.add_parser("parameter-curves", help="metric in bins of each per-event parameter of a *_random domain")
    c.add_argument("result", help="a result.json (its predictions/ folder beside it)")
    c.add_argument("--domain", help="the *_random domain (default: the first one the result was scored on)")
    c.add_argument("--bins", type=int, default=8)
    c.add_argument("--binning", choices=["width", "quantile"], default="width")
    c.add_argument("--out", help="output stem (default <result folder>/curves_<domain>)")
    cache(c)

    sp = add("evaluate", cmd_evaluate, "score prediction files (.npz/.parquet per domain) written by any program")
    sp.add_argument("family")
    sp.add_argument("predictions", help="folder of <domain>.npz|.parquet files, or one file")
    sp.add_argument("--protocol", default="robustness")
    sp.add_argument("--source")
    sp.add_argument("--size")
    sp.add_argument("--source-domain", default="nominal")
    sp.add_argument("--target")
    sp.add_argument("--output", help="write the metrics as JSON here")
    cache(sp)

    sp = add("submit", cmd_submit, "validate a result file and add it to the leaderboard")
    cache(sp)
    sp.add_argument("result")
    sp.add_argument("--predictions", help="predictions folder to recompute the metrics from")
    sp.add_argument("--dry-run", action="store_true", help="validate only, store nothing")
    sp.add_argument("--leaderboard-dir", help="default: leaderboard/ of the working tree (current folder or above)")

    sp = add("leaderboard", cmd_leaderboard, "regenerate leaderboard/README.md and index.html from submissions")
    sp.add_argument("--leaderboard-dir", help="default: leaderboard/ of the working tree (current folder or above)")
    sp.add_argument("--check", action="store_true",
                    help="write nothing: re-verify every stored entry from its predictions against the data "
                         "(generating it if missing) and compare the regenerated pages with the committed ones")
    cache(sp)

    sp = add("card", cmd_card, "render a family's dataset card into datasets/<family>/README.md")
    sp.add_argument("family")
    sp.add_argument("--out")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "family", None):
        try:
            get_family(args.family)
        except KeyError as err:
            parser.error(str(err))
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except Exception as err:  # one clear message for users; tracebacks on request
        if os.environ.get("SIMSHIFT_DEBUG"):
            raise
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
