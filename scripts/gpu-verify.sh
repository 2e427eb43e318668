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
# Steps, most needed first (cold compilation makes the first runs long: on an H200,
# 2026-11-27, the MLP's first run compiled 291 kernels in 213 s, the CNN's 133 in
# 125 s): environment (driver, NVRTC, glibc, `batchbench env`); a background
# `nvidia-smi` log as an NVML-independent cross-check; MLP f32 on a cold cache, then
# the same again in a new process (warm caches); CNN f32 cold; the same MLP and CNN
# trained by the PyTorch and JAX engines when $PYTHON (python3) has them; a
# deliberately oversized run that must be
# recorded `oom`; MLP bf16 (new kernels again) with what time is left.
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
# A cold cache for the first pass; VERIFY_CACHE names an empty folder that outlives
# the script, so later sweeps on the same host start warm.
export BATCHBENCH_CACHE="${VERIFY_CACHE:-$work/cache}"
started=$(date +%s)
budget="${VERIFY_SECONDS:-540}"          # 9 minutes, cold compilation included
deadline=$(( started + budget ))
log() { echo "[$(( $(date +%s) - started )) s] $*" | tee -a "$work/steps.log" >&2; }

if [ "$device" = cpu ]; then
  # The ResNet is small on the CPU: flex's convolutions make a batch of 512 take most
  # of the step limit on 2 busy cores, and only the script's path is checked there.
  train=2000; test=400; big_batch=512; limit=120; resnet_train=512; resnet_batch=128
else
  train=60000; test=10000; big_batch=600000; limit=240; resnet_train=$train; resnet_batch=512
fi
# The MLP trains 20 epochs (1.2 M examples, ~2 s at an H200's 720,000 samples/s) so
# its steady state is long enough for utilization to be sampled; the CNN 3.
epochs=3; eval_every=1

suite() { # name model batch precision [extra...]
  local name=$1 model=$2 batch=$3 precision=$4; shift 4
  cat > "$work/$name.yaml" <<EOF
version: 1
name: $name
description: gpu-verify step $name
defaults:
  dataset: ${dataset:-"{name: synthetic, train_samples: $train, test_samples: $test, shape: [1, 28, 28], classes: 10}"}
  model: $model
  optimizer: {kind: sgd}
  lr: 0.01
${eval_train:+  eval_train_samples: $eval_train}
  epochs: $epochs
  eval_every: $eval_every
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
  "$python" -c "import jax; print('jax', jax.__version__, jax.devices())" 2>&1
} > "$work/environment.txt" 2>&1
step env 60 "$bin" env

# 2. nvidia-smi in the background (UTC timestamps, every 200 ms).
if [ "$device" != cpu ] && command -v nvidia-smi >/dev/null; then
  TZ=UTC nvidia-smi --query-gpu=timestamp,utilization.gpu,utilization.memory,memory.used,power.draw,clocks.sm,temperature.gpu \
    --format=csv,noheader,nounits -lms 200 > "$work/nvidia-smi.csv" 2>&1 &
  smi_pid=$!
fi

# 3-6. Burn: MLP f32 cold, the same warm (a new process, same caches), CNN f32, MLP bf16.
[ "$device" = cpu ] || { epochs=20; eval_every=5; }
suite mlp-f32-cold "$mlp" 512 f32; run_suite mlp-f32-cold
suite mlp-f32-warm "$mlp" 512 f32; run_suite mlp-f32-warm
epochs=3; eval_every=1
suite cnn-f32-cold "$cnn" 512 f32; run_suite cnn-f32-cold

# 7. The same recipes trained by PyTorch (and JAX) through batchbench's engines: the
# same data, initial weights, step plan and sampler (engines skipped when $python lacks
# the framework: the record would only say so).
for engine in pytorch jax; do
  module=$([ "$engine" = pytorch ] && echo torch || echo jax)
  if "$python" -c "import $module" 2>/dev/null; then
    (if [ "$device" != cpu ]; then epochs=20; eval_every=5; fi
     suite "$engine-mlp" "$mlp" 512 f32 "engine: $engine")
    run_suite "$engine-mlp" BATCHBENCH_PYTHON="$python"
    suite "$engine-cnn" "$cnn" 512 f32 "engine: $engine"
    run_suite "$engine-cnn" BATCHBENCH_PYTHON="$python"
  else
    log "skip $engine: $python has no $module"
  fi
