"""Reading the provenance record of a materialised dataset and naming exact data by hash."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from benchmark.data.writer import PROVENANCE, sha256_file


class DataIntegrityError(RuntimeError):
    """A materialised file does not match its recorded sha256 (corrupted or edited)."""


def read_provenance(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / PROVENANCE
    if not path.exists():
        raise FileNotFoundError(f"{folder} has no {PROVENANCE}: it is not a materialised SimShift dataset "
                                f"(create it with `python -m benchmark generate` or `fetch`)")
    return json.loads(path.read_text())


def split_files(folder: str | Path, domain: str, split: str) -> dict[str, dict]:
    prov = read_provenance(folder)
    prefix = f"data/{domain}/{split}-"
    return {rel: rec for rel, rec in prov["files"].items() if rel.startswith(prefix)}


def split_digest(folder: str | Path, domain: str, split: str) -> str:
    """sha256 over the sorted (file name, file sha256) pairs of one split: names the exact data."""
    files = split_files(folder, domain, split)
    if not files:
        raise FileNotFoundError(f"no files for domain {domain!r} split {split!r} in {folder}")
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(f"{Path(rel).name}:{files[rel]['sha256']}\n".encode())
    return digest.hexdigest()


def verify(folder: str | Path) -> list[str]:
    """Re-hash every recorded file; return the relative paths that are missing or differ."""
    folder = Path(folder)
    bad = []
    for rel, rec in read_provenance(folder)["files"].items():
        path = folder / rel
        if not path.exists() or sha256_file(path) != rec["sha256"]:
            bad.append(rel)
    return bad
