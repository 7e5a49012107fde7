"""Downloads of published files with ``pooch``: hash-checked, cached, mirrorable, ingestible.

* Every file has a published checksum (sha256, or md5 where that is all the record publishes, or
  size + adler32 for CERN Open Data, which publishes nothing else); a download that does not match
  is deleted and reported, a cached copy that no longer matches is fetched again. pooch checks
  sha256 and md5 itself; it has no adler32, so those files are downloaded unchecked and verified here.
* ``SIMSHIFT_MIRROR=<base url>`` replaces the record's host: the file is fetched from
  ``<base url>/<file name>`` (and still hash-checked).
* ``local_dir`` ingests a copy the user already has (hash-checked, then linked or copied into
  the cache), for machines without network.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import zlib
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
    adler32: str | None = None  # 8 hex digits; with ``size``, all CERN Open Data publishes

    @property
    def known_hash(self) -> str:
        if self.sha256:
            return f"sha256:{self.sha256}"
        if self.md5:
            return f"md5:{self.md5}"
        if self.adler32:
            return f"adler32:{self.adler32}"
        raise ValueError(f"{self.name}: a registry entry needs a sha256, md5 or adler32")


#: algorithms pooch verifies during the download; others are verified by :func:`matches` afterwards
POOCH_ALGORITHMS = ("sha256", "md5")


def file_hash(path: str | os.PathLike, algorithm: str) -> str:
    """Hex digest of a file; ``adler32`` as 8 hex digits (zlib.adler32 seeded with 1, CERN's convention)."""
    if algorithm == "adler32":
        value = 1
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                value = zlib.adler32(block, value)
        return f"{value & 0xFFFFFFFF:08x}"
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def mismatch(path: str | os.PathLike, remote: RemoteFile) -> str | None:
    """How ``path`` differs from the published file (None when it matches).

    The size is checked too for adler32 entries: a 32-bit checksum alone is weak.
    """
    algorithm, expected = remote.known_hash.split(":", 1)
    if algorithm == "adler32" and remote.size is not None and os.path.getsize(path) != remote.size:
        return f"size {os.path.getsize(path)} bytes, published {remote.size}"
    got = file_hash(path, algorithm)
    if (int(got, 16) != int(expected, 16)) if algorithm == "adler32" else got != expected.lower():
        return f"{algorithm} {got}, published {expected}"
    return None


def matches(path: str | os.PathLike, remote: RemoteFile) -> bool:
    return mismatch(path, remote) is None


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
    problem = mismatch(src, remote)
    if problem is not None:
        raise FetchError(f"{src} does not match the published checksum {remote.known_hash} ({problem}): the "
                         f"copy is incomplete or a different version. Download it again from {remote.url}.")
    dest = dest_dir / remote.name
    dest_dir.mkdir(parents=True, exist_ok=True)
    if dest.exists() and matches(dest, remote):
        return dest
    # The cached copy may be a hard link to the user's file (no second copy of gigabytes), so nothing
    # may ever open a path that could be such a link for writing: a temporary name left by an
    # interrupted ingest is unlinked (which never touches the user's data), and a copy goes to a fresh
    # file made by atomic_path, never onto an existing name.
    from benchmark.data.writer import atomic_path

    tmp = dest.with_name(f".{dest.name}.ingest.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:  # another file system, or links not allowed: copy
        with atomic_path(dest) as fresh:
            shutil.copyfile(src, fresh)
        return dest
    os.replace(tmp, dest)
    return dest


def fetch_file(remote: RemoteFile, dest_dir: str | os.PathLike, local_dir: str | os.PathLike | None = None,
               progress: bool = True) -> Path:
    """Return a verified local copy of ``remote`` in ``dest_dir`` (download, re-download or ingest)."""
    dest_dir = Path(dest_dir)
    if local_dir is not None:
        return ingest(remote, dest_dir, local_dir)
    url = resolve_url(remote)
    checked_by_pooch = remote.known_hash.split(":", 1)[0] in POOCH_ALGORITHMS
    dest = dest_dir / remote.name
    if not checked_by_pooch and dest.exists():
        if matches(dest, remote):
            return dest
        dest.unlink()  # corrupt or truncated cached copy: fetch again
    try:
        path = pooch.retrieve(url, known_hash=remote.known_hash if checked_by_pooch else None, fname=remote.name,
                              path=dest_dir, progressbar=progress)
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
    if not checked_by_pooch:
        problem = mismatch(path, remote)
        if problem is not None:
            Path(path).unlink()
            raise FetchError(f"{remote.name} downloaded from {url} does not match its published checksum "
                             f"({problem}); the bad copy was deleted. The server sent a different or truncated "
                             f"file: try again later, or use another mirror via {MIRROR_ENV}.")
    return Path(path)
