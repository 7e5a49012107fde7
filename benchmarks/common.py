"""Shared helpers of the performance harness: timing, machine description, result files, children.

Every harness script writes ONE JSON result file into ``benchmarks/results/<name>.json`` with the
same envelope (machine, load average before/after, the command, tables of measured rows), so that
``python -m benchmarks.report`` can render BENCHMARKS.md from them without knowing the scripts.
Why a load average in every file: the figures are only comparable on a quiet machine, and the
development machine was shared; the reader must be able to see how busy it was.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from benchmark.data.writer import write_text_atomic

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
SCHEMA_VERSION = 1
#: keys every result file has (checked by tests/test_benchmarks_harness.py and by the report)
ENVELOPE_KEYS = ("benchmark", "schema_version", "created", "command", "machine", "load_average_before",
                 "load_average_after", "wall_s", "tables", "notes", "skipped")


# ----------------------------------------------------------------------------------------- timing
def median_time(fn: Callable[[], Any], repeats: int = 3, warmup: int = 1) -> dict[str, float]:
    """Median / min / max wall seconds of ``fn()`` over ``repeats`` runs after ``warmup`` untimed runs."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "repeats": repeats}


def rate(n: float, seconds: float) -> float:
    """Events per second, rounded to 3 significant figures (inf-safe)."""
    return float(f"{n / seconds:.3g}") if seconds > 0 else float("inf")


def sig(x: float, digits: int = 3) -> float:
    return float(f"{x:.{digits}g}")


# ------------------------------------------------------------------------------------------ machine
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10)
        if out.returncode == 0:
            return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return None


def machine() -> dict[str, Any]:
    """What the figures were measured on (recorded in every result file)."""
    import numpy

    info = {"cpu_model": _cpu_model(), "cores": os.cpu_count(), "ram_gib": _ram_gib(),
            "platform": platform.platform(), "python": platform.python_version(), "numpy": numpy.__version__,
            "git_commit": _git_commit()}
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:  # pragma: no cover
        info["torch"] = None
    try:
        import spconv

        info["spconv"] = spconv.__version__
    except (ImportError, AttributeError):  # pragma: no cover
        info["spconv"] = None
    return info


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot (/proc/stat; Linux)."""
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def cpu_busy_fraction(seconds: float = 2.0) -> float | None:
    """Fraction of the machine's CPU time used (by anything) over the next ``seconds``; None off Linux."""
    try:
        b0, t0 = _cpu_times()
        time.sleep(seconds)
        b1, t1 = _cpu_times()
    except OSError:  # pragma: no cover - not Linux
        return None
    return (b1 - b0) / max(t1 - t0, 1)


def require_quiet(max_busy: float = 0.10, wait_s: float = 0.0, sample_s: float = 2.0) -> float | None:
    """Refuse to measure on a busy machine: wait up to ``wait_s`` for the CPU use of other work to drop
    below ``max_busy`` (fraction of all cores), else exit with the reason.  Returns the last reading."""
    deadline = time.monotonic() + wait_s
    while True:
        busy = cpu_busy_fraction(sample_s)
        if busy is None or busy <= max_busy:
            return busy
        if time.monotonic() >= deadline:
            raise SystemExit(f"the machine is busy ({busy:.0%} of its CPU time is used by other work, more than "
                             f"{max_busy:.0%}): figures taken now would be wrong. Rerun when it is quiet, "
                             f"pass --wait-quiet SECONDS to wait, or --allow-busy to measure anyway (the result "
                             f"is then marked busy)")
        time.sleep(min(10.0, max(0.0, deadline - time.monotonic())))


# ------------------------------------------------------------------------------------------ results
def render_table(rows: list[list], columns: list[str]) -> str:
    """A result table as GitHub markdown. Columns holding an explicitly signed cell ("+0.012", a margin)
    are printed as written: tabulate's number parsing would drop the '+' and re-round the others."""
    from tabulate import tabulate

    signed = [i for i in range(len(columns))
              if any(isinstance(r[i], str) and r[i][:1] == "+" for r in rows if i < len(r))]
    return tabulate(rows, headers=columns, tablefmt="github", disable_numparse=signed or False)


