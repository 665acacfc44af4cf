"""asyncio transport of the simulator: TCP and UDP on one port, streaming.

All protocol decisions live in ``Memory.respond``; this module frames the
TCP byte stream with the codec's splitter (``framing``), paces answers (``latency``),
and writes each response with exactly one ``transport.write``.

What one connection can make the simulator hold, whatever its peer does
(a peer that sends requests and never reads, at any latency):

* answers written but not yet taken by the peer: at most the transport's
  high-water mark (``WRITE_HIGH_WATER`` bytes) plus one response.  No answer
  is produced while the transport's writing is paused; answering resumes
  when the peer reads;
* requests waiting for their delayed answers (``latency > 0``): at most
  ``MAX_PENDING_BYTES``, counting each request's bytes plus
  ``PENDING_OVERHEAD`` bytes of bookkeeping;
* received bytes not yet answered or queued: one receive's worth plus one
  frame.  While anything is held back, the server stops reading, so the
  rest waits in the kernel's socket buffers.

Options a device has: ``max_connections`` (connections beyond it are
accepted and closed at once), ``idle_timeout`` (seconds a connection may
hold a half-received frame before it is closed) and ``backlog`` (the listen
backlog).

Timing.  Answers are due ``latency`` after the previous answer's due time
or the request's arrival, whichever is later, so a pipelined burst of n
requests takes n × latency.  epoll waits whole milliseconds, so a plain
asyncio timer of 0.1 ms fires after ~1.1 ms.  The loop ``new_event_loop()``
makes (used by ``Simulator``'s thread) waits the sub-millisecond rest of a
timeout with ``select()`` on the epoll descriptor, which takes microseconds.
In any other loop (``Simulator.serving()`` in the caller's loop, the CLI),
an answer due within ``FINE_WINDOW`` seconds is waited for by polling the
loop (zero-timeout iterations that keep serving every connection); the loop
only does that while an answer is that close to due (``mmpfast.sim.timing``).

This module is about 700 lines because the TCP connection's flow control,
pacing and framing belong together; the timers live in ``timing``, the
answers in ``handler``.
"""
from __future__ import annotations

import asyncio
import collections
import ipaddress
import logging
import math
import os
import socket
from typing import Any, Callable, Deque, Optional, Set, Tuple

from .. import codec
from ..protocol import HEADER_BLOCK, MAX_DATA_LENGTH, MIN_PEEK, REQUEST_TCODES, TCODE_READ_BLOCK, tcode_of
from .framing import bad_request_head, whole_frames
from .memory import Memory
from .timing import FINE_WINDOW, _Due, _FineTimers, has_precise_timers, new_event_loop

__all__ = ["SimServer", "check_latency", "check_options", "new_event_loop", "has_precise_timers",
           "FINE_WINDOW", "DEFAULT_BACKLOG", "MAX_FRAME", "MAX_PENDING_BYTES", "PENDING_OVERHEAD",
           "WRITE_HIGH_WATER", "WRITE_LOW_WATER", "MAX_UDP_PAYLOAD", "is_loopback"]

log = logging.getLogger("mmpfast.sim")

#: most bytes of pipelined requests (plus ``PENDING_OVERHEAD`` each) a connection
#: may have waiting for their delayed answers before the server stops reading from it
MAX_PENDING_BYTES = 256 * 1024
#: bytes of bookkeeping counted for each waiting request (its Python objects)
PENDING_OVERHEAD = 160
#: the transport's write buffer above which no answer is produced (the peer is not reading)
WRITE_HIGH_WATER = 64 * 1024
#: ... and below which answering resumes
WRITE_LOW_WATER = 16 * 1024
#: the largest frame a client can announce (16-byte header + 65535 data bytes)
MAX_FRAME = HEADER_BLOCK + MAX_DATA_LENGTH
#: the listen backlog when none is given
DEFAULT_BACKLOG = 100
#: the largest UDP payload over IPv4 (65535 - 8 - 20); a UDP read whose answer is larger is rcode 6
MAX_UDP_PAYLOAD = 65507


