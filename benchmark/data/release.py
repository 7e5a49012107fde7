"""Standard releases: a materialised dataset published as checksummed files, and fetching it back.

``python -m benchmark release <family> --out DIR`` turns a complete, verified dataset folder into a
release folder that is, unchanged, a Hugging Face dataset repository (``README.md`` with ``configs:``,
``provenance.json``, ``data/<domain>/<split>-<part>.h5``) plus ``release.json``, the manifest: every
file's path, size and sha256, and the identity of the data (family, source, version, seed, size,
generator parameters, package versions).

The manifests of the standard releases ship inside the package (``benchmark/releases/``).
``python -m benchmark fetch <family> --source release`` downloads every file with ``pooch`` from the
release location (``<base url>/<path inside the release folder>``: the Hugging Face Hub layout
``https://huggingface.co/datasets/<repo>/resolve/<revision>`` is such a base; so is any release folder
served over HTTP, named by ``SIMSHIFT_MIRROR`` or ``--base-url``), checks each sha256 against the shipped
manifest, resumes interrupted downloads (HTTP range requests), and materialises exactly the folder
``generate`` makes: same files, same card, same provenance, so the runner and the leaderboard cannot
tell them apart.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

from benchmark import __version__
from benchmark.data.fetch import MIRROR_ENV, FetchError
from benchmark.data.paths import dataset_folder
from benchmark.data.provenance import read_provenance, verify
from benchmark.data.registry import get_family
from benchmark.data.writer import (PROVENANCE, DatasetWriter, atomic_path, is_temporary, sha256_file,
                                   write_text_atomic)

MANIFEST = "release.json"
FORMAT = "simshift-release/1"
#: generation settings that name the data (must equal what ``generate`` records)
INFO_FIELDS = ("version", "seed", "size", "sizes", "generator_parameters")


class ReleaseError(RuntimeError):
    """A dataset that cannot be released, or a release that cannot be fetched; the message says why."""


def _package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"simshift": __version__, "python": platform.python_version()}
    for name in ("numpy", "h5py", "pythia8mc", "fastjet", "datasets"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:  # pragma: no cover - optional
            pass
    return out


def release_files(folder: Path) -> list[str]:
    """The files of a release folder, relative, sorted: card, provenance, data parts."""
    parts = sorted(p.relative_to(folder).as_posix() for p in (folder / "data").glob("*/*.h5") if not is_temporary(p))
    return ["README.md", PROVENANCE, *parts]


def make_release(family: str, size: str = "default", out: str | os.PathLike | None = None,
                 cache_dir: str | os.PathLike | None = None, base_url: str | None = None,
                 link: bool = False) -> Path:
    """Write the release of the materialised ``family/generated/size`` into ``out``; return the manifest path.

    Refuses a dataset that is incomplete, whose files do not match their recorded sha256, or that holds
    files not recorded in its provenance (a mixed folder). ``link=True`` hard-links the data files instead
    of copying them (``out`` on the cache's file system), so releasing the 39 GB of ND-LAr's ``full`` needs
    no second 39 GB. That is safe because SimShift never rewrites a data file in place: a regenerated part
    is a new file renamed over the old name (:func:`benchmark.data.writer.atomic_path`), which leaves the
    release's link pointing at the released bytes.
    """
    folder = dataset_folder(family, "generated", size, cache_dir)
    if not (folder / PROVENANCE).exists():
        raise ReleaseError(f"{folder} is not a materialised dataset; run `python -m benchmark generate {family} "
                           f"--size {size}` first")
    prov = read_provenance(folder)
    if not prov.get("complete"):
        raise ReleaseError(f"{folder} is incomplete ({prov.get('n_missing_parts', '?')} parts missing, e.g. "
                           f"{prov.get('missing_parts', [])[:3]}): finish it with `python -m benchmark generate "
                           f"{family} --size {size}` before releasing it")
    bad = verify(folder)
    on_disk = set(release_files(folder)[2:])
    unrecorded = sorted(on_disk - set(prov["files"]))
    if bad or unrecorded:
        raise ReleaseError(f"{folder} is not one consistent dataset: {len(bad)} file(s) differ from their recorded "
                           f"sha256 {bad[:3]}, {len(unrecorded)} file(s) are not in its provenance {unrecorded[:3]}. "
                           f"Regenerate it into a fresh --cache-dir")
    out = Path(out) if out else Path(f"simshift-{family}-{size}")
    if out.exists() and any(out.iterdir()):
        raise ReleaseError(f"{out} exists and is not empty: give a new --out folder")
    files = []
    for rel in release_files(folder):
        dst = out / rel
        if link and rel.startswith("data/"):
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(folder / rel, dst)   # creating a link is atomic: no half-written file
            except OSError as err:
                raise ReleaseError(f"cannot hard-link {folder / rel} into {out} ({err}): --link needs --out on the "
                                   f"same file system as the dataset cache; omit --link to copy") from err
        else:
            with atomic_path(dst, suffix=Path(rel).suffix) as tmp:
                shutil.copyfile(folder / rel, tmp)
        files.append({"path": rel, "bytes": dst.stat().st_size, "sha256": sha256_file(dst)})
    manifest = {
        "format": FORMAT, "family": family, "source": "generated",
        "info": {k: prov.get(k) for k in INFO_FIELDS}, "benchmark_version": __version__,
        "packages": _package_versions(), "base_url": base_url, "files": files,
    }
    write_text_atomic(out / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return out / MANIFEST


# ----------------------------------------------------------------------------------- shipped registry
def shipped_manifest(family: str, size: str) -> dict[str, Any] | None:
    """The manifest of the standard release of ``family`` at ``size`` shipped with the package, if any."""
    ref = resources.files("benchmark") / "releases" / f"{family}-{size}.json"
    if not ref.is_file():
        return None
    return json.loads(ref.read_text())


def compare_with_release(folder: Path, family: str, size: str, seed: int, version: str) -> str | None:
    """A sentence on how a generated folder compares with the standard release (None: no release to compare)."""
    manifest = shipped_manifest(family, size)
    if manifest is None or manifest["info"].get("seed") != seed or manifest["info"].get("version") != version:
        return None
    prov = read_provenance(folder)
    theirs = {k: manifest["info"].get(k) for k in INFO_FIELDS}
    mine = json.loads(json.dumps({k: prov.get(k) for k in INFO_FIELDS}, sort_keys=True))
    if json.loads(json.dumps(theirs, sort_keys=True)) != mine:
        differ = [k for k in INFO_FIELDS if theirs[k] != mine[k]]
        return (f"WARNING: the standard release {family}/{size} shipped with this version was made with other "
                f"settings ({', '.join(differ)} differ): the package's release manifest is out of date")
    standard = {f["path"]: f["sha256"] for f in manifest["files"] if f["path"].startswith("data/")}
    mine = {rel: rec["sha256"] for rel, rec in prov["files"].items()}
    common = sorted(set(standard) & set(mine))
    differ = [rel for rel in common if standard[rel] != mine[rel]]
    if not differ:
        return (f"all {len(common)} data files match the standard release {family}/{size} "
                f"(version {version}, seed {seed})")
    return (f"WARNING: {len(differ)} of {len(common)} data files differ from the standard release {family}/{size} "
            f"(version {version}, seed {seed}), e.g. {differ[0]}: this platform's simulator output is not "
            f"bit-identical (on x86-64: files written by a SimShift that ran numpy's AVX2/AVX-512 kernels, "
            f"before benchmark.data.portable; delete the folder and generate again). Results on these files "
            f"carry their own test hashes and are listed apart from "
            f"entries on the standard release; fetch it with `python -m benchmark fetch {family} --source release` "
            f"to compare with the leaderboard")


# ----------------------------------------------------------------------------------------- fetching
class ResumingDownloader:
    """A pooch downloader that continues an interrupted download with an HTTP range request.

    The bytes received so far live in ``partial`` (a dot file beside the destination, so never read as
    data); pooch checks the sha256 of the finished file itself.
    """

    def __init__(self, partial: Path, progress: bool = False, timeout: float = 60.0):
        self.partial, self.progress, self.timeout = partial, progress, timeout

    def __call__(self, url: str, output_file, pooch_obj, check_only: bool = False):
        import requests

        if check_only:
            return requests.head(url, timeout=self.timeout, allow_redirects=True).status_code == 200
        have = self.partial.stat().st_size if self.partial.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        with requests.get(url, headers=headers, stream=True, timeout=self.timeout) as resp:
            if resp.status_code == 416:  # nothing left to send: the partial file is whole (or wrong)
                pass
            else:
                resp.raise_for_status()
                mode = "ab" if have and resp.status_code == 206 else "wb"
                with open(self.partial, mode) as fh:
                    for block in resp.iter_content(chunk_size=4096):  # small blocks: a cut keeps most
                        fh.write(block)
        target = output_file if isinstance(output_file, (str, os.PathLike)) else output_file.name
        shutil.copyfile(self.partial, target)
        self.partial.unlink()


def _base_url(manifest: dict, base_url: str | None) -> str | None:
    return base_url or os.environ.get(MIRROR_ENV) or manifest.get("base_url")


def fetch_release(family: str, size: str = "default", cache_dir: str | os.PathLike | None = None,
                  base_url: str | None = None, local_dir: str | os.PathLike | None = None,
                  manifest: dict | None = None, progress: bool = True) -> Path:
    """Download (or ingest from ``local_dir``) the standard release into the folder ``generate`` would make."""
    import pooch

    manifest = manifest or shipped_manifest(family, size)
    if manifest is None:
        raise ReleaseError(f"no standard release of {family} at size {size!r} is registered in this version of "
                           f"SimShift. Generate it instead: python -m benchmark generate {family} --size {size}")
    base = _base_url(manifest, base_url)
    if base is None and local_dir is None:
        raise ReleaseError(
            f"the standard release {family}/{size} (version {manifest['info']['version']}) is registered but not yet "
            f"published at a download location. Either generate the same data (python -m benchmark generate "
            f"{family} --size {size}; `generate` tells you whether your files match the release), or ingest a copy "
            f"of the release folder with --local-dir <folder>, or point {MIRROR_ENV}=<base url> (or --base-url) at a "
            f"server that hosts it")
    spec = get_family(family)
    source = spec.source(manifest["source"])
    folder = dataset_folder(family, source.name, size, cache_dir)
    writer = DatasetWriter(folder, spec, source, dict(manifest["info"]))
    writer.claim()  # the same identity generate would record; a different local folder is refused
    expected = []
    if not progress:
        pooch.get_logger().setLevel("WARNING")
    for entry in manifest["files"]:
        rel = entry["path"]
        if not rel.startswith("data/"):
            continue  # card and provenance are rewritten by finalize, exactly as generate writes them
        dest = folder / rel
        expected.append(dest)
        if dest.exists() and dest.stat().st_size == entry["bytes"] and sha256_file(dest) == entry["sha256"]:
            continue
        if local_dir is not None:
            _ingest_release_file(Path(local_dir) / rel, dest, entry)
            continue
        url = base.rstrip("/") + "/" + rel
        partial = dest.with_name(f".{dest.name}.partial")
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            pooch.retrieve(url, known_hash=f"sha256:{entry['sha256']}", fname=dest.name, path=dest.parent,
                           downloader=ResumingDownloader(partial, progress), progressbar=False)
        except ValueError as err:  # pooch: the finished file does not match the manifest (not kept)
            partial.unlink(missing_ok=True)
            raise FetchError(f"{rel} from {url} does not match the release manifest's sha256 ({err}); the bad copy "
                             f"was deleted. The server holds a different or damaged file: try another mirror "
                             f"({MIRROR_ENV}) or generate the data.") from err
        except Exception as err:
            raise FetchError(f"could not download {rel} ({entry['bytes']} bytes) from {url}: {type(err).__name__}: "
                             f"{err}. Rerun the same command to resume (partial data kept in {partial.name}), or "
                             f"use --local-dir with a copy of the release folder.") from err
    prov = writer.finalize(expected)
    if not prov["complete"]:
        raise ReleaseError(f"{folder}: {prov['n_missing_parts']} release files are still missing; rerun the command")
    return folder


def _ingest_release_file(src: Path, dest: Path, entry: dict) -> None:
    if not src.exists():
        raise FetchError(f"{src} does not exist: --local-dir must be a copy of the release folder "
                         f"(it holds {MANIFEST} and data/<domain>/<split>-<part>.h5)")
    if src.stat().st_size != entry["bytes"] or sha256_file(src) != entry["sha256"]:
        raise FetchError(f"{src} does not match the release manifest (size or sha256): the copy is incomplete or "
                         f"of another release. Copy it again.")
    with atomic_path(dest, suffix=".h5") as tmp:  # a fresh file: never a link to the user's copy
        shutil.copyfile(src, tmp)
