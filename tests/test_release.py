"""Standard releases: release -> serve over HTTP -> fetch --source release -> the same folder as generate."""
from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from benchmark.data.fetch import FetchError
from benchmark.data.materialise import generate
from benchmark.data.release import ReleaseError, fetch_release, make_release, shipped_manifest
from benchmark.data.writer import GenerationConflict


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """A static server with HTTP range requests (as the Hub and most CDNs have) and a fault switch."""

    log: list = []
    cut_once: set = set()  # paths whose next full response is cut after half the bytes

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        rng = self.headers.get("Range")
        type(self).log.append((self.path, rng))
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        body = data[start:]
        self.send_response(206 if rng else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path in type(self).cut_once and not rng:
            type(self).cut_once.discard(self.path)
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)  # the client sees a truncated transfer
            return
        self.wfile.write(body)


@pytest.fixture
def release_server(tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    RangeHandler.log, RangeHandler.cut_once = [], set()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(RangeHandler, directory=str(www)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/resolve/main", www
    finally:
        server.shutdown()
        server.server_close()


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.startswith(".")}


@pytest.fixture
def released(tmp_path, release_server):
    """The toy family generated, released and served under the Hub's ``resolve/<revision>`` layout."""
    base, www = release_server
    generated = generate("toy", cache_dir=tmp_path / "gen", workers=1, progress=False)
    manifest_path = make_release("toy", cache_dir=tmp_path / "gen", out=www / "resolve" / "main", base_url=base)
    return generated, json.loads(manifest_path.read_text()), base, www


def test_release_fetch_is_the_generated_folder_and_runs(released, tmp_path):
    import datasets

    from benchmark.runner import run_method

    generated, manifest, base, www = released
    assert {f["path"] for f in manifest["files"]} >= {"README.md", "provenance.json"}
    assert set(_tree(www / "resolve" / "main")) == {f["path"] for f in manifest["files"]} | {"release.json"}
    folder = fetch_release("toy", cache_dir=tmp_path / "fetched", manifest=manifest, progress=False)
    assert _tree(folder) == _tree(generated)  # byte for byte, card and provenance included
    ds = datasets.load_dataset(str(folder), "shifted", cache_dir=str(tmp_path / "hf"))
    assert len(ds["test"]) == manifest["info"]["sizes"]["test"]
    results = []
    for cache in ("gen", "fetched"):
        folder_m = tmp_path / "m"
        folder_m.mkdir(exist_ok=True)
        (folder_m / "method.yaml").write_text("name: floor\nprotocols: [robustness]\nfamilies: [toy]\n"
                                              "entry: benchmark.methods.features:PhysicsFeatureLinear\n")
        path, = run_method(folder_m, family="toy", seeds=[0], cache_dir=tmp_path / cache, out=tmp_path / f"run_{cache}",
                           progress=False)
        results.append(json.loads(path.read_text()))
    assert results[0]["dataset"] == results[1]["dataset"]  # same test hashes: one leaderboard table
    assert results[0]["per_seed"] == results[1]["per_seed"]


def test_interrupted_download_resumes_with_a_range_request(released, tmp_path):
    generated, manifest, base, www = released
    part = next(f for f in manifest["files"] if f["path"].startswith("data/"))
    RangeHandler.cut_once.add(f"/resolve/main/{part['path']}")
    with pytest.raises(FetchError, match="Rerun the same command to resume"):
        fetch_release("toy", cache_dir=tmp_path / "f", manifest=manifest, progress=False)
    folder = fetch_release("toy", cache_dir=tmp_path / "f", manifest=manifest, progress=False)
    ranged = [r for p, r in RangeHandler.log if p.endswith(part["path"]) and r]
    assert ranged and int(ranged[0].split("=")[1].rstrip("-")) > 0
    assert _tree(folder) == _tree(generated)


def test_corrupt_truncated_and_missing_files_each_get_their_error(released, tmp_path, monkeypatch):
    generated, manifest, base, www = released
    parts = [f["path"] for f in manifest["files"] if f["path"].startswith("data/")]
    served = www / "resolve" / "main"
    original = (served / parts[0]).read_bytes()
    (served / parts[0]).write_bytes(original[:-10] + b"0123456789")  # same size, other bytes
    with pytest.raises(FetchError, match="does not match the release manifest's sha256"):
        fetch_release("toy", cache_dir=tmp_path / "a", manifest=manifest, progress=False)
    dest = tmp_path / "a" / "toy" / "generated" / "default" / parts[0]
    assert not dest.exists() and not list(dest.parent.glob(".*partial"))  # nothing half-written is kept
    (served / parts[0]).write_bytes(original[:100])  # truncated on the server
    with pytest.raises(FetchError, match="does not match the release manifest's sha256"):
        fetch_release("toy", cache_dir=tmp_path / "b", manifest=manifest, progress=False)
    (served / parts[0]).unlink()
    with pytest.raises(FetchError, match="could not download .*404"):
        fetch_release("toy", cache_dir=tmp_path / "c", manifest=manifest, progress=False)
    # the same files from a mirror named by the environment, and from a local copy of the folder
    (served / parts[0]).write_bytes(original)
    monkeypatch.setenv("SIMSHIFT_MIRROR", base)
    unpublished = {**manifest, "base_url": None}
    folder = fetch_release("toy", cache_dir=tmp_path / "d", manifest=unpublished, progress=False)
    assert _tree(folder) == _tree(generated)
    monkeypatch.delenv("SIMSHIFT_MIRROR")
    with pytest.raises(ReleaseError, match="not yet published"):
        fetch_release("toy", cache_dir=tmp_path / "e", manifest=unpublished, progress=False)
    folder = fetch_release("toy", cache_dir=tmp_path / "e", manifest=unpublished, local_dir=served, progress=False)
    assert _tree(folder) == _tree(generated)


def test_release_refuses_incomplete_or_mixed_data(tmp_path):
    generate("toy", cache_dir=tmp_path / "p", workers=1, progress=False, domains=["nominal"])
    with pytest.raises(ReleaseError, match="incomplete"):
        make_release("toy", cache_dir=tmp_path / "p", out=tmp_path / "r1")
    folder = generate("toy", cache_dir=tmp_path / "p", workers=1, progress=False)
    shutil.copy(folder / "data" / "nominal" / "test-00000.h5", folder / "data" / "nominal" / "test-00099.h5")
    with pytest.raises(ReleaseError, match="not in its provenance"):
        make_release("toy", cache_dir=tmp_path / "p", out=tmp_path / "r2")
    os.remove(folder / "data" / "nominal" / "test-00099.h5")
    with open(folder / "data" / "nominal" / "test-00000.h5", "r+b") as fh:
        fh.seek(200)
        fh.write(b"\xff\xfe\xfd\xfc")
    with pytest.raises(ReleaseError, match="differ from their recorded sha256"):
        make_release("toy", cache_dir=tmp_path / "p", out=tmp_path / "r3")


def test_linked_release_is_the_copied_release(tmp_path):
    """``--link`` (how the 39 GB ND-LAr full release is made) gives the copy's manifest, with the data
    files hard links to the cache's; the card and provenance are still copies."""
    folder = generate("toy", cache_dir=tmp_path / "g", workers=1, progress=False)
    copied = json.loads(make_release("toy", cache_dir=tmp_path / "g", out=tmp_path / "copy").read_text())
    linked = json.loads(make_release("toy", cache_dir=tmp_path / "g", out=tmp_path / "link", link=True).read_text())
    assert linked["files"] == copied["files"]
    parts = [f["path"] for f in linked["files"] if f["path"].startswith("data/")]
    assert parts and all(os.path.samefile(tmp_path / "link" / rel, folder / rel) for rel in parts)
    assert not any(os.path.samefile(tmp_path / "copy" / rel, folder / rel) for rel in parts)
    assert not os.path.samefile(tmp_path / "link" / "provenance.json", folder / "provenance.json")


def test_fetch_refuses_a_folder_of_another_identity(released, tmp_path):
    generated, manifest, base, www = released
    generate("toy", seed=1, cache_dir=tmp_path / "other", workers=1, progress=False)
    with pytest.raises(GenerationConflict, match="seed"):
        fetch_release("toy", cache_dir=tmp_path / "other", manifest=manifest, progress=False)


def test_no_shipped_release_says_what_to_do(tmp_path):
    assert shipped_manifest("toy", "default") is None
    with pytest.raises(ReleaseError, match="python -m benchmark generate toy"):
        fetch_release("toy", cache_dir=tmp_path, progress=False)


SHIPPED_SLICE = {"sfgd": ["nominal", "xtalk_000", "xscan_050"], "ndlar": ["nominal", "electronics_2"],
                 "jets": ["nominal", "jes_up"]}


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(SHIPPED_SLICE))
def test_generator_matches_the_shipped_release(family, tmp_path):
    """One chunk of the test split of a few domains, generated here, is byte-identical to the standard
    release whose manifest ships in the package: the generator's output has not changed without a
    version bump, and this platform reproduces the standard data."""
    from benchmark.data.registry import get_family

    manifest = shipped_manifest(family, "default")
    assert manifest is not None, f"benchmark/releases/{family}-default.json is missing"
    gen = get_family(family).source("generated").make_generator()
    assert manifest["info"]["version"] == gen.version, (
        f"the shipped {family} release is of generator version {manifest['info']['version']}, the generator is "
        f"{gen.version}: regenerate the release manifest (python -m benchmark release {family})")
    n_chunks = len(gen.chunks("default", "test"))
    folder = generate(family, cache_dir=tmp_path, workers=1, progress=False, splits=["test"],
                      domains=SHIPPED_SLICE[family], shard=(0, n_chunks))  # chunk 0 only
    standard = {f["path"]: f["sha256"] for f in manifest["files"]}
    made = {p.relative_to(folder).as_posix(): p for p in (folder / "data").glob("*/*.h5")}
    assert sorted(made) == [f"data/{d}/test-00000.h5" for d in sorted(SHIPPED_SLICE[family])]
    import hashlib

    for rel, path in made.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == standard[rel], \
            f"{rel} differs from the standard release: the generator changed without a version bump"


