#!/usr/bin/env bash
# GPU verification in one call: on a GPU host with a carried batchbench binary and no
# Rust toolchain, gather the evidence that the CUDA path works, in at most ~9 minutes
# including cold kernel compilation. Every step has its own time limit, so a hang
# still returns what was gathered.
#
#   BATCHBENCH=./batchbench VERIFY_OUT=/some/folder scripts/gpu-verify.sh
#
# Leaves exactly three files in $VERIFY_OUT (default: $OUT, else ./gpu-verify) and
# writes nothing else into the current directory:
#   summary.txt       what was run, the tables, and what failed
#   table.json        the key figures per run (machine-readable)
#   evidence.tar.gz   every record (runs.jsonl), log, the nvidia-smi log, env
# Steps: environment (driver, NVRTC, glibc, `batchbench env`); a background
# `nvidia-smi` log as an NVML-independent cross-check; MLP f32 on a cold cache, then
# the same again in a new process (warm caches); CNN f32 cold; MLP bf16; PyTorch's
# same step (f32 and TF32) when python3 has torch; a deliberately oversized run that
# must be recorded `oom`.
#
# DEVICE=cpu runs the same logic on the CPU (small sizes, no nvidia-smi, no bf16, the
# out-of-memory run emulated by batchbench's fault injection): the tests use it.
set -uo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
bin="${BATCHBENCH:-$here/batchbench}"
[ -x "$bin" ] || { echo "gpu-verify: no batchbench binary at $bin (set BATCHBENCH=/path/to/batchbench; make dist builds one)" >&2; exit 1; }
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
device="${DEVICE:-cuda}"
dest="${VERIFY_OUT:-${OUT:-$PWD/gpu-verify}}"
mkdir -p "$dest"
dest="$(cd "$dest" && pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d "${TMPDIR:-/tmp}/gpu-verify.XXXXXX")"
trap 'kill $smi_pid 2>/dev/null; rm -rf "$work"' EXIT
smi_pid=""
export CUDA_PATH="${CUDA_PATH:-/usr/local/cuda}"
export BATCHBENCH_CACHE="$work/cache"     # a cold cache for the first pass
started=$(date +%s)
budget="${VERIFY_SECONDS:-540}"          # 9 minutes, cold compilation included
deadline=$(( started + budget ))
log() { echo "[$(( $(date +%s) - started )) s] $*" | tee -a "$work/steps.log" >&2; }

if [ "$device" = cpu ]; then
  train=2000; test=400; epochs=3; big_batch=512; limit=120
else
  train=60000; test=10000; epochs=3; big_batch=1000000; limit=240
fi

suite() { # name model batch precision [extra...]
  local name=$1 model=$2 batch=$3 precision=$4; shift 4
  cat > "$work/$name.yaml" <<EOF
version: 1
name: $name
description: gpu-verify step $name
defaults:
  dataset: {name: synthetic, train_samples: $train, test_samples: $test, shape: [1, 28, 28], classes: 10}
  model: $model
  optimizer: {kind: sgd}
  lr: 0.01
  epochs: $epochs
  eval_every: 1
  batch_size: $batch
  precision: $precision
  device: $device
  timeout_s: $limit
  warmup_timeout_s: $limit
$(for line in "$@"; do echo "  $line"; done)
EOF
}
mlp='{kind: mlp, hidden: [512, 512]}'
cnn='{kind: cnn, channels: [32, 64], hidden: [128]}'

step() { # name seconds command... : runs with a time limit, logs its output
  local name=$1 secs=$2; shift 2
  # Every step also fits in what is left of the whole budget (30 s kept for tables).
  local left=$(( deadline - $(date +%s) - 30 ))
  [ "$secs" -gt "$left" ] && secs=$left
  if [ "$secs" -lt 5 ]; then
    log "skip $name: the ${budget} s budget is spent"
    echo "$name skipped" >> "$work/exit-codes"
    return 0
  fi
  log "start $name (limit ${secs} s)"
  timeout --kill-after=10 "$secs" "$@" > "$work/$name.log" 2>&1
  local rc=$?
  log "end $name: exit $rc"
  echo "$name $rc" >> "$work/exit-codes"
  return 0
}
run_suite() { # name [env...]
  local name=$1; shift
  step "$name" $((limit + 60)) env "$@" "$bin" run "$work/$name.yaml" --quiet --out "$work/results/$name"
}

