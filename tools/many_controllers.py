#!/usr/bin/env python3
"""One asyncio process scanning many simulated controllers at a fixed rate.

The simulators run in a child process (``--count`` ``Simulator`` servers in
one event loop, through their asyncio ``serving()`` API; the child prints
their ports).  This process opens one ``AsyncClient`` per controller, writes
a distinct marker into each one's scratch pad, then scans every controller
at ``--rate`` Hz for ``--seconds`` with one shared ``ScanPlan`` (digital and
analog points plus the marker), checking the marker in every result.

Slots are absolute (pass k of controller i is due at
``start + i/count/rate + k/rate``); a pass is *on time* when it completes
before its controller's next slot.  A pass whose slot has gone by entirely
is *skipped* (not run in a burst).  Reported: scans done vs scheduled, on
time, errors, wrong values, latency (slot to completion) p50/p99/max.

    python tools/many_controllers.py --count 100 --rate 10 --seconds 10

Exits 1 on any error or wrong value, or when fewer than ``--min-on-time``
(default 0.99) of the scheduled scans completed on time.
"""
from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import List, Optional

try:
    import mmpfast  # noqa: F401
except ImportError:     # run from a checkout without installing: use the source tree
    sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mmpfast import AsyncClient, MmpError, ScanPlan  # noqa: E402

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.append(_HERE)
from server_robustness import ChildSimulators, percentile  # noqa: E402

#: scratch-pad int32 index of each controller's marker
MARKER_INDEX = 4000


def build_plan() -> ScanPlan:
    """The plan every controller is scanned with (default simulated rack)."""
    plan = ScanPlan()
    for c in range(8):
        plan.add_digital(0, c)       # digital inputs
        plan.add_digital(1, c)       # digital outputs
        plan.add_analog(2, c)        # analog inputs
    plan.add_scratchpad_int32(MARKER_INDEX, 2, name="marker")
    plan.add_status("uptime_ms", name="uptime")
    return plan.freeze()


@dataclass
class FleetReport:
    count: int
    rate: float
    seconds: float
    scheduled: int = 0
    done: int = 0
    on_time: int = 0
    skipped: int = 0
    errors: int = 0
    wrong: int = 0
    latencies: List[float] = field(default_factory=list)
    messages: List[str] = field(default_factory=list)
    requests_per_scan: int = 0

    @property
    def on_time_ratio(self) -> float:
        return self.on_time / self.scheduled if self.scheduled else 0.0

    def line(self, ok: bool) -> str:
        p50, p99 = percentile(self.latencies, 0.5), percentile(self.latencies, 0.99)
        worst = max(self.latencies) if self.latencies else math.nan
        return (f"many_controllers: {self.count} controllers x {self.rate:g} Hz x {self.seconds:g} s, "
                f"{self.requests_per_scan} requests/scan: {self.done}/{self.scheduled} scans done, "
                f"{self.on_time} on time ({100 * self.on_time_ratio:.2f}%), {self.skipped} skipped, "
                f"{self.errors} errors, {self.wrong} wrong; latency p50 {p50 * 1000:.2f} ms "
                f"p99 {p99 * 1000:.2f} ms max {worst * 1000:.1f} ms; {'PASS' if ok else 'FAIL'}")


async def _controller(i: int, client: AsyncClient, plan: ScanPlan, start: float, period: float,
                      slots: int, marker: List[int], rep: FleetReport) -> None:
    loop = asyncio.get_running_loop()
    offset = start + period * i / rep.count
    buf = plan.new_buffer()
    k = 0
    while k < slots:
        slot = offset + k * period
        delay = slot - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            await client.scan_into(plan, buf)
        except MmpError as exc:
            rep.errors += 1
            rep.messages.append(f"controller {i}: {exc!r}")
        else:
            end = loop.time()
            rep.done += 1
            rep.latencies.append(end - slot)
            if end <= slot + period:
                rep.on_time += 1
            if list(plan.result(buf)["marker"]) != marker:
                rep.wrong += 1
                rep.messages.append(f"controller {i}: marker {list(plan.result(buf)['marker'])}")
        k += 1
        # slots already gone by entirely are skipped, never run in a burst
        behind = int((loop.time() - offset) // period) + 1 - k
        if behind > 0:
            skip = min(behind - 1, slots - k) if behind > 1 else 0
            rep.skipped += skip
            k += skip


async def scan_fleet(host: str, ports: List[int], rate: float, seconds: float,
                     pipeline: int = 4, timeout: Optional[float] = None) -> FleetReport:
    """Scan every ``host:port`` at ``rate`` Hz for ``seconds``; returns a ``FleetReport``."""
    period = 1.0 / rate
    slots = max(1, int(round(seconds * rate)))
    rep = FleetReport(len(ports), rate, seconds, scheduled=slots * len(ports))
    plan = build_plan()
    rep.requests_per_scan = len(plan.requests)
    clients = [AsyncClient(host, p, timeout=timeout or max(period, 0.5), pipeline=pipeline) for p in ports]
    try:
        markers = []
        for i, c in enumerate(clients):          # connect, and leave a marker to check in every scan
            m = [i * 1000 + 7, -(i + 1)]
            await c.write_scratchpad_int32(MARKER_INDEX, m)
            markers.append(m)
        start = asyncio.get_running_loop().time() + 0.05
        await asyncio.gather(*(_controller(i, c, plan, start, period, slots, markers[i], rep)
                               for i, c in enumerate(clients)))
    finally:
        for c in clients:
            await c.close()
    return rep


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=100, help="simulated controllers (default 100)")
    p.add_argument("--rate", type=float, default=10.0, help="scans per second per controller (default 10)")
    p.add_argument("--seconds", type=float, default=10.0, help="how long (default 10)")
    p.add_argument("--pipeline", type=int, default=4, help="requests in flight per scan (default 4)")
    p.add_argument("--min-on-time", type=float, default=0.99, help="required on-time ratio (default 0.99)")
    args = p.parse_args(argv)
    t0 = time.monotonic()
    with ChildSimulators(args.count) as child:
        started = time.monotonic() - t0
        rep = asyncio.run(scan_fleet(child.host, child.ports, args.rate, args.seconds, args.pipeline))
    ok = rep.errors == 0 and rep.wrong == 0 and rep.on_time_ratio >= args.min_on_time
    for m in rep.messages[:10]:
        print("  ", m, file=sys.stderr)
    print(f"  ({args.count} simulators started in a child process in {started:.2f} s)", file=sys.stderr)
    print(rep.line(ok))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
