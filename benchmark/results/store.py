"""The leaderboard store: ``<board>/submissions/<stem>.json`` + ``<stem>.npz`` per entry.

* ``<stem>.json`` is the submitted result file, byte for byte; ``<stem>.npz`` its predictions
  (:func:`prediction_arrays`: per domain ``event_id/<domain>`` (int64, sorted) once, and
  ``scores/seed<k>/<domain>`` (float32, rows in that order) per seed), written deterministically.
* ``<stem>`` is ``<family>__<protocol>__<method slug>__<key>``; ``key`` hashes the predictions and
  what they are predictions *of* (dataset, protocol, domains, seeds: :func:`entry_key`), not the file
  bytes, so the same run re-indented, re-dated or renamed is the same entry.
* Writers hold an exclusive ``fcntl.flock`` on the ``submissions/`` folder (readers a shared one) for
  submit + regenerate.  The kernel releases it when a process dies, so a killed submit never blocks a
  later one.  Files are written atomically to dot-named temporary files, which readers skip by name
  (:func:`benchmark.data.writer.is_temporary`); the ``.npz`` is renamed into place before the
  ``.json``, so an entry is complete when its ``.json`` exists, and writers remove what a killed one
  left behind.
* Every stored file is checked when read; one error names every bad file.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import unicodedata
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Iterator

import numpy as np

from benchmark.results.io import ResultFileError, json_normal, load_result

MIN_SEEDS = 3
SUBMISSIONS = "submissions"


class StoreError(ResultFileError):
    """A bad stored submission (the message names the file)."""


def default_leaderboard_dir() -> Path:
    """``leaderboard/`` of the working tree: the nearest one above the current folder that holds
    ``submissions/`` (never the installed package's folder)."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "leaderboard" / SUBMISSIONS).is_dir():
            return folder / "leaderboard"
        if folder.name == "leaderboard" and (folder / SUBMISSIONS).is_dir():
            return folder
    raise FileNotFoundError(f"no leaderboard/{SUBMISSIONS}/ folder in {here} or above it: run from your clone of "
                            f"the repository, or pass --leaderboard-dir")


def submissions_dir(board: str | os.PathLike) -> Path:
    folder = Path(board) / SUBMISSIONS
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} does not exist: pass the leaderboard folder of the repository "
                                f"(the one holding {SUBMISSIONS}/)")
    return folder


@contextlib.contextmanager
def locked(board: str | os.PathLike, shared: bool = False) -> Iterator[Path]:
    """Hold the store's lock (``flock`` on the ``submissions/`` folder itself: no lock file to leave behind)."""
    folder = submissions_dir(board)
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield folder
    finally:
        os.close(fd)  # closing releases the lock


def remove_leftovers(folder: Path) -> list[Path]:
    """Under the exclusive lock: delete temporary files and ``.npz`` without a ``.json`` (a killed submit's)."""
    from benchmark.data.writer import is_temporary

    gone = [p for p in folder.iterdir() if p.is_file() and is_temporary(p) and ".tmp" in p.name]
    gone += [p for p in folder.glob("*.npz") if not is_temporary(p) and not p.with_suffix(".json").exists()]
    for p in gone:
        p.unlink(missing_ok=True)
    return gone


# ------------------------------------------------------------------------------------ identity

