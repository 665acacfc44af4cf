"""What the live rack panel costs the scanning process, and how fast a change shows.

    python tools/panel_cpu.py [--duration 10] [--rate 10] [--chromium PATH] [--json]

1. CPU: the client process's CPU time (``time.process_time()``, every thread)
   over ``--duration`` seconds of a full-rack scan at ``--rate`` Hz, in three
   set-ups: the bare ``AsyncScanLoop`` of the panel's plan (no panel), the
   panel with no page open, and the panel with one page open in headless
   Chromium (its own process, not counted).  Two racks: the simulator's
   default rack (14 modules, 228 channels, counters and latches) and the
   unknown rack of a real device without ``--modules`` (16 modules x 32
   channels, each read as a state and as a value).  The simulator runs in a
   child process (not counted) and changes every analog input and 4 digital
   inputs 10 times a second, so the page gets changes on every pass.
2. Latency: with an in-process simulator and the panel at ``--rate``, the
   time from ``sim.set_digital`` / ``set_analog`` to the new ``data-value``
   in the page's DOM (20 changes each; the target is 300 ms at 10 Hz).

The browser is the system's Chromium (``--chromium``, ``$MMPFAST_CHROMIUM``
or ``chromium`` on the PATH) driven by Playwright; without one, the
one-page figures are left out.  Needs ``pip install ".[browser]"``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

_CHILD = r"""
import math, sys, threading, time
from mmpfast.sim import Simulator
sim = Simulator().start()
print(sim.port, flush=True)
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
ins = [(m, s) for m, s in enumerate(sim.memory.rack) if s is not None and s.kind == "ai"]
k = 0
while not stop.wait(0.1):
    k += 1
    for m, s in ins:
        for c in range(s.channels):
            sim.set_analog(m, c, round(50 + 40 * math.sin(k * 0.05 + c), 3))
    for c in range(4):
        sim.set_digital(0, c, (k >> c) & 1 == 1)
