"""A frame-aware TCP proxy that injects faults into responses, for tests.

``FaultProxy(upstream_host, upstream_port)`` listens on 127.0.0.1 (port 0 =
any free port) in a background thread; each client connection gets its own
upstream connection.  Requests are forwarded unchanged (and counted per
tcode); responses are framed with the codec's splitter and, one by one,
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

``UdpFaultProxy(upstream_host, upstream_port, ...)`` (``mmpfast.sim.udp_faults``,
importable from here too) does the same for UDP
(one request and one answer per datagram): it drops answers (every k-th,
by tl, a seeded random fraction, or scripted one by one), delays and
duplicates them and sends foreign datagrams (wrong tl, wrong tcode,
garbage), with the same kind of counters::

    with Simulator() as sim, UdpFaultProxy(sim.host, sim.port, drop_every=10) as proxy:
        ...                                        # a UDP client talks to proxy.address
        proxy.next_answer(UdpFault.duplicate())    # scripted faults come first
        assert proxy.up_by_tcode[1] == 1           # the write block reached the device once
"""
from __future__ import annotations

import asyncio
import logging
import socket
import struct
from dataclasses import dataclass
from typing import Optional, Set

from ..protocol import HEADER_BLOCK, MIN_PEEK, OFF_TL, VALID_TCODES, set_tcode, set_tl, tcode_of, tl_of
from .framing import whole_frames
from .proxybase import ProxyBase
# the UDP proxy lives in its own module; its names stay importable from here
from .udp_faults import GARBAGE as GARBAGE
from .udp_faults import UdpFault as UdpFault
from .udp_faults import UdpFaultProxy as UdpFaultProxy
from .udp_faults import foreign_datagram as foreign_datagram

log = logging.getLogger("mmpfast.sim.faults")

__all__ = ["Fault", "FaultProxy", "UdpFault", "UdpFaultProxy"]

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


class FaultProxy(ProxyBase[Fault]):
    """TCP proxy between a client and ``upstream`` that applies queued faults
    to responses.  Context manager; runs in a background thread."""

    _thread_name = "mmpfast-faultproxy"

    def __init__(self, upstream_host: str, upstream_port: int, *, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        super().__init__(upstream_host, upstream_port, host, port)
        self.connections = 0
        self._server: Optional[asyncio.base_events.Server] = None
        self._tasks: Set["asyncio.Task[None]"] = set()

    def next_response(self, fault: Optional[Fault]) -> None:
        """Queue what happens to the next not-yet-scripted response (``None`` = pass it)."""
        self._queue(fault)

    # ------------------------------------------------------------------ lifecycle
    def _open(self, loop: asyncio.AbstractEventLoop) -> None:
        self._server = loop.run_until_complete(asyncio.start_server(self._handle, self._host, self._port))
        self._port = self._server.sockets[0].getsockname()[1]

    def _shut(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.run_until_complete(self._shutdown())

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
        if self._server is not None:
            await self._server.wait_closed()

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
                for stop in whole_frames(pending):
                    self._count_up(tcode_of(pending[pos:pos + MIN_PEEK]))
                    pos = stop
                if len(pending) - pos >= MIN_PEEK and tcode_of(pending[pos:pos + MIN_PEEK]) not in VALID_TCODES:
                    self._count_up(tcode_of(pending[pos:pos + MIN_PEEK]))
                    framing = False     # cannot resynchronise; stop counting
                    pending.clear()
                else:
                    del pending[:pos]
            writer.write(chunk)
            await writer.drain()

    @staticmethod
    async def _read_frame(reader: asyncio.StreamReader, buf: bytearray) -> Optional[bytes]:
        """The next whole frame from upstream (``buf`` holds what was read beyond the last
        one); ``None`` at the end of the stream."""
        while True:
            one = whole_frames(buf, 1)
            if one:
                frame = bytes(buf[:one[0]])
                del buf[:one[0]]
                return frame
            if len(buf) >= MIN_PEEK and tcode_of(buf) not in VALID_TCODES:
                # undefined tcode from upstream: forward what is there as one piece
                frame = bytes(buf)
                buf.clear()
                return frame
            chunk = await reader.read(65536)
            if not chunk:
                return None
            buf += chunk

    async def _pump_down(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buf = bytearray()
        while True:
            frame = await self._read_frame(reader, buf)
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
                set_tl(b, tl_of(b) + 1 if fault.tl is None else fault.tl)
                self.frames_down += 1
                writer.write(bytes(b))
            elif kind == "unknown_tcode":
                b = bytearray(HEADER_BLOCK)
                b[OFF_TL] = frame[OFF_TL]
                set_tcode(b, UNKNOWN_TCODE)
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
