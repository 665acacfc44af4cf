"""The pytest plugin (mmp_sim / mmp_client fixtures), async serving and the ``sim`` CLI."""
from __future__ import annotations

import asyncio
import importlib.metadata
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from mmpfast import codec, memmap
from mmpfast.sim import Simulator

import mmpfast

#: the folder the suite imported mmpfast from: site-packages for an installed
#: build, the repository for an in-place one (never the source tree by accident)
IMPORT_ROOT = Path(mmpfast.__file__).resolve().parent.parent


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(IMPORT_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_testing_module_imports_without_pytest_side_effects() -> None:
    code = ("import sys; sys.modules['pytest'] = None; import mmpfast.testing as t; "
            "assert not hasattr(t, 'mmp_sim'); assert t.Simulator.__name__ == 'Simulator'; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], env=_env(), cwd=tempfile.gettempdir(), capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_fixture_from_outside_the_package(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(textwrap.dedent("""
        import socket, struct
        import pytest
        from mmpfast import codec

        def test_sim(mmp_sim):
            mmp_sim.set_digital(1, 8, True)
            with socket.create_connection((mmp_sim.host, mmp_sim.port), timeout=3) as s:
                s.sendall(codec.encode_read_block(1, 0xF01E1200, 4))
                assert s.recv(100)[16:] == b"\\x00\\x00\\x00\\x01"

        def test_client(mmp_sim, mmp_client):
            mmp_sim.set_digital(1, 8, True)
            assert mmp_client.read_digital(1, 8) is True
            mmp_client.write_digital(1, 3, True)
            assert mmp_sim.get_digital(1, 3) is True

        @pytest.mark.mmp_sim(modules=["ai:2"], profile="snap")
        def test_marker(mmp_sim):
            assert mmp_sim.memory.rack[0].kind == "ai" and mmp_sim.memory.puc_needed
    """))
    (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings = error\n")
    # an installed mmpfast registers the plugin through its pytest11 entry point (the
    # users' path); an in-place development tree has to name it
    eps = importlib.metadata.entry_points()
    group = eps.select(group="pytest11") if hasattr(eps, "select") else eps.get("pytest11", [])  # 3.9
    installed = any(ep.name == "mmpfast" for ep in group)
    plugin = [] if installed else ["-p", "mmpfast.testing"]
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", *plugin, "-p", "no:cacheprovider",
                          str(tmp_path / "test_user.py")],
                         cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3 passed" in out.stdout


def test_async_serving_in_callers_loop() -> None:
    async def main() -> bytes:
        sim = Simulator()
        async with sim.serving():
            reader, writer = await asyncio.open_connection(sim.host, sim.port)
            writer.write(codec.encode_read_block(3, memmap.STATUS_UPTIME_MS, 4))
            data = await asyncio.wait_for(reader.readexactly(20), 3)
            writer.close()
            await writer.wait_closed()
        assert not sim.running
        return data

    data = asyncio.run(main())
    assert data[:4] == bytes.fromhex("00 00 0C 70")


def test_serve_until_cancelled() -> None:
    async def main() -> None:
        sim = Simulator()
        task = asyncio.ensure_future(sim.serve())
        for _ in range(100):
            if sim.running:
                break
            await asyncio.sleep(0.01)
        assert sim.running
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not sim.running

    asyncio.run(main())


def test_start_stop_and_port_in_use() -> None:
    sim = Simulator().start()
    try:
        with pytest.raises(RuntimeError):
            sim.start()
        with pytest.raises(OSError):
            Simulator(port=sim.port).start()
    finally:
        sim.stop()
    sim.stop()      # idempotent
    with pytest.raises(ValueError):
        Simulator(latency=-1)


def test_cli_sim_serves_and_exits_0_on_ctrl_c() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "mmpfast", "sim", "--port", "0", "--modules", "di:8,do:8",
                             "--latency", "1"], env=_env(), cwd=tempfile.gettempdir(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on 127.0.0.1:" in line, line
        port = int(line.split("127.0.0.1:")[1].split()[0])
        assert "di:8,do:8" in line
        with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
            s.sendall(codec.encode_read_block(1, memmap.STATUS_UPTIME_MS, 4))
            s.settimeout(3)
            assert len(s.recv(100)) == 20
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "connection from 127.0.0.1" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_cli_sim_exits_0_on_sigterm() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "mmpfast", "sim", "--port", "0", "--no-udp"], env=_env(), cwd=tempfile.gettempdir(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert "listening on 127.0.0.1:" in proc.stdout.readline()
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0
        assert "stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_cli_bad_modules_exit_2() -> None:
    from mmpfast.cli import main
    assert main(["sim", "--modules", "zz:3"]) == 2
    assert main([]) == 2
