"""The panel's aiohttp application: one scan loop, one page, one WebSocket per page.

``Panel`` scans one rack with an :class:`~mmpfast.AsyncClient` driven by an
:class:`~mmpfast.AsyncScanLoop` and sends each pass's changes (see
:mod:`mmpfast.panel.model`) to every open page.  Requires aiohttp.

Routes: ``GET /`` (the page), ``GET /panel.js``, ``GET /panel.css``,
``GET /ws`` (the WebSocket).  Nothing changes state over HTTP: writes and the
simulator's input controls are WebSocket messages only, and the WebSocket
handshake is refused (403) unless the request's ``Origin`` is the page's own
origin.  Every request must name an allowed ``Host`` (loopback names, IP
literals, or the host the panel was bound to), which keeps a DNS-rebinding
page out.

Messages, JSON objects with a ``type``:

* server -> page: ``hello`` (layout, whether writes are allowed, whether this
  is the simulator, the status and every current value), ``update``
  (``changes``: ``[key, value]`` pairs, and ``status`` when it changed or
  once a second), ``result`` (the outcome of one write or simulator action:
  ``outcome`` is ``acknowledged``, ``nak`` (with ``code``, e.g. ``0xE005``),
  ``unknown`` (``WriteOutcomeUnknown``), ``error`` or ``refused``).
* page -> server: ``write`` (``kind`` ``digital``/``analog``, ``module``,
  ``channel``, ``value``, ``id``); on the simulator also ``sim-set`` (same
  fields, for an input channel) and ``sim-pulse`` (one rising and one falling
  edge on a digital input, with the counter feature turned on first).
"""
from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
from collections import deque
from importlib import resources
from typing import Any, Awaitable, Callable, Deque, Dict, List, Optional, Set, Tuple
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from .. import memmap
from ..aio import AsyncClient
from ..cli.parsing import is_ip_address
from ..errors import MmpError, MmpNakError, WriteOutcomeUnknown
from ..plan import ScanResult
from ..scanloop import AsyncScanLoop
from .model import Layout, changes, snapshot

__all__ = ["Panel", "ThreadedPanel", "STATIC_FILES"]

log = logging.getLogger("mmpfast.panel")

#: the page's files (package data) and their content types
STATIC_FILES = {"/": ("index.html", "text/html"), "/panel.js": ("panel.js", "text/javascript"),
                "/panel.css": ("panel.css", "text/css")}

_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
}
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
#: seconds between status updates while nothing else changes
STATUS_EVERY = 1.0


def _load_static() -> Dict[str, Tuple[bytes, str]]:
    root = resources.files(__package__).joinpath("static")
    return {route: (root.joinpath(name).read_bytes(), ctype) for route, (name, ctype) in STATIC_FILES.items()}


def _hostname(hostport: str) -> str:
    """``"127.0.0.1:8765"`` / ``"[::1]:8765"`` / ``"name"`` -> the host part, lower case."""
    text = hostport.strip().lower()
    if text.startswith("["):
        return text[1:].partition("]")[0]
    if text.count(":") == 1:
        return text.partition(":")[0]
    return text


def describe_error(exc: BaseException) -> str:
    """``"MmpConnectionError: ..."``: the typed error the page shows after ``error: ``."""
    return f"{type(exc).__name__}: {exc}"


class _Peer:
    """One open page: its WebSocket and a lock that keeps its sends in order."""

    __slots__ = ("ws", "lock")

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.lock = asyncio.Lock()

    async def send(self, text: str) -> None:
        async with self.lock:
            await self.ws.send_str(text)


