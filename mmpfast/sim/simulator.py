"""``Simulator``: the simulated groov EPIC as a context manager (background
thread with its own event loop) or as a coroutine in the caller's loop."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from types import TracebackType
from typing import AsyncIterator, Optional, Sequence, Tuple, Type, Union

from .memory import Memory, Stats
from .rack import SpecLike
from .server import SimServer

log = logging.getLogger("mmpfast.sim")

_START_TIMEOUT = 10.0


class Simulator:
    """A simulated groov EPIC (or SNAP PAC) speaking OptoMMP on TCP and UDP.

    ``host``/``port``: where to listen; the default is loopback only and
    ``port=0`` picks a free port (read ``sim.port`` after starting).  The
    memory map, rack and rules are described in ``mmpfast.sim.memory``.

    ``latency``: device answer time in seconds per request; on one
    connection requests are answered in order, each ``latency`` after the
    previous answer or its own arrival, whichever is later.
    ``modules``: rack layout (``mmpfast.sim.rack``), ``None`` = the default
    16-module rack.  ``profile``: ``"epic"`` or ``"snap"`` (power-up clear
    enforced on snap); ``puc_required`` overrides that.  ``max_block``:
    largest accepted ``data_length`` (bigger is rcode 6).
    ``allow_remote_stream``: also stream to non-loopback targets.
    ``udp``: also answer UDP on the same port.

    Use ``with Simulator() as sim:`` (or ``start()``/``stop()``) from blocking
    code, ``await sim.serve()`` or ``async with sim.serving():`` from asyncio.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, latency: float = 0.0,
                 modules: Union[None, str, Sequence[SpecLike]] = None, profile: str = "epic",
                 max_block: int = 1024, puc_required: Optional[bool] = None,
                 allow_remote_stream: bool = False, udp: bool = True) -> None:
        if isinstance(port, bool) or not isinstance(port, int):
            raise TypeError("port must be an int")
        if not 0 <= port <= 0xFFFF:
            raise ValueError(f"port {port} out of range 0..65535")
        if isinstance(latency, bool) or not isinstance(latency, (int, float)):
            raise TypeError("latency must be a number of seconds")
        if latency < 0:
            raise ValueError("latency must be >= 0")
        self._host = host
        self._port = port
        self.latency = float(latency)
        self.udp = udp
        self.allow_remote_stream = allow_remote_stream
        self.memory = Memory(modules=modules, profile=profile, max_block=max_block,
                             puc_required=puc_required, ip=host)
        self._server: Optional[SimServer] = None
        self._thread: Optional[threading.Thread] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._ready = threading.Event()
        self._startup_error: Optional[BaseException] = None

    # ------------------------------------------------------------------ info
    @property
    def host(self) -> str:
        """The address listened on."""
        return self._server.host if self._server is not None else self._host

    @property
    def port(self) -> int:
        """The TCP (and UDP) port listened on; the requested one before start."""
        return self._server.port if self._server is not None else self._port

    @property
    def address(self) -> Tuple[str, int]:
        """``(host, port)``."""
        return self.host, self.port

    @property
    def stats(self) -> Stats:
        """Counters: frames_in, frames_out, naks, connections, by_tcode, stream_packets."""
        return self.memory.stats

    @property
    def running(self) -> bool:
        """True while listening."""
        return self._server is not None and self._server._tcp is not None

    # ------------------------------------------------------------------ I/O shortcuts
    def set_digital(self, module: int, channel: int, state: bool) -> None:
        """Set a digital channel (input or output) on or off (edges latch and count)."""
        self.memory.set_digital(module, channel, state)

    def get_digital(self, module: int, channel: int) -> bool:
        """A digital channel's state."""
        return self.memory.get_digital(module, channel)

    def set_analog(self, module: int, channel: int, value: float) -> None:
        """Set an analog channel's value (engineering units, float32)."""
        self.memory.set_analog(module, channel, value)

    def get_analog(self, module: int, channel: int) -> float:
        """An analog channel's value."""
        return self.memory.get_analog(module, channel)

    def set_feature(self, module: int, channel: int, feature_type: int) -> None:
        """Set a digital channel's feature type (1 = counter)."""
        self.memory.set_feature(module, channel, feature_type)

    def _new_server(self) -> SimServer:
        return SimServer(self.memory, self._host, self._port, latency=self.latency, udp=self.udp,
                         allow_remote_stream=self.allow_remote_stream)

    # ------------------------------------------------------------------ background thread
    def start(self) -> "Simulator":
        """Start serving in a background thread; returns once listening."""
        if self._thread is not None or self._server is not None:
            raise RuntimeError("simulator already started")
        self._ready.clear()
        self._startup_error = None
        self._thread = threading.Thread(target=self._run, name="mmpfast-sim", daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT):   # pragma: no cover
            raise RuntimeError("simulator did not start in time")
        if self._startup_error is not None:
            self._thread.join()
            self._thread = None
            err = self._startup_error
            self._startup_error = None
            raise err
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        server = self._new_server()
        try:
            loop.run_until_complete(server.start())
        except BaseException as exc:
            self._startup_error = exc
            loop.close()
            self._loop = None
            self._ready.set()
            return
        self._server = server
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            try:
                loop.run_until_complete(server.close())
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()
                self._loop = None

    def stop(self) -> None:
        """Stop serving and join the background thread (idempotent)."""
        thread, loop = self._thread, self._loop
        if thread is None:
            return
        if loop is not None:
            try:
                loop.call_soon_threadsafe(loop.stop)
            except RuntimeError:   # pragma: no cover - loop already closed
                pass
        thread.join(10.0)
        self._thread = None
        self._server = None

    def close(self) -> None:
        """Same as ``stop()``."""
        self.stop()

    def __enter__(self) -> "Simulator":
        return self.start()

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.stop()

    # ------------------------------------------------------------------ asyncio
    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator["Simulator"]:
        """``async with sim.serving():`` serve in the running loop for the block's duration."""
        if self._thread is not None or self._server is not None:
            raise RuntimeError("simulator already started")
        server = self._new_server()
        await server.start()
        self._server = server
        try:
            yield self
        finally:
            try:
                await server.close()
            finally:
                self._server = None

    async def serve(self) -> None:
        """Serve in the running loop until cancelled."""
        async with self.serving():
            await asyncio.Event().wait()

    def __repr__(self) -> str:
        state = "listening" if self.running else "stopped"
        return f"<Simulator {self.memory.profile} {self.host}:{self.port} {state}>"
