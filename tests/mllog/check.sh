#!/usr/bin/env bash
# Checks MLPerf-style logs written by `batchbench export mllog` with MLCommons'
# compliance checker (PyPI package `mlperf-logging`) and the generic rules in
# batchbench-rules.yaml next to this script.
#
#   tests/mllog/check.sh LOGFILE...
#
# Exit status: 0 when every log passes, 1 when any fails, 2 on a usage error or when
# the checker is not installed (never a silent skip). PYTHON picks the interpreter
# (default python3).
set -u

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
rules="$here/batchbench-rules.yaml"   # absolute: the checker resolves --config against its own package dir
python="${PYTHON:-python3}"

if [ "$#" -eq 0 ]; then
    echo "usage: $0 LOGFILE..." >&2
    exit 2
fi
if ! command -v "$python" >/dev/null 2>&1; then
    echo "error: $python not found; the MLPerf log check needs Python 3 with mlperf-logging (pip install mlperf-logging)" >&2
    exit 2
fi
if ! version="$("$python" -c 'import importlib.metadata as m, mlperf_logging.compliance_checker.mlp_compliance; print(m.version("mlperf-logging"))' 2>&1)"; then
    echo "error: the Python package mlperf_logging is not installed for $python (pip install mlperf-logging):" >&2
    echo "$version" >&2
    exit 2
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

failed=0
for log in "$@"; do
    echo "== $log (mlperf-logging $version)"
    if [ ! -f "$log" ]; then
        echo "error: no such file: $log"
        failed=1
        continue
    fi
    # --werror: a repeated EXACTLY_ONE key with identical values is otherwise only a warning.
    # --log_output: the checker would otherwise write compliance_checker.log into the cwd.
    "$python" -m mlperf_logging.compliance_checker --werror \
        --config "$rules" --log_output "$scratch/checker.log" "$log" 2>&1
    rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "FAILED: $log (checker exit status $rc)"
        failed=1
    fi
done
exit "$failed"