class Panel:
    """The live panel of one rack at ``host:port`` (an OptoMMP device or the simulator).

    ``layout``: what to scan and show (:class:`~mmpfast.panel.model.Layout`);
    ``rate``: passes per second; ``writable``: outputs may be written from the
    page; ``sim``: a :class:`~mmpfast.sim.Simulator` whose inputs the page may
    set (its panel is always writable); ``timeout``: the client's call budget
    in seconds; ``title``: what the page's header names.
    """

    def __init__(self, host: str, port: int, layout: Layout, *, rate: float = 10.0,
                 writable: bool = False, sim: Any = None, timeout: float = 1.0,
                 title: Optional[str] = None, http_host: str = "127.0.0.1") -> None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"rate must be a positive number of passes per second, got {rate!r}")
        self.layout = layout
        self.rate = float(rate)
        self.sim = sim
        self.writable = bool(writable or sim is not None)
        self.title = title or f"{host}:{port}"
        self.http_host = http_host
        self.client = AsyncClient(host, port, timeout=timeout, pipeline=8, device=layout.device)
        self.plan = layout.plan(self.client.max_block)
        self.loop = AsyncScanLoop(self.client, self.plan, self.rate, callback=self._on_pass,
                                  on_error=self._on_error, reuse_buffer=True)
        self.values: Dict[str, Any] = {}
        self.state = "connecting"
        self.peers: Set[_Peer] = set()
        self._prev: Optional[bytes] = None      # the last good pass's buffer
        self._stale = False                     # ``values`` lags behind ``_prev``
        self._times: Deque[float] = deque(maxlen=max(3, int(self.rate * 2) + 1))
        self._status_sent = 0.0
        self._last_state = ""
        self._ok = 0
        self._errors = 0
        self._task: Optional["asyncio.Task[Any]"] = None
        self._runner: Optional[web.AppRunner] = None
        self._static = _load_static()
        self.url = ""
        self.app = self._make_app()

    # ------------------------------------------------------------------ HTTP
    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        for route in self._static:
            app.router.add_get(route, self._serve_static)
        app.router.add_get("/ws", self._ws)
        return app

    def _host_allowed(self, hostport: str) -> bool:
        name = _hostname(hostport)
        return name in _LOOPBACK_NAMES or is_ip_address(name) or name == self.http_host.lower()

    @web.middleware
    async def _guard(self, request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        if not self._host_allowed(request.host):
            return web.Response(status=403, text="host not allowed\n", headers=_HEADERS)
        resp = await handler(request)
        if not resp.prepared:
            for k, v in _HEADERS.items():
                resp.headers.setdefault(k, v)
        return resp

    async def _serve_static(self, request: web.Request) -> web.StreamResponse:
        body, ctype = self._static[request.path]
        return web.Response(body=body, content_type=ctype, charset="utf-8")

    def origin_ok(self, request: web.Request) -> bool:
        """True when the request's ``Origin`` is this panel's own origin."""
        origin = request.headers.get("Origin")
        if not origin:
            return False
        parts = urlsplit(origin)
        return parts.scheme == "http" and parts.netloc.lower() == request.host.lower()

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        if not self.origin_ok(request):
            log.warning("refused a WebSocket from origin %r", request.headers.get("Origin"))
            return web.Response(status=403, text="cross-origin WebSocket refused\n")
        ws = web.WebSocketResponse(heartbeat=15.0, max_msg_size=4096)
        await ws.prepare(request)
        peer = _Peer(ws)
        try:
            async with peer.lock:       # the hello goes first; every later change reaches this page
                self.peers.add(peer)
                await ws.send_str(json.dumps(self.hello()))
            async for msg in ws:    # (inside the try: the finally drops the peer)
                if msg.type == WSMsgType.TEXT:
                    reply = await self.handle(msg.data)
                    await peer.send(json.dumps(reply))
                elif msg.type == WSMsgType.ERROR:   # pragma: no cover - transport trouble
                    break
        finally:
            self.peers.discard(peer)
        return ws

    # ------------------------------------------------------------------ state sent to pages
    def status(self) -> Dict[str, Any]:
        """The status bar: state, achieved rate (Hz, recent passes), target, counters."""
        t = self._times
        rate = (len(t) - 1) / (t[-1] - t[0]) if len(t) >= 2 and t[-1] > t[0] else 0.0
        return {"state": self.state, "rate": round(rate, 2), "target": self.rate, "ok": self._ok,
                "errors": self._errors, "points": len(self.plan), "requests": len(self.plan.requests)}

    def hello(self) -> Dict[str, Any]:
        """The first message of every connection: what to draw and every current value."""
        self._fresh()
        return {"type": "hello", "title": self.title, "layout": self.layout.as_json(),
                "writable": self.writable, "sim": self.sim is not None, "status": self.status(),
                "changes": changes(None, self.values)}

    async def broadcast(self, message: Dict[str, Any]) -> None:
        """Send ``message`` to every open page (a page that cannot take it is dropped)."""
        if not self.peers:
            return
        text = json.dumps(message)
        for peer in list(self.peers):
            try:
                await asyncio.wait_for(peer.send(text), 2.0)
            except (ConnectionError, RuntimeError, asyncio.TimeoutError):
                self.peers.discard(peer)            # closed without holding up the scan
                asyncio.ensure_future(peer.ws.close())

    async def _push(self, changed: List[List[Any]], force_status: bool) -> None:
        now = time.monotonic()
        state_changed = self.state != self._last_state
        send_status = force_status or state_changed or now - self._status_sent >= STATUS_EVERY
        if not changed and not send_status:
            return
        msg: Dict[str, Any] = {"type": "update", "changes": changed}
        if send_status:
            msg["status"] = self.status()
            self._status_sent = now
            self._last_state = self.state
        await self.broadcast(msg)

    async def _on_pass(self, res: ScanResult) -> None:
        self._ok += 1
        self._times.append(time.monotonic())
        self.state = "live"
        buf = res.buffer
        changed: List[List[Any]] = []
        if self._prev is None or buf != self._prev:
            self._prev = bytes(buf)
            if self.peers:
                self._fresh()
                cur = snapshot(res.values())
                changed = changes(self.values, cur)
                self.values = cur
            else:                   # nobody looks: decode when a page connects
                self._stale = True
        await self._push(changed, False)

    def _fresh(self) -> None:
        """Bring ``values`` up to the last pass's buffer when it was left undecoded."""
        if self._stale and self._prev is not None:
            self.values = snapshot(self.plan.result(self._prev).values())
        self._stale = False

    async def _on_error(self, exc: BaseException) -> None:
        self._errors += 1
        self._times.clear()
        self.state = "error: " + describe_error(exc)
        await self._push([], False)

    # ------------------------------------------------------------------ actions from pages
    async def handle(self, text: str) -> Dict[str, Any]:
        """One message from a page -> the ``result`` message to send back."""
        try:
            msg = json.loads(text)
        except ValueError:
            return {"type": "result", "id": None, "outcome": "refused", "message": "not JSON"}
        if not isinstance(msg, dict):
            return {"type": "result", "id": None, "outcome": "refused", "message": "not a JSON object"}
        ident = msg.get("id")
        if not isinstance(ident, (int, str)) or isinstance(ident, bool):
            ident = None
        out: Dict[str, Any] = {"type": "result", "id": ident, "action": msg.get("type")}
        try:
            out.update(await self._act(msg))
        except (ValueError, TypeError) as exc:
            out.update(outcome="refused", message=str(exc))
        if out["outcome"] != "acknowledged":
            log.info("page action %r: %s %s", msg.get("type"), out["outcome"], out.get("message", ""))
        return out

    def _point(self, msg: Dict[str, Any]) -> Tuple[str, int, int]:
        kind, m, c = msg.get("kind"), msg.get("module"), msg.get("channel")
        if kind not in ("digital", "analog"):
            raise ValueError("kind must be 'digital' or 'analog'")
        for name, v in (("module", m), ("channel", c)):
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"{name} must be an int")
        assert isinstance(m, int) and isinstance(c, int)
        return str(kind), m, c

    @staticmethod
    def _value(kind: str, v: Any) -> Any:
        if kind == "digital":
            if v in (0, 1) and not isinstance(v, float):
                return bool(v)
            raise ValueError("a digital value is 0 or 1")
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise TypeError("an analog value must be a number")
        f = float(v)
        if not math.isfinite(f):
            raise ValueError("an analog value must be finite")
        return f

    async def _act(self, msg: Dict[str, Any]) -> Dict[str, Any]:
        action = msg.get("type")
        if action == "write":
            if not self.writable:
                return {"outcome": "refused", "message": "writes are off (start the panel with --allow-writes)"}
            kind, m, c = self._point(msg)
            if not self.layout.writable(kind, m, c):
                return {"outcome": "refused", "message": f"module {m} channel {c} is not a {kind} output"}
            value = self._value(kind, msg.get("value"))
            try:
                if kind == "digital":
                    await self.client.write_digital(m, c, value)
                else:
                    await self.client.write_analog(m, c, value)
            except MmpNakError as exc:
                return {"outcome": "nak", "code": f"0x{exc.error_code:04X}", "message": str(exc)}
            except WriteOutcomeUnknown as exc:
                return {"outcome": "unknown", "message": str(exc)}
            except MmpError as exc:
                return {"outcome": "error", "message": describe_error(exc)}
            return {"outcome": "acknowledged"}
        if action in ("sim-set", "sim-pulse"):
            if self.sim is None:
                return {"outcome": "refused", "message": "simulator controls exist only on the simulator's panel"}
            kind, m, c = self._point(msg)
            if not self.layout.input(kind, m, c):
                return {"outcome": "refused", "message": f"module {m} channel {c} is not a simulated {kind} input"}
            if action == "sim-set":
                value = self._value(kind, msg.get("value"))
                if kind == "digital":
                    self.sim.set_digital(m, c, value)
                else:
                    self.sim.set_analog(m, c, value)
                return {"outcome": "acknowledged"}
            if kind != "digital":
                raise ValueError("sim-pulse takes a digital input")
            self._pulse(m, c)
            return {"outcome": "acknowledged"}
        raise ValueError(f"unknown message type {action!r}")

    def _pulse(self, m: int, c: int) -> None:
        """One rising and one falling edge on a simulated digital input (the state ends
        as it was): the counter counts one, both latches set."""
        sim = self.sim
        feature = sim.memory.read(memmap.digital_read_address(m, c) + memmap.DIG_FEATURE_TYPE, 4)
        if int.from_bytes(feature, "big") != 1:
            sim.set_feature(m, c, 1)
        sim.pulse(m, c)

    # ------------------------------------------------------------------ lifecycle
    async def start(self, http_host: str = "127.0.0.1", http_port: int = 8765) -> str:
        """Serve the page and start scanning; returns the page's URL."""
        self.http_host = http_host
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, http_host, http_port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        port = int(runner.addresses[0][1])
        shown = http_host
        if shown in ("", "0.0.0.0", "::"):
            shown = "127.0.0.1"
        if ":" in shown:
            shown = f"[{shown}]"
        self.url = f"http://{shown}:{port}/"
        self._task = asyncio.ensure_future(self.loop.run())
        return self.url

    async def stop(self) -> None:
        """Stop scanning, close every page's WebSocket and the listener."""
        self.loop.stop()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), 3.0)
            except asyncio.TimeoutError:   # pragma: no cover - a pass stuck past its timeout
                task.cancel()
            except Exception:              # pragma: no cover - logged, shutdown goes on
                log.exception("scan loop failed")
        for peer in list(self.peers):
            await peer.ws.close(code=1001, message=b"panel stopped")
        self.peers.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.client.close()