def slugify(name: str, max_len: int = 48) -> str:
    """A file-name-safe ASCII slug of a method name (``"SimCLR (ours)/v2"`` -> ``"simclr-ours-v2"``)."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:max_len].strip("-")
    return slug or "method"


def identity(result: dict) -> dict:
    """What the predictions of ``result`` are predictions of (not who made them or when)."""
    ds = result["dataset"]
    return {"family": ds["family"], "source": ds["source"], "version": ds["version"], "size": ds["size"],
            "test_sha256": dict(sorted(ds["test_sha256"].items())), "protocol": result["protocol"],
            "source_domain": result["source_domain"], "target_domain": result["target_domain"],
            "domains": sorted(result["domains"]), "seeds": sorted(result["seeds"])}


def prediction_arrays(predictions: dict[int, dict[str, tuple]], where: str = "predictions") -> dict[str, np.ndarray]:
    """The stored form of ``predictions[seed][domain] = (event_id, scores)``: event ids sorted, once per
    domain (every seed must predict the same events), scores float32 in that order."""
    from benchmark.evaluation.predictions import PredictionError, as_event_ids, as_scores

    arrays: dict[str, np.ndarray] = {}
    for seed in sorted(predictions):
        for domain in sorted(predictions[seed]):
            ids, scores = predictions[seed][domain]
            ids = as_event_ids(ids, f"{where} seed {seed} {domain}")
            scores = as_scores(scores, f"{where} seed {seed} {domain}")
            if len(scores) != len(ids):
                raise PredictionError(f"{where} seed {seed} {domain}: {len(scores)} score rows for {len(ids)} ids")
            order = np.argsort(ids, kind="stable")
            key = f"event_id/{domain}"
            if key in arrays and not np.array_equal(arrays[key], ids[order]):
                raise PredictionError(f"{where} seed {seed} {domain}: other event ids than the first seed's")
            arrays[key] = ids[order]
            arrays[f"scores/seed{seed}/{domain}"] = scores[order]
    return arrays


def entry_key(result: dict, arrays: dict[str, np.ndarray]) -> str:
    """12 hex digits of sha256 over :func:`identity` and the stored prediction arrays."""
    digest = sha256(json.dumps(identity(result), sort_keys=True).encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        digest.update(f"\n{name}:{a.dtype.str}:{a.shape}\n".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()[:12]


def stored_stem(result: dict, key: str) -> str:
    """``<family>__<protocol>__<method slug>__<key>``: never a path taken from the file (family and
    protocol are validated ``^\\w+$`` names)."""
    return f"{result['dataset']['family']}__{result['protocol']}__{slugify(result['method']['name'])}__{key}"


def expected_members(result: dict) -> set[str]:
    return ({f"event_id/{d}" for d in result["domains"]}
            | {f"scores/seed{s}/{d}" for s in result["seeds"] for d in result["domains"]})


def read_stored_predictions(path: Path, result: dict) -> dict[str, np.ndarray]:
    """The arrays of a stored ``.npz``, exactly the members ``result`` needs (bounded read)."""
    import zipfile

    from benchmark.evaluation.predictions import read_npz

    with zipfile.ZipFile(path) as zf:
        names = {n[:-4] for n in zf.namelist() if n.endswith(".npy")}
    need = expected_members(result)
    if names != need:
        raise ValueError(f"holds arrays {sorted(names - need)[:4]} it should not, and lacks "
                         f"{sorted(need - names)[:4]}" if names - need else f"lacks arrays {sorted(need - names)[:4]}")
    return read_npz(path, sorted(need), where=str(path))


def as_predictions(result: dict, arrays: dict[str, np.ndarray]) -> dict[int, dict[str, tuple]]:
    """``{seed: {domain: (event_id, scores)}}`` from stored arrays (what the evaluator takes)."""
    return {s: {d: (arrays[f"event_id/{d}"], arrays[f"scores/seed{s}/{d}"]) for d in result["domains"]}
            for s in result["seeds"]}


# ------------------------------------------------------------------------------------- reading

@dataclass
class StoredEntry:
    """One checked stored submission."""

    path: Path  # the .json
    result: dict
    key: str

    @property
    def predictions_path(self) -> Path:
        return self.path.with_suffix(".npz")

    def predictions(self) -> dict[int, dict[str, tuple]]:
        return as_predictions(self.result, read_stored_predictions(self.predictions_path, self.result))


def _stored_errors(path: Path, result: dict) -> tuple[list[str], str | None]:
    """Checks of one stored entry that need no data: seeds, family metric, predictions, name."""
    from benchmark.data.registry import UnknownNameError, get_family

    errors = []
    if len(result["seeds"]) < MIN_SEEDS:
        errors.append(f"{len(result['seeds'])} seeds, a leaderboard entry needs at least {MIN_SEEDS}")
    try:
        metric = get_family(result["dataset"]["family"]).primary_metric
    except UnknownNameError as exc:
        return errors + [f"dataset: {exc}"], None
    for entry in result["per_seed"]:
        if entry["summary"].get("metric") != metric:
            errors.append(f"per_seed seed {entry['seed']}: summary.metric is {entry['summary'].get('metric')!r}, "
                          f"the primary metric of {result['dataset']['family']} is {metric!r}")
    npz = path.with_suffix(".npz")
    if not npz.is_file():
        return errors + [f"has no predictions ({npz.name} is missing): a leaderboard entry must carry them; "
                         f"add it with `python -m benchmark submit`"], None
    try:
        arrays = read_stored_predictions(npz, result)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is reported with its name
        return errors + [f"{npz.name}: {exc}"], None
    for d in result["domains"]:
        n = len(arrays[f"event_id/{d}"])
        if result["per_seed"][0]["per_domain"][d]["n_events"] != n:
            errors.append(f"per_domain.{d}.n_events = {result['per_seed'][0]['per_domain'][d]['n_events']}, "
                          f"but {npz.name} predicts {n} events")
    key = entry_key(result, arrays)
    if path.stem != stored_stem(result, key):
        errors.append(f"must be named {stored_stem(result, key)}.json (with its .npz) for these predictions; "
                      f"add files with `python -m benchmark submit`")
    return errors, key


def load_store(board: str | os.PathLike) -> list[StoredEntry]:
    """Every stored entry (sorted by name), checked; one :class:`StoreError` names every bad file.

    Callers that may run beside a writer hold :func:`locked` (shared) around this."""
    from benchmark.data.writer import is_temporary

    folder = submissions_dir(board)
    entries, bad, keys = [], [], {}
    for path in sorted(p for p in folder.iterdir() if not is_temporary(p)):
        if path.suffix == ".npz":
            if not path.with_suffix(".json").exists():
                bad.append(f"{path}: predictions without a result file {path.with_suffix('.json').name}")
            continue
        if path.suffix != ".json":
            bad.append(f"{path}: not a submission (only <name>.json + <name>.npz belong here)")
            continue
        try:
            result = load_result(path)
        except (ResultFileError, FileNotFoundError) as exc:
            bad.append(str(exc))
            continue
        except Exception as exc:  # noqa: BLE001 - whatever breaks, the file is named
            bad.append(f"{path}: cannot be checked: {type(exc).__name__}: {exc}")
            continue
        errors, key = _stored_errors(path, result)
        if key is not None and key in keys:
            errors.append(f"the same predictions as {keys[key].name}: one entry per run")
        if errors:
            bad += [f"{path}: {e}" for e in errors]
            continue
        keys[key] = path
        entries.append(StoredEntry(path, result, key))
    if bad:
        raise StoreError(folder, ["invalid stored submission(s); files there must come through "
                                  "`python -m benchmark submit` (remove or resubmit them):", *bad])
    return entries


# ------------------------------------------------------------------------------------- writing

def store_entry(board: str | os.PathLike, result: dict, content: bytes,
                arrays: dict[str, np.ndarray]) -> tuple[Path, StoredEntry | None]:
    """Store one verified entry (caller holds the exclusive lock).  Returns ``(json path, existing)``:
    ``existing`` is the entry already holding these predictions (nothing is written then)."""
    from benchmark.data.writer import atomic_path
    from benchmark.evaluation.predictions import write_npz

    folder = submissions_dir(board)
    remove_leftovers(folder)
    key = entry_key(result, arrays)
    for path in sorted(folder.glob(f"*__{key}.json")):
        try:
            other = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        return path, StoredEntry(path, other, key)
    target = folder / f"{stored_stem(result, key)}.json"
    write_npz(target.with_suffix(".npz"), arrays)  # first: a .json always has its .npz
    with atomic_path(target, suffix=".json") as tmp:
        tmp.write_bytes(content)
    return target, None


def same_method(a: dict, b: dict) -> bool:
    return json_normal(a["method"]) == json_normal(b["method"])
