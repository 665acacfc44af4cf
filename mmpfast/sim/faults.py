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

``UdpFaultProxy(upstream_host, upstream_port, ...)`` does the same for UDP
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
import collections
import logging
import math
import random
import socket
import struct
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Callable, Deque, Dict, FrozenSet, Iterable, List, Optional, Set, Tuple, Type

from .. import codec
from ..errors import MmpProtocolError
from ..protocol import (
    HEADER_BLOCK,
    MIN_PEEK,
    MIN_PEEK_VARIABLE,
    OFF_TL,
    TCODE_READ_BLOCK_RESPONSE,
    TCODE_WRITE_RESPONSE,
    VARIABLE_TCODES,
)

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


# ============================================================================= UDP
#: the datagram ``UdpFault.foreign("garbage")`` sends when given no bytes: 7 bytes,
#: shorter than any OptoMMP header
GARBAGE = bytes.fromhex("de ad be ef 00 01 02")

_FOREIGN_KINDS = ("tl", "tcode", "garbage")


@dataclass(frozen=True)
class UdpFault:
    """What to do to one answer datagram of ``UdpFaultProxy``.  Build with the factory methods."""

    kind: str
    seconds: float = 0.0
    what: str = ""
    tl: Optional[int] = None
    data: Optional[bytes] = None
    replace: bool = False

    @classmethod
    def drop(cls) -> "UdpFault":
        """Never forward this answer."""
        return cls("drop")

    @classmethod
    def delay(cls, seconds: float) -> "UdpFault":
        """Forward this answer ``seconds`` later (answers behind it are not held back)."""
        if not (isinstance(seconds, (int, float)) and not isinstance(seconds, bool)
                and math.isfinite(seconds) and seconds >= 0):
            raise ValueError("seconds must be a finite number >= 0")
        return cls("delay", seconds=float(seconds))

    @classmethod
    def duplicate(cls, after: float = 0.0) -> "UdpFault":
        """Forward this answer, then the same datagram again ``after`` seconds later
        (a stale duplicate the client must drop)."""
        if not (isinstance(after, (int, float)) and not isinstance(after, bool)
                and math.isfinite(after) and after >= 0):
            raise ValueError("after must be a finite number >= 0")
        return cls("duplicate", seconds=float(after))

    @classmethod
    def foreign(cls, kind: str = "tl", *, tl: Optional[int] = None, data: Optional[bytes] = None,
                replace: bool = False) -> "UdpFault":
        """Send a foreign datagram to the client just before this answer:

        * ``"tl"``: the answer with transaction label ``tl`` (default: the answer's tl + 1
          modulo 64) instead of its own;
        * ``"tcode"``: a well-formed response of another tcode carrying the answer's tl
          (a read-block answer becomes a 12-byte write acknowledgement, a write
          acknowledgement a 16-byte read-quadlet answer with zero data, a read-quadlet
          answer a 20-byte read-block answer with zero data; rcode 0);
        * ``"garbage"``: ``data`` (default ``GARBAGE``, 7 bytes), which is no frame.

        ``replace=True``: the foreign datagram is sent instead of the answer (the answer
        is dropped and counted in ``dropped``).
        """
        if kind not in _FOREIGN_KINDS:
            raise ValueError(f"foreign kind must be one of {_FOREIGN_KINDS}, not {kind!r}")
        if tl is not None and not (isinstance(tl, int) and 0 <= tl <= 63):
            raise ValueError("tl must be 0..63")
        if data is not None and not isinstance(data, (bytes, bytearray)):
            raise TypeError("data must be bytes")
        return cls("foreign", what=kind, tl=tl, data=None if data is None else bytes(data),
                   replace=bool(replace))


def _answer_tl(frame: bytes) -> Optional[int]:
    return frame[OFF_TL] >> 2 if len(frame) > OFF_TL else None


def foreign_datagram(answer: bytes, fault: UdpFault) -> bytes:
    """The foreign datagram ``fault`` (kind ``"foreign"``) sends before or instead of ``answer``."""
    if fault.what == "garbage" or len(answer) < MIN_PEEK:
        return GARBAGE if fault.data is None else fault.data
    b = bytearray(answer)
    tl = b[OFF_TL] >> 2
    sid = (b[4] << 8) | b[5] if len(b) >= 6 else 0
    if fault.what == "tl":
        new = (tl + 1) % 64 if fault.tl is None else fault.tl
        b[OFF_TL] = (new << 2) | (b[OFF_TL] & 3)
        return bytes(b)
    tcode = b[3] >> 4
    if tcode == TCODE_READ_BLOCK_RESPONSE:
        return codec.encode_write_response(tl, 0, sid)
    if tcode == TCODE_WRITE_RESPONSE:
        return codec.encode_read_quadlet_response(tl, b"", 0, sid)
    return codec.encode_read_block_response(tl, bytes(4), 0, sid)


