"""``Simulator``: the simulated groov EPIC as a context manager (background
thread with its own event loop) or as a coroutine in the caller's loop."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
import traceback
from types import TracebackType
from typing import AsyncIterator, Optional, Sequence, Tuple, Type, Union

from .memory import Memory, Stats
from .rack import SpecLike
from .server import DEFAULT_BACKLOG, SimServer, check_latency, check_options, new_event_loop

log = logging.getLogger("mmpfast.sim")

_START_TIMEOUT = 10.0
#: seconds ``stop()`` waits for the server thread before it raises
_STOP_TIMEOUT = 10.0


class Simulator:
    """A simulated groov EPIC (or SNAP PAC) speaking OptoMMP on TCP and UDP.

    ``host``/``port``: where to listen; the default is loopback only and
    ``port=0`` picks a free port (read ``sim.port`` after starting).  The
    memory map, rack and rules are described in ``mmpfast.sim.memory``.

    ``latency``: device answer time in seconds per request (finite, >= 0);
    on one connection requests are answered in order, each ``latency`` after
    the previous answer or its own arrival, whichever is later, so a
    pipelined burst of n requests takes n × latency.  Sub-millisecond
    latencies hold (the background thread's loop waits finely; see
    ``mmpfast.sim.server``).
    ``modules``: rack layout (``mmpfast.sim.rack``), ``None`` = the default
    rack (16 slots: 14 modules, slots 14 and 15 empty).  ``profile``:
    ``"epic"`` or ``"snap"`` (power-up clear enforced on snap);
    ``puc_required`` overrides that.  ``max_block``:
    largest accepted ``data_length`` (bigger is rcode 6).
    ``allow_remote_stream``: also stream to non-loopback targets.
    ``udp``: also answer UDP on the same port.
    ``max_connections``: refuse TCP connections beyond this many open ones
    (accepted and closed at once; ``None``: no cap).  ``idle_timeout``: close
    a connection that has held a half-received frame for this many seconds
    (``None``: never).  ``backlog``: the listen backlog.

    Whatever a peer does, a connection holds bounded memory: a peer that
    sends requests and never reads the answers makes the simulator stop
    answering and then stop reading (see ``mmpfast.sim.server``).

    Use ``with Simulator() as sim:`` (or ``start()``/``stop()``) from blocking
    code, ``await sim.serve()`` or ``async with sim.serving():`` from asyncio.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, latency: float = 0.0,
                 modules: Union[None, str, Sequence[SpecLike]] = None, profile: str = "epic",
                 max_block: int = 1024, puc_required: Optional[bool] = None,
                 allow_remote_stream: bool = False, udp: bool = True,
                 max_connections: Optional[int] = None, idle_timeout: Optional[float] = None,
                 backlog: int = DEFAULT_BACKLOG) -> None:
        if isinstance(port, bool) or not isinstance(port, int):
            raise TypeError("port must be an int")
        if not 0 <= port <= 0xFFFF:
            raise ValueError(f"port {port} out of range 0..65535")
        self.latency = check_latency(latency)
        check_options(max_connections, idle_timeout, backlog)
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.backlog = backlog
        self._host = host
        self._port = port
        self.udp = udp
        self.allow_remote_stream = allow_remote_stream
        self.memory = Memory(modules=modules, profile=profile, max_block=max_block,
                             puc_required=puc_required, ip=host)
        self._server: Optional[SimServer] = None
        self._thread: Optional[threading.Thread] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._ready = threading.Event()
        self._startup_error: Optional[BaseException] = None
        self._close_error: Optional[BaseException] = None

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

    def set_latch(self, module: int, channel: int, which: str) -> None:
        """Set a digital channel's latch: ``which`` is ``"on"`` or ``"off"`` (its state
        and counter are unchanged; a read-and-clear or a reset clears it)."""
        self.memory.set_latch(module, channel, which)

    def pulse(self, module: int, channel: int, n: int = 1) -> None:
        """``n`` pulses on a digital channel, applied at once: each one a change of state
        and back (the state ends as it was), so both latches are set and, when the
        channel's feature is counter (``set_feature(m, c, 1)``), its counter counts ``n``."""
        self.memory.pulse(module, channel, n)

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
                         allow_remote_stream=self.allow_remote_stream,
                         max_connections=self.max_connections, idle_timeout=self.idle_timeout,
                         backlog=self.backlog)

    # ------------------------------------------------------------------ background thread
    def start(self) -> "Simulator":
        """Start serving in a background thread; returns once listening."""
        if self._thread is not None or self._server is not None:
            raise RuntimeError("simulator already started")
        self._ready.clear()
        self._startup_error = None
        self._close_error = None
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
        loop = new_event_loop()     # timers precise to microseconds (sub-ms latencies)
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
            except BaseException as exc:    # reported by stop()
                self._close_error = exc
            finally:
                loop.close()
                self._loop = None

    def stop(self) -> None:
        """Stop serving and join the background thread (idempotent).

        Raises ``RuntimeError`` when the thread has not finished within 10 s
        (the message shows where it is stuck; the simulator then counts as
        still started, and ``stop()`` may be called again), or when closing
        the server failed.
        """
        thread, loop = self._thread, self._loop
        if thread is None:
            return
        if loop is not None:
            try:
                loop.call_soon_threadsafe(loop.stop)
            except RuntimeError:   # pragma: no cover - loop already closed
                pass
        thread.join(_STOP_TIMEOUT)
        if thread.is_alive():
            frame = sys._current_frames().get(thread.ident or -1)
            where = "".join(traceback.format_stack(frame)) if frame is not None else "(unknown)\n"
            raise RuntimeError(f"the simulator's thread did not stop within {_STOP_TIMEOUT:g} s; "
                               f"it is still running here:\n{where}")
        self._thread = None
        self._server = None
        err, self._close_error = self._close_error, None
        if err is not None:
            raise RuntimeError(f"the simulator did not close cleanly: {err}") from err

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
