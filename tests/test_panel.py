"""The live rack panel's model and command-line glue: no aiohttp, no browser
(the application is tested in test_panel_app.py, the page in test_panel_browser.py)."""
from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile

import pytest

import mmpfast
from mmpfast import ScanPlan, memmap
from mmpfast.panel.model import Layout, ModuleView, changes, snapshot
from mmpfast.sim import Simulator
from mmpfast.sim.rack import DEFAULT_LAYOUT

#: the package this suite imported, wherever it lives (installed or in-tree), for child processes
_ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(
    [os.path.dirname(os.path.dirname(os.path.abspath(mmpfast.__file__)))]
    + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])))
_CWD = tempfile.gettempdir()


# ============================================================================ model (no aiohttp)
def test_layout_of_the_default_rack_and_its_plan() -> None:
    lay = Layout.from_rack(DEFAULT_LAYOUT, scratchpad=4)
    assert [(m.index, m.kind, m.channels) for m in lay.modules] == [
        (i, s.kind, s.channels) for i, s in enumerate(DEFAULT_LAYOUT) if s is not None]
    plan = lay.plan()
    assert isinstance(plan, ScanPlan) and plan.frozen
    names = set(plan.names)
    assert {"d:0:31", "n:0:31", "p:0", "d:1:15", "a:2:7", "a:3:3", "si", "sf"} <= names
    assert "d:0:32" not in names and "a:2:8" not in names and "mq" not in names
    # every request lies in the packed areas or the scratch pad: a few block reads per pass
    for addr, n in plan.requests:
        area = memmap.find_area(addr, n)
        assert area is not None and not memmap.read_has_side_effects(addr, n)
        assert area.first in (0xF1001000, 0xF1001900, 0xF0D81000), hex(addr)
    assert len(plan.requests) <= 6
    assert lay.writable("digital", 1, 15) and not lay.writable("digital", 1, 16)
    assert not lay.writable("digital", 0, 0) and not lay.writable("analog", 1, 0)
    assert lay.writable("analog", 3, 0) and lay.input("analog", 2, 0) and not lay.input("analog", 3, 0)
    assert lay.input("digital", 0, 5) and not lay.input("digital", 14, 0)


def test_unknown_rack_reads_every_slot_from_the_packed_areas() -> None:
    lay = Layout.from_spec(None)
    assert not lay.known and len(lay.modules) == 16
    assert all(m.kind == "unknown" and m.channels == 32 for m in lay.modules)
    plan = lay.plan()
    assert len(plan) == 16 * 32 * 2 + 1
    assert all(memmap.find_area(a, n) is not None for a, n in plan.requests)
    assert (memmap.MODULE_QUALITY_MASK, 8) in plan.requests
    assert len(plan.requests) <= 4
    # an unknown module may be written (the device decides) once writes are allowed
    assert lay.writable("digital", 7, 31) and lay.writable("analog", 7, 0) and not lay.writable("analog", 7, 32)


def test_layout_from_a_modules_spec_and_bad_input() -> None:
    lay = Layout.from_spec("di:8,-,ao:2")
    assert [(m.index, m.kind, m.channels) for m in lay.modules] == [(0, "di", 8), (2, "ao", 2)]
    with pytest.raises(ValueError):
        Layout.from_spec("xx:3")
    with pytest.raises(ValueError):
        Layout([], device="plc")
    with pytest.raises(ValueError):
        Layout([], scratchpad=-1)
    with pytest.raises(TypeError):
        Layout([], scratchpad=1.5)  # type: ignore[arg-type]
    assert ModuleView(0, "do", 4).output and not ModuleView(0, "di", 4).output


def test_snapshot_and_changes() -> None:
    lay = Layout.from_spec("di:4,ai:2", scratchpad=2)
    plan = lay.plan()
    with Simulator(modules="di:4,ai:2") as sim:
        sim.set_digital(0, 2, True)
        sim.set_digital(0, 2, False)      # off again: both latches set
        sim.set_digital(0, 3, True)
        sim.set_analog(1, 1, 0.1)
        sim.memory.write(memmap.SCRATCHPAD_INT32_AREA1 + 4, (-7).to_bytes(4, "big", signed=True))
        from mmpfast import Client
        with Client(sim.host, sim.port) as c:
            snap = snapshot(plan.result(c.scan(plan).buffer).values())
    assert snap["d:0:3"] == 1 and snap["d:0:2"] == 0 and snap["d:0:0"] == 0
    assert snap["lo:0"] == 0b1100 and snap["lf:0"] == 0b0100 and snap["qm:0"] == 0
    assert snap["a:1:1"] == pytest.approx(0.1, rel=1e-7) and snap["si:1"] == -7 and snap["sf:0"] == 0.0
    full = changes(None, snap)
    assert ["a:1:1", repr(snap["a:1:1"])] in full and ["d:0:3", 1] in full
    assert changes(snap, dict(snap)) == []
    after = dict(snap, **{"d:0:0": 1, "a:1:0": 2.5})
    assert sorted(changes(snap, after)) == [["a:1:0", "2.5"], ["d:0:0", 1]]
    nan = dict(snap, **{"a:1:0": math.nan})
    assert changes(nan, dict(nan)) == [] and changes(snap, nan) == [["a:1:0", "nan"]]


def test_mq_is_the_module_word_of_the_quality_mask() -> None:
    raw = bytes.fromhex("00000000 0000c000".replace(" ", ""))
    assert snapshot({"mq": raw}) == {"mq": 0xC000}


# ============================================================================ CLI glue without aiohttp
def test_cli_glue_imports_and_says_how_to_install_without_aiohttp() -> None:
    code = r"""
import sys
sys.modules["aiohttp"] = None          # as if it were not installed
import argparse, mmpfast.panel, mmpfast.panel.cli as pc, mmpfast.panel.model
from mmpfast.cli import build_parser, main
p = argparse.ArgumentParser(); pc.add_panel_arguments(p)
a = p.parse_args(["10.0.0.5:2002", "--allow-writes", "--http-port", "0"])
assert (a.target, a.device, a.rate, a.http_host, a.http_port, a.allow_writes) == ("10.0.0.5:2002", "epic", 10.0, "127.0.0.1", 0, True), a
try:
    pc.run_panel(a)
except pc.PanelUnavailable as e:
    assert str(e) == 'the panel needs aiohttp: pip install "mmpfast[panel]"', str(e)
else:
    raise SystemExit("no PanelUnavailable")
try:
    pc.start_sim_panel(object(), 0)
except pc.PanelUnavailable:
    pass
else:
    raise SystemExit("no PanelUnavailable")
assert main(["panel", "127.0.0.1"]) == 1
assert "aiohttp.web" not in sys.modules and "mmpfast.panel.app" not in sys.modules
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=_CWD,
                         env=_ENV)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
    assert 'mmpfast panel: the panel needs aiohttp: pip install "mmpfast[panel]"' in out.stderr