done

# 8. A run too large for the device must be recorded `oom`, not `crashed`.
if [ "$device" = cpu ]; then
  suite oom "{kind: mlp, hidden: [64]}" "$big_batch" f32
  run_suite oom BATCHBENCH_FAULT=oom
else
  # 600,000 examples × 65,536 hidden units × 4 bytes: 157 GB for the first layer's
  # output alone, while the data (1.9 GB), the weights (0.2 GB) and evaluation (1,000
  # rows) fit. On the first GPU run a 10^6-example version with 10,000 evaluation rows
  # spent a 60 s warm-up limit before failing.
  (train=$big_batch; test=1000; epochs=1; eval_train=1000
   suite oom "{kind: mlp, hidden: [65536]}" "$big_batch" f32)
  run_suite oom
fi

# 8b. The workloads where the batch size matters most: ResNet-20 (batch norm, crops
# and flips on the device) on synthetic 3×32×32 images, and a Transformer language
# model on synthetic-text (its loss floor is in the record), one epoch each.
epochs=1; eval_every=1
dataset="{name: synthetic, train_samples: $resnet_train, test_samples: $test, shape: [3, 32, 32], classes: 10}" \
  suite resnet20 "{kind: resnet, depth: 20}" "$resnet_batch" f32 "augment: {crop: 4, flip: true}"
run_suite resnet20
dataset="{name: synthetic-text, vocab: 32, order: 3, sharpness: 2.5, context: 128, train_tokens: $((train * 40)), test_tokens: $((test * 10))}" \
  suite transformer "{kind: transformer, layers: 4, d_model: 128, heads: 4}" 64 f32 "target: {metric: test_loss, value: 3.0}"
run_suite transformer
epochs=3

# 8c. The same MLP through wgpu (Vulkan) on the same card, beside cuda (steps 3-4):
# how far the portable path is from CUDA. It needs the Vulkan loader (libvulkan1) and
# the NVIDIA Vulkan driver; without them the step's log says so (`batchbench env`
# lists the adapters).
if [ "$device" != cpu ]; then
  (epochs=20; eval_every=5; device=wgpu; suite mlp-f32-wgpu "$mlp" 512 f32)
  run_suite mlp-f32-wgpu
fi

# 9. bf16 compiles its own kernels again: last, with what time is left.
if [ "$device" = cpu ]; then
  log "skip mlp-bf16: the CPU backends train in f32"
else
  suite mlp-bf16-cold "$mlp" 512 bf16; run_suite mlp-bf16-cold
fi

[ -n "$smi_pid" ] && kill "$smi_pid" 2>/dev/null
log "done in $(( $(date +%s) - started )) s"

# Tables: summary.txt and table.json from the records and logs.
"$python" - "$work" "$dest" "$device" <<'PY' || echo "gpu-verify: python3 could not write the tables" >&2
import csv, datetime as dt, json, os, sys
work, dest, device = sys.argv[1:4]
res = os.path.join(work, "results")
def steady_window(series):
    ts = [p["t_s"] for p in series if p.get("phase") == "train"]
    return [min(ts), max(ts)] if ts else None
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
            "step": name, "engine": r["spec"].get("engine", "burn"), "status": r["status"], "reason": r.get("reason"),
            "model": r["spec"]["model"]["kind"], "batch": r["spec"]["batch_size"],
            "precision": r["spec"]["precision"], "device": r["env"]["device"],
            "samples_per_s": s.get("samples_per_s"), "warmup_s": s.get("warmup_s"),
            "cold_start_s": s.get("cold_start_s"), "kernels_compiled": s.get("kernels_compiled"),
            "kernels_by_phase": s.get("kernels_by_phase"), "wall_s": s.get("wall_s"),
            "eval_s": s.get("eval_s"), "nvml_steady_samples": (t.get("steady") or {}).get("samples"),
            "steady_window_s": steady_window(t.get("series") or []),
            "gpu_util_mean": t.get("gpu_util_mean"), "gpu_util_steady_mean": t.get("gpu_util_steady_mean"),
            "gpu_mem_peak_mib": t.get("gpu_mem_peak_mib"), "proc_gpu_mem_peak_mib": t.get("proc_gpu_mem_peak_mib"),
            "gpu_mem_delta_peak_mib": t.get("gpu_mem_delta_peak_mib"), "energy_j": t.get("energy_j"),
            "energy_source": t.get("energy_source"), "cpu_util_mean": t.get("cpu_util_mean"),
            "notes": t.get("notes"), "started_at": r["started_at"], "finished_at": r["finished_at"],
        })
