"""The scripts in examples/ run against the simulator and print the right values,
answer --help, and fail with one line on stderr (no traceback) and a non-zero status."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List

import pytest

import mmpfast
from mmpfast.sim import Simulator

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
IMPORT_ROOT = Path(mmpfast.__file__).resolve().parent.parent


SCRIPTS = ["uptime.py", "read_channel.py", "write_channel.py", "poll_many.py"]


def launch(script: str, args: List[str]) -> "subprocess.CompletedProcess[str]":
    env = dict(os.environ)
    env["PYTHONPATH"] = str(IMPORT_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, str(EXAMPLES / script), *args], env=env,
                          cwd=tempfile.gettempdir(), capture_output=True, text=True, timeout=60)


def run(script: str, args: List[str]) -> str:
    out = launch(script, args)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_every_example_is_listed() -> None:
    assert sorted(SCRIPTS) == sorted(p.name for p in EXAMPLES.glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS)
def test_help(script: str) -> None:
    out = launch(script, ["--help"])
    assert out.returncode == 0 and out.stderr == ""
    assert out.stdout.startswith(f"usage: {script} ")
    assert "--timeout" in out.stdout and "mmpfast sim" in out.stdout


@pytest.mark.parametrize("script", SCRIPTS)
def test_refused_connection_is_one_line(script: str) -> None:
    port = closed_port()
    args = [f"127.0.0.1:{port}", "--rounds", "1"] if script == "poll_many.py" else ["127.0.0.1", str(port)]
    out = launch(script, args)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    if script == "poll_many.py":     # the failure is reported per controller, then the verdict
        assert out.stdout.startswith(f"[0] 127.0.0.1:{port} error: 127.0.0.1:{port}: cannot connect")
        assert out.stderr == "poll_many.py: error: no controller answered\n"
    else:
        assert out.stdout == ""
        assert out.stderr.startswith(f"{script}: error: 127.0.0.1:{port}: cannot connect")
        assert out.stderr.count("\n") == 1


@pytest.mark.parametrize("script", ["read_channel.py", "write_channel.py"])
def test_out_of_range_channel_is_one_line_and_sends_nothing(script: str) -> None:
    with Simulator() as sim:
        out = launch(script, [sim.host, str(sim.port), "1", "64"])
        assert sim.stats.frames_in == 0
    assert out.returncode == 1 and out.stdout == ""
    err = out.stderr
    assert err.startswith(f"{script}: error: ") and err.count("\n") == 1
    assert "channel" in err and "64" in err


def test_bad_arguments_are_usage_errors() -> None:
    out = launch("write_channel.py", ["127.0.0.1", "2001", "1", "8", "maybe"])
    assert out.returncode == 2 and "state must be 0 or 1" in out.stderr and "Traceback" not in out.stderr
    out = launch("poll_many.py", ["127.0.0.1:x"])
    assert out.returncode == 2 and "bad port in '127.0.0.1:x'" in out.stderr


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