SHIPPED_FULL = sorted(p.name.split("-")[0] for p in (Path(__file__).resolve().parents[1] / "benchmark" / "releases")
                      .glob("*-full.json"))


@pytest.mark.slow
@pytest.mark.parametrize("family", SHIPPED_FULL)
def test_generator_matches_the_shipped_full_release(family, tmp_path):
    """The last chunk of the full preset's nominal training split (events the default preset never makes),
    generated here, is byte-identical to the shipped manifest of the full release."""
    from benchmark.data.registry import get_family

    manifest = shipped_manifest(family, "full")
    gen = get_family(family).source("generated").make_generator()
    assert manifest["info"]["version"] == gen.version, (
        f"the shipped {family} full release is of generator version {manifest['info']['version']}, the generator "
        f"is {gen.version}: regenerate it (python -m benchmark generate {family} --size full; "
        f"python -m benchmark release {family} --size full --link)")
    n_chunks = len(gen.chunks("full", "train"))
    assert n_chunks > len(gen.chunks("default", "train"))
    folder = generate(family, size="full", cache_dir=tmp_path, workers=1, progress=False, splits=["train"],
                      domains=["nominal"], shard=(n_chunks - 1, n_chunks))
    made = sorted((folder / "data").glob("*/*.h5"))
    rel = f"data/nominal/train-{n_chunks - 1:05d}.h5"
    assert [p.relative_to(folder).as_posix() for p in made] == [rel]
    import hashlib

    standard = {f["path"]: f["sha256"] for f in manifest["files"]}
    assert hashlib.sha256(made[0].read_bytes()).hexdigest() == standard[rel], \
        f"{rel} differs from the standard full release: the generator changed without a version bump"


