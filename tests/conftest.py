"""Shared fixtures: the toy family, a materialised toy dataset, a local HTTP server."""
from __future__ import annotations

import functools
import http.server
import os
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # so worker processes can import toyfamily

os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

from benchmark.data.portable import PORTABLE_NUMPY_ENV  # noqa: E402  (imports no numpy)

# before numpy's first import: generation runs in-process on numpy's portable kernels (no worker spawned)
os.environ.update(PORTABLE_NUMPY_ENV)

from benchmark.data.registry import register_family  # noqa: E402

register_family("toyfamily:FAMILY")


@pytest.fixture(autouse=True)
def _one_thread():
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass
    yield


@pytest.fixture(scope="session")
def toy_cache(tmp_path_factory) -> Path:
    """A cache root holding the materialised toy family (generated once per session)."""
    from benchmark.data.materialise import generate

    root = tmp_path_factory.mktemp("cache")
    generate("toy", cache_dir=root, workers=1, progress=False)
    return root


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture
def http_server(tmp_path):
    """Serve ``tmp_path / 'www'`` on 127.0.0.1 (random port); yields (base_url, folder, requests_log)."""
    www = tmp_path / "www"
    www.mkdir()
    log: list[str] = []

    class Handler(_QuietHandler):
        def do_GET(self):
            log.append(self.path)
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", www, log
    finally:
        server.shutdown()
        server.server_close()
