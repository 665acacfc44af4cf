"""The live rack panel in a real browser: headless Chromium from the system's
packages, driven by Playwright's Python package (no browser is downloaded).

The browser is ``$MMPFAST_CHROMIUM``, else ``chromium`` / ``chromium-browser``
on the PATH, else ``/usr/bin/chromium``.  Without aiohttp, Playwright or a
Chromium these tests skip and say which is missing (CI installs all three and
fails when they skip).
"""
from __future__ import annotations

import os
import shutil
import socket
import time
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

pytest.importorskip("aiohttp", reason="the panel needs aiohttp (pip install \".[panel]\")")
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="the browser tests need Playwright (pip install \".[browser]\")")


def find_chromium() -> Optional[str]:
    """The system's Chromium executable, or None."""
    given = os.environ.get("MMPFAST_CHROMIUM")
    if given:
        return given if os.path.exists(given) else None
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None


CHROMIUM = find_chromium()
if CHROMIUM is None:
    pytest.skip("no Chromium found (apt-get install chromium, or set MMPFAST_CHROMIUM)", allow_module_level=True)

from mmpfast.panel.app import Panel, ThreadedPanel  # noqa: E402
from mmpfast.panel.cli import PanelHandle, start_sim_panel  # noqa: E402
from mmpfast.panel.model import Layout  # noqa: E402
from mmpfast.sim import Simulator  # noqa: E402

