"""Prediction files: the one place that reads and writes them.

Format (readable and writable from any language):

``.npz``
    a zip of ``.npy`` arrays: ``event_id`` (integer, ``(N,)``) and ``scores`` (real, ``(N, C)``, or
    ``(N,)`` for a binary family: see :mod:`benchmark.evaluation.metrics` for how scores are read).
``.parquet``
    column ``event_id`` and either a list column ``scores`` or columns ``score_0 .. score_{C-1}``.

Reading is bounded and never unpickles: the size of every array is taken from the zip directory
and the ``.npy`` header (NumPy format specification, ``numpy.lib.format``) and checked against
:data:`MAX_ARRAY_BYTES` *before* any array is materialised, so a small file that inflates to gigabytes
is refused without the memory.  Two files or zip members for one domain are an error, never a
silent choice.

Scores are written as :data:`SCORE_DTYPE` (float32), the precision the evaluator scores at, so a
file written here reproduces the metrics exactly.
"""
from __future__ import annotations

import io
import os
import re
import zipfile
from pathlib import Path
from typing import IO

import numpy as np

#: the precision scores are scored and stored at (float16 would tie probabilities near 1 and
#: distort the background-rejection tail; event ids, not scores, dominate the file size anyway)
SCORE_DTYPE = np.float32
#: an array (decompressed) larger than this is refused before it is read
MAX_ARRAY_BYTES = 1 << 30
_NPZ_DATE = (1980, 1, 1, 0, 0, 0)  # fixed zip timestamps: the same arrays give the same bytes
_MEMBER = re.compile(r"^(?:[^/]+/)*seed(-?[0-9]+)/(\w+)\.npz$")


class PredictionError(ValueError):
    """Predictions that cannot be scored; the message names the file or field, the expected form and
    what was found."""


# ------------------------------------------------------------------------------------------ npz