def is_loopback(host: str) -> bool:
    """True when ``host`` is a loopback IP address (127.0.0.0/8, ::1)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def check_latency(latency: object) -> float:
    """``latency`` as a float number of seconds: TypeError unless a real number, ValueError
    unless finite and >= 0."""
    if isinstance(latency, bool) or not isinstance(latency, (int, float)):
        raise TypeError("latency must be a number of seconds")
    value = float(latency)
    if not math.isfinite(value):
        raise ValueError(f"latency must be a finite number of seconds, not {value!r}")
    if value < 0:
        raise ValueError("latency must be >= 0")
    return value


def check_options(max_connections: object, idle_timeout: object, backlog: object) -> None:
    """Validate the server options (TypeError / ValueError)."""
    if max_connections is not None:
        if isinstance(max_connections, bool) or not isinstance(max_connections, int):
            raise TypeError("max_connections must be an int or None")
        if max_connections < 1:
            raise ValueError("max_connections must be >= 1 (or None for no cap)")
    if idle_timeout is not None:
        if isinstance(idle_timeout, bool) or not isinstance(idle_timeout, (int, float)):
            raise TypeError("idle_timeout must be a number of seconds or None")
        if not (math.isfinite(idle_timeout) and idle_timeout > 0):
            raise ValueError("idle_timeout must be a finite number of seconds > 0 (or None)")
    if isinstance(backlog, bool) or not isinstance(backlog, int):
        raise TypeError("backlog must be an int")
    if backlog < 0:
        raise ValueError("backlog must be >= 0")


class _Pacer:
    """Answers queued items in order, each ``latency`` seconds after the previous
    answer's due time or its own arrival, whichever is later.

    ``answer(item)`` returns False to stop (connection closing).  While
    ``blocked()`` is true (the peer does not read) nothing is answered;
    ``kick()`` resumes.  ``pending_bytes`` counts each item's size plus
    ``PENDING_OVERHEAD``.
    """

    def __init__(self, timers: _FineTimers, latency: float, answer: Callable[[Any], bool],
                 blocked: Callable[[], bool] = lambda: False,
                 on_answered: Optional[Callable[[], None]] = None) -> None:
        self.timers = timers
        self.loop = timers.loop
        self.latency = latency
        self.answer = answer
        self.blocked = blocked
        self.on_answered = on_answered
        self.queue: Deque[Tuple[float, Any, int]] = collections.deque()
        self.pending_bytes = 0
        self.last_due = float("-inf")
        self.due: Optional[_Due] = None
        self.stopped = False
        self.firing = False             # inside _fire: it schedules the next answer itself

    def put(self, item: Any, size: int) -> None:
        cost = size + PENDING_OVERHEAD
        self.queue.append((self.loop.time(), item, cost))
        self.pending_bytes += cost
        if self.due is None and not self.stopped and not self.firing:
            self._schedule()

    def _next_due(self) -> float:
        return max(self.last_due, self.queue[0][0]) + self.latency

    def _schedule(self) -> None:
        self.due = self.timers.call_at(self._next_due(), self._fire)

    def _fire(self) -> None:
        self.due = None
        queue = self.queue
        now = self.loop.time()
        self.firing = True
        try:
            while queue and not self.stopped:
                if self.blocked():
                    return                  # kick() resumes once the peer reads again
                due = self._next_due()
                if due > now:
                    self._schedule()
                    return
                _, item, cost = queue.popleft()
                self.pending_bytes -= cost
                self.last_due = due
                if not self.answer(item):
                    self.cancel()
                    return
                if self.on_answered is not None:
                    self.on_answered()      # may queue more (put() leaves scheduling to us)
        finally:
            self.firing = False

    def kick(self) -> None:
        """Resume after ``blocked()`` turned false: the next answer is due now at the earliest."""
        if self.due is None and self.queue and not self.stopped and not self.firing:
            self.last_due = max(self.last_due, self.loop.time() - self.latency)
            self._schedule()

    def cancel(self) -> None:
        self.stopped = True
        if self.due is not None:
            self.due.cancel()
            self.due = None
        self.queue.clear()
        self.pending_bytes = 0


class _TcpConnection(asyncio.Protocol):
    def __init__(self, server: "SimServer") -> None:
        self.server = server
        self.memory = server.memory
        self.transport: Optional[asyncio.Transport] = None
        self.buf = bytearray()          # received, not yet answered or queued
        self.closing = False
        self.rejected = False           # an undefined tcode arrived: ignore the rest
        self.refused = False            # over max_connections: closed at once
        self.eof = False                # the peer half-closed
        self.peer: Any = None
        self.closed: "asyncio.Future[None]" = server.loop.create_future()
        self.writing_paused = False
        self.reading_paused = False
        self.stalled = False            # whole frames held back by flow control
        self.idle_timer: Optional[asyncio.TimerHandle] = None
        self.pacer: Optional[_Pacer] = None
        if server.latency > 0:
            self.pacer = _Pacer(server.timers, server.latency, self._answer_item,
                                blocked=lambda: self.writing_paused, on_answered=self._answered)

    # -- flow control
    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        if self.closing:
            return
        if self.pacer is not None:
            self.pacer.kick()
        if self.stalled:
            self._pump()        # answer what was held back while the peer did not read

    def _answered(self) -> None:
        pacer = self.pacer
        assert pacer is not None
        if self.stalled and pacer.pending_bytes <= MAX_PENDING_BYTES // 2:
            self._pump()
        elif self.eof and not pacer.queue and not self.stalled:
            self.close()        # half-closed peer: every answer went out

    def _set_reading(self, want: bool) -> None:
        transport = self.transport
        if transport is None or self.closing or transport.is_closing() or want != self.reading_paused:
            return
        if want:
            transport.resume_reading()
        else:
            transport.pause_reading()
        self.reading_paused = not want

    # -- lifecycle
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.peer = transport.get_extra_info("peername")
        server = self.server
        if server.max_connections is not None and len(server.connections) >= server.max_connections:
            self.refused = True
            self.closing = True
            server.refused_connections += 1
            log.info("refusing connection from %s: %d connections open (max_connections)",
                     _fmt_peer(self.peer), len(server.connections))
            transport.close()
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER, low=WRITE_LOW_WATER)  # type: ignore[attr-defined]
        server.connections.add(self)
        self.memory.stats.connections += 1
        log.info("connection from %s", _fmt_peer(self.peer))

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.closing = True
        if self.pacer is not None:
            self.pacer.cancel()
        self._cancel_idle()
        self.server.connections.discard(self)
        self.buf = bytearray()
        if not self.closed.done():
            self.closed.set_result(None)
        if not self.refused:
            log.info("connection from %s closed%s", _fmt_peer(self.peer), f" ({exc})" if exc else "")

    def eof_received(self) -> Optional[bool]:
        self.eof = True
        if self.closing:
            return None
        if (self.pacer is not None and self.pacer.queue) or self.stalled:
            return True         # keep the transport open until the last answer is out
        return None

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
        self.closing = True
        self._cancel_idle()

    # -- idle timeout (a half-received frame)
    def _cancel_idle(self) -> None:
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None

    def _update_idle(self, head_changed: bool) -> None:
        timeout = self.server.idle_timeout
        if timeout is None:
            return
        if not self.buf or self.stalled or self.closing or self.rejected:
            self._cancel_idle()         # no half-received frame (or it is held back by us)
        elif head_changed or self.idle_timer is None:
            self._cancel_idle()
            self.idle_timer = self.server.loop.call_later(timeout, self._idle_expired)

    def _idle_expired(self) -> None:
        self.idle_timer = None
        if self.closing:
            return
        self.server.idle_closed += 1
        log.info("closing connection from %s: %d bytes of a frame unfinished for %g s (idle_timeout)",
                 _fmt_peer(self.peer), len(self.buf), self.server.idle_timeout)
        self.closing = True
        if self.pacer is not None:
            self.pacer.cancel()
        if self.transport is not None:
            self.transport.abort()

    # -- frames
    def _answer_item(self, item: Any) -> bool:
        if self.closing or self.transport is None or self.transport.is_closing():
            return False
        resp, close = self.memory.respond(item)
        self.memory.stats.frames_out += 1   # counted first: the peer may look at once
        self.transport.write(resp)          # one write per response
        if close:
            log.warning("undefined tcode from %s: answered rcode 1, closing", _fmt_peer(self.peer))
            self.close()
            return False
        return True

    def data_received(self, data: bytes) -> None:
        if self.closing or self.rejected:
            return
        self.buf += data
        self._pump()

    def _pump(self) -> None:
        """Answer (latency 0) or queue (latency > 0) the whole frames at the head of
        ``buf`` as far as flow control allows; then start or stop reading and the idle timer."""
        buf = self.buf
        pos = 0
        end = len(buf)
        pacer = self.pacer
        memory = self.memory
        stats = memory.stats
        transport = self.transport
        stalled = False
        mv = memoryview(buf)
        try:
            for stop in whole_frames(mv):
                if pacer is None:
                    if self.writing_paused:
                        stalled = True      # the peer is not reading: answer nothing more
                        break
                    resp, close = memory.respond(mv[pos:stop])
                    stats.frames_out += 1
                    transport.write(resp)  # type: ignore[union-attr]  # one write per response
                    if close:       # a response's tcode: answered rcode 1; cannot resynchronise
                        log.warning("undefined tcode from %s: answered rcode 1, closing",
                                    _fmt_peer(self.peer))
                        self.close()
                        pos = end
                        self._reject()
                        break
                else:
                    if pacer.pending_bytes >= MAX_PENDING_BYTES:
                        stalled = True
                        break
                    frame = bytes(mv[pos:stop])
                    pacer.put(frame, stop - pos)
                    if bad_request_head(frame):     # answered rcode 1 in turn, then closed
                        pos = end
                        self._reject()
                        break
                pos = stop
            else:
                if bad_request_head(mv, pos) and not (
                        self.writing_paused if pacer is None else pacer.pending_bytes >= MAX_PENDING_BYTES):
                    # cannot resynchronise: answer rcode 1 and close (after earlier answers)
                    item = bytes(mv[pos:min(end, pos + HEADER_BLOCK)])
                    if pacer is None:
                        self._answer_item(item)
                    else:
                        pacer.put(item, len(item))
                    pos = end
                    self._reject()
                elif end - pos >= MIN_PEEK and (
                        self.writing_paused if pacer is None else pacer.pending_bytes >= MAX_PENDING_BYTES):
                    stalled = True
        except Exception:   # a simulator bug must not take the server down
            log.exception("internal error while answering %s; closing it", _fmt_peer(self.peer))
            pos = end
            self._reject()
            self.close()
        finally:
            mv.release()
        if self.buf is not buf:     # rejected or lost meanwhile
            return
        if pos:
            try:
                del buf[:pos]
            except BufferError:     # pragma: no cover - a view outlived its frame
                self.buf = bytearray(buf[pos:])
        self.stalled = stalled
        self._set_reading(not stalled)
        self._update_idle(pos > 0)
        if self.eof and not stalled and (pacer is None or not pacer.queue):
            self.close()            # half-closed peer: nothing more can complete

    def _reject(self) -> None:
        self.rejected = True
        self.stalled = False
        self.buf = bytearray()
        self._cancel_idle()
        if self.pacer is None:
            self.closing = True
        elif self.transport is not None and not self.closing:
            self._set_reading(False)


def _set_done(fut: "asyncio.Future[None]") -> None:
    if not fut.done():
        fut.set_result(None)


def _fmt_peer(peer: Any) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)


class _UdpEndpoint(asyncio.DatagramProtocol):
    """UDP (PROTOCOL.md §2.3): one request per datagram, one answer datagram to its sender.

    * a datagram of at least 4 bytes whose length is not the length its header
      implies (a truncated frame, two frames, trailing bytes) is answered with
      rcode 6 for its first frame's tcode and tl, and nothing is applied [INF];
    * an undefined or response tcode is answered rcode 1 (nothing to close) [INF];
    * a read block whose answer would not fit in one datagram
      (``MAX_UDP_PAYLOAD``) is answered rcode 6 [INF];
    * a datagram shorter than 4 bytes (no tcode, so no answer can be built) is
      not answered; nor, as a device drops what it cannot handle, anything
      received while ``MAX_PENDING_BYTES`` of delayed requests wait or while
      the socket cannot send.

    Counted in ``Stats``: ``datagrams`` (received), ``datagrams_out``,
    ``datagrams_dropped``, as well as ``frames_in``/``frames_out``.
    """

    def __init__(self, server: "SimServer") -> None:
        self.server = server
        self.memory = server.memory
        self.transport: Optional[asyncio.DatagramTransport] = None
        self.writing_paused = False
        self.pacer: Optional[_Pacer] = None
        if server.latency > 0:
            self.pacer = _Pacer(server.timers, server.latency, self._answer_item)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False

    def _answer_item(self, item: Tuple[bytes, Any]) -> bool:
        data, addr = item
        stats = self.memory.stats
        try:
            resp = self._response(data)
        except Exception:   # a simulator bug must not take the endpoint down
            log.exception("internal error while answering a datagram from %s", _fmt_peer(addr))
            stats.datagrams_dropped += 1
            return True
        if (self.transport is not None and not self.transport.is_closing()
                and not self.writing_paused):     # a device drops what it cannot send
            stats.frames_out += 1
            stats.datagrams_out += 1
            self.transport.sendto(resp, addr)
        else:
            stats.datagrams_dropped += 1
        return True

    def _response(self, data: bytes) -> bytes:
        memory = self.memory
        tcode = tcode_of(data)
        if tcode not in REQUEST_TCODES:
            return memory.respond(data)[0]
        n = codec.frame_length(data)
        if n != len(data):
            return memory.respond_bad_length(data)
        if tcode == TCODE_READ_BLOCK and codec.decode_frame(data).data_length + HEADER_BLOCK > MAX_UDP_PAYLOAD:
            return memory.respond_bad_length(data)
        return memory.respond(data)[0]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        stats = self.memory.stats
        stats.datagrams += 1
        if len(data) < MIN_PEEK:
            stats.datagrams_dropped += 1
            log.debug("ignoring %d-byte datagram from %s", len(data), _fmt_peer(addr))
            return
        if self.pacer is not None:
            if self.pacer.pending_bytes >= MAX_PENDING_BYTES:
                stats.datagrams_dropped += 1
                return      # a device drops what it cannot buffer
            self.pacer.put((data, addr), len(data))
        else:
            self._answer_item((data, addr))

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error: %s", exc)


class SimServer:
    """The simulator's listeners in one event loop (TCP + UDP on one port, streaming).

    ``latency`` in seconds per request; ``max_connections`` caps open TCP
    connections (``None``: no cap); ``idle_timeout`` closes a connection that
    holds a half-received frame that long (seconds; ``None``: never);
    ``backlog`` is the listen backlog.  ``refused_connections`` and
    ``idle_closed`` count what the last two did.
    """

    def __init__(self, memory: Memory, host: str = "127.0.0.1", port: int = 0, *,
                 latency: float = 0.0, udp: bool = True, allow_remote_stream: bool = False,
                 max_connections: Optional[int] = None, idle_timeout: Optional[float] = None,
                 backlog: int = DEFAULT_BACKLOG) -> None:
        self.latency = check_latency(latency)
        check_options(max_connections, idle_timeout, backlog)
        self.memory = memory
        self.host = host
        self.requested_port = port
        self.port = port
        self.udp = udp
        self.allow_remote_stream = allow_remote_stream
        self.max_connections = max_connections
        self.idle_timeout = None if idle_timeout is None else float(idle_timeout)
        self.backlog = backlog
        self.refused_connections = 0
        self.idle_closed = 0
        self.connections: Set[_TcpConnection] = set()
        self._tcp: Optional[asyncio.base_events.Server] = None
        self._udp: Optional[asyncio.DatagramTransport] = None
        self._stream_task: Optional["asyncio.Task[None]"] = None
        self._stream_waiter: Optional["asyncio.Future[None]"] = None
        self._config_changed = False
        self._closing = False
        self._listener: Optional[Callable[[], None]] = None
        self._warned_remote: Set[str] = set()
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self.timers: _FineTimers = None  # type: ignore[assignment]

    async def start(self) -> None:
        """Bind and listen (TCP, then UDP on the same port)."""
        self.loop = asyncio.get_running_loop()
        loop = self.loop
        self.timers = _FineTimers(loop)
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
                if os.name == "posix":   # as asyncio does: a restart may bind while old connections linger
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(sockaddr)
                sock.listen(self.backlog)
                sock.setblocking(False)
            except BaseException:
                sock.close()
                raise
            port = sock.getsockname()[1]
            tcp = await loop.create_server(lambda: _TcpConnection(self), sock=sock, backlog=self.backlog)
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

        def on_config() -> None:        # any thread
            try:
                loop.call_soon_threadsafe(self._wake_stream)
            except RuntimeError:    # loop closed
                pass

        self._listener = on_config
        self.memory.add_listener(on_config)
        self._stream_task = loop.create_task(self._stream_loop())
        log.info("simulator listening on %s:%d (TCP%s)", self.host, self.port, " and UDP" if self._udp else "")

    # -- streaming
    def _wake_stream(self) -> None:
        self._config_changed = True
        waiter = self._stream_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _stream_sleep(self, timeout: Optional[float]) -> None:
        """Wait until the stream configuration changes or ``timeout`` seconds pass (``None``:
        no limit).  (No ``asyncio.wait_for``: up to Python 3.11 it can swallow a cancellation
        that arrives as the awaited event completes, which left this task running after close.)"""
        if self._config_changed:
            self._config_changed = False
            return
        waiter: "asyncio.Future[None]" = self.loop.create_future()
        self._stream_waiter = waiter
        timer = None
        if timeout is not None:
            timer = self.loop.call_later(timeout, _set_done, waiter)
        try:
            await waiter
        finally:
            self._stream_waiter = None
            self._config_changed = False
            if timer is not None:
                timer.cancel()

    async def _stream_loop(self) -> None:
        own: Optional[asyncio.DatagramTransport] = None
        try:
            while not self._closing:
                cfg = self.memory.stream_config()
                if not (cfg.enabled and cfg.port and cfg.targets):
                    await self._stream_sleep(None)
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
                await self._stream_sleep(max(cfg.interval_ms, 1) / 1000.0)
        finally:
            if own is not None:
                own.close()

    async def close(self) -> None:
        """Stop listening, close every connection and the streaming task.

        Raises ``RuntimeError`` (after closing everything else) when the
        streaming task does not end within 2 s of being cancelled."""
        self._closing = True
        if self._listener is not None:
            self.memory.remove_listener(self._listener)
            self._listener = None
        problem: Optional[str] = None
        task = self._stream_task
        if task is not None:
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=2.0)
            if done:
                if not task.cancelled() and task.exception() is not None:
                    log.error("streaming task failed: %r", task.exception())
            else:   # pragma: no cover - the cancellation was lost
                problem = "the streaming task did not end within 2 s of being cancelled"
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
            udp_protocol = self._udp.get_protocol()
            if isinstance(udp_protocol, _UdpEndpoint) and udp_protocol.pacer is not None:
                udp_protocol.pacer.cancel()
            self._udp.close()
            self._udp = None
            await asyncio.sleep(0)
        if self.timers is not None:
            self.timers.close()
        if problem is not None:
            log.error("simulator close: %s", problem)
            raise RuntimeError(f"simulator close: {problem}")
