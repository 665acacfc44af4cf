#!/usr/bin/env bash
# Every long reliability run once, each bounded in time, printing the summary line
# of each (these lines are the README's reliability table). Exits non-zero if any fails.
#
#   tools/long_runs.sh            # about 6 minutes on 2 cores
#
# Runs against the installed mmpfast (pip install ".[dev]": the sanitizer build needs
# Cython); from a development tree, set PYTHONPATH to the repository root after an
# in-place build.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
fail=0
run() {
    echo "\$ $*"
    out=$("$@" 2>&1); rc=$?
    echo "$out" | tail -n 1
    [ $rc -eq 0 ] || { echo "  -> exit $rc"; fail=1; }
}
run "$PY" tools/fuzz_codecs.py --seconds 900 --max-inputs 2000000 --seed 20261125
run tools/asan_build.sh --seconds 900 --max-inputs 500000 --seed 7
run "$PY" tools/soak.py --seconds 60
run "$PY" tools/many_controllers.py --count 100 --rate 10 --seconds 10
run "$PY" tools/server_robustness.py --seconds 30 --connections 200
run "$PY" tools/server_robustness.py --never-read 10 --latency-ms 0.02
run "$PY" tools/server_robustness.py --cap 50
run "$PY" tools/server_robustness.py --idle 0.5
run "$PY" tools/server_robustness.py --fidelity 0.1,0.5,1
exit $fail
