"""Loading materialised datasets: the Hugging Face object, and numpy EventSets for training.

``load_dataset`` returns exactly what ``datasets.load_dataset(<folder>, <domain>)`` returns.
``load_events`` reads a whole split through Arrow (flat values + offsets, no per-event Python
objects), which is ~20x faster than indexing rows one by one.

Resolving a dataset with ``datasets.load_dataset`` costs ~0.3 s per call (module lookup, data-file
resolution, fingerprints) even when its Arrow cache is ready, and a run reads every domain's test
split twice (inputs for the method, labels for scoring): 56 resolutions per sfgd seed. Internal
readers therefore go through :func:`cached_split`, which resolves each (folder, domain) once per
process and is invalidated when the folder is re-materialised (its ``provenance.json`` is replaced).
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from benchmark.data.events import EventSet
from benchmark.data.paths import dataset_folder
from benchmark.data.registry import SPLITS, check_name, get_family


class DatasetNotMaterialised(FileNotFoundError):
    """The requested dataset folder does not exist yet; the message gives the command to make it."""


def _default_size(family: str, source: str) -> str:
    return "default" if source == "generated" else "full"


def resolve_folder(family: str, source: str | None = None, size: str | None = None,
                   cache_dir: str | os.PathLike | None = None, must_exist: bool = True) -> Path:
    """The folder of a materialised family/source/size, with a helpful error if it is missing."""
    spec = get_family(family)
    src = spec.source(source)
    size = size or _default_size(family, src.name)
    folder = dataset_folder(family, src.name, size, cache_dir)
    if must_exist and not (folder / "README.md").exists():
        if src.kind == "generated":
            how = f"python -m benchmark generate {family} --size {size}"
        else:
            how = f"python -m benchmark fetch {family} --source {src.name}"
        cache = f" --cache-dir {cache_dir}" if cache_dir else ""
        raise DatasetNotMaterialised(f"{family}/{src.name}/{size} is not materialised in {folder}. "
                                     f"Create it with: {how}{cache}")
    return folder


def load_dataset(family: str, domain: str = "nominal", split: str | None = None, source: str | None = None,
                 size: str | None = None, cache_dir: str | os.PathLike | None = None, **kwargs):
    """The Hugging Face dataset (``DatasetDict``, or ``Dataset`` when ``split`` is given)."""
    import datasets

    spec = get_family(family)
    src = spec.source(source)
    dom = src.domain(domain)
    if split is not None:
        check_name(f"split of domain {domain!r}", split, dom.splits)
    folder = resolve_folder(family, src.name, size, cache_dir)
    # a per-folder Arrow cache: Hugging Face's cache key does not include the folder's path, so a
    # shared cache can serve another folder's events for the same relative file names
    kwargs.setdefault("cache_dir", str(folder / ".hf_cache"))
    return datasets.load_dataset(str(folder), domain, split=split, **kwargs)


@functools.lru_cache(maxsize=128)
def _domain_dict(folder: str, domain: str, signature: tuple):
    """All splits of one domain (memory-mapped Arrow); ``signature`` identifies the materialisation."""
    import datasets
    from datasets.utils import logging as hf_logging

    # internal reads are not a user's download: no "Generating ... split" bars between run's own output
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return datasets.load_dataset(folder, domain, cache_dir=str(Path(folder) / ".hf_cache"))
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def cached_split(family: str, domain: str, split: str, source: str | None = None, size: str | None = None,
                 cache_dir: str | os.PathLike | None = None):
    """Like ``load_dataset(..., split=split)``, resolved once per process: for read-only use.

    The returned ``Dataset`` is shared between callers; use the non-mutating API on it
    (``select_columns``, ``with_format``), never ``set_format`` or other in-place changes.
    """
    spec = get_family(family)
    src = spec.source(source)
    check_name(f"split of domain {domain!r}", split, src.domain(domain).splits)
    folder = resolve_folder(family, src.name, size, cache_dir)
    marker = folder / "provenance.json"   # replaced (new inode) whenever the folder is re-materialised
    st = (marker if marker.exists() else folder / "README.md").stat()
    return _domain_dict(str(folder), domain, (st.st_ino, st.st_mtime_ns, st.st_size))[split]


def _flat(table, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(values, offsets) of a list column of an Arrow table."""
    import pyarrow as pa

    col = table.column(name).combine_chunks()
    if isinstance(col, pa.ChunkedArray):  # empty tables
        col = pa.concat_arrays(col.chunks) if col.num_chunks else pa.array([], type=col.type)
    offsets = col.offsets.to_numpy().astype(np.int64)
    values = col.values.to_numpy(zero_copy_only=False)
    if offsets[0] != 0:  # a sliced array: re-base
        values = values[offsets[0]:offsets[-1]]
        offsets = offsets - offsets[0]
    return values, offsets


def events_from_table(table, family: str, domain: str, split: str, with_labels: bool,
                      source: str | None = None, meta_columns=None) -> EventSet:
    """Build an EventSet from an Arrow table with the family's columns.

    ``meta`` holds the scalar non-truth columns, or only ``meta_columns`` where given.
    """
    spec = get_family(family)
    names = set(table.column_names)
    event_id = table.column("event_id").to_numpy().astype(np.int64)
    labels = table.column("label").to_numpy().astype(np.int64) if with_labels else None
    meta = {}
    for c in spec.columns_for(source):
        if c.shape != "scalar" or c.name in ("event_id",) or c.name not in names or spec.is_truth(c.name):
            continue
        if meta_columns is not None and c.name not in meta_columns:
            continue
        meta[c.name] = table.column(c.name).to_numpy()
    from benchmark.kinds import get_kind  # lazily: the kinds build on the data layer

    kind = get_kind(spec.event_kind)
    ragged = {name: _flat(table, name) for name in kind.ragged_columns}
    return kind.event_set(family, domain, split, event_id, ragged, meta=meta, labels=labels)


def load_events(family: str, domain: str, split: str, source: str | None = None, size: str | None = None,
                cache_dir: str | os.PathLike | None = None, with_labels: bool = True,
                meta_columns=None) -> EventSet:
    """A whole split as an :class:`EventSet` (labels only if ``with_labels``).

    ``meta_columns`` restricts the scalar columns read into ``meta`` (default: every non-truth one,
    detector parameters included; what a method receives is narrower, see
    :meth:`benchmark.data.registry.FamilySpec.method_columns`).
    """
    check_name("split", split, SPLITS)
    ds = cached_split(family, domain, split, source=source, size=size, cache_dir=cache_dir)
    spec = get_family(family)
    from benchmark.kinds import get_kind  # lazily: the kinds build on the data layer

    content = set(get_kind(spec.event_kind).ragged_columns)
    keep = [c for c in ds.column_names if c in ("event_id", "label") or not spec.is_truth(c)]
    if meta_columns is not None:
        keep = [c for c in keep if c in ("event_id", "label") or c in content or c in meta_columns]
    if not with_labels:
        keep = [c for c in keep if c != "label"]
    table = ds.select_columns(keep).with_format("arrow")[:]
    return events_from_table(table, family, domain, split, with_labels, source, meta_columns)
