"""The panel's aiohttp application over its WebSocket (aiohttp's own client, no
browser), and the ``mmpfast panel`` / ``mmpfast sim --panel`` commands."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

import pytest

import mmpfast
from mmpfast import memmap
from mmpfast.panel.model import Layout
from mmpfast.sim import Simulator

#: the package this suite imported, wherever it lives (installed or in-tree), for child processes
_ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(
    [os.path.dirname(os.path.dirname(os.path.abspath(mmpfast.__file__)))]
    + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])))
_CWD = tempfile.gettempdir()


# ============================================================================ the application
aiohttp = pytest.importorskip("aiohttp", reason="the panel application needs aiohttp (pip install \".[panel]\")")

from mmpfast.panel.app import Panel, ThreadedPanel  # noqa: E402
from mmpfast.panel.cli import PanelHandle, start_sim_panel  # noqa: E402


def _origin(url: str) -> str:
    return url.rstrip("/")


class Page:
    """A WebSocket client that behaves as the page does (aiohttp's client)."""

    def __init__(self, url: str, origin: Optional[str] = None) -> None:
        self.url = url
        self.origin = _origin(url) if origin is None else origin
        self.values: Dict[str, Any] = {}
        self.status: Dict[str, Any] = {}
        self.hello: Dict[str, Any] = {}
        self.results: List[Dict[str, Any]] = []

    async def __aenter__(self) -> "Page":
        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(self.url + "ws", headers={"Origin": self.origin})
        msg = await self.ws.receive_json(timeout=5)
        assert msg["type"] == "hello"
        self.hello = msg
        self._apply(msg)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()
        await self.session.close()

    def _apply(self, msg: Dict[str, Any]) -> None:
        for k, v in msg.get("changes", []):
            self.values[k] = v
        if "status" in msg:
            self.status = msg["status"]
        if msg["type"] == "result":
            self.results.append(msg)

    async def pump(self, until: Any, timeout: float = 3.0) -> float:
        """Apply messages until ``until(self)`` is true; returns the seconds it took."""
        t0 = time.monotonic()
        while not until(self):
            left = timeout - (time.monotonic() - t0)
            if left <= 0:
                raise AssertionError(f"timed out; status {self.status}")
            msg = await self.ws.receive_json(timeout=left)
            self._apply(msg)
        return time.monotonic() - t0

    async def request(self, **msg: Any) -> Dict[str, Any]:
        ident = len(self.results) + 1000
        await self.ws.send_str(json.dumps(dict(msg, id=ident)))
        await self.pump(lambda p: any(r["id"] == ident for r in p.results))
        return next(r for r in self.results if r["id"] == ident)


@pytest.fixture
def sim() -> Any:
    with Simulator() as s:
        yield s


@pytest.fixture
def sim_panel(sim: Simulator) -> Any:
    h = start_sim_panel(sim, 0, rate=20.0, scratchpad=4)
    try:
        yield h
    finally:
        h.stop()


def _device_panel(sim: Simulator, *, writable: bool, layout: Optional[Layout] = None, rate: float = 20.0,
                  port: Optional[int] = None) -> PanelHandle:
    lay = layout or Layout.from_rack(sim.memory.rack)
    runner = ThreadedPanel(lambda: Panel(sim.host, port or sim.port, lay, rate=rate, writable=writable),
                           "127.0.0.1", 0)
    return PanelHandle(runner.url, runner)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_hello_shows_the_simulators_values(sim: Simulator, sim_panel: PanelHandle) -> None:
    sim.set_digital(0, 7, True)
    sim.set_analog(2, 3, -12.75)
    sim.set_analog(10, 15, 1e-3)

    async def go() -> None:
        async with Page(sim_panel.url) as page:
            # the three changes may reach the page in different passes: wait for all of them
            await page.pump(lambda p: p.values.get("d:0:7") == 1 and p.values.get("a:2:3") == "-12.75"
                            and p.values.get("a:10:15") == repr(sim.get_analog(10, 15))
                            and p.status.get("state") == "live")
            assert page.hello["sim"] is True and page.hello["writable"] is True
            mods = page.hello["layout"]["modules"]
            assert [(m["index"], m["kind"], m["channels"]) for m in mods] == [
                (i, s.kind, s.channels) for i, s in enumerate(sim.memory.rack) if s is not None]
            for m in mods:
                for c in range(m["channels"]):
                    if m["kind"] in ("di", "do"):
                        assert page.values[f"d:{m['index']}:{c}"] == int(sim.get_digital(m["index"], c))
                    else:
                        assert page.values[f"a:{m['index']}:{c}"] == repr(sim.get_analog(m["index"], c))
            assert page.values["a:2:3"] == "-12.75"
            assert page.values["a:10:15"] == repr(sim.get_analog(10, 15)) != "0.001"
    run(go())


def test_a_change_in_the_simulator_reaches_the_page_quickly(sim: Simulator, sim_panel: PanelHandle) -> None:
    async def go() -> None:
        async with Page(sim_panel.url) as page:
            await page.pump(lambda p: p.status.get("state") == "live")
            sim.set_digital(4, 20, True)
            took = await page.pump(lambda p: p.values.get("d:4:20") == 1, timeout=0.5)
            assert took < 0.5
            sim.set_analog(6, 11, 42.5)
            await page.pump(lambda p: p.values.get("a:6:11") == "42.5", timeout=0.5)
            assert page.values["d:4:20"] == 1
    run(go())


def test_changes_show_within_300_ms_at_rate_10(sim: Simulator) -> None:
    h = start_sim_panel(sim, 0, rate=10.0, scratchpad=0)
    try:
        async def go() -> None:
            async with Page(h.url) as page:
                await page.pump(lambda p: p.status.get("state") == "live")
                worst = 0.0
                for i in range(8):
                    await asyncio.sleep(0.031 * i)        # at different points of the 100 ms period
                    t0 = time.monotonic()
                    sim.set_analog(10, i, 100.0 + i)
                    await page.pump(lambda p: p.values.get(f"a:10:{i}") == repr(100.0 + i), timeout=1.0)
                    worst = max(worst, time.monotonic() - t0)
                assert worst < 0.3, worst
        run(go())
    finally:
        h.stop()


def test_writes_and_sim_controls_reach_the_simulator(sim: Simulator, sim_panel: PanelHandle) -> None:
    async def go() -> None:
        async with Page(sim_panel.url) as page:
            r = await page.request(type="write", kind="digital", module=1, channel=3, value=1)
            assert r["outcome"] == "acknowledged" and sim.get_digital(1, 3) is True
            r = await page.request(type="write", kind="analog", module=3, channel=2, value=7.25)
            assert r["outcome"] == "acknowledged" and sim.get_analog(3, 2) == 7.25
            r = await page.request(type="sim-set", kind="digital", module=0, channel=9, value=1)
            assert r["outcome"] == "acknowledged" and sim.get_digital(0, 9) is True
            r = await page.request(type="sim-set", kind="analog", module=2, channel=0, value=-3.5)
            assert r["outcome"] == "acknowledged" and sim.get_analog(2, 0) == -3.5
            for _ in range(3):
                r = await page.request(type="sim-pulse", kind="digital", module=0, channel=4)
                assert r["outcome"] == "acknowledged"
            assert sim.get_digital(0, 4) is False
            await page.pump(lambda p: p.values.get("n:0:4") == 3 and p.values.get("a:2:0") == "-3.5")
            assert (page.values["lo:0"] >> 4) & 1 == 1 and (page.values["lf:0"] >> 4) & 1 == 1
            # outputs are not inputs, inputs are not outputs, and values are checked
            for bad in (dict(type="sim-set", kind="digital", module=1, channel=0, value=1),
                        dict(type="write", kind="digital", module=0, channel=0, value=1),
                        dict(type="write", kind="digital", module=1, channel=16, value=1),
                        dict(type="write", kind="digital", module=1, channel=0, value=2),
                        dict(type="write", kind="analog", module=3, channel=0, value="1"),
                        dict(type="write", kind="analog", module=3, channel=0, value=1e39 * 10),
                        dict(type="write", kind="analog", module=True, channel=0, value=1.0),
                        dict(type="reboot")):
                r = await page.request(**bad)
                assert r["outcome"] == "refused", (bad, r)
            assert sim.get_digital(1, 0) is False and sim.get_analog(3, 0) == 0.0
    run(go())


def test_read_only_panel_refuses_forged_writes(sim: Simulator) -> None:
    with _device_panel(sim, writable=False) as h:
        async def go() -> None:
            async with Page(h.url) as page:
                assert page.hello["writable"] is False and page.hello["sim"] is False
                for msg in (dict(type="write", kind="digital", module=1, channel=0, value=1),
                            dict(type="write", kind="analog", module=3, channel=0, value=5.0),
                            dict(type="sim-set", kind="digital", module=0, channel=0, value=1)):
                    r = await page.request(**msg)
                    assert r["outcome"] == "refused"
                await page.ws.send_str("{not json")
                await page.pump(lambda p: p.results[-1]["id"] is None and p.results[-1]["outcome"] == "refused")
        run(go())
    assert sim.get_digital(1, 0) is False and sim.get_analog(3, 0) == 0.0 and sim.get_digital(0, 0) is False


def test_only_same_origin_websockets_and_allowed_hosts(sim: Simulator, sim_panel: PanelHandle) -> None:
    url = sim_panel.url
    port = int(url.rsplit(":", 1)[1].strip("/"))

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            for headers in ({"Origin": "http://evil.example"}, {}, {"Origin": f"http://127.0.0.1:{port + 1}"},
                            {"Origin": f"https://127.0.0.1:{port}"}):
                with pytest.raises(aiohttp.WSServerHandshakeError) as ei:
                    await s.ws_connect(url + "ws", headers=headers)
                assert ei.value.status == 403
            # DNS rebinding: a foreign host name is refused, page and WebSocket alike
            async with s.get(url, headers={"Host": f"evil.example:{port}"}) as r:
                assert r.status == 403
            async with s.get(url, headers={"Host": f"localhost:{port}"}) as r:
                assert r.status == 200
            async with s.get(url) as r:
                assert r.status == 200 and "text/html" in r.headers["Content-Type"]
                assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
                body = await r.text()
                assert 'data-role="status"' in body and "http" not in body.replace("http-equiv", "")
            for path in ("/panel.js", "/panel.css"):
                async with s.get(url.rstrip("/") + path) as r:
                    assert r.status == 200 and len(await r.read()) > 1000
            # no state change over plain HTTP
            for method, path in (("POST", "/"), ("POST", "/ws"), ("PUT", "/ws"),
                                 ("GET", "/ws?type=write&kind=digital&module=1&channel=0&value=1"),
                                 ("GET", "/write?module=1&channel=0&value=1")):
                async with s.request(method, url.rstrip("/") + path, headers={"Origin": url.rstrip("/")}) as r:
                    assert r.status in (400, 403, 404, 405), (method, path, r.status)
    run(go())
    assert sim.get_digital(1, 0) is False


def test_write_outcomes_nak_and_unknown() -> None:
    from mmpfast.sim import Fault, FaultProxy
    # a SNAP-profile simulator NAKs everything (rcode 4) until a power-up clear
    with Simulator(profile="snap", modules="do:4") as snap:
        with _device_panel(snap, writable=True) as h:
            async def go_nak() -> None:
                async with Page(h.url) as page:
                    await page.pump(lambda p: p.status.get("state", "").startswith("error: MmpNakError"))
                    r = await page.request(type="write", kind="digital", module=0, channel=1, value=1)
                    assert r["outcome"] == "nak" and r["code"] == "0xE004"
            run(go_nak())
    with Simulator(modules="do:4") as sim, FaultProxy(sim.host, sim.port) as proxy:
        lay = Layout.from_rack(sim.memory.rack)
        runner = ThreadedPanel(lambda: Panel(proxy.host, proxy.port, lay, rate=0.2, writable=True),
                               "127.0.0.1", 0)
        try:
            async def go_unknown() -> None:
                async with Page(runner.url) as page:
                    await page.pump(lambda p: p.status.get("state") == "live")   # the first pass is done
                    proxy.next_response(Fault.close())
                    r = await page.request(type="write", kind="digital", module=0, channel=2, value=1)
                    assert r["outcome"] == "unknown", r
                    assert proxy.up_by_tcode.get(1) == 1         # sent once, never repeated
            run(go_unknown())
        finally:
            runner.stop()
        assert sim.get_digital(0, 2) is True     # the device applied it; only the answer was lost


def test_a_device_that_stops_answering_shows_the_typed_error_and_recovers() -> None:
    sim = Simulator(modules="di:4").start()
    port = sim.port
    h = _device_panel(sim, writable=False)
    try:
        async def go() -> None:
            async with Page(h.url) as page:
                await page.pump(lambda p: p.status.get("state") == "live")
                sim.stop()
                await page.pump(lambda p: p.status.get("state", "").startswith("error: MmpConnectionError"),
                                timeout=5)
                sim2 = Simulator(port=port, modules="di:4").start()
                try:
                    sim2.set_digital(0, 1, True)
                    await page.pump(lambda p: p.status.get("state") == "live" and p.values.get("d:0:1") == 1,
                                    timeout=5)
                finally:
                    sim2.stop()
        run(go())
    finally:
        h.stop()
        sim.stop()


def test_status_reports_the_achieved_rate(sim: Simulator) -> None:
    with _device_panel(sim, writable=False, rate=10.0) as h:
        async def go() -> None:
            async with Page(h.url) as page:
                await page.pump(lambda p: p.status.get("ok", 0) >= 15, timeout=4)
                st = page.status
                assert st["target"] == 10.0 and 8.0 <= st["rate"] <= 12.0, st
                assert st["state"] == "live" and st["errors"] == 0 and st["requests"] >= 1
        run(go())


def test_two_pages_get_the_same_changes(sim: Simulator, sim_panel: PanelHandle) -> None:
    async def go() -> None:
        async with Page(sim_panel.url) as a, Page(sim_panel.url) as b:
            sim.set_analog(7, 1, 9.5)        # an output set behind the panel's back
            await a.pump(lambda p: p.values.get("a:7:1") == "9.5", timeout=1)
            await b.pump(lambda p: p.values.get("a:7:1") == "9.5", timeout=1)
        assert not sim_panel.panel.peers or len(sim_panel.panel.peers) <= 2
    run(go())


# ============================================================================ the commands
def _spawn(*args: str) -> "subprocess.Popen[str]":
    return subprocess.Popen([sys.executable, "-m", "mmpfast", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=_CWD, env=_ENV)


def _first_line(proc: "subprocess.Popen[str]", prefix: str, timeout: float = 20.0) -> str:
    assert proc.stdout is not None
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith(prefix):
            return line.strip()
    raise AssertionError(f"no line starting {prefix!r}")


def _stop(proc: "subprocess.Popen[str]") -> Tuple[str, str]:
    proc.terminate()
    try:
        out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:   # pragma: no cover
        proc.kill()
        out, err = proc.communicate()
    return out, err


def test_mmpfast_panel_prints_the_url_first(sim: Simulator) -> None:
    sim.memory.write(memmap.SCRATCHPAD_INT32_AREA1 + 4, (123456).to_bytes(4, "big"))
    proc = _spawn("panel", f"{sim.host}:{sim.port}", "--http-port", "0", "--modules", "di:32,do:16",
                  "--scratchpad", "2")
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first.startswith("http://127.0.0.1:") and first.endswith("/"), first
        sim.set_digital(0, 5, True)

        async def go() -> None:
            async with Page(first) as page:
                assert page.hello["writable"] is False
                assert [m["kind"] for m in page.hello["layout"]["modules"]] == ["di", "do"]
                assert page.hello["layout"]["scratchpad"] == 2
                await page.pump(lambda p: p.values.get("d:0:5") == 1 and p.values.get("si:1") == 123456)
                assert "si:2" not in page.values
        run(go())
    finally:
        out, err = _stop(proc)
    assert "warning" not in err


def test_mmpfast_panel_warns_for_another_host_and_checks_arguments(sim: Simulator) -> None:
    proc = _spawn("panel", f"{sim.host}:{sim.port}", "--http-host", "0.0.0.0", "--http-port", "0")
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first.startswith("http://127.0.0.1:")
    finally:
        out, err = _stop(proc)
    assert "warning: serving the page on '0.0.0.0'" in err
    for bad in (["panel"], ["panel", "h", "--rate", "0"], ["panel", "h", "--device", "plc"],
                ["panel", "h", "--http-port", "70000"]):
        r = subprocess.run([sys.executable, "-m", "mmpfast", *bad], capture_output=True, text=True, timeout=30,
                           cwd=_CWD, env=_ENV)
        assert r.returncode == 2, (bad, r.stderr)
    r = subprocess.run([sys.executable, "-m", "mmpfast", "panel", "h:0"], capture_output=True, text=True,
                       timeout=30, cwd=_CWD, env=_ENV)
    assert r.returncode == 2 and "port 0 out of range" in r.stderr


def test_mmpfast_sim_panel_prints_the_panel_url() -> None:
    proc = _spawn("sim", "--port", "0", "--no-udp", "--modules", "di:8,do:8", "--panel", "0")
    try:
        line = _first_line(proc, "panel: ")
        url = line.split(" ", 1)[1]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/")

        async def go() -> None:
            async with Page(url) as page:
                assert page.hello["sim"] is True
                r = await page.request(type="sim-set", kind="digital", module=0, channel=6, value=1)
                assert r["outcome"] == "acknowledged"
                await page.pump(lambda p: p.values.get("d:0:6") == 1)
                r = await page.request(type="write", kind="digital", module=1, channel=2, value=1)
                assert r["outcome"] == "acknowledged"
                await page.pump(lambda p: p.values.get("d:1:2") == 1)
        run(go())
    finally:
        out, err = _stop(proc)


def test_a_snap_device_panel_shows_its_points() -> None:
    """``--device snap``: the panel reads a SNAP PAC's 4-channel points (bank areas)."""
    with Simulator(port=0, profile="snap", puc_required=False, modules="di:4,do:4,ai:4") as s:
        s.set_digital(0, 2, True)
        s.set_digital(1, 1, True)
        s.set_analog(2, 3, 7.25)
        with _device_panel(s, writable=False, layout=Layout.from_spec("di:4,do:4,ai:4", device="snap")) as h:
            async def go() -> None:
                async with Page(h.url) as page:
                    await page.pump(lambda p: p.status.get("state") == "live" and "a:2:3" in p.values)
                    assert [page.values[f"d:0:{c}"] for c in range(4)] == [0, 0, 1, 0]
                    assert [page.values[f"d:1:{c}"] for c in range(4)] == [0, 1, 0, 0]
                    assert page.values["a:2:3"] == "7.25"
                    s.set_digital(0, 3, True)
                    await page.pump(lambda p: p.values.get("d:0:3") == 1, timeout=1)
            run(go())