sim.stop()
"""


def _chromium(given: str) -> Optional[str]:
    for cand in (given, os.environ.get("MMPFAST_CHROMIUM", ""), shutil.which("chromium") or "",
                 shutil.which("chromium-browser") or "", "/usr/bin/chromium"):
        if cand and os.path.exists(cand):
            return cand
    return None


class _LoopThread:
    """A bare AsyncScanLoop in a thread of its own (the no-panel baseline)."""

    def __init__(self, host: str, port: int, plan: Any, rate: float) -> None:
        from mmpfast import AsyncClient, AsyncScanLoop
        self.stats: Any = None
        self._ready = threading.Event()
        self._loop: Any = None
        self._scan: Any = None

        async def main() -> None:
            async with AsyncClient(host, port, timeout=1.0, pipeline=8) as client:
                self._loop = asyncio.get_running_loop()
                self._scan = AsyncScanLoop(client, plan, rate, reuse_buffer=True)
                self._ready.set()
                self.stats = await self._scan.run()      # until stop(): no polling

        self._thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._scan.stop)
        self._thread.join(10)


def _measure(duration: float, start: Callable[[], Any], stop: Callable[[Any], None],
             settle: float = 1.0) -> Dict[str, float]:
    obj = start()
    try:
        time.sleep(settle)                      # connect, first passes, page loaded
        c0, w0 = time.process_time(), time.monotonic()
        time.sleep(duration)
        c1, w1 = time.process_time(), time.monotonic()
    finally:
        stop(obj)
    return {"cpu_s": c1 - c0, "wall_s": w1 - w0, "cpu_pct": 100.0 * (c1 - c0) / (w1 - w0)}


def cpu(args: argparse.Namespace, chromium: Optional[str]) -> List[Dict[str, Any]]:
    from mmpfast.panel.app import Panel, ThreadedPanel
    from mmpfast.panel.model import Layout
    from mmpfast.sim.rack import DEFAULT_LAYOUT

    import mmpfast
    env = dict(os.environ, PYTHONPATH=str(Path(mmpfast.__file__).resolve().parent.parent))   # this mmpfast
    child = subprocess.Popen([sys.executable, "-c", _CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True, cwd=tempfile.gettempdir(), env=env)
    assert child.stdout is not None and child.stdin is not None
    port = int(child.stdout.readline())
    rows: List[Dict[str, Any]] = []
    pw = browser = None
    try:
        if chromium:
            from playwright.sync_api import sync_playwright
            pw = sync_playwright().start()
            browser = pw.chromium.launch(executable_path=chromium, headless=True)
        for rack_name, layout in (("default rack (228 channels)", Layout.from_rack(DEFAULT_LAYOUT)),
                                  ("unknown rack (16 x 32, both)", Layout.unknown())):
            plan = layout.plan()
            base = _measure(args.duration, lambda: _LoopThread("127.0.0.1", port, plan, args.rate),
                            lambda t: t.stop())
            rows.append({"rack": rack_name, "setup": "scan loop alone", "points": len(plan),
                         "requests": len(plan.requests), **base})

            def start_panel() -> Any:
                return ThreadedPanel(lambda: Panel("127.0.0.1", port, layout, rate=args.rate), "127.0.0.1", 0)

            rows.append({"rack": rack_name, "setup": "panel, no page", "points": len(plan),
                         "requests": len(plan.requests),
                         **_measure(args.duration, start_panel, lambda p: p.stop())})
            if browser is not None:
                def start_with_page() -> Any:
                    p = start_panel()
                    page = browser.new_page(viewport={"width": 1600, "height": 1000})
                    page.goto(p.url)
                    page.wait_for_function(
                        "() => document.querySelector('[data-role=\"status\"]').textContent.startsWith('live')")
                    return p, page

                def stop_with_page(obj: Any) -> None:
                    p, page = obj
                    page.close()
                    p.stop()

                rows.append({"rack": rack_name, "setup": "panel, one page open", "points": len(plan),
                             "requests": len(plan.requests),
                             **_measure(args.duration, start_with_page, stop_with_page)})
    finally:
        if browser is not None:
            browser.close()
        if pw is not None:
            pw.stop()
        child.stdin.close()
        child.wait(15)
    return rows


def latency(args: argparse.Namespace, chromium: str) -> Dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from mmpfast.panel.cli import start_sim_panel
    from mmpfast.sim import Simulator

    samples: List[float] = []
    with Simulator() as sim:
        h = start_sim_panel(sim, 0, rate=args.rate)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, headless=True)
                page = browser.new_page()
                page.goto(h.url)
                page.wait_for_function(
                    "() => document.querySelector('[data-role=\"status\"]').textContent.startsWith('live')")
                for i in range(20):
                    time.sleep(0.037 * (i % 3))           # land at different points of the period
                    sel = f'.cell[data-module="0"][data-channel="{i % 32}"]'
                    want = "0" if sim.get_digital(0, i % 32) else "1"
                    t0 = time.monotonic()
                    sim.set_digital(0, i % 32, want == "1")
                    page.wait_for_function(f"() => document.querySelector('{sel}').dataset.value === '{want}'",
                                           timeout=2000, polling=5)
                    samples.append(time.monotonic() - t0)
                    value = 100.0 + i
                    sel = f'.cell[data-module="2"][data-channel="{i % 8}"]'
                    t0 = time.monotonic()
                    sim.set_analog(2, i % 8, value)
                    page.wait_for_function(f"() => document.querySelector('{sel}').dataset.value === '{value!r}'",
                                           timeout=2000, polling=5)
                    samples.append(time.monotonic() - t0)
                browser.close()
        finally:
            h.stop()
    samples.sort()
    return {"samples": len(samples), "p50_ms": 1000 * statistics.median(samples),
            "max_ms": 1000 * samples[-1], "rate_hz": args.rate}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=10.0, help="seconds measured per set-up (default 10)")
    ap.add_argument("--rate", type=float, default=10.0, help="scan passes per second (default 10)")
    ap.add_argument("--chromium", default="", help="the Chromium executable (default: the system's)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    chromium = _chromium(args.chromium)
    from mmpfast import codec
    rows = cpu(args, chromium)
    lat = latency(args, chromium) if chromium else None
    if args.json:
        print(json.dumps({"codec": codec.IMPLEMENTATION, "rate_hz": args.rate, "duration_s": args.duration,
                          "cpu": rows, "latency": lat}, indent=2))
        return 0
    print(f"client CPU of a full-rack scan at {args.rate:g} Hz, {args.duration:g} s per set-up "
          f"(codec {codec.IMPLEMENTATION}; simulator in a child process, values changing every 100 ms)")
    print(f"{'rack':30} {'set-up':22} {'points':>6} {'requests':>8} {'CPU s':>7} {'% of a core':>11}")
    for r in rows:
        print(f"{r['rack']:30} {r['setup']:22} {r['points']:>6} {r['requests']:>8} {r['cpu_s']:>7.3f} "
              f"{r['cpu_pct']:>10.2f}%")
    if lat is None:
        print("no Chromium: the one-page figures and the latency were not measured")
    else:
        print(f"change in the simulator -> page DOM at {args.rate:g} Hz: p50 {lat['p50_ms']:.0f} ms, "
              f"max {lat['max_ms']:.0f} ms over {lat['samples']} changes (target: 300 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