class Result:
    """Collects tables/notes of one harness run and writes the result file atomically."""

    def __init__(self, name: str, argv: list[str] | None, tag: str | None = None):
        if tag is not None and not tag.replace("_", "").isalnum():
            raise SystemExit(f"--tag must be letters, digits and underscores, got {tag!r}")
        #: result file stem: the script name, plus ``_<tag>`` for a run kept beside the default one
        self.name = name + (f"_{tag}" if tag else "")
        self.command = "python -m benchmarks." + name + ("" if not argv else " " + shlex.join(argv))
        self.t0 = time.perf_counter()
        self.load_before = load_average()
        self.tables: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.skipped: list[str] = []
        self.extra: dict[str, Any] = {}

    def table(self, title: str, columns: list[str], rows: list[list[Any]], note: str = "") -> None:
        for r in rows:
            if len(r) != len(columns):
                raise ValueError(f"table {title!r}: row {r} has {len(r)} cells for {len(columns)} columns")
        self.tables.append({"title": title, "columns": list(columns), "rows": [list(r) for r in rows], "note": note})

    def skip(self, what: str) -> None:
        """Something that could not be measured, and why (printed and recorded, never silent)."""
        print(f"SKIPPED: {what}", file=sys.stderr)
        self.skipped.append(what)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def to_dict(self) -> dict[str, Any]:
        return {"benchmark": self.name, "schema_version": SCHEMA_VERSION,
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "command": self.command, "machine": machine(), "load_average_before": self.load_before,
                "cpu_busy_before": _busy_reading(),
                "load_average_after": load_average(), "wall_s": round(time.perf_counter() - self.t0, 1),
                "tables": self.tables, "notes": self.notes, "skipped": self.skipped, **self.extra}

    def write(self, out_dir: str | os.PathLike | None = None) -> Path:
        """Write ``<out_dir>/<name>.json`` atomically, print the tables, return the path."""
        out = Path(out_dir) if out_dir else RESULTS_DIR
        out.mkdir(parents=True, exist_ok=True)
        data = self.to_dict()
        path = out / f"{self.name}.json"
        write_text_atomic(path, json.dumps(data, indent=1, default=_json_default) + "\n")
        for t in self.tables:
            print(f"\n## {t['title']}")
            print(render_table(t["rows"], t["columns"]))
            if t["note"]:
                print(t["note"])
        for s in self.skipped:
            print(f"\nskipped: {s}")
        print(f"\nload average before {data['load_average_before']} after {data['load_average_after']}; "
              f"wrote {path}")
        return path


def _busy_reading() -> float | None:
    """The CPU use of other work measured by :func:`setup` before this run (None: not measured)."""
    value = os.environ.get("SIMSHIFT_BENCH_BUSY_FRACTION")
    return float(value) if value else None


def _json_default(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# ------------------------------------------------------------------------------------------ CLI bits
def base_parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out-dir", help=f"where the result JSON goes (default {RESULTS_DIR.relative_to(REPO_ROOT)})")
    p.add_argument("--repeats", type=int, default=3, help="timed repetitions per figure (the median is reported)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 = per-core figures)")
    p.add_argument("--tag", help="write <script>_<tag>.json instead of <script>.json (keep a longer run beside "
                                 "the default one)")
    p.add_argument("--family-ref", action="append", default=[],
                   help="register an extra family from 'module:attribute' (e.g. the test suite's toy family)")
    p.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                   help="wait up to this long for the machine to be quiet before measuring (default: refuse at once)")
    p.add_argument("--allow-busy", action="store_true",
                   help="measure even if other work uses the CPU (the result file records the busy fraction)")
    return p


def setup(args) -> None:
    """Apply the common flags: thread count and extra families."""
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    if args.repeats < 1:
        raise SystemExit(f"--repeats must be >= 1, got {args.repeats}")
    try:
        import torch

        torch.set_num_threads(max(1, args.threads))
    except ImportError:  # pragma: no cover
        pass
    register_extra_families(args.family_ref)
    if getattr(args, "child", None):  # a measurement subprocess: its parent checked the machine
        return
    busy = cpu_busy_fraction(1.0) if args.allow_busy else require_quiet(wait_s=args.wait_quiet)
    os.environ["SIMSHIFT_BENCH_BUSY_FRACTION"] = "" if busy is None else f"{busy:.3f}"


def register_extra_families(refs: list[str]) -> None:
    from benchmark.data.registry import register_family

    for ref in refs:
        if ":" not in ref:
            raise SystemExit(f"--family-ref must look like module:attribute, got {ref!r}")
        register_family(ref, replace=True)


def family_available(name: str) -> tuple[bool, str]:
    """(True, "") if family ``name`` imports, else (False, why) -- so a script can skip it with a message."""
    from benchmark.data.registry import get_family

    try:
        get_family(name)
        return True, ""
    except Exception as exc:  # noqa: BLE001 - any import error of another helper's module is a skip reason
        return False, f"{type(exc).__name__}: {exc}"


