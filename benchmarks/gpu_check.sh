#!/usr/bin/env bash
# GPU check for a lent CUDA machine (CI has no GPU, so the "cuda" test cases skip there).
#
#   bash benchmarks/gpu_check.sh [OUTDIR]          # FAMILY=ndlar BASELINES=classifier:robustness to change what is timed
#
# 1. installs what the machine lacks from wheels carried in .whl/ (spconv-cu126 2.3.8 arrives as an
#    xz tarball of the unpacked wheel, because the wheel alone is larger than what may be carried);
# 2. runs the sparse-convolution tests on CUDA: spconv forward + gradients against a dense
#    torch.nn.functional.conv3d, and the sparse encoder on a ragged batch;
# 3. generates $FAMILY (default sfgd) and times one seed of each of $BASELINES (default: classifier
#    under robustness, simclr under linear_probe) on CUDA, then on this machine's CPU cores: same
#    machine, same data.
# Writes OUTDIR/gpu_check.log and OUTDIR/gpu_timings.json (default OUTDIR: ./runs/gpu_check); copy the
# latter to benchmarks/results/gpu/ to have `python -m benchmarks.report` list it.
set -uo pipefail
OUTDIR=${1:-runs/gpu_check}
mkdir -p "$OUTDIR"
LOG="$OUTDIR/gpu_check.log"
exec > >(tee "$LOG") 2>&1
SITE=/tmp/simshift-site
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl || exit 1
  tar xJf .whl/spconv.tar.xz -C "$SITE" || exit 1
fi
export PYTHONPATH="$SITE:$PWD" PYTHONUNBUFFERED=1 SIMSHIFT_CACHE=/tmp/simshift-cache
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch, spconv; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0)); print('spconv', spconv.__version__)"

echo "== sparse convolution tests on CUDA"
python3 -m pytest -q -p no:cacheprovider tests/test_models.py -k "cuda or cpu_stream" -rs
TESTS_RC=$?

FAMILY=${FAMILY:-sfgd}
BASELINES=${BASELINES:-"classifier:robustness simclr:linear_probe"}
echo "== generate $FAMILY"
/usr/bin/time -f "generate $FAMILY: %e s wall, %M kB max RSS" python3 -m benchmark generate $FAMILY

timed() {  # label, then the command; appends {"label": ..., "wall_s": ..., "rc": ...}
  local label=$1; shift
  local t0=$(date +%s.%N)
  "$@"; local rc=$?
  local t1=$(date +%s.%N)
  python3 - "$label" "$t0" "$t1" "$rc" "$OUTDIR/gpu_timings.jsonl" <<'EOF'
import json, sys
label, t0, t1, rc, path = sys.argv[1:]
rec = {"label": label, "wall_s": round(float(t1) - float(t0), 1), "rc": int(rc)}
print(rec)
open(path, "a").write(json.dumps(rec) + "\n")
EOF
}
rm -f "$OUTDIR/gpu_timings.jsonl"
for dev in cuda cpu; do
  for bp in $BASELINES; do
    b=${bp%%:*}; proto=${bp#*:}
    timed "$b $FAMILY $proto seed0 $dev" python3 -m benchmark run baselines/$b --dataset $FAMILY \
        --protocol $proto --seeds 0 --device $dev --out "$OUTDIR/${b}_$dev"
  done
done
python3 - "$OUTDIR" "$LOG" "FAMILY=$FAMILY BASELINES='$BASELINES' bash benchmarks/gpu_check.sh" <<'EOF'
"""Collect the timings into gpu_timings.json (the format of benchmarks/results/gpu/*.json)."""
import datetime, json, os, subprocess, sys
from pathlib import Path
out, log, command = Path(sys.argv[1]), Path(sys.argv[2]).read_text().splitlines(), sys.argv[3]
recs = [json.loads(l) for l in (out / "gpu_timings.jsonl").read_text().splitlines()]
for r in recs:
    name, _, proto, _, dev = r["label"].split()
    res = next((out / f"{name}_{dev}").glob(f"{proto}*/result.json"), None)
    if res:
        data = json.loads(res.read_text())
        r["nominal"] = data["aggregate"]["per_domain"]["nominal"]["accuracy"]["mean"]
        r["train_wall_s"] = data.get("wall_time_s")
gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True)
record = {"command": command, "measured": datetime.date.today().isoformat(), "gpu": gpu.stdout.strip(),
          "cpu_cores": os.cpu_count(),
          "software": [l for l in log if l.startswith(("torch ", "spconv "))],
          "generation": next((l for l in log if l.startswith("generate ") and " wall" in l), None),
          "cuda_tests": next((l.strip("= ") for l in log if " passed" in l and " in " in l), None),
          "runs": recs}
(out / "gpu_timings.json").write_text(json.dumps(record, indent=1) + "\n")
print(json.dumps(record, indent=1))
EOF
exit $TESTS_RC
