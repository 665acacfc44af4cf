"""A frame-aware TCP proxy that injects faults into responses, for tests.

``FaultProxy(upstream_host, upstream_port)`` listens on 127.0.0.1 (port 0 =
any free port) in a background thread; each client connection gets its own
upstream connection.  Requests are forwarded unchanged (and counted per
tcode); responses are framed with ``codec.frame_length`` and, one by one,
take the next entry of a fault queue shared by all connections::

    with Simulator() as sim, FaultProxy(sim.host, sim.port) as proxy:
        proxy.next_response(Fault.drop())          # the next response vanishes
        proxy.next_response(None)                  # the one after passes
        proxy.next_response(Fault.cut_header())    # and the third is cut short
        ...
        assert proxy.up_by_tcode[1] == 1           # the write was sent once

Counters: ``frames_up`` (requests forwarded), ``frames_down`` (responses
forwarded, modified ones included), ``dropped``, ``connections``,
``up_by_tcode``, ``faults_applied``.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import socket
import struct
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Deque, Dict, Iterable, Optional, Set, Type

from .. import codec
from ..errors import MmpProtocolError
from ..protocol import HEADER_BLOCK, MIN_PEEK, MIN_PEEK_VARIABLE, OFF_TL, VARIABLE_TCODES

log = logging.getLogger("mmpfast.sim.faults")

__all__ = ["Fault", "FaultProxy"]

#: tcode used by ``Fault.unknown_tcode()`` (tcode 3 does not exist)
UNKNOWN_TCODE = 3


@dataclass(frozen=True)
class Fault:
    """What to do to one response.  Build with the factory methods."""

    kind: str
    seconds: float = 0.0
    keep: Optional[int] = None
    offset: int = 0
    xor: int = 0xFF
    tl: Optional[int] = None

    @classmethod
    def delay(cls, seconds: float) -> "Fault":
        """Forward the response ``seconds`` later (later responses queue behind it)."""
        return cls("delay", seconds=float(seconds))

    @classmethod
    def drop(cls) -> "Fault":
        """Never forward this response (the connection stays open)."""
        return cls("drop")

    @classmethod
    def cut_header(cls, keep: int = 6) -> "Fault":
        """Send the first ``keep`` bytes of the header, then close the connection."""
        return cls("cut_header", keep=keep)

    @classmethod
    def cut_data(cls, keep: Optional[int] = None) -> "Fault":
        """Send the header and ``keep`` data bytes (default half of them; for a
        frame without data, all but its last byte), then close."""
        return cls("cut_data", keep=keep)

    @classmethod
    def corrupt(cls, offset: int = 3, xor: int = 0xFF) -> "Fault":
        """XOR byte ``offset`` of the response with ``xor`` (default: the tcode byte)."""
        return cls("corrupt", offset=offset, xor=xor)

    @classmethod
    def change_tl(cls, tl: Optional[int] = None) -> "Fault":
        """Give the response transaction label ``tl`` (default: the next label)."""
        return cls("change_tl", tl=tl)

    @classmethod
    def unknown_tcode(cls) -> "Fault":
        """Replace the response by a 16-byte frame with the undefined tcode 3 (same tl)."""
        return cls("unknown_tcode")

    @classmethod
    def reset(cls) -> "Fault":
        """Abort the client connection with a TCP RST instead of answering."""
        return cls("reset")

    @classmethod
    def close(cls) -> "Fault":
        """Close the client connection cleanly (FIN) instead of answering."""
        return cls("close")


class FaultProxy:
    """TCP proxy between a client and ``upstream`` that applies queued faults
    to responses.  Context manager; runs in a background thread."""

    def __init__(self, upstream_host: str, upstream_port: int, *, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._host = host
        self._port = port
        self._faults: Deque[Optional[Fault]] = collections.deque()
        self._lock = threading.Lock()
        self.frames_up = 0
        self.frames_down = 0
        self.dropped = 0
        self.connections = 0
        self.faults_applied = 0
        self.up_by_tcode: Dict[int, int] = {}
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._server: Optional[asyncio.base_events.Server] = None
        self._tasks: Set["asyncio.Task[None]"] = set()
        self._ready = threading.Event()
        self._error: Optional[BaseException] = None

    # ------------------------------------------------------------------ scripting
    def next_response(self, fault: Optional[Fault]) -> None:
        """Queue what happens to the next not-yet-scripted response (``None`` = pass it)."""
        with self._lock:
            self._faults.append(fault)

    def queue_faults(self, faults: Iterable[Optional[Fault]]) -> None:
        """Queue several entries at once, in order."""
        with self._lock:
            self._faults.extend(faults)

    def clear_faults(self) -> None:
        """Forget every queued fault."""
        with self._lock:
            self._faults.clear()

    @property
    def pending_faults(self) -> int:
        """Queued entries not yet used."""
        return len(self._faults)

    def _take(self) -> Optional[Fault]:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    # ------------------------------------------------------------------ lifecycle
    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        return self._port

    def start(self) -> "FaultProxy":
        """Listen in a background thread; returns once listening."""
        if self._thread is not None:
            raise RuntimeError("proxy already started")
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name="mmpfast-faultproxy", daemon=True)
        self._thread.start()
        self._ready.wait(10.0)
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(self._handle, self._host, self._port))
            self._port = self._server.sockets[0].getsockname()[1]
        except BaseException as exc:
            self._error = exc
            loop.close()
            self._ready.set()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._shutdown())
            loop.close()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
        if self._server is not None:
            await self._server.wait_closed()

    def stop(self) -> None:
        """Close every connection and stop the thread (idempotent)."""
        if self._thread is None:
            return
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10.0)
        self._thread = None
        self._loop = None

    close = stop

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.stop()

    # ------------------------------------------------------------------ per connection
    async def _handle(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        uwriter: Optional[asyncio.StreamWriter] = None
        try:
            try:
                ureader, uwriter = await asyncio.open_connection(*self.upstream)
            except OSError as exc:
                log.warning("upstream %s:%d unreachable: %s", *self.upstream, exc)
                return
            up = asyncio.ensure_future(self._pump_up(creader, uwriter))
            down = asyncio.ensure_future(self._pump_down(ureader, cwriter))
            try:
                await asyncio.wait([up, down], return_when=asyncio.FIRST_COMPLETED)
            finally:
                for t in (up, down):
                    t.cancel()
                await asyncio.gather(up, down, return_exceptions=True)
        except asyncio.CancelledError:
            pass
        finally:
            for w in (cwriter, uwriter):
                if w is not None:
                    w.close()
                    try:
                        await asyncio.wait_for(w.wait_closed(), 1.0)
                    except (Exception, asyncio.CancelledError):
                        pass
            self._tasks.discard(task)

    async def _pump_up(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        pending = bytearray()
        framing = True
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            if framing:
                pending += chunk
                pos = 0
                while len(pending) - pos >= MIN_PEEK:
                    try:
                        n = codec.frame_length(bytes(pending[pos:pos + MIN_PEEK_VARIABLE]))
                    except MmpProtocolError:
                        tcode = pending[pos + 3] >> 4
                        self.frames_up += 1
                        self.up_by_tcode[tcode] = self.up_by_tcode.get(tcode, 0) + 1
                        framing = False     # cannot resynchronise; stop counting
                        break
                    if n is None or len(pending) - pos < n:
                        break
                    tcode = pending[pos + 3] >> 4
                    self.frames_up += 1
                    self.up_by_tcode[tcode] = self.up_by_tcode.get(tcode, 0) + 1
                    pos += n
                del pending[:pos]
                if not framing:
                    pending.clear()
            writer.write(chunk)
            await writer.drain()

    async def _read_frame(self, reader: asyncio.StreamReader) -> Optional[bytes]:
        try:
            head = await reader.readexactly(MIN_PEEK)
        except asyncio.IncompleteReadError:
            return None
        tcode = head[3] >> 4
        if tcode in VARIABLE_TCODES:
            try:
                head += await reader.readexactly(MIN_PEEK_VARIABLE - MIN_PEEK)
            except asyncio.IncompleteReadError:
                return None
        try:
            n = codec.frame_length(head)
        except MmpProtocolError:
            # undefined tcode from upstream: forward what is there as one piece
            rest = await reader.read(65536)
            return head + rest
        assert n is not None
        try:
            return head + await reader.readexactly(n - len(head))
        except asyncio.IncompleteReadError:
            return None

    async def _pump_down(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            frame = await self._read_frame(reader)
            if frame is None:
                return
            fault = self._take()
            if fault is None:
                self.frames_down += 1
                writer.write(frame)
                await writer.drain()
                continue
            self.faults_applied += 1
            kind = fault.kind
            if kind == "delay":
                await asyncio.sleep(fault.seconds)
                self.frames_down += 1
                writer.write(frame)
            elif kind == "drop":
                self.dropped += 1
            elif kind == "cut_header":
                keep = HEADER_BLOCK // 2 if fault.keep is None else fault.keep
                writer.write(frame[:max(0, min(keep, len(frame) - 1))])
                await writer.drain()
                return
            elif kind == "cut_data":
                if len(frame) > HEADER_BLOCK:
                    k = (len(frame) - HEADER_BLOCK) // 2 if fault.keep is None else fault.keep
                    cut = HEADER_BLOCK + max(0, min(k, len(frame) - HEADER_BLOCK - 1))
                else:
                    cut = len(frame) - 1
                writer.write(frame[:cut])
                await writer.drain()
                return
            elif kind == "corrupt":
                b = bytearray(frame)
                if 0 <= fault.offset < len(b):
                    b[fault.offset] ^= fault.xor & 0xFF
                self.frames_down += 1
                writer.write(bytes(b))
            elif kind == "change_tl":
                b = bytearray(frame)
                old = b[OFF_TL] >> 2
                tl = (old + 1) % 64 if fault.tl is None else fault.tl % 64
                b[OFF_TL] = (tl << 2) | (b[OFF_TL] & 3)
                self.frames_down += 1
                writer.write(bytes(b))
            elif kind == "unknown_tcode":
                b = bytearray(HEADER_BLOCK)
                b[OFF_TL] = frame[OFF_TL]
                b[3] = UNKNOWN_TCODE << 4
                self.frames_down += 1
                writer.write(bytes(b))
            elif kind == "reset":
                sock = writer.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return
            elif kind == "close":
                return
            else:   # pragma: no cover
                raise ValueError(f"unknown fault {kind!r}")
            await writer.drain()
