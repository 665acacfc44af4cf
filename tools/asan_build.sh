#!/usr/bin/env bash
# Build mmpfast._codec once with -fsanitize=address,undefined into a temporary
# directory (never over the in-place extension) and run the differential fuzzer
# against that build, with libasan preloaded into the (uninstrumented) Python.
#
#   tools/asan_build.sh [--seconds N] [--max-inputs N] [--seed N] [--keep]
#
# The temporary directory holds a copy of the package's Python files beside the
# sanitized .so and goes first on PYTHONPATH; the script checks (in a probe and
# again inside the fuzzer, --require-codec-dir) that this .so is the one imported.
# Last line: "ASAN+UBSAN: clean ..." (exit 0) or "ASAN+UBSAN: NOT CLEAN ..." (exit 1).
set -euo pipefail

SECS=600
MAX_INPUTS=200000
SEED=1
KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) SECS="$2"; shift 2 ;;
        --max-inputs) MAX_INPUTS="$2"; shift 2 ;;
        --seed) SEED="$2"; shift 2 ;;
        --keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
"$PY" -c "import Cython, setuptools" 2>/dev/null || {
    echo "asan_build.sh needs Cython and setuptools in $PY (pip install \".[dev]\" or pip install Cython setuptools)"
    echo "ASAN+UBSAN: NOT RUN (no Cython)"; exit 2; }
CC="${CC:-gcc}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/mmpfast-asan.XXXXXX")"
cleanup() { if [ "$KEEP" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi; }
trap cleanup EXIT

SRC="$WORK/src"
mkdir -p "$SRC"
cp "$REPO/setup.py" "$REPO/pyproject.toml" "$SRC/"
# the package sources only: no in-place .so, no generated .c, no caches
tar -C "$REPO" --exclude='*.so' --exclude='*.c' --exclude='__pycache__' -cf - mmpfast | tar -C "$SRC" -xf -

SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g"
echo "building the sanitized extension in $SRC"
(
    cd "$SRC"
    unset MMPFAST_NO_EXTENSIONS
    CC="$CC" CFLAGS="$SAN" LDFLAGS="$SAN" \
        "$PY" setup.py -q build_ext --inplace --force >"$WORK/build.log" 2>&1
) || { tail -30 "$WORK/build.log"; echo "ASAN+UBSAN: NOT CLEAN (build failed)"; exit 1; }

SO="$(ls "$SRC"/mmpfast/_codec*.so)"
nm -D "$SO" >"$WORK/symbols.txt"      # (not piped into grep -q: pipefail would see SIGPIPE)
if ! grep -q '__asan_report' "$WORK/symbols.txt"; then
    echo "ASAN+UBSAN: NOT CLEAN (the built $SO carries no ASAN instrumentation)"; exit 1
fi
if ! grep -q '__ubsan_handle' "$WORK/symbols.txt"; then
    echo "ASAN+UBSAN: NOT CLEAN (the built $SO carries no UBSAN instrumentation)"; exit 1
fi

LIBASAN="$("$CC" -print-file-name=libasan.so)"
[ -e "$LIBASAN" ] || { echo "libasan not found ($LIBASAN)"; exit 2; }

export LD_PRELOAD="$LIBASAN"
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:exitcode=86:print_summary=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=87"
export PYTHONMALLOC=malloc            # every Python object on the ASAN heap: overruns are caught
export PYTHONPATH="$SRC${PYTHONPATH:+:$PYTHONPATH}"
unset MMPFAST_NO_EXTENSIONS

# probe, from a neutral directory: the sanitized build is what Python imports
(
    cd "$WORK"
    "$PY" - "$SRC" <<'EOF'
import os, sys
src = os.path.realpath(sys.argv[1])
import mmpfast, mmpfast._codec as c, mmpfast.codec as pick
for name, path in (("mmpfast", mmpfast.__file__), ("mmpfast._codec", c.__file__)):
    real = os.path.realpath(path)
    assert real.startswith(src + os.sep), f"{name} imported from {real}, not from {src}"
assert pick.IMPLEMENTATION == "cython", pick.IMPLEMENTATION
maps = open("/proc/self/maps").read()
assert "libasan" in maps, "libasan is not loaded"
assert os.path.realpath(c.__file__) in maps, "the sanitized .so is not mapped"
print(f"probe: mmpfast._codec = {os.path.realpath(c.__file__)} (libasan loaded)")
EOF
)

set +e
(
    cd "$WORK"
    "$PY" "$REPO/tools/fuzz_codecs.py" --seconds "$SECS" --max-inputs "$MAX_INPUTS" --seed "$SEED" \
        --require-codec-dir "$SRC/mmpfast" --vectors "${MMPFAST_VECTORS:-$REPO/tests/vectors}"
) >"$WORK/fuzz.out" 2>"$WORK/fuzz.err"
RC=$?
set -e
cat "$WORK/fuzz.out"
if [ -s "$WORK/fuzz.err" ]; then
    echo "--- stderr ---"
    tail -60 "$WORK/fuzz.err"
fi
RESULT="$(grep '^RESULT' "$WORK/fuzz.out" | tail -1 || true)"
if [ "$RC" -eq 0 ] && [ -n "$RESULT" ] \
        && ! grep -qE 'AddressSanitizer|runtime error:|UndefinedBehaviorSanitizer' "$WORK/fuzz.err"; then
    echo "ASAN+UBSAN: clean (${RESULT#RESULT })"
    exit 0
fi
echo "ASAN+UBSAN: NOT CLEAN (exit $RC${RESULT:+; ${RESULT#RESULT }})"
exit 1
