"""Write a materialised dataset: HDF5 parts, the Hugging Face dataset card, the provenance record.

On disk a materialised dataset is a Hugging Face dataset repository::

    <folder>/README.md                      card: YAML ``configs:`` (one config per domain) + prose
    <folder>/provenance.json                source, version, seed, size, per-file sha256 and event counts
    <folder>/data/<domain>/<split>-<part>.h5

so that ``datasets.load_dataset(<folder>, "<domain>")`` works without any code of ours.  Every file
is written to a temporary name in the same folder and renamed into place (``os.replace`` is atomic
on POSIX), so an interrupted run never leaves a half-written file that looks complete.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import tempfile
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np
import yaml

from benchmark import __version__
from benchmark.data.ids import id_key, make_opaque
from benchmark.data.registry import ColumnSpec, DomainSpec, FamilySpec, SourceSpec

PROVENANCE = "provenance.json"
#: per-file (size, mtime) -> hash cache of :meth:`DatasetWriter.finalize`; machine-specific, so hidden
STAT_CACHE = ".stat_cache.json"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, else delete it.

    The temporary name starts with ``.`` and contains ``.tmp`` (``suffix`` is appended for writers such
    as ``np.savez`` that insist on an extension), so readers that skip dot files (:func:`is_temporary`)
    never take a killed writer's file for data.  The result gets the usual ``0666 & ~umask`` mode, not
    ``mkstemp``'s private 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_writer_tag()}.", suffix=".tmp" + suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:  # make the bytes durable before the rename makes them visible
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def is_temporary(path: str | os.PathLike) -> bool:
    """True for the temporary files of :func:`atomic_path` (and any other dot file): never data."""
    return Path(path).name.startswith(".")


def _writer_tag() -> str:
    """Host and process of the current writer, put into every temporary file name."""
    return f"w{socket.gethostname().replace('.', '_')}.{os.getpid()}"


def _writer_alive(name: str) -> bool:
    """Whether the writer that made temporary file ``name`` may still be running.

    The name carries the writer's host and process id (:func:`_writer_tag`).  A writer on another host
    (a shard of a job array on a shared file system) is assumed alive: its file is ignored, never
    deleted; a name without a tag is a leftover of an older version, never alive.
    """
    parts = name.split(".")
    for host, pid in zip(parts, parts[1:]):
        if host.startswith("w") and pid.isdigit():
            break
    else:
        return False
    if host != _writer_tag().split(".")[0]:
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_temporary_files(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that killed writers of this host left under ``folder/data``; return them.

    Files of writers still running (other shards) are left alone."""
    stale = [p for p in Path(folder).glob("data/*/.*")
             if p.is_file() and ".tmp" in p.name and not _writer_alive(p.name)]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def save_figure(fig, path: str | os.PathLike, **savefig_kwargs) -> Path:
    """Write a matplotlib figure atomically (plots in the docs are regenerated in place), making its folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=path.suffix) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", **savefig_kwargs)
    return path


def sha256_file(path: str | os.PathLike, block: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(block), b""):
            digest.update(chunk)
    return digest.hexdigest()


def part_path(folder: Path, domain: str, split: str, part_index: int) -> Path:
    return Path(folder) / "data" / domain / f"{split}-{part_index:05d}.h5"


def _as_ragged(values: Any, dtype: np.dtype, name: str, n: int) -> np.ndarray:
    out = np.empty(n, dtype=object)
    if len(values) != n:
        raise ValueError(f"ragged column {name!r} has {len(values)} entries for {n} events")
    for i, v in enumerate(values):
        out[i] = np.ascontiguousarray(np.asarray(v, dtype=dtype).ravel())
    return out


def write_part_file(path: Path, columns: dict[str, Any], specs: tuple[ColumnSpec, ...]) -> int:
    """Write one HDF5 part with exactly the columns of ``specs`` (checked); return the event count."""
    missing = [c.name for c in specs if c.name not in columns]
    extra = sorted(set(columns) - {c.name for c in specs})
    if missing or extra:
        raise ValueError(f"part {path.name}: columns do not match the family's contract; "
                         f"missing {missing}, unexpected {extra}")
    n = len(columns["event_id"])
    with atomic_path(path, suffix=".h5") as tmp:
        with h5py.File(tmp, "w") as h5:
            for spec in specs:
                dtype = np.dtype(spec.dtype)
                values = columns[spec.name]
                if spec.shape == "ragged":
                    data = _as_ragged(values, dtype, spec.name, n)
                    ds = h5.create_dataset(spec.name, (n,), dtype=h5py.vlen_dtype(dtype))
                    if n == 1:  # h5py cannot broadcast a one-element object array into vlen
                        ds[0] = data[0]
                    elif n:
                        ds[...] = data
                else:
                    arr = np.asarray(values, dtype=dtype)
                    expected = (n,) if spec.shape == "scalar" else (n, spec.length)
                    if arr.shape != expected:
                        raise ValueError(f"column {spec.name!r}: shape {arr.shape}, expected {expected}")
                    h5.create_dataset(spec.name, data=arr)
    return n


def _feature_yaml(spec: ColumnSpec, family: FamilySpec) -> dict:
    if spec.name == "label":
        names = {str(i): n for i, n in enumerate(family.class_names)}
        return {"name": "label", "dtype": {"class_label": {"names": names}}}
    if spec.shape == "scalar":
        return {"name": spec.name, "dtype": spec.dtype}
    if spec.shape == "vector":
        return {"name": spec.name, "sequence": spec.dtype, "length": spec.length}
    return {"name": spec.name, "sequence": spec.dtype}


def _size_category(n: int) -> str:
    """The Hugging Face ``size_categories`` bucket of ``n`` examples."""
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                        (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")):
        if n < limit:
            return name
    return "100M<n<1B"


def render_card(family: FamilySpec, source: SourceSpec, info: dict[str, Any],
                domains: list[DomainSpec] | None = None, splits: dict[str, list[str]] | None = None) -> str:
    """The dataset card (README.md) of a materialised folder: YAML configs + documentation.

    ``splits`` names the splits each listed domain holds (default: all of them), so a partial folder
    (``--splits test``) loads for what it holds.

    ``info`` holds the machine-readable provenance summary (version, seed, size, counts).
    The same function renders the committed cards under ``datasets/<family>/``.
    """
    domains = list(domains if domains is not None else source.domains)
    splits = splits or {}
    all_columns = family.columns + source.columns
    features = [_feature_yaml(c, family) for c in all_columns]
    configs, infos = [], []
    for i, d in enumerate(domains):
        cfg = {"config_name": d.name,
               "data_files": [{"split": s, "path": f"data/{d.name}/{s}-*.h5"} for s in splits.get(d.name, d.splits)]}
        if d.name == "nominal":
            cfg["default"] = True
        configs.append(cfg)
        infos.append({"config_name": d.name, "features": features})
    n_events = sum(sum(v.values()) for v in (info.get("events") or {}).values()) or \
        sum((info.get("sizes") or {}).values())
    meta = {
        "pretty_name": f"SimShift {family.title} ({source.name})",
        "license": source.license,
        "task_categories": ["other"],  # 3D point-cloud / particle-set classification has no Hub category
        "size_categories": [_size_category(n_events)] if n_events else [],
        "tags": ["physics", "particle-physics", "domain-shift", "simshift", family.event_kind],
        "configs": configs,
        "dataset_info": infos,
        "simshift": {
            "family": family.name, "source": source.name, "source_kind": source.kind,
            "class_names": list(family.class_names), "voxel_size_cm": family.voxel_size_cm,
            **info,
            "domains": {d.name: {"kind": d.kind, "test_only": d.test_only, "description": d.description,
                                 "parameters": d.parameters} for d in domains},
        },
    }
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=100)
    lines = [f"---\n{front}---\n", f"# SimShift — {family.title} ({source.name})\n", family.description.strip(), "",
             f"## Source: {source.name}\n", source.description.strip(), ""]
    if source.citation:
        lines += ["Cite: " + source.citation, ""]
    lines += [f"Licence of the data: `{source.license}`. Cite SimShift itself (the repository's `CITATION.cff`) "
              "and the works it builds on: arXiv:2502.07724 (contrastive learning for robustness to detector "
              "mis-modelling) and arXiv:2108.04253 (JetCLR); BibTeX in the Citation section below.", ""]
    lines += ["## Columns\n", "| column | dtype | shape | unit | meaning |", "|---|---|---|---|---|"]
    for c in all_columns:
        shape = {"scalar": "scalar", "vector": f"[{c.length}]", "ragged": "variable length"}[c.shape]
        lines.append(f"| `{c.name}` | {c.dtype} | {shape} | {c.unit} | {c.description} |")
    lines += ["", "## Domains\n", "| domain | kind | splits | parameters | description |", "|---|---|---|---|---|"]
    for d in domains:
        params = ", ".join(f"{k}={v}" for k, v in d.parameters.items())
        lines.append(f"| `{d.name}` | {d.kind} | {'/'.join(d.splits)} | {params} | {d.description} |")
    lines += ["", "## Loading\n", "```python", "import datasets",
              f'ds = datasets.load_dataset("<this folder>", "{domains[0].name if domains else "nominal"}")',
              "# or, with the package (same object):",
              "import benchmark",
              f'ds = benchmark.load_dataset("{family.name}", "{domains[0].name if domains else "nominal"}")',
              "```", "", "## Citation\n", "```bibtex", CITATION_BIBTEX.strip(), "```", ""]
    return "\n".join(lines)


#: what every card asks users to cite (the same works as the repository's CITATION.cff), in the card
#: itself because a dataset downloaded from a release comes without the repository
CITATION_BIBTEX = """
@software{simshift,
  title = {SimShift: a benchmark of machine-learning robustness to detector-simulation shifts in particle physics},
  author = {{SimShift developers}},
  version = {0.1.0},
  year = {2026},
}
@article{radev2025contrastive,
  title = {Contrastive learning for robust representations of neutrino data},
  author = {Radev, Radi and others},
  year = {2025},
  eprint = {2502.07724},
  archivePrefix = {arXiv},
}
@article{dillon2022jetclr,
  title = {Symmetries, safety, and self-supervision},
  author = {Dillon, Barry M. and Kasieczka, Gregor and Olischl{\\"a}ger, Hans and Plehn, Tilman and Sorrenson, Peter and Vogel, Lorenz},
  journal = {SciPost Physics},
  volume = {12},
  pages = {188},
  year = {2022},
  doi = {10.21468/SciPostPhys.12.6.188},
  eprint = {2108.04253},
  archivePrefix = {arXiv},
}
"""


#: the fields that name what produced a folder; a folder never mixes parts of two identities
IDENTITY_FIELDS = ("family", "source", "version", "seed", "size", "sizes", "generator_parameters", "options")


class GenerationConflict(RuntimeError):
    """The target folder holds data made by another generator identity (seed, version, size, ...)."""


class DatasetWriter:
    """Writes parts of one family/source into ``folder`` and finalises card + provenance.

    Used by the generation engine and by the published-data converters, so both produce the
    same schema and layout.  Every part gets opaque event ids and a label-blind row order
    (:mod:`benchmark.data.ids`); ``info`` must therefore name the data ``version`` (and ``seed``).
    """

    def __init__(self, folder: str | os.PathLike, family: FamilySpec, source: SourceSpec,
                 info: dict[str, Any] | None = None):
        self.folder = Path(folder)
        self.family, self.source = family, source
        # key order normalised: the card and provenance of the same data are the same bytes whether the
        # settings came from a generator or from a release manifest
        self.info = json.loads(json.dumps(dict(info or {}), sort_keys=True, default=str))
        if "version" not in self.info:
            raise ValueError("DatasetWriter needs info['version'] (the data version keys the event ids)")
        self.id_key = id_key(family.name, source.name, str(self.info["version"]), self.info.get("seed"))
        self.folder.mkdir(parents=True, exist_ok=True)

    def part_path(self, domain: str, split: str, part_index: int) -> Path:
        return part_path(self.folder, domain, split, part_index)

    def write_part(self, domain: str, split: str, part_index: int, columns: dict[str, Any]) -> Path:
        d = self.source.domain(domain)
        if split not in d.splits:
            raise ValueError(f"domain {domain!r} has no split {split!r} (splits: {d.splits})")
        path = self.part_path(domain, split, part_index)
        write_part_file(path, make_opaque(columns, self.id_key), self.family.columns + self.source.columns)
        return path

    def existing_provenance(self) -> dict[str, Any] | None:
        path = self.folder / PROVENANCE
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except ValueError as err:
            raise GenerationConflict(f"{path} is not valid JSON ({err}); the folder's origin is unknown: "
                                     f"delete {self.folder} and generate or fetch it again") from err

    def identity(self) -> dict[str, Any]:
        ident = {"family": self.family.name, "source": self.source.name}
        ident.update({k: self.info.get(k) for k in IDENTITY_FIELDS if k not in ident})
        return json.loads(json.dumps(ident))  # normalised as stored (tuples -> lists)

    def claim(self) -> dict[str, Any] | None:
        """Record this writer's identity in the folder before any part is written; refuse a foreign one.

        Returns the provenance found (``None`` for a new folder).  A folder holding parts but no
        provenance is of unknown origin and is refused, never adopted.
        """
        with self._locked():
            return self._claim()

    def _claim(self) -> dict[str, Any] | None:
        old = self.existing_provenance()
        mine = self.identity()
        if old is None:
            if any(not is_temporary(p) for p in self.folder.glob("data/*/*.h5")):
                raise GenerationConflict(
                    f"{self.folder} holds data parts but no {PROVENANCE}: their origin is unknown. "
                    f"Delete that folder, or pass another --cache-dir.")
            prov = {**mine, "source_kind": self.source.kind, "benchmark_version": __version__,
                    **{k: v for k, v in self.info.items() if k not in mine},
                    "complete": False, "events": {}, "files": {}}
            write_text_atomic(self.folder / PROVENANCE, json.dumps(prov, indent=1, sort_keys=True) + "\n")
            return None
        theirs = {k: old.get(k) for k in mine}
        diff = {k: (theirs[k], mine[k]) for k in mine if theirs[k] != mine[k]}
        if diff:
            what = "; ".join(f"{k}: folder has {a!r}, asked for {b!r}" for k, (a, b) in diff.items())
            raise GenerationConflict(f"{self.folder} holds {self.family.name} data of another identity ({what}). "
                                     f"Delete that folder, or pass another --cache-dir.")
        return old

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """An exclusive lock on the folder's records: shards run as separate jobs finalise one at a time,
        and the last one to finish sees every part (``fcntl.flock``; released if the process dies)."""
        import fcntl

        with open(self.folder / ".records.lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def finalize(self, expected_parts: list[Path] | None = None,
                 known_parts: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
        """``known_parts``: :func:`part_stat_entry` of parts hashed where they were written (the
        generation workers), used like the stat cache: only a part whose size and mtime still match."""
        with self._locked():
            return self._finalize(expected_parts, known_parts)

    def _finalize(self, expected_parts: list[Path] | None = None,
                  known_parts: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
        """Hash every part on disk, write provenance.json and README.md; return the provenance.

        ``complete`` is true when every expected part exists (shards of one run finish in any
        order; the last one to finish sees the whole set).  The card lists only the domains whose
        expected parts are all present, so ``datasets.load_dataset`` works on a partial folder for
        what it holds.
        """
        # file stats live in a hidden cache, not in provenance.json, so that the provenance of the same
        # data is the same bytes on every machine (a fetched release equals a local generation)
        cache_path = self.folder / STAT_CACHE
        try:
            stat_cache = json.loads(cache_path.read_text())
        except (OSError, ValueError):
            stat_cache = {}
        stat_cache.update(known_parts or {})
        files, new_cache = {}, {}
        for path in sorted(p for p in (self.folder / "data").glob("*/*.h5") if not is_temporary(p)):
            rel = path.relative_to(self.folder).as_posix()
            stat = path.stat()
            prev = stat_cache.get(rel)
            if prev and prev["bytes"] == stat.st_size and prev["mtime_ns"] == stat.st_mtime_ns:
                new_cache[rel] = prev  # unchanged since it was hashed
            else:
                new_cache[rel] = part_stat_entry(path)
            files[rel] = new_cache[rel]["record"]
        write_text_atomic(cache_path, json.dumps(new_cache, sort_keys=True) + "\n")
        missing = [] if expected_parts is None else [p.relative_to(self.folder).as_posix()
                                                     for p in expected_parts if not p.exists()]
        counts: dict[str, dict[str, int]] = {}
        for rel, rec in files.items():
            _, domain, name = rel.split("/")
            split = name.rsplit("-", 1)[0]
            counts.setdefault(domain, {}).setdefault(split, 0)
            counts[domain][split] += rec["n_events"]
        # a split of a domain is complete when it has parts and none of its expected parts is missing
        incomplete = {(rel.split("/")[1], rel.split("/")[2].rsplit("-", 1)[0]) for rel in missing}
        complete_splits = {d.name: [s for s in d.splits if s in counts.get(d.name, {})
                                    and (d.name, s) not in incomplete] for d in self.source.domains}
        present = [d for d in self.source.domains if complete_splits[d.name]]
        prov = {
            **self.identity(), "source_kind": self.source.kind, "benchmark_version": __version__,
            **{k: v for k, v in self.info.items() if k not in IDENTITY_FIELDS},
            "complete": not missing, "missing_parts": missing[:20], "n_missing_parts": len(missing),
            "domains_complete": [d.name for d in present if complete_splits[d.name] == list(d.splits)],
            "events": counts, "files": files,
        }
        write_text_atomic(self.folder / PROVENANCE, json.dumps(prov, indent=1, sort_keys=True) + "\n")
        card_info = {k: v for k, v in self.info.items()}
        card_info["events"] = counts
        write_text_atomic(self.folder / "README.md", render_card(self.family, self.source, card_info, present,
                                                                 splits=complete_splits))
        return prov


def part_stat_entry(path: Path, n_events: int | None = None) -> dict[str, Any]:
    """A part's stat-cache entry: size and mtime (to notice a later change) and its provenance record
    (sha256, bytes, events). ``n_events``, when the caller knows it, saves reopening the file."""
    stat = path.stat()
    n = part_events(path) if n_events is None else int(n_events)
    return {"bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "record": {"sha256": sha256_file(path), "bytes": stat.st_size, "n_events": n}}


class CorruptPart(RuntimeError):
    """A part file that cannot be read (truncated, damaged); the message names it."""


def part_events(path: str | os.PathLike) -> int:
    """Number of events of one HDF5 part; a damaged file raises :class:`CorruptPart` naming it."""
    try:
        with h5py.File(path, "r") as h5:
            return int(h5["event_id"].shape[0])
    except (OSError, KeyError) as err:
        raise CorruptPart(f"{path} is not a readable SimShift part ({err}); delete it and rerun the same "
                          f"command to regenerate it") from err