STATUS = '[data-role="status"]'


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = ctx.new_page()
    errors: List[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield pg
    finally:
        ctx.close()
    assert errors == [], errors      # no script error on the page


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as s:
        yield s


@pytest.fixture
def sim_panel(sim: Simulator) -> Iterator[PanelHandle]:
    h = start_sim_panel(sim, 0, rate=10.0, scratchpad=4)
    try:
        yield h
    finally:
        h.stop()


def cell(module: int, channel: int, kind: str) -> str:
    return f'.cell[data-module="{module}"][data-channel="{channel}"][data-kind="{kind}"]'


def open_live(pg: Any, url: str) -> None:
    pg.goto(url)
    pg.wait_for_function(f"() => document.querySelector('{STATUS}').textContent.startsWith('live')", timeout=5000)


def wait_until(cond: Callable[[], bool], timeout: float = 2.0) -> None:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def dom_values(pg: Any) -> List[Dict[str, str]]:
    return pg.evaluate("""() => Array.from(document.querySelectorAll('[data-kind][data-module][data-channel]'))
        .map(e => ({m: e.dataset.module, c: e.dataset.channel, k: e.dataset.kind, v: e.dataset.value}))""")


def test_the_page_shows_the_simulators_values(sim: Simulator, sim_panel: PanelHandle, page: Any) -> None:
    for c in (0, 5, 31):
        sim.set_digital(0, c, True)
    sim.set_digital(9, 30, True)
    for c in range(8):
        sim.set_analog(2, c, c * 1.5 - 2.25)
    sim.set_analog(10, 3, 0.1)
    open_live(page, sim_panel.url)
    page.wait_for_function(f"() => document.querySelector('{cell(10, 3, 'analog')}').dataset.value !== '0.0'")
    cells = dom_values(page)
    expected = {(m, c, "digital" if s.digital else "analog")
                for m, s in enumerate(sim.memory.rack) if s is not None for c in range(s.channels)}
    assert {(int(d["m"]), int(d["c"]), d["k"]) for d in cells} == expected
    assert len(cells) == len(expected)           # one cell per channel
    for d in cells:
        m, c = int(d["m"]), int(d["c"])
        if d["k"] == "digital":
            assert d["v"] == ("1" if sim.get_digital(m, c) else "0"), d
        else:
            assert d["v"] == repr(sim.get_analog(m, c)), d
    assert page.locator(cell(2, 1, "analog") + " .value").text_content() == "-0.75"
    assert page.locator(cell(10, 3, "analog") + " .value").text_content() == "0.1"
    assert page.locator(cell(10, 3, "analog")).get_attribute("data-value") == "0.10000000149011612"
    status = page.locator(STATUS).text_content()
    assert status.startswith("live") and "Hz" in status
    assert page.locator('[data-role="scratchpad"]').is_visible()


def test_simulator_changes_reach_the_dom_within_half_a_second(sim: Simulator, sim_panel: PanelHandle,
                                                              page: Any) -> None:
    open_live(page, sim_panel.url)
    worst = 0.0
    for i in range(5):
        t0 = time.monotonic()
        sim.set_digital(4, i, True)
        page.wait_for_function(f"() => document.querySelector('{cell(4, i, 'digital')}').dataset.value === '1'",
                               timeout=500)
        worst = max(worst, time.monotonic() - t0)
        value = 10.0 + i * 0.5
        t0 = time.monotonic()
        sim.set_analog(6, i, value)
        page.wait_for_function(
            f"() => document.querySelector('{cell(6, i, 'analog')}').dataset.value === '{value!r}'", timeout=500)
        worst = max(worst, time.monotonic() - t0)
    assert worst < 0.5
    sim.set_digital(4, 0, False)
    page.wait_for_function(f"() => document.querySelector('{cell(4, 0, 'digital')}').dataset.value === '0'",
                           timeout=500)


def test_page_controls_reach_the_simulator(sim: Simulator, sim_panel: PanelHandle, page: Any) -> None:
    open_live(page, sim_panel.url)
    # an output toggled in the page is written over OptoMMP and acknowledged
    page.click(cell(1, 4, "digital") + ' [data-action="toggle"]')
    wait_until(lambda: sim.get_digital(1, 4))
    page.wait_for_function(f"() => document.querySelector('{cell(1, 4, 'digital')}').dataset.value === '1'")
    page.wait_for_selector('[data-role="writes"] li[data-outcome="acknowledged"]')
    page.click(cell(1, 4, "digital") + ' [data-action="toggle"]')
    wait_until(lambda: not sim.get_digital(1, 4))
    # an analog output set on Enter
    page.fill(cell(3, 1, "analog") + ' input[data-action="set"]', "12.5")
    page.press(cell(3, 1, "analog") + ' input[data-action="set"]', "Enter")
    wait_until(lambda: sim.get_analog(3, 1) == 12.5)
    page.wait_for_function(f"() => document.querySelector('{cell(3, 1, 'analog')}').dataset.value === '12.5'")
    # the simulator's input controls
    page.click(cell(0, 2, "digital") + ' [data-action="sim-set"]')
    wait_until(lambda: sim.get_digital(0, 2))
    page.fill(cell(2, 5, "analog") + ' input[data-action="sim-set"]', "-4.25")
    page.press(cell(2, 5, "analog") + ' input[data-action="sim-set"]', "Enter")
    wait_until(lambda: sim.get_analog(2, 5) == -4.25)
    for _ in range(2):
        page.click(cell(0, 7, "digital") + ' [data-action="sim-pulse"]')
    page.wait_for_function(f"() => document.querySelector('{cell(0, 7, 'digital')} .count').textContent === '2'")
    assert sim.get_digital(0, 7) is False
    assert "latch-on" in (page.locator(cell(0, 7, "digital")).get_attribute("class") or "")
    # a value that is not a number is not sent
    page.fill(cell(3, 2, "analog") + ' input[data-action="set"]', "twelve")
    page.press(cell(3, 2, "analog") + ' input[data-action="set"]', "Enter")
    page.wait_for_function(f"() => document.querySelector('{STATUS}').textContent.includes('not a number')")
    assert sim.get_analog(3, 2) == 0.0


FORGE = """async (msg) => {
    const ws = new WebSocket('ws://' + location.host + '/ws');
    return await new Promise((resolve, reject) => {
        ws.onmessage = (ev) => {
            const m = JSON.parse(ev.data);
            if (m.type === 'hello') ws.send(JSON.stringify(msg));
            else if (m.type === 'result') { ws.close(); resolve(m); }
        };
        ws.onerror = () => reject(new Error('websocket error'));
        setTimeout(() => reject(new Error('no answer')), 3000);
    });
}"""
CONTROLS = '[data-action="toggle"]:not([disabled]), [data-action="set"]:not([disabled]), [data-action^="sim-"]'


def _device_panel(sim: Simulator, writable: bool) -> PanelHandle:
    lay = Layout.from_rack(sim.memory.rack)
    runner = ThreadedPanel(lambda: Panel(sim.host, sim.port, lay, rate=10.0, writable=writable), "127.0.0.1", 0)
    return PanelHandle(runner.url, runner)


def test_read_only_device_page_has_no_write_control_and_refuses_a_forged_write(sim: Simulator,
                                                                               page: Any) -> None:
    with _device_panel(sim, writable=False) as h:
        open_live(page, h.url)
        assert page.locator(".cell").count() == sum(s.channels for s in sim.memory.rack if s is not None)
        assert page.locator(CONTROLS).count() == 0
        assert page.locator('[data-role="mode"]').text_content() == "read-only"
        for msg in ({"type": "write", "kind": "digital", "module": 1, "channel": 0, "value": 1, "id": 1},
                    {"type": "write", "kind": "analog", "module": 3, "channel": 0, "value": 5, "id": 2},
                    {"type": "sim-set", "kind": "digital", "module": 0, "channel": 0, "value": 1, "id": 3}):
            r = page.evaluate(FORGE, msg)
            assert r["outcome"] == "refused", r
    assert sim.get_digital(1, 0) is False and sim.get_analog(3, 0) == 0.0 and sim.get_digital(0, 0) is False
    # the same device with --allow-writes has output controls (and still no simulator controls)
    with _device_panel(sim, writable=True) as h:
        open_live(page, h.url)
        outputs = sum(s.channels for s in sim.memory.rack if s is not None and s.output)
        assert page.locator(CONTROLS).count() == outputs
        assert page.locator('[data-action^="sim-"]').count() == 0
        page.click(cell(5, 0, "digital") + ' [data-action="toggle"]')
        wait_until(lambda: sim.get_digital(5, 0))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_page_survives_a_simulator_restart(page: Any) -> None:
    sim_port, http_port = _free_port(), _free_port()
    sim = Simulator(port=sim_port, modules="di:8,ao:2").start()
    h = start_sim_panel(sim, http_port, rate=10.0)
    try:
        sim.set_digital(0, 1, True)
        open_live(page, h.url)
        page.wait_for_function(f"() => document.querySelector('{cell(0, 1, 'digital')}').dataset.value === '1'")
    finally:
        h.stop()
        sim.stop()
    page.wait_for_function(f"() => document.querySelector('{STATUS}').textContent.startsWith('reconnecting')",
                           timeout=3000)
    sim = Simulator(port=sim_port, modules="di:8,ao:2").start()
    h = start_sim_panel(sim, http_port, rate=10.0)
    try:
        sim.set_digital(0, 6, True)
        page.wait_for_function(f"() => document.querySelector('{STATUS}').textContent.startsWith('live')", timeout=6000)
        page.wait_for_function(f"() => document.querySelector('{cell(0, 6, 'digital')}').dataset.value === '1'")
        assert page.locator(cell(0, 1, "digital")).get_attribute("data-value") == "0"    # the new simulator's
        page.click(cell(1, 1, "analog") + ' input[data-action="set"]')
        page.fill(cell(1, 1, "analog") + ' input[data-action="set"]', "3.75")
        page.press(cell(1, 1, "analog") + ' input[data-action="set"]', "Enter")
        wait_until(lambda: sim.get_analog(1, 1) == 3.75)
        # the device (only) stops answering: the page shows the typed error, then recovers
        sim.stop()
        page.wait_for_function(f"() => document.querySelector('{STATUS}').textContent.startsWith('error: Mmp')",
                               timeout=5000)
        assert page.locator(STATUS).get_attribute("data-state") == "error"
        sim = Simulator(port=sim_port, modules="di:8,ao:2").start()
        page.wait_for_function(f"() => document.querySelector('{STATUS}').textContent.startsWith('live')", timeout=6000)
    finally:
        h.stop()
        sim.stop()


def test_a_write_nak_shows_its_code_in_the_status_and_the_log(page: Any) -> None:
    # a SNAP-profile simulator NAKs every request with rcode 4 until a power-up clear
    with Simulator(profile="snap", modules="do:4") as snap, _device_panel(snap, writable=True) as h:
        page.goto(h.url)
        page.wait_for_function(
            f"() => document.querySelector('{STATUS}').textContent.startsWith('error: MmpNakError')", timeout=5000)
        page.click(cell(0, 2, "digital") + ' [data-action="toggle"]')
        page.wait_for_selector('[data-role="writes"] li[data-outcome="nak"]')
        assert "NAK 0xE004" in page.locator('[data-role="writes"] li').first.text_content()
        page.wait_for_function(f"() => document.querySelector('{STATUS}').textContent.includes('NAK 0xE004')")
        assert snap.get_digital(0, 2) is False
