"""The interface of a published-data converter and the ``fetch`` driver that runs one.

A converter knows its record's files (:class:`~benchmark.data.fetch.RemoteFile` with published
checksums) and turns the downloaded files into parts of the standard layout with the same
:class:`~benchmark.data.writer.DatasetWriter` the simulators use, so published and generated
data share one schema.
"""
from __future__ import annotations

import abc
import os
from pathlib import Path
from typing import Any

from benchmark.data.fetch import RemoteFile, fetch_file
from benchmark.data.paths import dataset_folder, downloads_folder
from benchmark.data.registry import DomainSpec, get_family
from benchmark.data.writer import DatasetWriter


class PublishedSource(abc.ABC):
    """Base class of converters of published records."""

    family: str = ""
    source: str = ""
    #: bump when the conversion output changes
    version: str = "0"
    files: tuple[RemoteFile, ...] = ()
    #: set by :func:`fetch` to ``remote -> verified local path`` (download or ``--local-dir`` ingest), for
    #: files a converter discovers while converting (e.g. listed in a downloaded index)
    fetch_remote = None

    @abc.abstractmethod
    def domains(self) -> tuple[DomainSpec, ...]:
        """Domains produced by the conversion (nominal and derived or published shifts)."""

    def files_needed(self, **options: Any) -> tuple[RemoteFile, ...]:
        """The subset of ``files`` a request needs (override for partial fetches)."""
        return self.files

    @abc.abstractmethod
    def convert(self, raw: dict[str, Path], writer: DatasetWriter, **options: Any) -> None:
        """Write every domain/split of the converted data through ``writer.write_part``."""

    def subset_name(self, **options: Any) -> str:
        """The folder name of a conversion: ``full`` or a name that encodes the subset options."""
        opts = {k: v for k, v in options.items() if v is not None}
        if not opts:
            return "full"
        return "subset_" + "_".join(f"{k}{v}" for k, v in sorted(opts.items()))


def fetch(family: str, source: str, cache_dir: str | os.PathLike | None = None,
          local_dir: str | os.PathLike | None = None, progress: bool = True, **options: Any) -> Path:
    """Download (or ingest) and convert a published source; return the dataset folder."""
    spec = get_family(family)
    src = spec.source(source)
    if src.kind != "published" or src.make_fetcher is None:
        published = [s for s, v in spec.sources.items() if v.kind == "published"]
        raise ValueError(f"source {source!r} of family {family!r} is not a published source; "
                         f"published sources: {published or 'none'} (use `generate` for 'generated')")
    converter: PublishedSource = src.make_fetcher()
    raw_dir = downloads_folder(source, cache_dir)
    converter.fetch_remote = lambda remote: fetch_file(remote, raw_dir, local_dir=local_dir, progress=progress)
    raw = {f.name: fetch_file(f, raw_dir, local_dir=local_dir, progress=progress)
           for f in converter.files_needed(**options)}
    size = converter.subset_name(**options)
    folder = dataset_folder(family, source, size, cache_dir)
    info = {"version": converter.version, "seed": None, "size": size, "options": options,
            "raw_files": {f.name: f.known_hash for f in converter.files_needed(**options)}}
    writer = DatasetWriter(folder, spec, src, info)
    writer.claim()  # a folder converted by another converter version or subset is refused, never mixed
    converter.convert(raw, writer, **options)
    writer.finalize()
    return folder
