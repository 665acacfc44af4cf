"""asyncio transport of the simulator: TCP and UDP on one port, streaming.

All protocol decisions live in ``Memory.respond``; this module frames the
TCP byte stream with ``codec.frame_length``, paces answers (``latency``),
and writes each response with exactly one ``transport.write``.
"""
from __future__ import annotations

import asyncio
import collections
import ipaddress
import logging
import socket
from typing import Any, Callable, Deque, Optional, Set, Tuple

from .. import codec
from ..errors import MmpProtocolError
from ..protocol import HEADER_BLOCK, MAX_DATA_LENGTH, MIN_PEEK, REQUEST_TCODES
from .memory import Memory

log = logging.getLogger("mmpfast.sim")

#: most bytes of pipelined requests a connection may have waiting for their
#: (delayed) answers before the server stops reading from it
MAX_PENDING_BYTES = 1 << 20
#: the largest frame a client can announce (16-byte header + 65535 data bytes)
MAX_FRAME = HEADER_BLOCK + MAX_DATA_LENGTH
_UNDEFINED = object()


def is_loopback(host: str) -> bool:
    """True when ``host`` is a loopback IP address (127.0.0.0/8, ::1)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class _Pacer:
    """Answers queued items in order, each ``latency`` seconds after the
    previous answer or its own arrival, whichever is later."""

    def __init__(self, loop: asyncio.AbstractEventLoop, latency: float,
                 answer: Callable[[Any], bool]) -> None:
        self.loop = loop
        self.latency = latency
        self.answer = answer            # returns False to stop (connection closing)
        self.queue: Deque[Tuple[float, Any, int]] = collections.deque()
        self.pending_bytes = 0
        self.last_answer = float("-inf")
        self.timer: Optional[asyncio.TimerHandle] = None
        self.on_drain: Optional[Callable[[], None]] = None

    def put(self, item: Any, size: int) -> None:
        self.queue.append((self.loop.time(), item, size))
        self.pending_bytes += size
        if self.timer is None:
            self._schedule()

    def _schedule(self) -> None:
        arrival = self.queue[0][0]
        due = max(self.last_answer, arrival) + self.latency
        self.timer = self.loop.call_at(due, self._fire)

    def _fire(self) -> None:
        self.timer = None
        _, item, size = self.queue.popleft()
        self.pending_bytes -= size
        self.last_answer = self.loop.time()
        if not self.answer(item):
            self.cancel()
            return
        if self.on_drain is not None and self.pending_bytes < MAX_PENDING_BYTES // 4:
            self.on_drain()
        if self.queue:
            self._schedule()

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.queue.clear()
        self.pending_bytes = 0


class _TcpConnection(asyncio.Protocol):
    def __init__(self, server: "SimServer") -> None:
        self.server = server
        self.memory = server.memory
        self.transport: Optional[asyncio.Transport] = None
        self.buf = bytearray()
        self.closing = False
        self.rejected = False       # an undefined tcode arrived: ignore the rest
        self.peer: Any = None
        self.closed: "asyncio.Future[None]" = server.loop.create_future()
        self._pause_reasons: Set[str] = set()
        self.pacer: Optional[_Pacer] = None
        if server.latency > 0:
            self.pacer = _Pacer(server.loop, server.latency, self._answer_item)
            self.pacer.on_drain = lambda: self._resume("pending")

    # -- flow control
    def _pause(self, reason: str) -> None:
        if not self._pause_reasons and self.transport is not None and not self.closing:
            self.transport.pause_reading()
        self._pause_reasons.add(reason)

    def _resume(self, reason: str) -> None:
        if reason in self._pause_reasons:
            self._pause_reasons.discard(reason)
            if not self._pause_reasons and self.transport is not None and not self.closing:
                self.transport.resume_reading()

    def pause_writing(self) -> None:
        self._pause("writing")

    def resume_writing(self) -> None:
        self._resume("writing")
        if self.buf and not (self.closing or self.rejected):
            self.data_received(b"")     # answer what was held back while the peer did not read

    # -- lifecycle
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.peer = transport.get_extra_info("peername")
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        self.server.connections.add(self)
        self.memory.stats.connections += 1
        log.info("connection from %s", _fmt_peer(self.peer))

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.closing = True
        if self.pacer is not None:
            self.pacer.cancel()
        self.server.connections.discard(self)
        self.buf = bytearray()
        if not self.closed.done():
            self.closed.set_result(None)
        log.info("connection from %s closed%s", _fmt_peer(self.peer), f" ({exc})" if exc else "")

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
        self.closing = True

    # -- frames
    def _send(self, resp: bytes) -> None:
        assert self.transport is not None
        self.memory.stats.frames_out += 1   # counted first: the peer may look at once
        self.transport.write(resp)          # one write per response

    def _answer_item(self, item: Any) -> bool:
        if self.closing:
            return False
        resp, close = self.memory.respond(item)
        self._send(resp)
        if close:
            log.warning("undefined tcode from %s: answered rcode 1, closing", _fmt_peer(self.peer))
            self.close()
            return False
        return True

    def data_received(self, data: bytes) -> None:
        if self.closing or self.rejected:
            return
        buf = self.buf
        buf += data
        pos = 0
        end = len(buf)
        pacer = self.pacer
        memory = self.memory
        frame_length = codec.frame_length
        mv = memoryview(buf)
        try:
            while end - pos >= MIN_PEEK:
                tcode = mv[pos + 3] >> 4
                if tcode not in REQUEST_TCODES:
                    # cannot resynchronise: answer rcode 1 and close (after earlier answers)
                    item = bytes(mv[pos:min(end, pos + HEADER_BLOCK)])
                    if pacer is None:
                        self._answer_item(item)
                    else:
                        pacer.put(item, len(item))
                    pos = end
                    self._stop_reading()
                    break
                try:
                    n = frame_length(mv[pos:])
                except MmpProtocolError:      # pragma: no cover - tcode checked above
                    n = None
                if n is None or end - pos < n:
                    break
                if pacer is None:
                    resp, _ = memory.respond(mv[pos:pos + n])
                    memory.stats.frames_out += 1
                    self.transport.write(resp)  # type: ignore[union-attr]
                    if "writing" in self._pause_reasons:
                        # the peer is not reading: keep the rest unanswered (reading
                        # is paused) so one receive cannot queue megabytes of answers
                        pos += n
                        break
                else:
                    pacer.put(bytes(mv[pos:pos + n]), n)
                pos += n
        except Exception:   # a simulator bug must not take the server down
            log.exception("internal error while answering %s; closing it", _fmt_peer(self.peer))
            pos = end
            self._stop_reading()
            self.close()
        finally:
            mv.release()
        if self.buf is not buf:
            return
        if pos:
            try:
                del buf[:pos]
            except BufferError:     # pragma: no cover - a view outlived its frame
                self.buf = bytearray(buf[pos:])
        if pacer is not None and pacer.pending_bytes > MAX_PENDING_BYTES:
            self._pause("pending")
        # len(buf) < MAX_FRAME here (only an incomplete frame is kept), unless answers
        # were held back for a peer that does not read: then at most one receive's worth

    def _stop_reading(self) -> None:
        self.rejected = True
        self.buf = bytearray()
        if self.pacer is None:
            self.closing = True
        elif self.transport is not None and not self.closing:
            self._pause("closing")


def _fmt_peer(peer: Any) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)


class _UdpEndpoint(asyncio.DatagramProtocol):
    def __init__(self, server: "SimServer") -> None:
        self.server = server
        self.memory = server.memory
        self.transport: Optional[asyncio.DatagramTransport] = None
        self.pacer: Optional[_Pacer] = None
        if server.latency > 0:
            self.pacer = _Pacer(server.loop, server.latency, self._answer_item)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def _answer_item(self, item: Tuple[bytes, Any]) -> bool:
        data, addr = item
        resp = self._response(data)
        if resp is not None and self.transport is not None and not self.transport.is_closing():
            self.memory.stats.frames_out += 1
            self.transport.sendto(resp, addr)
        return True

    def _response(self, data: bytes) -> Optional[bytes]:
        memory = self.memory
        if len(data) < MIN_PEEK:
            return None
        tcode = data[3] >> 4
        if tcode not in REQUEST_TCODES:
            return memory.respond(data)[0]
        n = codec.frame_length(data)
        if n != len(data):
            return memory.respond_bad_length(data)
        return memory.respond(data)[0]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.memory.stats.datagrams += 1
        if len(data) < MIN_PEEK:
            log.debug("ignoring %d-byte datagram from %s", len(data), _fmt_peer(addr))
            return
        if self.pacer is not None:
            if self.pacer.pending_bytes > MAX_PENDING_BYTES:
                return      # a device drops what it cannot buffer
            self.pacer.put((data, addr), len(data))
        else:
            self._answer_item((data, addr))

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error: %s", exc)


class SimServer:
    """The simulator's listeners in one event loop (TCP + UDP on one port, streaming)."""

    def __init__(self, memory: Memory, host: str = "127.0.0.1", port: int = 0, *,
                 latency: float = 0.0, udp: bool = True, allow_remote_stream: bool = False) -> None:
        if latency < 0:
            raise ValueError("latency must be >= 0")
        self.memory = memory
        self.host = host
        self.requested_port = port
        self.port = port
        self.latency = float(latency)
        self.udp = udp
        self.allow_remote_stream = allow_remote_stream
        self.connections: Set[_TcpConnection] = set()
        self._tcp: Optional[asyncio.base_events.Server] = None
        self._udp: Optional[asyncio.DatagramTransport] = None
        self._stream_task: Optional["asyncio.Task[None]"] = None
        self._stream_event: Optional[asyncio.Event] = None
        self._listener: Optional[Callable[[], None]] = None
        self._warned_remote: Set[str] = set()
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]

    async def start(self) -> None:
        """Bind and listen (TCP, then UDP on the same port)."""
        self.loop = asyncio.get_running_loop()
        loop = self.loop
        infos = await loop.getaddrinfo(self.host, self.requested_port, type=socket.SOCK_STREAM)
        if not infos:   # pragma: no cover
            raise OSError(f"cannot resolve {self.host!r}")
        family, _, _, _, sockaddr = infos[0]
        bind_host = str(sockaddr[0])
        attempts = 20 if self.requested_port == 0 else 1
        last_exc: Optional[BaseException] = None
        for _ in range(attempts):
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                if self.requested_port:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(sockaddr)
                sock.listen(128)
                sock.setblocking(False)
            except BaseException:
                sock.close()
                raise
            port = sock.getsockname()[1]
            tcp = await loop.create_server(lambda: _TcpConnection(self), sock=sock)
            if not self.udp:
                self._tcp = tcp
                self.port = port
                break
            try:
                udp, _ = await loop.create_datagram_endpoint(
                    lambda: _UdpEndpoint(self), local_addr=(bind_host, port), family=family)
            except OSError as exc:
                last_exc = exc
                tcp.close()
                await tcp.wait_closed()
                continue
            self._tcp = tcp
            self._udp = udp
            self.port = port
            break
        else:
            raise OSError(f"cannot bind TCP and UDP on one port at {self.host}") from last_exc
        self.host = bind_host
        self._stream_event = asyncio.Event()
        event = self._stream_event

        def on_config() -> None:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:    # loop closed
                pass

        self._listener = on_config
        self.memory.add_listener(on_config)
        self._stream_task = loop.create_task(self._stream_loop())
        log.info("simulator listening on %s:%d (TCP%s)", self.host, self.port, " and UDP" if self._udp else "")

    async def _stream_loop(self) -> None:
        assert self._stream_event is not None
        event = self._stream_event
        own: Optional[asyncio.DatagramTransport] = None
        try:
            while True:
                cfg = self.memory.stream_config()
                if not (cfg.enabled and cfg.port and cfg.targets):
                    event.clear()
                    await event.wait()
                    continue
                transport = self._udp
                if transport is None:
                    if own is None:
                        own, _ = await self.loop.create_datagram_endpoint(
                            asyncio.DatagramProtocol, local_addr=(self.host, 0))
                    transport = own
                packet = self.memory.stream_packet()
                for ip in cfg.targets:
                    if not (self.allow_remote_stream or is_loopback(ip)):
                        if ip not in self._warned_remote:
                            self._warned_remote.add(ip)
                            log.warning("not streaming to non-loopback target %s "
                                        "(allow_remote_stream=False)", ip)
                        continue
                    self.memory.stats.stream_packets += 1
                    transport.sendto(packet, (ip, cfg.port))
                event.clear()
                try:
                    await asyncio.wait_for(event.wait(), max(cfg.interval_ms, 1) / 1000.0)
                except asyncio.TimeoutError:
                    pass
        finally:
            if own is not None:
                own.close()

    async def close(self) -> None:
        """Stop listening, close every connection and the streaming task."""
        if self._listener is not None:
            self.memory.remove_listener(self._listener)
            self._listener = None
        if self._stream_task is not None:
            self._stream_task.cancel()
            try:
                await self._stream_task
            except asyncio.CancelledError:
                pass
            self._stream_task = None
        if self._tcp is not None:
            self._tcp.close()
        conns = list(self.connections)
        for c in conns:
            if c.transport is not None:
                c.transport.abort()
        if conns:
            await asyncio.wait([c.closed for c in conns], timeout=2.0)
        if self._tcp is not None:
            try:
                await asyncio.wait_for(self._tcp.wait_closed(), 2.0)
            except asyncio.TimeoutError:   # pragma: no cover
                pass
            self._tcp = None
        if self._udp is not None:
            self._udp.close()
            self._udp = None
            await asyncio.sleep(0)
