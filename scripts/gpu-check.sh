#!/usr/bin/env bash
# GPU check: on a machine with an NVIDIA GPU, run suites/gpu-smoke.yaml twice (cold
# and warm CubeCL caches) and print a table per pass:
# batch, status, samples/s, warm-up s, GPU util mean, peak MiB, energy J.
#
#   scripts/gpu-check.sh                       # uses ./batchbench, or builds with cargo
#   BATCHBENCH=/path/to/batchbench scripts/gpu-check.sh
#
# Needs the NVIDIA driver and NVRTC (CUDA toolkit, CUDA_PATH, default /usr/local/cuda).
# Needs no Rust where a prebuilt binary is given; builds only where cargo exists.
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${BATCHBENCH:-}"
if [ -z "$bin" ]; then
  if [ -x ./batchbench ]; then
    bin=./batchbench
  elif command -v cargo >/dev/null 2>&1; then
    cargo build --release --locked
    bin="${CARGO_TARGET_DIR:-/var/tmp/batchbench-target}/release/batchbench"
  else
    echo "gpu-check: no batchbench binary (set BATCHBENCH=/path/to/batchbench) and no cargo to build one" >&2
    exit 1
  fi
fi
export CUDA_PATH="${CUDA_PATH:-/usr/local/cuda}"
out="${OUT:-results/gpu-check}"
# A fresh cache folder, so the first pass measures the cold start and the second
# what the persistent caches save.
export BATCHBENCH_CACHE="${BATCHBENCH_CACHE:-$out/cache}"
rm -rf "$BATCHBENCH_CACHE"

"$bin" env >/dev/null   # prints the CUDA status (driver, devices, NVRTC) on stderr

table() {
  python3 - "$1" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
f = lambda v, d=0: "-" if v is None else f"{v:.{d}f}"
print(f"{'model':<14} {'batch':>6} {'status':<8} {'samples/s':>10} {'warm-up s':>9} {'GPU util %':>10} {'peak MiB':>9} {'energy J':>9}")
for r in rows:
    s, t, spec = r["summary"], r["telemetry"], r["spec"]
    model = spec["model"]["kind"]
    print(f"{model:<14} {spec['batch_size']:>6} {r['status']:<8} {f(s.get('samples_per_s')):>10} {f(s.get('warmup_s'), 1):>9} "
          f"{f(t.get('gpu_util_mean')):>10} {f(t.get('gpu_mem_peak_mib')):>9} {f(t.get('energy_j')):>9}")
    if r["status"] != "ok":
        print(f"    reason: {r.get('reason')}")
PY
}

start=$(date +%s)
for pass in cold warm; do
  "$bin" run suites/gpu-smoke.yaml --device cuda --fresh --quiet --out "$out/$pass"
  echo "== $pass caches ($(( $(date +%s) - start )) s elapsed) =="
  table "$out/$pass/runs.jsonl"
done
"$bin" compare "$out/cold" "$out/warm" --metric warmup_s,samples_per_s --out "$out/compare" | tail -n 20
