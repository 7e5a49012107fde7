"""Where materialised datasets and downloads live.

The cache root is, in order: an explicit ``cache_dir`` argument (CLI ``--cache-dir``), the
environment variable ``SIMSHIFT_CACHE``, or ``~/.cache/simshift``.  Moving the folder elsewhere
is safe: nothing inside stores absolute paths.
"""
from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "SIMSHIFT_CACHE"


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "simshift"


def dataset_folder(family: str, source: str, size: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """``<cache>/<family>/<source>/<size>``: one Hugging Face dataset repository."""
    return cache_root(cache_dir) / family / source / size


def downloads_folder(source: str, cache_dir: str | os.PathLike | None = None) -> Path:
    return cache_root(cache_dir) / "downloads" / source
