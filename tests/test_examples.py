"""The scripts in examples/ run against the simulator and print the right values."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List

import mmpfast
from mmpfast.sim import Simulator

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
IMPORT_ROOT = Path(mmpfast.__file__).resolve().parent.parent


def run(script: str, args: List[str]) -> str:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(IMPORT_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, str(EXAMPLES / script), *args], env=env,
                         cwd=tempfile.gettempdir(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_uptime() -> None:
    with Simulator() as sim:
        text = run("uptime.py", [sim.host, str(sim.port)])
    ms = int(text.split("uptime:")[1].split("ms")[0])
    assert 0 <= ms < 120_000


def test_read_and_write_channel() -> None:
    with Simulator() as sim:
        sim.set_digital(1, 8, True)
        assert run("read_channel.py", [sim.host, str(sim.port), "1", "8"]).strip() == "module 1 channel 8: on"
        # module 1 of the default rack is a digital output module
        assert "set off" in run("write_channel.py", [sim.host, str(sim.port), "1", "8", "0"])
        assert sim.get_digital(1, 8) is False
        assert run("read_channel.py", [sim.host, str(sim.port), "1", "8"]).strip() == "module 1 channel 8: off"


def test_poll_many_controllers() -> None:
    with Simulator() as a, Simulator() as b:
        a.set_digital(0, 0, True)
        pa, pb = f"{a.host}:{a.port}", f"{b.host}:{b.port}"
        text = run("poll_many.py", [f"{a.host}:{a.port}", f"{b.host}:{b.port}", "127.0.0.1:1", "--rounds", "1"])
    lines = text.strip().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(f"[0] {pa} uptime ") and lines[0].endswith("channel 0 on")
    assert lines[1].startswith(f"[0] {pb} uptime ") and lines[1].endswith("channel 0 off")
    assert lines[2].startswith("[0] 127.0.0.1:1 error: ")      # nothing listens on port 1
