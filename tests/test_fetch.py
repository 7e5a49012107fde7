"""Downloads through pooch against a local HTTP server on 127.0.0.1."""
from __future__ import annotations

import hashlib
import socket

import pytest

from benchmark.data.fetch import FetchError, RemoteFile, fetch_file


def _file(www, name=b"data.h5", content=b"0123456789" * 100):
    (www / name.decode()).write_bytes(content)
    return hashlib.sha256(content).hexdigest(), hashlib.md5(content).hexdigest()


def test_good_checksum_downloads_and_caches(http_server, tmp_path):
    base, www, log = http_server
    sha, _ = _file(www)
    remote = RemoteFile("data.h5", f"{base}/data.h5", sha256=sha)
    path = fetch_file(remote, tmp_path / "dl", progress=False)
    assert path.read_bytes() == (www / "data.h5").read_bytes()
    fetch_file(remote, tmp_path / "dl", progress=False)
    assert log == ["/data.h5"]  # the second call used the cache


def test_md5_only_registry_entries_work(http_server, tmp_path):
    base, www, _ = http_server
    _, md5 = _file(www)
    path = fetch_file(RemoteFile("data.h5", f"{base}/data.h5", md5=md5), tmp_path, progress=False)
    assert path.exists()


def test_bad_checksum_is_refused_and_not_kept(http_server, tmp_path):
    base, www, _ = http_server
    _file(www)
    remote = RemoteFile("data.h5", f"{base}/data.h5", sha256="0" * 64)
    with pytest.raises(FetchError, match="does not match its published checksum"):
        fetch_file(remote, tmp_path / "dl", progress=False)
    assert not (tmp_path / "dl" / "data.h5").exists()


def test_corrupt_cached_copy_is_fetched_again(http_server, tmp_path):
    base, www, log = http_server
    sha, _ = _file(www)
    (tmp_path / "dl").mkdir()
    (tmp_path / "dl" / "data.h5").write_bytes(b"truncated")
    path = fetch_file(RemoteFile("data.h5", f"{base}/data.h5", sha256=sha), tmp_path / "dl", progress=False)
    assert path.read_bytes() == (www / "data.h5").read_bytes() and log == ["/data.h5"]


def test_server_down_gives_offline_instructions(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    remote = RemoteFile("data.h5", f"http://127.0.0.1:{port}/data.h5", sha256="0" * 64)
    with pytest.raises(FetchError) as err:
        fetch_file(remote, tmp_path, progress=False)
    assert "--local-dir" in str(err.value) and "SIMSHIFT_MIRROR" in str(err.value)


def test_mirror_variable_replaces_the_host(http_server, tmp_path, monkeypatch):
    base, www, log = http_server
    (www / "mirror").mkdir()
    sha, _ = _file(www / "mirror")
    monkeypatch.setenv("SIMSHIFT_MIRROR", f"{base}/mirror/")
    remote = RemoteFile("data.h5", "https://zenodo.org/records/1/files/data.h5", sha256=sha)
    assert fetch_file(remote, tmp_path, progress=False).exists()
    assert log == ["/mirror/data.h5"]


def test_local_copy_is_ingested_after_checking(tmp_path):
    content = b"abc" * 50
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "x.h5").write_bytes(content)
    good = RemoteFile("x.h5", "https://example.invalid/x.h5", sha256=hashlib.sha256(content).hexdigest())
    assert fetch_file(good, tmp_path / "cache", local_dir=tmp_path / "mine").read_bytes() == content
    bad = RemoteFile("x.h5", "https://example.invalid/x.h5", sha256="1" * 64)
    with pytest.raises(FetchError, match="does not match the published checksum"):
        fetch_file(bad, tmp_path / "cache2", local_dir=tmp_path / "mine")
    with pytest.raises(FetchError, match="does not exist"):
        fetch_file(good, tmp_path / "cache3", local_dir=tmp_path / "nowhere")


def test_adler32_entries_are_checked_by_size_and_checksum(http_server, tmp_path):
    """CERN Open Data publishes only size + adler32: pooch cannot check it, the fetch layer must."""
    import zlib

    base, www, log = http_server
    content = b"0123456789" * 100
    _file(www, content=content)
    adler = f"{zlib.adler32(content, 1) & 0xFFFFFFFF:08x}"
    good = RemoteFile("data.h5", f"{base}/data.h5", size=len(content), adler32=adler)
    assert good.known_hash == f"adler32:{adler}"
    path = fetch_file(good, tmp_path / "dl", progress=False)
    assert path.read_bytes() == content
    fetch_file(good, tmp_path / "dl", progress=False)
    assert log == ["/data.h5"]                       # a good cached copy is reused
    path.write_bytes(content[:-1] + b"x")            # same size, different bytes: the checksum catches it
    fetch_file(good, tmp_path / "dl", progress=False)
    assert path.read_bytes() == content and log == ["/data.h5"] * 2
    for bad, why in ((RemoteFile("data.h5", f"{base}/data.h5", size=len(content), adler32="00000001"), "adler32"),
                     (RemoteFile("data.h5", f"{base}/data.h5", size=len(content) + 1, adler32=adler), "size")):
        with pytest.raises(FetchError, match=f"does not match its published checksum \\({why}"):
            fetch_file(bad, tmp_path / "bad", progress=False)
        assert not (tmp_path / "bad" / "data.h5").exists()   # the bad download is not kept
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "data.h5").write_bytes(content[:-1])
    with pytest.raises(FetchError, match="size 999 bytes, published 1000"):
        fetch_file(good, tmp_path / "ingested", local_dir=tmp_path / "mine")
