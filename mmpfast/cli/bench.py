"""``mmpfast bench``: a self-contained benchmark that needs no test tools:
the compiled and the pure-Python codec on three hot operations, then a
full-rack scan against one request per point on an in-process simulator."""
from __future__ import annotations

import argparse
import time
from typing import Any, Callable, Dict

from .. import memmap
from .common import add_verbose, command_parser
from .errors import EXIT_OK, guarded
from .output import fmt_seconds, print_json, table

__all__ = ["ADDERS"]


def _add_bench(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = command_parser(sub, "bench", "time the compiled vs pure codec and scan vs one request per point",
                       "A self-contained benchmark (needs no test tools): the compiled and pure-Python "
                       "codecs on batch encode, scatter decode and frame decode, then a full-rack scan "
                       "against one request per point on an in-process simulator with 1 ms latency.",
                       """examples:
  mmpfast bench             # about 10 s
  mmpfast bench --quick     # a few seconds
  mmpfast bench --json""")
    p.add_argument("--quick", action="store_true", help="shorter runs (a few seconds in all)")
    p.add_argument("--json", action="store_true", help="machine-readable JSON output")
    add_verbose(p)
    p.set_defaults(func=guarded(_run_bench))


def _per_call(fn: Callable[[], Any], budget: float, repeats: int) -> float:
    """Best seconds per call of ``fn`` over ``repeats`` batches of about ``budget / repeats`` s."""
    import timeit
    timer = timeit.Timer(fn)
    number = 1
    target = budget / repeats
    while True:
        t = timer.timeit(number)
        if t >= target or number >= 1 << 24:
            break
        number = max(number * 2, int(number * target / max(t, 1e-9) * 1.1))
    best = t / number
    for _ in range(repeats - 1):
        best = min(best, timer.timeit(number) / number)
    return best


def _codec_cases(mod: Any) -> Dict[str, Callable[[], Any]]:
    from array import array
    ranges = [(memmap.SCRATCHPAD_INT32_AREA2 + 16 * i, 16) for i in range(1000)]
    payload = bytes(range(16))
    stream = b"".join(mod.encode_read_block_response(i % 64, payload) for i in range(1000))
    dest = bytearray(16 * 1000)
    offsets = array("q", range(0, 16 * 1000, 16))
    lengths = array("q", [16] * 1000)
    frame = mod.encode_read_block_response(7, payload)
    return {
        "encode_read_blocks(1000 ranges)": lambda: mod.encode_read_blocks(0, ranges),
        "scatter_read_responses(1000 x 16 B)":
            lambda: mod.scatter_read_responses(stream, dest, offsets, lengths, 0),
        "decode_frame(16 B block response)": lambda: mod.decode_frame(frame),
    }


def _run_bench(args: argparse.Namespace) -> int:
    import importlib

    from .. import codec
    from ..client import Client
    from ..plan import ScanPlan
    from ..sim import Simulator

    quick = args.quick
    budget, repeats = (0.05, 3) if quick else (0.6, 5)
    def say(*parts: object) -> None:
        if not args.json:
            print(*parts, flush=True)
    result: Dict[str, Any] = {"codec_in_use": codec.IMPLEMENTATION, "quick": quick}

    impls: Dict[str, Any] = {}
    try:
        impls["cython"] = importlib.import_module("mmpfast._codec")
    except ImportError as exc:
        result["cython_unavailable"] = str(exc)
        say(f"compiled codec not importable ({exc}): showing the pure-Python codec only")
    impls["python"] = importlib.import_module("mmpfast._codec_py")
    say(f"codec in use: {codec.IMPLEMENTATION}; seconds per call, best of {repeats}")

    timings: Dict[str, Dict[str, float]] = {}
    for impl, mod in impls.items():
        for case, fn in _codec_cases(mod).items():
            timings.setdefault(case, {})[impl] = _per_call(fn, budget, repeats)
    rows = [("operation", "cython", "python", "python / cython")]
    for case, t in timings.items():
        cy = t.get("cython")
        rows.append((case, fmt_seconds(cy) if cy else "-", fmt_seconds(t["python"]),
                     f"{t['python'] / cy:.1f}x" if cy else "-"))
    result["codec"] = {case: {**t, **({"ratio": t["python"] / t["cython"]} if "cython" in t else {})}
                       for case, t in timings.items()}
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        say(f"  {r[0].ljust(widths[0])}  {r[1].rjust(widths[1])}  {r[2].rjust(widths[2])}  "
            f"{r[3].rjust(widths[3])}")

    latency = 0.001
    plan = ScanPlan()
    for m in range(memmap.MAX_MODULES):
        for ch in range(memmap.PACKED_VALUES_CHANNELS):
            plan.add_digital(m, ch)
            plan.add_analog(m, ch)
    plan.freeze()
    points = len(plan)
    with Simulator(port=0, latency=latency) as sim:
        with Client(sim.host, sim.port, timeout=10.0, pipeline=8) as c:
            buf = plan.new_buffer()
            c.scan_into(plan, buf)                       # connect and warm up
            passes = 5 if quick else 20
            t0 = time.perf_counter()
            for _ in range(passes):
                c.scan_into(plan, buf)
            scan_s = (time.perf_counter() - t0) / passes
        with Client(sim.host, sim.port, timeout=10.0) as one:
            one.uptime_ms()
            t0 = time.perf_counter()
            for i in range(points):
                m, ch = divmod(i // 2, memmap.PACKED_VALUES_CHANNELS)
                if i % 2:
                    one.read_analog(m, ch)
                else:
                    one.read_digital(m, ch)
            point_s = time.perf_counter() - t0
    result["scan"] = {"latency_s": latency, "points": points, "requests": len(plan.requests),
                      "scan_s": scan_s, "per_point_s": point_s,
                      "ratio": point_s / scan_s}
    say(f"\nfull rack, {points} points, simulator with {latency * 1000:g} ms per request:")
    say("\n".join(table([
        (f"scan ({len(plan.requests)} requests, pipeline 8)",
         f"{fmt_seconds(scan_s)} per pass (mean of {passes})"),
        (f"one request per point ({points} requests)", f"{fmt_seconds(point_s)} per pass"),
        ("per-point / scan", f"{point_s / scan_s:.0f}x"),
    ], "  ")))
    if args.json:
        print_json(result)
    return EXIT_OK


#: every adder of this module, in the order ``mmpfast --help`` lists them

#: the adders of this module
ADDERS = [_add_bench]