class _Front(asyncio.DatagramProtocol):
    def __init__(self, proxy: "UdpFaultProxy") -> None:
        self.proxy = proxy

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.proxy._from_client(data, addr)

    def error_received(self, exc: Exception) -> None:   # pragma: no cover - ICMP and the like
        log.debug("UDP proxy (client side): %s", exc)


class _Back(asyncio.DatagramProtocol):
    def __init__(self, proxy: "UdpFaultProxy", client: Any) -> None:
        self.proxy = proxy
        self.client = client

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.proxy._from_device(data, self.client)

    def error_received(self, exc: Exception) -> None:   # pragma: no cover - e.g. upstream gone
        log.debug("UDP proxy (device side, for %s): %s", self.client, exc)


class UdpFaultProxy:
    """A UDP relay between clients and a device's (or the simulator's) UDP port, that drops,
    delays, duplicates answers and sends foreign datagrams, deterministically.  Context
    manager; runs in a background thread.

    Each request datagram from a client is forwarded unchanged to ``upstream`` from a
    socket of that client's own (so each answer goes back to the address that asked),
    and counted.  Each answer datagram from upstream gets, in this order of precedence:

    1. the next entry of the fault queue (``next_answer``, ``queue_faults``), when one is
       queued: a ``UdpFault``, or ``None`` = forward it unchanged (no standing rule applies);
    2. otherwise the standing rules, set by the constructor or as attributes at any time:
       it is dropped when ``drop_every`` = k and it is the k-th, 2k-th, ... answer
       (``answers_in`` counts them from 1), when its tl is in ``drop_tls``, when
       ``drop_next_tl(tl)`` asked for it, or when the seeded random draw falls below
       ``drop_fraction``; an answer not dropped is forwarded ``delay`` seconds later
       (``0``: at once).

    The random draw: answer i (1-based) is dropped by ``drop_fraction`` when the i-th
    value of ``random.Random(seed).random()`` is below it.  One value is drawn for every
    answer, whatever decides its fate, so the answers it drops depend only on ``seed``.

    ``drop_request_every`` = k drops the k-th, 2k-th, ... request datagram (counted over
    all clients by ``requests_in``) before it reaches upstream (counted in
    ``requests_dropped``, not in ``frames_up``).

    Counters (read them; the proxy's thread updates them):
    ``requests_in`` request datagrams received from clients, ``frames_up`` requests
    forwarded to upstream, ``up_by_tcode`` the same per request
    tcode (datagrams shorter than 4 bytes are forwarded and counted under -1),
    ``requests_dropped``; ``answers_in`` datagrams from upstream, ``frames_down`` answer
    datagrams sent to clients (delayed ones when sent, duplicates included, foreign ones
    not), ``dropped`` answers never forwarded, ``duplicates`` extra copies sent,
    ``foreign`` foreign datagrams sent (``inject`` included), ``faults_applied`` queue
    entries used that were not ``None``, ``clients`` distinct client addresses;
    ``request_log`` the forwarded request datagrams and ``dropped_log`` the dropped
    answers, oldest first (the last ``log_size`` of each).
    """

    def __init__(self, upstream_host: str, upstream_port: int, *, host: str = "127.0.0.1",
                 port: int = 0, drop_every: Optional[int] = None, drop_tls: Iterable[int] = (),
                 drop_fraction: float = 0.0, seed: int = 0, delay: float = 0.0,
                 drop_request_every: Optional[int] = None, log_size: int = 100_000) -> None:
        for name, k in (("drop_every", drop_every), ("drop_request_every", drop_request_every)):
            if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
                raise ValueError(f"{name} must be an int >= 1 or None")
        if isinstance(drop_fraction, bool) or not isinstance(drop_fraction, (int, float)) \
                or not 0.0 <= drop_fraction <= 1.0:
            raise ValueError("drop_fraction must be a number in 0..1")
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) \
                or not (math.isfinite(delay) and delay >= 0):
            raise ValueError("delay must be a finite number of seconds >= 0")
        tls = frozenset(drop_tls)
        if any(isinstance(t, bool) or not isinstance(t, int) or not 0 <= t <= 63 for t in tls):
            raise ValueError("drop_tls must hold transaction labels 0..63")
        self.upstream = (upstream_host, upstream_port)
        self._host = host
        self._port = port
        self.drop_every = drop_every
        self.drop_tls: FrozenSet[int] = tls
        self.drop_fraction = float(drop_fraction)
        self.seed = seed
        self.delay = float(delay)
        self.drop_request_every = drop_request_every
        self._rng = random.Random(seed)
        self._faults: Deque[Optional[UdpFault]] = collections.deque()
        self._tl_drops: Dict[int, int] = {}
        self._lock = threading.Lock()
        self.frames_up = 0
        self.up_by_tcode: Dict[int, int] = {}
        self.requests_dropped = 0
        self.requests_in = 0
        self.answers_in = 0
        self.frames_down = 0
        self.dropped = 0
        self.duplicates = 0
        self.foreign = 0
        self.faults_applied = 0
        self.request_log: Deque[bytes] = collections.deque(maxlen=log_size)
        self.dropped_log: Deque[bytes] = collections.deque(maxlen=log_size)
        self._backs: Dict[Any, asyncio.DatagramTransport] = {}
        self._opening: Dict[Any, List[Tuple[bytes, int]]] = {}
        self._last_client: Any = None
        self._timers: Set[asyncio.TimerHandle] = set()
        self._tasks: Set["asyncio.Future[None]"] = set()
        self._front: Optional[asyncio.DatagramTransport] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._ready = threading.Event()
        self._error: Optional[BaseException] = None

    # ------------------------------------------------------------------ scripting
    def next_answer(self, fault: Optional[UdpFault]) -> None:
        """Queue what happens to the next not-yet-scripted answer (``None`` = forward it)."""
        with self._lock:
            self._faults.append(fault)

    def queue_faults(self, faults: Iterable[Optional[UdpFault]]) -> None:
        """Queue several entries at once, in order."""
        with self._lock:
            self._faults.extend(faults)

    def clear_faults(self) -> None:
        """Forget every queued fault and every ``drop_next_tl`` request."""
        with self._lock:
            self._faults.clear()
            self._tl_drops.clear()

    @property
    def pending_faults(self) -> int:
        """Queued entries not yet used."""
        return len(self._faults)

    def drop_next_tl(self, tl: int, count: int = 1) -> None:
        """Drop the next ``count`` answers whose tl is ``tl`` (those that reach the standing
        rules; answers after that with the same tl pass)."""
        if isinstance(tl, bool) or not isinstance(tl, int) or not 0 <= tl <= 63:
            raise ValueError("tl must be 0..63")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError("count must be an int >= 1")
        with self._lock:
            self._tl_drops[tl] = self._tl_drops.get(tl, 0) + count

    def inject(self, data: bytes, to: Any = None) -> None:
        """Send ``data`` to a client now, as a foreign datagram: to address ``to``, or to the
        client that sent the latest request (``RuntimeError`` when there was none yet)."""
        addr = self._last_client if to is None else to
        if addr is None:
            raise RuntimeError("no client has sent anything yet; give the address")
        loop = self._loop
        if loop is None:
            raise RuntimeError("proxy not started")
        payload = bytes(data)
        done = threading.Event()

        def send() -> None:
            try:
                self._send_foreign(payload, addr)
            finally:
                done.set()

        loop.call_soon_threadsafe(send)
        done.wait(5.0)

    # ------------------------------------------------------------------ lifecycle
    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        return self._port

    @property
    def address(self) -> Tuple[str, int]:
        """``(host, port)`` where clients send their requests."""
        return self._host, self._port

    @property
    def clients(self) -> int:
        """Distinct client addresses seen."""
        return len(self._backs)

    def start(self) -> "UdpFaultProxy":
        """Listen in a background thread; returns once listening."""
        if self._thread is not None:
            raise RuntimeError("proxy already started")
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="mmpfast-udpfaultproxy", daemon=True)
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
            self._front, _ = loop.run_until_complete(loop.create_datagram_endpoint(
                lambda: _Front(self), local_addr=(self._host, self._port)))
            self._port = self._front.get_extra_info("sockname")[1]
        except BaseException as exc:
            self._error = exc
            loop.close()
            self._loop = None
            self._ready.set()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            for t in list(self._timers):
                t.cancel()
            self._timers.clear()
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                loop.run_until_complete(asyncio.wait(list(self._tasks), timeout=2.0))
            for tr in self._backs.values():
                tr.close()
            self._front.close()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    def stop(self) -> None:
        """Close every socket and stop the thread (idempotent); answers still delayed are lost."""
        if self._thread is None:
            return
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10.0)
        self._thread = None
        self._loop = None

    close = stop

    def __enter__(self) -> "UdpFaultProxy":
        return self.start()

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.stop()

    # ------------------------------------------------------------------ relaying (loop thread)
    def _from_client(self, data: bytes, addr: Any) -> None:
        self.requests_in += 1
        self._last_client = addr
        back = self._backs.get(addr)
        if back is not None:
            self._forward_up(back, data, self.requests_in)
            return
        waiting = self._opening.get(addr)
        if waiting is not None:         # its socket is being opened: keep the order
            waiting.append((data, self.requests_in))
            return
        self._opening[addr] = [(data, self.requests_in)]
        task = asyncio.ensure_future(self._open_back(addr))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _open_back(self, addr: Any) -> None:
        try:
            back, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                lambda: _Back(self, addr), remote_addr=self.upstream)
        except OSError as exc:
            log.warning("upstream %s:%d unreachable: %s", *self.upstream, exc)
            self._opening.pop(addr, None)
            return
        self._backs[addr] = back
        for data, n in self._opening.pop(addr, []):
            self._forward_up(back, data, n)

    def _forward_up(self, back: asyncio.DatagramTransport, data: bytes, n: int) -> None:
        k = self.drop_request_every
        if k is not None and n % k == 0:
            self.requests_dropped += 1
            return
        tcode = data[3] >> 4 if len(data) >= MIN_PEEK else -1
        self.frames_up += 1
        self.up_by_tcode[tcode] = self.up_by_tcode.get(tcode, 0) + 1
        self.request_log.append(data)
        back.sendto(data)

    def _later(self, seconds: float, callback: Callable[[], None]) -> None:
        assert self._loop is not None
        handles: List[asyncio.TimerHandle] = []

        def run() -> None:
            self._timers.discard(handles[0])
            callback()

        handles.append(self._loop.call_later(seconds, run))
        self._timers.add(handles[0])

    def _send_answer(self, data: bytes, client: Any, seconds: float = 0.0) -> None:
        if seconds > 0:
            self._later(seconds, lambda: self._send_answer(data, client))
            return
        if self._front is not None and not self._front.is_closing():
            self.frames_down += 1
            self._front.sendto(data, client)

    def _send_foreign(self, data: bytes, client: Any) -> None:
        if self._front is not None and not self._front.is_closing():
            self.foreign += 1
            self._front.sendto(data, client)

    def _drop(self, data: bytes) -> None:
        self.dropped += 1
        self.dropped_log.append(data)

    def _from_device(self, data: bytes, client: Any) -> None:
        self.answers_in += 1
        i = self.answers_in
        draw = self._rng.random()
        tl = _answer_tl(data)
        pending = False
        with self._lock:
            scripted = bool(self._faults)
            fault = self._faults.popleft() if scripted else None
            if not scripted and tl is not None and tl in self._tl_drops:
                pending = True
                left = self._tl_drops[tl] - 1
                if left:
                    self._tl_drops[tl] = left
                else:
                    del self._tl_drops[tl]
        if not scripted:
            k = self.drop_every
            if (pending or (k is not None and i % k == 0) or (tl is not None and tl in self.drop_tls)
                    or draw < self.drop_fraction):
                self._drop(data)
            else:
                self._send_answer(data, client, self.delay)
            return
        if fault is None:
            self._send_answer(data, client)
            return
        self.faults_applied += 1
        kind = fault.kind
        if kind == "drop":
            self._drop(data)
        elif kind == "delay":
            self._send_answer(data, client, fault.seconds)
        elif kind == "duplicate":
            self._send_answer(data, client)
            self.duplicates += 1
            if fault.seconds > 0:
                self._later(fault.seconds, lambda: self._send_answer(data, client))
            else:
                self._send_answer(data, client)
        elif kind == "foreign":
            self._send_foreign(foreign_datagram(data, fault), client)
            if fault.replace:
                self._drop(data)
            else:
                self._send_answer(data, client)
        else:   # pragma: no cover
            raise ValueError(f"unknown UDP fault {kind!r}")