# nvidia-smi's mean utilization over the same steady-state window as NVML's
# `gpu_util_steady_mean` (the series' `train` samples; t_s counts from started_at).
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
    run = [(u, m) for (ts, u, m) in smi if when(r["started_at"]) <= ts <= when(r["finished_at"])]
    r["nvidia_smi_mem_peak_mib"] = max(m for u, m in run) if run else None
    steady = []
    if r["steady_window_s"]:
        a, b = (when(r["started_at"]) + dt.timedelta(seconds=x) for x in r["steady_window_s"])
        steady = [u for (ts, u, m) in smi if a <= ts <= b]
    r["nvidia_smi_steady_mean"] = sum(steady) / len(steady) if steady else None
    r["nvidia_smi_steady_samples"] = len(steady)
codes = dict(l.split() for l in open(os.path.join(work, "exit-codes"))) if os.path.exists(os.path.join(work, "exit-codes")) else {}
json.dump({"device": device, "runs": rows, "exit_codes": codes}, open(os.path.join(dest, "table.json"), "w"), indent=1)
f = lambda v, d=0: "-" if v is None else f"{v:.{d}f}"
out = [f"gpu-verify on {device}", open(os.path.join(work, "environment.txt")).read().split("== nvidia-smi")[0], ""]
def kernels(r):
    k = r["kernels_by_phase"]
    return f(r["kernels_compiled"]) if not k else f"{r['kernels_compiled']}={k['setup']}+{k['warmup']}+{k['train']}+{k['eval']}"
out.append("kernels = setup+warm-up+train+eval; steady% is NVML's mean after warm-up (n samples), smi% nvidia-smi's over the same window")
out.append(f"{'step':<15} {'model':<5} {'batch':>7} {'prec':<5} {'status':<8} {'samples/s':>10} {'wall s':>7} {'warm-up s':>9} {'cold s':>7} {'eval s':>6} {'kernels':>16} {'util%':>6} {'steady% (n)':>12} {'smi% (n)':>9} {'peak MiB':>8} {'proc MiB':>8} {'energy J':>8}")
for r in rows:
    out.append(f"{r['step']:<15} {r['model']:<5} {r['batch']:>7} {r['precision']:<5} {r['status']:<8} {f(r['samples_per_s']):>10} {f(r['wall_s'],1):>7} {f(r['warmup_s'],2):>9} {f(r['cold_start_s'],2):>7} {f(r['eval_s'],2):>6} {kernels(r):>16} "
               f"{f(r['gpu_util_mean']):>6} {f(r['gpu_util_steady_mean']) + ' (' + f(r['nvml_steady_samples']) + ')':>12} {f(r['nvidia_smi_steady_mean']) + ' (' + str(r['nvidia_smi_steady_samples']) + ')':>9} {f(r['gpu_mem_peak_mib']):>8} {f(r['proc_gpu_mem_peak_mib']):>8} {f(r['energy_j']):>8}")
    if r["status"] != "ok":
        out.append(f"    reason: {r['reason']}")
    if r["notes"]:
        out.append(f"    notes: {r['notes']}")
out.append("")
out.append("exit codes: " + ", ".join(f"{k}={v}" for k, v in codes.items()))
open(os.path.join(dest, "summary.txt"), "w").write("\n".join(out) + "\n")
PY
cp "$work/steps.log" "$work/steps.txt" 2>/dev/null
tar -czf "$dest/evidence.tar.gz" -C "$work" --exclude=cache . 2>/dev/null
cat "$dest/summary.txt" 2>/dev/null
echo "gpu-verify: wrote $dest/summary.txt, $dest/table.json and $dest/evidence.tar.gz" >&2
