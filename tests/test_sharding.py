"""Cluster fan-out as users run it: ``--shard i/N`` jobs as independent processes into one folder."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from benchmark.data.materialise import generate

TESTS = Path(__file__).parent
SHARD = """
import sys
sys.path.insert(0, {tests!r})
from benchmark.data.registry import register_family
register_family("toyfamily:FAMILY")
from benchmark.data.materialise import generate
generate("toy", cache_dir={cache!r}, workers=1, shard="{i}/{n}", progress=False)
"""


def _digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.startswith(".")}


def test_shards_as_independent_processes_equal_one_process(tmp_path):
    reference = generate("toy", cache_dir=tmp_path / "one", workers=1, progress=False)
    cache = tmp_path / "many"
    n = 3
    procs = [subprocess.Popen([sys.executable, "-c", SHARD.format(tests=str(TESTS), cache=str(cache), i=i, n=n)])
             for i in range(n)]  # started together, as a job array would
    assert [p.wait(timeout=120) for p in procs] == [0] * n
    folder = cache / "toy" / "generated" / "default"
    prov = json.loads((folder / "provenance.json").read_text())
    assert prov["complete"], "the last shard to finish must see every part"
    # byte for byte: data, card and provenance
    assert _digests(folder) == _digests(reference)
    # what the recipes run once every shard is done: a plain `generate` checks and completes, changes nothing
    generate("toy", cache_dir=cache, workers=1, progress=False)
    assert _digests(folder) == _digests(reference)