@pytest.mark.slow
def test_generation_is_bit_identical_with_numpys_fastest_kernels(tmp_path):
    """A process that imported numpy with its AVX2/AVX-512 kernels on (the tests run without them:
    conftest.py) still writes the standard bytes: generation moves to a worker on numpy's baseline
    kernels. sfgd's nominal train chunk 0 is one of the files that differed on a CPU with AVX-512."""
    import subprocess
    import sys

    from benchmark.data.portable import PORTABLE_NUMPY_ENV

    env = {k: v for k, v in os.environ.items() if k not in PORTABLE_NUMPY_ENV}
    code = ("import hashlib, sys; from benchmark.data.materialise import generate; "
            "from benchmark.data.registry import get_family; "
            "n = len(get_family('sfgd').source('generated').make_generator().chunks('default', 'train')); "
            "f = generate('sfgd', cache_dir=sys.argv[1], workers=1, progress=False, splits=['train'], "
            "domains=['nominal'], shard=(0, n)) / 'data/nominal/train-00000.h5'; "
            "print(hashlib.sha256(f.read_bytes()).hexdigest())")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, capture_output=True, text=True,
                         check=True).stdout.split()[-1]
    standard = {f["path"]: f["sha256"] for f in shipped_manifest("sfgd", "default")["files"]}
    assert out == standard["data/nominal/train-00000.h5"]
