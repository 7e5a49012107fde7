"""Write the manifests of the standard default releases into ``benchmark/releases/``.

    python -m benchmarks.make_release_manifests [--families sfgd ndlar jets] [--size default]

Generates (or reuses) each family at the size preset in a scratch cache, writes its release with
``python -m benchmark release`` into a scratch folder and copies the manifest ``release.json`` to
``benchmark/releases/<family>-<size>.json`` (``base_url`` left empty until the files are published).
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from benchmark.data.materialise import generate
from benchmark.data.release import make_release
from benchmark.data.writer import write_text_atomic

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--families", nargs="+", default=["sfgd", "ndlar", "jets"])
    ap.add_argument("--size", default="default")
    ap.add_argument("--cache-dir", help="where the datasets are (or are generated); default: $SIMSHIFT_CACHE")
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args(argv)
    for family in args.families:
        generate(family, size=args.size, cache_dir=args.cache_dir, workers=args.workers, progress=False)
        scratch = Path(tempfile.mkdtemp(prefix=f"simshift-release-{family}-"))
        try:
            manifest = json.loads(make_release(family, size=args.size, out=scratch / "release",
                                               cache_dir=args.cache_dir).read_text())
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        dest = ROOT / "benchmark" / "releases" / f"{family}-{args.size}.json"
        write_text_atomic(dest, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        print(f"{family}: {len(manifest['files'])} files, {sum(f['bytes'] for f in manifest['files']) / 1e6:.1f} MB "
              f"-> {dest.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
