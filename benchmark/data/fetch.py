"""Downloads of published files with ``pooch``: hash-checked, cached, mirrorable, ingestible.

* Every file has a published checksum (sha256, or md5 where that is all the record publishes);
  a download that does not match is deleted and reported, a cached copy that no longer matches
  is fetched again.
* ``SIMSHIFT_MIRROR=<base url>`` replaces the record's host: the file is fetched from
  ``<base url>/<file name>`` (and still hash-checked).
* ``local_dir`` ingests a copy the user already has (hash-checked, then linked or copied into
  the cache), for machines without network.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pooch

MIRROR_ENV = "SIMSHIFT_MIRROR"


class FetchError(RuntimeError):
    """A file could not be obtained; the message says what to do instead."""


@dataclass(frozen=True)
class RemoteFile:
    """One published file: where it lives and how to recognise it."""

    name: str
    url: str
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None  # bytes, as published (shown before a download starts)

    @property
    def known_hash(self) -> str:
        if self.sha256:
            return f"sha256:{self.sha256}"
        if self.md5:
            return f"md5:{self.md5}"
        raise ValueError(f"{self.name}: a registry entry needs a sha256 or md5")


def file_hash(path: str | os.PathLike, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def matches(path: str | os.PathLike, remote: RemoteFile) -> bool:
    algorithm, expected = remote.known_hash.split(":", 1)
    return file_hash(path, algorithm) == expected.lower()


def resolve_url(remote: RemoteFile) -> str:
    mirror = os.environ.get(MIRROR_ENV)
    if mirror:
        return mirror.rstrip("/") + "/" + remote.name
    return remote.url


def _human(nbytes: int | None) -> str:
    if not nbytes:
        return "unknown size"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if nbytes < 1024 or unit == "TB":
            return f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return ""


def ingest(remote: RemoteFile, dest_dir: Path, local_dir: str | os.PathLike) -> Path:
    """Take ``local_dir/<name>`` (checked against the registry) into the cache."""
    src = Path(local_dir).expanduser() / remote.name
    if not src.exists():
        raise FetchError(f"{src} does not exist. Put the published file {remote.name!r} "
                         f"(from {remote.url}) in that folder, or drop --local-dir to download it.")
    if not matches(src, remote):
        raise FetchError(f"{src} does not match the published checksum {remote.known_hash}: the copy is "
                         f"incomplete or a different version. Download it again from {remote.url}.")
    dest = dest_dir / remote.name
    dest_dir.mkdir(parents=True, exist_ok=True)
    if dest.exists() and matches(dest, remote):
        return dest
    tmp = dest.with_name(f".{dest.name}.ingest")
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dest)
    return dest


def fetch_file(remote: RemoteFile, dest_dir: str | os.PathLike, local_dir: str | os.PathLike | None = None,
               progress: bool = True) -> Path:
    """Return a verified local copy of ``remote`` in ``dest_dir`` (download, re-download or ingest)."""
    dest_dir = Path(dest_dir)
    if local_dir is not None:
        return ingest(remote, dest_dir, local_dir)
    url = resolve_url(remote)
    try:
        path = pooch.retrieve(url, known_hash=remote.known_hash, fname=remote.name, path=dest_dir,
                              progressbar=progress)
    except ValueError as err:  # pooch: hash mismatch (the bad download is not kept)
        raise FetchError(f"{remote.name} downloaded from {url} does not match its published checksum "
                         f"{remote.known_hash} ({err}). The server sent a different or truncated file; "
                         f"try again later, or use another mirror via {MIRROR_ENV}.") from err
    except Exception as err:  # network errors from requests/urllib3 and HTTP errors
        raise FetchError(
            f"could not download {remote.name} ({_human(remote.size)}) from {url}: {type(err).__name__}: {err}.\n"
            f"If this machine is offline: download {remote.url} elsewhere, copy it into a folder here and run "
            f"the same command with --local-dir <that folder>; or set {MIRROR_ENV}=<base url of a mirror> "
            f"that serves the file under its name.") from err
    return Path(path)