def _open_npz(source: str | os.PathLike | IO[bytes], where: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(source)
    except (OSError, zipfile.BadZipFile) as exc:
        raise PredictionError(f"{where}: not a readable .npz file (a zip of .npy arrays): {exc}") from None


def _header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> tuple[tuple, np.dtype]:
    """Shape and dtype from the ``.npy`` header of one member, without reading its data."""
    try:
        with zf.open(info) as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise PredictionError(f"{where}: member {info.filename!r} is not a .npy array ({exc})") from None
    return shape, dtype


def read_npz(source: str | os.PathLike | IO[bytes], names=("event_id", "scores"), where: str | None = None,
             limit: int | None = None) -> dict[str, np.ndarray]:
    """The arrays ``names`` of an ``.npz``, each checked against ``limit`` bytes before it is read.

    Object (pickled) arrays, duplicate members and missing arrays are refused with the file named.
    """
    where = where or str(source)
    limit = MAX_ARRAY_BYTES if limit is None else limit
    with _open_npz(source, where) as zf:
        members: dict[str, zipfile.ZipInfo] = {}
        for info in zf.infolist():
            key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if key in members:
                raise PredictionError(f"{where}: two members named {key!r}; an .npz must hold each array once")
            members[key] = info
        missing = [n for n in names if n not in members]
        if missing:
            raise PredictionError(f"{where}: missing array(s) {missing} (has {sorted(members)}); expected "
                                  f"arrays {list(names)}")
        out = {}
        for name in names:
            info = members[name]
            shape, dtype = _header(zf, info, where)
            if dtype.hasobject:
                raise PredictionError(f"{where}: {name} holds Python objects (dtype {dtype}); pickled arrays "
                                      f"are refused: save plain numeric arrays")
            nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            if nbytes > limit or info.file_size > limit + 4096:
                raise PredictionError(f"{where}: {name} would take {max(nbytes, info.file_size)} bytes "
                                      f"decompressed (shape {shape}, dtype {dtype}), more than the {limit} "
                                      f"allowed; refused before reading it")
            with zf.open(info) as fh:
                try:
                    out[name] = np.lib.format.read_array(fh, allow_pickle=False)
                except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
                    raise PredictionError(f"{where}: array {name} cannot be read ({exc})") from None
        return out


def write_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` as a compressed ``.npz`` (atomic, byte-identical for identical arrays)."""
    from benchmark.data.writer import atomic_path

    path = Path(path)
    with atomic_path(path, suffix=".npz") as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name in sorted(arrays):
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.ascontiguousarray(arrays[name]), allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=_NPZ_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, buf.getvalue())
    return path


# ------------------------------------------------------------------------------------- checking

def as_event_ids(event_id, where: str) -> np.ndarray:
    """``event_id`` as int64 ``(N,)``; anything else (floats, strings, 2-D) is refused."""
    arr = np.asarray(event_id)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise PredictionError(f"{where}: event_id must be a 1-D integer array, found dtype {arr.dtype} "
                              f"shape {arr.shape}")
    if arr.dtype.kind == "u" and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise PredictionError(f"{where}: event_id values exceed int64")
    return arr.astype(np.int64, copy=False)


def as_scores(scores, where: str, what: str = "scores") -> np.ndarray:
    """``scores`` as a finite :data:`SCORE_DTYPE` array ``(N,)`` or ``(N, C)``.

    Refused: non-real dtypes (complex, strings, booleans, objects), more than 2 dimensions, values
    that are not finite or overflow float32.
    """
    arr = np.asarray(scores)
    if arr.dtype.kind not in "fiu":
        raise PredictionError(f"{where}: {what} must be a real-valued (integer or float) array, found dtype "
                              f"{arr.dtype}" + (" (complex values are refused, not cast)" if arr.dtype.kind == "c"
                                                else ""))
    if arr.ndim not in (1, 2):
        raise PredictionError(f"{where}: {what} must have shape (N, C) (or (N,) for a binary family), "
                              f"found shape {arr.shape}")
    with np.errstate(over="ignore", invalid="ignore"):
        out = arr.astype(SCORE_DTYPE)
    bad = ~np.isfinite(out)
    if bad.any():
        rows = np.flatnonzero(bad.reshape(len(out), -1).any(axis=1))
        raise PredictionError(f"{where}: {len(rows)} rows of {what} hold NaN or inf (or values beyond float32) "
                              f"(rows {', '.join(str(r) for r in rows[:5])}{', ...' if len(rows) > 5 else ''})")
    return out


def save_predictions(path: str | os.PathLike, event_id, scores) -> Path:
    """Write one domain's predictions (``event_id`` int64, ``scores`` float32) as ``.npz``, atomically.

    This is what ``python -m benchmark run`` writes; the evaluator scores at float32, so these
    files reproduce the reported metrics exactly.
    """
    where = str(path)
    ids = as_event_ids(event_id, where)
    values = as_scores(scores, where)
    if len(values) != len(ids):
        raise PredictionError(f"{where}: {len(values)} score rows for {len(ids)} event ids")
    return write_npz(path, {"event_id": ids, "scores": values})


# ------------------------------------------------------------------------------------- reading

def _parquet(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if size > MAX_ARRAY_BYTES:
        raise PredictionError(f"{path}: {size} bytes uncompressed, more than the {MAX_ARRAY_BYTES} allowed")
    df = pq.read_table(path).to_pandas()
    if "event_id" not in df:
        raise PredictionError(f"{path}: missing column 'event_id' (has {list(df.columns)})")
    if "scores" in df:
        scores = np.stack(df["scores"].to_numpy()) if len(df) else np.empty((0, 0))
    else:
        cols = sorted((c for c in df.columns if re.fullmatch(r"score_[0-9]+", str(c))), key=lambda c: int(c[6:]))
        if not cols:
            raise PredictionError(f"{path}: needs a list column 'scores' or columns score_0..score_C-1 "
                                  f"(has {list(df.columns)})")
        scores = df[cols].to_numpy()
    return df["event_id"].to_numpy(), scores


def read_prediction_file(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """``(event_id, scores)`` of one ``.npz`` or ``.parquet`` file (bounded, never unpickles)."""
    path = Path(path)
    if path.suffix == ".npz":
        z = read_npz(path)
        return z["event_id"], z["scores"]
    if path.suffix == ".parquet":
        return _parquet(path)
    raise PredictionError(f"{path}: unsupported prediction file type {path.suffix!r} (use .npz or .parquet)")


def load_predictions(path: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{domain: (event_id, scores)}`` from a folder of ``<domain>.npz|.parquet`` or one such file
    (its stem is the domain).  Two files for one domain are an error."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".npz", ".parquet") and not p.name.startswith("."))
    elif path.is_file():
        files = [path]
    else:
        raise PredictionError(f"{path}: no such file or folder")
    if not files:
        raise PredictionError(f"{path}: no .npz or .parquet prediction files")
    by_domain: dict[str, list[Path]] = {}
    for f in files:
        by_domain.setdefault(f.stem, []).append(f)
    twice = {d: fs for d, fs in by_domain.items() if len(fs) > 1}
    if twice:
        d, fs = next(iter(sorted(twice.items())))
        raise PredictionError(f"{path}: domain {d!r} has {len(fs)} prediction files ({', '.join(f.name for f in fs)}); "
                              f"keep exactly one per domain")
    return {d: read_prediction_file(fs[0]) for d, fs in by_domain.items()}


class PredictionArchive:
    """``seed<k>/<domain>.npz`` files of a run, from its folder (or its ``predictions/`` subfolder) or
    a ``.zip`` of it.  Only names built from validated seeds and domains are looked up; nothing is
    extracted to disk; two members for one (seed, domain) are an error."""

    def __init__(self, location: str | os.PathLike):
        self.location = Path(location)
        self.zip_members: dict[tuple[str, str], zipfile.ZipInfo] | None = None
        if self.location.is_dir():
            sub = self.location / "predictions"
            self.root = sub if sub.is_dir() and not any(self.location.glob("seed*")) else self.location
        elif self.location.is_file() and zipfile.is_zipfile(self.location):
            with zipfile.ZipFile(self.location) as zf:
                self.zip_members = {}
                for info in zf.infolist():
                    m = _MEMBER.match(info.filename)
                    if not m:
                        continue
                    key = (m.group(1), m.group(2))
                    if key in self.zip_members:
                        raise PredictionError(
                            f"{self.location}: two members for seed {key[0]} domain {key[1]!r} "
                            f"({self.zip_members[key].filename}, {info.filename}); keep exactly one")
                    self.zip_members[key] = info
        else:
            raise PredictionError(f"predictions {self.location}: not a folder or a .zip archive of "
                                  f"seed<k>/<domain>.npz files")

    def read(self, seed: int, domain: str) -> tuple[np.ndarray, np.ndarray]:
        if self.zip_members is None:
            folder = self.root / f"seed{seed}"
            found = sorted(folder.glob(f"{domain}.*")) if folder.is_dir() else []
            found = [p for p in found if p.suffix in (".npz", ".parquet")]
            if len(found) > 1:
                raise PredictionError(f"{folder}: domain {domain!r} has {len(found)} prediction files "
                                      f"({', '.join(p.name for p in found)}); keep exactly one")
            path = folder / f"{domain}.npz"
            if not path.is_file():
                raise PredictionError(f"missing prediction file {path}")
            return read_prediction_file(path)
        info = self.zip_members.get((str(seed), domain))
        if info is None:
            raise PredictionError(f"{self.location} has no seed{seed}/{domain}.npz")
        where = f"{self.location}:{info.filename}"
        with zipfile.ZipFile(self.location) as zf, zf.open(info) as member:  # seekable stream, not read whole
            z = read_npz(member, where=where)
        return z["event_id"], z["scores"]