# ------------------------------------------------------------------------------------------ children
def max_rss_mib_self() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def max_rss_mib_children() -> float:
    """Largest peak RSS of any waited-for child (e.g. generation workers)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def run_child(cmd: list[str], timeout: float | None = None, env: dict | None = None,
              cwd: str | os.PathLike | None = None) -> dict[str, Any]:
    """Run ``cmd``, return its wall time, exit code, output tail and the child's own peak RSS.

    Uses ``os.wait4`` so the peak RSS is that of this one child (not a running maximum over all
    children); grandchildren (e.g. a process pool inside it) are not included.
    """
    t = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd or REPO_ROOT)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.monotonic() > deadline:
                p.kill()
                pid, status, ru = os.wait4(p.pid, 0)
                status = -9
                break
            time.sleep(0.05)
        p.returncode = os.waitstatus_to_exitcode(status) if status != -9 else -9
        wall = time.perf_counter() - t
        out.seek(0)
        text = out.read().decode(errors="replace")
    return {"returncode": p.returncode, "wall_s": wall, "max_rss_mib": ru.ru_maxrss / 1024, "output": text,
            "timed_out": status == -9}


def python_module_cmd(module: str, *args: str, family_refs: list[str] = ()) -> list[str]:
    cmd = [sys.executable, "-m", module, *args]
    for ref in family_refs:
        cmd += ["--family-ref", ref]
    return cmd


def child_env(extra_path: list[str] | None = None) -> dict[str, str]:
    """Environment for a child: repo root (and e.g. the tests folder) on PYTHONPATH, one thread."""
    env = dict(os.environ)
    paths = [str(REPO_ROOT), *(extra_path or []), *[p for p in sys.path if p and Path(p).is_dir()]]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env.setdefault("OMP_NUM_THREADS", "1")
    env["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
    env["TQDM_DISABLE"] = "1"
    return env


def last_json_line(text: str) -> dict[str, Any]:
    """The last line of a child's output that parses as a JSON object (children print their figures so)."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    raise RuntimeError("child printed no JSON result; its output ends with:\n" + text[-2000:])


# ------------------------------------------------------------------------------------------ events
def make_generator(family: str):
    from benchmark.data.registry import get_family

    src = get_family(family).source("generated")
    if src.make_generator is None:
        raise ValueError(f"family {family!r} has no built-in generator")
    return src.make_generator()


def flatten_ragged(parts) -> tuple[Any, Any]:
    """Per-event arrays -> (flat values, offsets), the layout ``EventKind.event_set`` takes."""
    import numpy as np

    lengths = np.fromiter((len(a) for a in parts), dtype=np.int64, count=len(parts))
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return (np.concatenate(parts) if len(parts) else np.zeros(0)), offsets


def events_from_columns(family: str, domain: str, cols: dict[str, Any], kind: str):
    """An in-memory EventSet from a generator's column dict (no disk round trip), built by the kind as the
    loader builds it."""
    import numpy as np

    from benchmark.kinds import get_kind

    k = get_kind(kind)
    ragged = {name: flatten_ragged(cols[name]) for name in k.ragged_columns}
    return k.event_set(family, domain, "train", np.asarray(cols["event_id"], np.int64), ragged,
                       labels=np.asarray(cols["label"], np.int64))


def baseline_inputs(events):
    """``idx -> encoder batch`` exactly as the torch baselines build it for ``events``: the kind's
    ``inputs`` at the baselines' default config (jets: JetCLR's 50 preprocessed constituents)."""
    from benchmark.kinds import get_kind
    from benchmark.methods.torch import COMMON

    return get_kind(events.kind).inputs(events, max_constituents=COMMON["max_constituents"])


def baseline_encoder(family: str, size: str = "default"):
    """The encoder the torch baselines build for ``family`` at model size ``size``: its kind's encoder
    with the family's training defaults (``benchmark.training.hparams``, e.g. ND-LAr's mean pooling)."""
    from benchmark.data.registry import get_family
    from benchmark.kinds import get_kind
    from benchmark.methods.torch import COMMON
    from benchmark.training.hparams import training_defaults

    cfg = {**COMMON, **training_defaults(family, size)}
    return get_kind(get_family(family).event_kind).build_encoder(cfg["encoder_size"], backend=cfg["backend"],
                                                                 **cfg["encoder"])


def generated_events(family: str, n: int, seed: int = 0, domain: str = "nominal", chunk_index: int = 0):
    """``n`` freshly generated events of ``domain`` as an EventSet (for encoder/sparse-vs-dense timing)."""
    import numpy as np

    from benchmark.data.registry import get_family

    gen = make_generator(family)
    ids = np.arange(n, dtype=np.int64)
    cols = gen.generate_chunk("train", chunk_index, ids, seed, domains=[domain])[domain]
    return events_from_columns(family, domain, cols, get_family(family).event_kind)


def isolate_hf_cache(folder: str | os.PathLike) -> None:
    """Point the Hugging Face datasets cache at ``folder`` (a per-run temporary folder).

    Why: with datasets 5.2 the Arrow cache of a local HDF5 dataset is keyed without the folder's
    absolute path, so two materialised folders with the same layout (e.g. a temporary subset and
    the user's full default dataset) share a cache entry and ``load_dataset`` can return the OTHER
    folder's events. Measuring in a private cache avoids both the stale data and a warm cache.
    """
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    os.environ["HF_DATASETS_CACHE"] = str(path)
    if "datasets" in sys.modules:
        import datasets

        datasets.config.HF_DATASETS_CACHE = path