class ThreadedPanel:
    """A :class:`Panel` serving from a thread of its own (its own event loop).

    ``ThreadedPanel(make_panel, http_host, http_port)`` builds the panel in
    that thread (``make_panel()`` is called there) and returns once it serves;
    ``.url``; ``.stop()`` stops it and joins the thread (idempotent).
    """

    def __init__(self, make_panel: Callable[[], Panel], http_host: str, http_port: int) -> None:
        self.url = ""
        self.panel: Optional[Panel] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._done: Optional[asyncio.Event] = None
        self._ready = threading.Event()
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, args=(make_panel, http_host, http_port),
                                        name="mmpfast-panel", daemon=True)
        self._thread.start()
        if not self._ready.wait(15.0):   # pragma: no cover
            raise RuntimeError("the panel did not start in time")
        if self._error is not None:
            self._thread.join()
            raise self._error

    def _run(self, make_panel: Callable[[], Panel], http_host: str, http_port: int) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            self._done = asyncio.Event()
            panel = make_panel()
            self.url = loop.run_until_complete(panel.start(http_host, http_port))
            self.panel = panel
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_until_complete(self._done.wait())
            loop.run_until_complete(panel.stop())
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    def stop(self) -> None:
        """Stop serving and join the thread."""
        loop, done = self._loop, self._done
        if loop is not None and done is not None and self._thread.is_alive():
            try:
                loop.call_soon_threadsafe(done.set)
            except RuntimeError:   # pragma: no cover - loop already closed
                pass
        self._thread.join(10.0)
