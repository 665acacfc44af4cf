"""Screenshot of the live rack panel on the simulator: docs/panel.png.

    python tools/panel_screenshot.py [-o docs/panel.png] [--chromium /usr/bin/chromium]

Starts a simulator with a small mixed rack and its panel, drives a few inputs
(slowly moving analog values so the trends show, a few digital inputs, two
counter pulses), writes two outputs from the page itself (so the write log
shows their outcome), then photographs the page in headless Chromium.  The
browser is the system's (``--chromium``, ``$MMPFAST_CHROMIUM``, or
``chromium`` on the PATH), driven by Playwright's Python package; nothing is
downloaded.  Needs ``pip install ".[browser]"``.
"""
from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RACK = "di:32,do:16,ai:8,ao:4,di:16,do:8,ai:8"


def _chromium(given: str) -> str:
    for cand in (given, os.environ.get("MMPFAST_CHROMIUM", ""), shutil.which("chromium") or "",
                 shutil.which("chromium-browser") or "", "/usr/bin/chromium"):
        if cand and os.path.exists(cand):
            return cand
    sys.exit("no Chromium found: apt-get install chromium, or give --chromium PATH")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", default=str(REPO / "docs" / "panel.png"))
    ap.add_argument("--chromium", default="", help="the Chromium executable (default: the system's)")
    ap.add_argument("--width", type=int, default=1560)
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    from mmpfast.panel.cli import start_sim_panel
    from mmpfast.sim import Simulator

    chromium = _chromium(args.chromium)
    with Simulator(modules=RACK) as sim:
        for c in (0, 1, 4, 9, 10, 11, 17, 22, 23, 30):
            sim.set_digital(0, c, True)
        for c in (2, 3, 7, 12):
            sim.set_digital(4, c, True)
        for c in (0, 5):
            sim.set_digital(1, c, True)
        sim.memory.write(0xF0D81000, b"".join(int(v).to_bytes(4, "big", signed=True)
                                              for v in (1200, -42, 7, 0, 65535, 3, 0, 19)))
        import struct
        sim.memory.write(0xF0D82000, struct.pack(">8f", 21.5, 0.125, -3.75, 1013.25, 0.0, 98.6, 12.0, 0.5))
        handle = start_sim_panel(sim, 0, rate=10.0, scratchpad=8)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, headless=True)
                page = browser.new_page(viewport={"width": args.width, "height": 300})
                page.goto(handle.url)
                page.wait_for_function(
                    "() => document.querySelector('[data-role=\"status\"]').textContent.startsWith('live')")
                t0 = time.monotonic()
                step = 0
                while time.monotonic() - t0 < 5.0:       # 5 s of moving inputs: the trends fill
                    t = step * 0.1
                    for c in range(8):
                        sim.set_analog(2, c, round(50 + 20 * math.sin(t * (0.6 + c * 0.15) + c), 2))
                        sim.set_analog(6, c, round(4 + 16 * (0.5 + 0.5 * math.sin(t * 0.4 + c * 0.8)), 3))
                    step += 1
                    time.sleep(0.1)
                for c, v in enumerate((12.5, 4.0, 0.0, 75.25)):
                    sim.set_analog(3, c, v)
                page.click('.cell[data-module="0"][data-channel="5"] [data-action="sim-pulse"]')
                page.click('.cell[data-module="0"][data-channel="5"] [data-action="sim-pulse"]')
                page.click('.cell[data-module="1"][data-channel="3"] [data-action="toggle"]')
                page.fill('.cell[data-module="3"][data-channel="1"] input[data-action="set"]', "4.5")
                page.press('.cell[data-module="3"][data-channel="1"] input[data-action="set"]', "Enter")
                page.wait_for_function("() => document.querySelectorAll('[data-role=\"writes\"] li').length >= 2")
                time.sleep(0.4)
                page.mouse.move(0, 0)
                out = Path(args.output)
                out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(out), full_page=True)
                browser.close()
        finally:
            handle.stop()
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
