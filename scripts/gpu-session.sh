#!/usr/bin/env bash
# A whole GPU session in one call (device time is short and each machine start costs
# minutes): scripts/gpu-verify.sh first, then as much of suites/gpu-smoke.yaml as the
# time left allows (with the kernels the verification compiled already cached), and
# the report rendered from it. For a GPU host with a carried binary (make dist):
#
#   tar xzf batchbench.tar.gz && batchbench/scripts/gpu-session.sh
#
# Leaves at most five files in $OUT (default ./gpu-session): gpu-verify's three
# (summary.txt, table.json, evidence.tar.gz), smoke.tar.gz (records and report) and
# session.log. SESSION_SECONDS (default 570) bounds the whole; VERIFY_SECONDS (default
# 400) the verification. SUITE replaces gpu-smoke.
set -uo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="${BATCHBENCH:-$here/batchbench}"
out="${OUT:-$PWD/gpu-session}"
mkdir -p "$out"
started=$(date +%s)
budget="${SESSION_SECONDS:-570}"
suite="${SUITE:-$here/suites/gpu-smoke.yaml}"
work="$(mktemp -d "${TMPDIR:-/tmp}/gpu-session.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cache="$work/cache"; mkdir -p "$cache"
log() { echo "[$(( $(date +%s) - started )) s] $*" | tee -a "$out/session.log" >&2; }

log "gpu-verify (limit ${VERIFY_SECONDS:-400} s)"
BATCHBENCH="$bin" VERIFY_OUT="$out" VERIFY_CACHE="$cache" VERIFY_SECONDS="${VERIFY_SECONDS:-400}" \
  "$here/scripts/gpu-verify.sh" >> "$out/session.log" 2>&1
log "gpu-verify: exit $?"

# The sweep stops starting runs 60 s before the end (--budget), and is stopped 25 s
# before it in any case; --resume would continue it on the same host.
left=$(( budget - ($(date +%s) - started) - 25 ))
if [ "$left" -gt 30 ]; then
  log "$(basename "$suite") (limit ${left} s)"
  (cd "$work" && BATCHBENCH_CACHE="$cache" timeout --kill-after=5 "$left" "$bin" run "$suite" \
    --resume --budget $(( left > 90 ? left - 60 : 30 )) --out "$work/results") >> "$out/session.log" 2>&1
  log "sweep: exit $?"
  (cd "$work" && timeout 30 "$bin" report "$work/results" --out "$work/report") >> "$out/session.log" 2>&1
  tar -czf "$out/smoke.tar.gz" -C "$work" results report 2>/dev/null
else
  log "no time left for $(basename "$suite")"
fi
log "done"
cat "$out/summary.txt" 2>/dev/null
tail -12 "$out/session.log"