# 1. Environment.
{
  echo "== date"; date -u
  echo "== uname"; uname -a
  echo "== glibc"; ldd --version 2>&1 | head -1
  echo "== nvidia-smi"; nvidia-smi 2>&1 || echo "(no nvidia-smi)"
  echo "== NVRTC"; ls "$CUDA_PATH"/targets/*/lib/libnvrtc.so* "$CUDA_PATH"/lib64/libnvrtc.so* 2>/dev/null || echo "(no libnvrtc under $CUDA_PATH)"
  echo "== python"; "$python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" 2>&1
} > "$work/environment.txt" 2>&1
step env 60 "$bin" env

# 2. nvidia-smi in the background (UTC timestamps, every 200 ms).
if [ "$device" != cpu ] && command -v nvidia-smi >/dev/null; then
  TZ=UTC nvidia-smi --query-gpu=timestamp,utilization.gpu,utilization.memory,memory.used,power.draw,clocks.sm,temperature.gpu \
    --format=csv,noheader,nounits -lms 200 > "$work/nvidia-smi.csv" 2>&1 &
  smi_pid=$!
fi

# 3-6. Burn: MLP f32 cold, the same warm (a new process, same caches), CNN f32, MLP bf16.
suite mlp-f32-cold "$mlp" 512 f32; run_suite mlp-f32-cold
suite mlp-f32-warm "$mlp" 512 f32; run_suite mlp-f32-warm
suite cnn-f32-cold "$cnn" 512 f32; run_suite cnn-f32-cold
if [ "$device" = cpu ]; then
  log "skip mlp-bf16: the CPU backends train in f32"
else
  suite mlp-bf16-cold "$mlp" 512 bf16; run_suite mlp-bf16-cold
fi

# 7. PyTorch's same step, f32 and TF32, on this machine.
if "$python" -c "import torch" 2>/dev/null; then
  step pytorch 150 "$python" "$here/bench/reference/pytorch_step.py" --device "$device" --batch 512 \
    --models mlp cnn --examples "$train" --tf32 both --json "$work/pytorch.json"
else
  log "skip pytorch: $python has no torch"
fi

# 8. A run too large for the device must be recorded `oom`, not `crashed`.
if [ "$device" = cpu ]; then
  suite oom "{kind: mlp, hidden: [64]}" "$big_batch" f32
  run_suite oom BATCHBENCH_FAULT=oom
else
  # 10^6 examples × 65,536 hidden units × 4 bytes: 262 GB of activations.
  train_saved=$train; train=$big_batch; test=1000
  suite oom "{kind: mlp, hidden: [65536]}" "$big_batch" f32
  train=$train_saved
  run_suite oom
fi

[ -n "$smi_pid" ] && kill "$smi_pid" 2>/dev/null
log "done in $(( $(date +%s) - started )) s"

# Tables: summary.txt and table.json from the records and logs.
"$python" - "$work" "$dest" "$device" <<'PY' || echo "gpu-verify: python3 could not write the tables" >&2
import csv, datetime as dt, json, os, sys
work, dest, device = sys.argv[1:4]
res = os.path.join(work, "results")
rows = []
for name in sorted(os.listdir(res)) if os.path.isdir(res) else []:
    path = os.path.join(res, name, "runs.jsonl")
    if not os.path.exists(path):
        continue
    for line in open(path, encoding="utf-8", errors="replace"):
        try:
            r = json.loads(line)
        except ValueError:
            continue
        s, t = r["summary"], r["telemetry"]
        rows.append({
            "step": name, "status": r["status"], "reason": r.get("reason"),
            "model": r["spec"]["model"]["kind"], "batch": r["spec"]["batch_size"],
            "precision": r["spec"]["precision"], "device": r["env"]["device"],
            "samples_per_s": s.get("samples_per_s"), "warmup_s": s.get("warmup_s"),
            "cold_start_s": s.get("cold_start_s"), "kernels_compiled": s.get("kernels_compiled"),
            "gpu_util_mean": t.get("gpu_util_mean"), "gpu_util_steady_mean": t.get("gpu_util_steady_mean"),
            "gpu_mem_peak_mib": t.get("gpu_mem_peak_mib"), "proc_gpu_mem_peak_mib": t.get("proc_gpu_mem_peak_mib"),
            "gpu_mem_delta_peak_mib": t.get("gpu_mem_delta_peak_mib"), "energy_j": t.get("energy_j"),
            "energy_source": t.get("energy_source"), "cpu_util_mean": t.get("cpu_util_mean"),
            "notes": t.get("notes"), "started_at": r["started_at"], "finished_at": r["finished_at"],
        })
# nvidia-smi's mean utilization over each run's window, beside NVML's.
smi = []
smi_path = os.path.join(work, "nvidia-smi.csv")
if os.path.exists(smi_path):
    for rec in csv.reader(open(smi_path)):
        try:
            ts = dt.datetime.strptime(rec[0].strip(), "%Y/%m/%d %H:%M:%S.%f").replace(tzinfo=dt.timezone.utc)
            smi.append((ts, float(rec[1]), float(rec[3])))
        except (ValueError, IndexError):
            pass
def when(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
for r in rows:
    inside = [u for (ts, u, m) in smi if when(r["started_at"]) <= ts <= when(r["finished_at"])]
    r["nvidia_smi_util_mean"] = sum(inside) / len(inside) if inside else None
    mem = [m for (ts, u, m) in smi if when(r["started_at"]) <= ts <= when(r["finished_at"])]
    r["nvidia_smi_mem_peak_mib"] = max(mem) if mem else None
torch_rows = []
pj = os.path.join(work, "pytorch.json")
if os.path.exists(pj):
    torch_rows = json.load(open(pj)).get("rows", [])
codes = dict(l.split() for l in open(os.path.join(work, "exit-codes"))) if os.path.exists(os.path.join(work, "exit-codes")) else {}
json.dump({"device": device, "burn": rows, "pytorch": torch_rows, "exit_codes": codes}, open(os.path.join(dest, "table.json"), "w"), indent=1)
f = lambda v, d=0: "-" if v is None else f"{v:.{d}f}"
out = [f"gpu-verify on {device}", open(os.path.join(work, "environment.txt")).read().split("== nvidia-smi")[0], ""]
out.append(f"{'step':<15} {'model':<5} {'batch':>7} {'prec':<5} {'status':<8} {'samples/s':>10} {'warm-up s':>9} {'cold s':>7} {'kernels':>7} {'util%':>6} {'steady%':>7} {'smi%':>5} {'peak MiB':>8} {'proc MiB':>8} {'energy J':>8}")
for r in rows:
    out.append(f"{r['step']:<15} {r['model']:<5} {r['batch']:>7} {r['precision']:<5} {r['status']:<8} {f(r['samples_per_s']):>10} {f(r['warmup_s'],2):>9} {f(r['cold_start_s'],2):>7} {f(r['kernels_compiled']):>7} "
               f"{f(r['gpu_util_mean']):>6} {f(r['gpu_util_steady_mean']):>7} {f(r['nvidia_smi_util_mean']):>5} {f(r['gpu_mem_peak_mib']):>8} {f(r['proc_gpu_mem_peak_mib']):>8} {f(r['energy_j']):>8}")
    if r["status"] != "ok":
        out.append(f"    reason: {r['reason']}")
    if r["notes"]:
        out.append(f"    notes: {r['notes']}")
if torch_rows:
    out.append("")
    out.append("PyTorch (same step):")
    for t in torch_rows:
        out.append(f"  {t['model']:<5} batch {t['batch_size']:>6} {t.get('math', ''):<5} {t['samples_per_s']:>10.0f} samples/s")
out.append("")
out.append("exit codes: " + ", ".join(f"{k}={v}" for k, v in codes.items()))
open(os.path.join(dest, "summary.txt"), "w").write("\n".join(out) + "\n")
PY
cp "$work/steps.log" "$work/steps.txt" 2>/dev/null
tar -czf "$dest/evidence.tar.gz" -C "$work" --exclude=cache . 2>/dev/null
cat "$dest/summary.txt" 2>/dev/null
echo "gpu-verify: wrote $dest/summary.txt, $dest/table.json and $dest/evidence.tar.gz" >&2
