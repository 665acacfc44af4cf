"""Instruction counts (valgrind callgrind) of codec operations, compiled vs pure.

Wall-clock time on a shared machine is noise; instruction counts are not.
For each operation this runs the workload in a child process under
``valgrind --tool=callgrind`` twice, once with nothing but the setup (the
baseline) and once with ``--repeat`` calls added, and reports the
instructions per call for each codec and their ratio:

    python benchmarks/callgrind_codec.py [--repeat 200]

Needs valgrind on PATH (Debian: ``apt-get install valgrind``).
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from typing import Dict

SETUP = r"""
import importlib, sys
codec = importlib.import_module(sys.argv[1])
N = 1000
ranges = [(0xF0D81000 + 16 * i, 16) for i in range(N)]
stream = b"".join(codec.encode_read_block_response(i % 64, bytes(range(16))) for i in range(N))
dest = bytearray(16 * N)
offsets = list(range(0, 16 * N, 16)); lengths = [16] * N
resp20 = codec.encode_read_block_response(1, b"\x04\x67\x5c\xde")
floats = codec.pack_be([float(i) for i in range(1024)], "f")
"""

#: label -> (statement, calls per measured run as a multiple of --repeat)
OPERATIONS = {
    "encode_read_block (1 request)": ("codec.encode_read_block(1, 0xF030010C, 4)", 20),
    "decode_frame (20-byte response)": ("codec.decode_frame(resp20)", 20),
    "encode_read_blocks (1000 requests)": ("codec.encode_read_blocks(0, ranges)", 1),
    "scatter_read_responses (1000 x 16 B)": ("codec.scatter_read_responses(stream, dest, offsets, lengths, 0)", 1),
    "unpack_be (1024 float32 -> list)": ("codec.unpack_be(floats, 'f')", 1),
}
MODULES = {"cython": "mmpfast._codec", "python": "mmpfast._codec_py"}


def instructions(module: str, body: str, repeat: int) -> int:
    """Total instructions (Ir) of one child run."""
    code = SETUP + (f"for _ in range({repeat}):\n    {body}\n" if repeat else "")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        env = dict(os.environ, PYTHONHASHSEED="0")    # the same run, instruction for instruction
        proc = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                               sys.executable, "-c", code, module],
                              capture_output=True, text=True, cwd=tmp, env=env, check=False)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-2000:])
        m = re.search(r"Collected : (\d+)", proc.stderr)
        if m is None:
            raise RuntimeError("no instruction count in callgrind's output")
        return int(m.group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=200, help="calls per measured run (default 200)")
    args = ap.parse_args()
    base: Dict[str, int] = {name: instructions(mod, "", 0) for name, mod in MODULES.items()}
    print(f"instructions per call (valgrind callgrind; a run of N calls minus a run without them, N = {args.repeat} or 20x that for single frames)")
    print(f"{'operation':40s} {'cython':>12s} {'python':>12s} {'python / cython':>16s}")
    for label, (body, scale) in OPERATIONS.items():
        per: Dict[str, float] = {}
        n = args.repeat * scale
        for name, mod in MODULES.items():
            per[name] = (instructions(mod, body, n) - base[name]) / n
        print(f"{label:40s} {per['cython']:12,.0f} {per['python']:12,.0f} {per['python'] / per['cython']:15.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
