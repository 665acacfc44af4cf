"""``mmpfast demo``: a tour against a simulated groov EPIC started in this
process: status, points, a scratch-pad round trip and a scan of the whole
rack against one request per point, with the values read back over OptoMMP."""
from __future__ import annotations

import argparse
import functools
import math
import time
from typing import List, Tuple

from .common import add_verbose, command_parser
from .device import status_rows
from .errors import EXIT_OK, UsageError, guarded
from .output import fmt_f32, fmt_seconds, fmt_uptime, show, table

__all__ = ["ADDERS"]


def _add_demo(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = command_parser(sub, "demo", "a tour against the built-in simulator (no hardware needed)",
                       "Start a simulated groov EPIC in this process and show uptime, the status table, "
                       "digital and analog points, a scratch-pad round trip and a scan of the whole rack, "
                       "with the values read back over OptoMMP.",
                       """examples:
  mmpfast demo
  mmpfast demo --latency 5      # a slower device: see what one request per point costs""")
    p.add_argument("--latency", type=float, default=1.0, metavar="MS",
                   help="simulated device answer time per request, milliseconds (default 1)")
    add_verbose(p)
    p.set_defaults(func=guarded(_run_demo))


def _run_demo(args: argparse.Namespace) -> int:
    from .. import codec
    from .._version import __version__
    from ..client import Client
    from ..plan import ScanPlan
    from ..sim import Simulator

    if not (args.latency >= 0 and math.isfinite(args.latency)):
        raise UsageError("--latency must be >= 0 milliseconds")
    say = functools.partial(print, flush=True)
    with Simulator(port=0, latency=args.latency / 1000.0) as sim:
        rack = sim.memory.rack
        # a plant with something going on
        sim.set_digital(0, 0, True)
        sim.set_digital(0, 5, True)
        sim.set_analog(2, 0, 4.75)
        sim.set_analog(2, 1, -12.5)
        sim.set_analog(6, 3, 101.325)
        say(f"mmpfast {__version__} demo: simulated groov EPIC on {sim.host}:{sim.port}, "
            f"{args.latency:g} ms per request; codec: {codec.IMPLEMENTATION}")
        with Client(sim.host, sim.port, timeout=5.0, pipeline=8) as c:
            say(f"\nuptime: {fmt_uptime(c.uptime_ms())}")
            say("\nstatus (one block read):")
            say("\n".join(table(status_rows(c.status()), "  ")))

            say("\npoints (module/channel):")
            kind = ["-" if spec is None else spec.kind for spec in rack]
            rows = [(f"digital 0/{ch} ({kind[0]})", show(c.read_digital(0, ch))) for ch in (0, 1, 5)]
            before = c.read_digital(1, 2)
            c.write_digital(1, 2, True)
            rows.append((f"digital 1/2 ({kind[1]})",
                         f"{show(before)} -> write on -> reads {show(c.read_digital(1, 2))}"))
            rows += [(f"analog 2/{ch} ({kind[2]})", show(c.read_analog(2, ch))) for ch in (0, 1)]
            c.write_analog(3, 0, 7.5)
            rows.append((f"analog 3/0 ({kind[3]})", f"write 7.5 -> reads {show(c.read_analog(3, 0))}"))
            say("\n".join(table(rows, "  ")))

            say("\nscratch pad (write, then read back):")
            ints = [42, -7, 2_000_000_000]
            floats = [3.14159, -0.5]
            text = "hello from mmpfast"
            c.write_scratchpad_int32(0, ints)
            c.write_scratchpad_float(10, floats)
            c.write_scratchpad_string(0, text)
            got_f = ", ".join(fmt_f32(v) for v in c.read_scratchpad_float(10, len(floats)))
            say("\n".join(table([
                ("int32[0:3]", f"wrote {ints}  read {c.read_scratchpad_int32(0, len(ints))}"),
                ("float[10:12]", f"wrote {floats}  read [{got_f}]"),
                ("string[0]", f"wrote {text!r}  read {c.read_scratchpad_string(0)!r}"),
            ], "  ")))

            plan = ScanPlan()
            points: List[Tuple[str, int, int]] = []
            for m, spec in enumerate(rack):
                if spec is None:
                    continue
                family = "digital" if spec.digital else "analog"
                add = plan.add_digital if spec.digital else plan.add_analog
                for ch in range(spec.channels):
                    add(m, ch)
                    points.append((family, m, ch))
            plan.freeze()
            modules = sum(1 for s in rack if s is not None)
            before_frames = sim.stats.frames_in
            res = c.scan(plan)
            sent = sim.stats.frames_in - before_frames
            passes = 20
            t0 = time.perf_counter()
            buf = plan.new_buffer()
            for _ in range(passes):
                c.scan_into(plan, buf)
            per_pass = (time.perf_counter() - t0) / passes
            vals = res.values()
        with Client(sim.host, sim.port, timeout=5.0) as one:
            t0 = time.perf_counter()
            for family, m, ch in points:
                if family == "digital":
                    one.read_digital(m, ch)
                else:
                    one.read_analog(m, ch)
            per_point = time.perf_counter() - t0
        say(f"\nscan of the whole rack ({modules} modules, {len(plan)} points):")
        say("\n".join(table([
            ("requests per pass", f"{sent} (one request per point would be {len(plan)})"),
            ("time per pass", f"{fmt_seconds(per_pass)} (mean of {passes}); one request per point: "
                              f"{fmt_seconds(per_point)} ({per_point / per_pass:.0f}x longer)"),
            ("some values", ", ".join(f"{n} {show(vals[n])}" for n in
                                      ("digital[0][0]", "digital[0][1]", "digital[1][2]",
                                       "analog[2][0]", "analog[3][0]", "analog[6][3]"))),
        ], "  ")))
    return EXIT_OK


#: the adders of this module
ADDERS = [_add_demo]
