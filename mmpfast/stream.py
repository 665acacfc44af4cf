"""The device's UDP stream (docs/protocol.md §2.4): configure it, receive it.

A device can push its I/O state to up to 8 UDP targets every ``interval``
milliseconds.  :func:`configure_stream` sets that up through the client's
public ``write`` (one 24-byte block at 0xF03FFFC4: mirroring, start, size,
on, interval, port; the targets at 0xF03FFFE0 are written first, so the
stream only starts once they are in place).  :class:`StreamReceiver`
(blocking) and :class:`AsyncStreamReceiver` (asyncio) receive the standard
604-byte packet and decode it into a :class:`StreamPacket`.

Standard packet layout (big-endian): uint16 total length (604), one zero
byte, one byte whose high nibble is 0xA (low nibble: sync code), then 64
float32 analog values, 64 uint32 counters, four 64-bit masks (state,
on-latch, off-latch, active counters; bit p = point p) and 56 reserved
bytes.  Points are the legacy 64 points p = 4·module + channel.
"""
from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from array import array
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from . import codec, memmap
from .errors import MmpProtocolError, MmpTimeoutError

__all__ = [
    "StreamPacket", "StreamReceiver", "AsyncStreamReceiver", "StreamProtocol",
    "stream_config_writes", "configure_stream", "disable_stream",
    "configure_stream_async", "disable_stream_async", "decode_stream_packet",
]

HEADER_TCODE = 0xA          # high nibble of byte 3: 1394 "isochronous data block"
_H = memmap.STREAM_HEADER_LENGTH
_ANALOG = _H + memmap.STREAM_OFF_ANALOG
_COUNTERS = _H + memmap.STREAM_OFF_COUNTERS
_MASKS = _H + memmap.STREAM_OFF_STATE_MASK
_N = memmap.STREAM_POINTS


def _u32(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"{name} {value} out of range 0..4294967295")
    return value


def stream_config_writes(port: int, interval_ms: int, targets: Sequence[str] = (), *,
                         enable: bool = True, start: int = 0, size: int = 0,
                         mirroring: bool = False) -> List[Tuple[int, bytes]]:
    """The block writes that configure the stream, in the order to send them
    (sans-I/O): ``[(address, data), ...]``.

    ``port`` is the destination UDP port (1..65535), ``interval_ms`` the
    period in milliseconds, ``targets`` up to 8 IPv4 addresses (written to
    0xF03FFFE0 + 4·(k−1); unused slots are zeroed).  ``start``/``size``
    select a custom stream (0 = the standard 604-byte packet).  All words
    are uint32 big-endian.
    """
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError("port must be an int")
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} out of range 1..65535")
    _u32("interval_ms", interval_ms)
    _u32("start", start)
    _u32("size", size)
    if isinstance(targets, (str, bytes)):
        targets = [targets]
    targets = list(targets)
    if len(targets) > memmap.STREAM_MAX_TARGETS:
        raise ValueError(f"at most {memmap.STREAM_MAX_TARGETS} targets, got {len(targets)}")
    ips = b""
    for t in targets:
        if not isinstance(t, str):
            raise TypeError(f"target must be an IPv4 address string, not {type(t).__name__}")
        ips += ipaddress.IPv4Address(t).packed       # ValueError when not IPv4
    writes: List[Tuple[int, bytes]] = []
    if targets:
        ips += bytes(4 * memmap.STREAM_MAX_TARGETS - len(ips))
        writes.append((memmap.STREAM_TARGETS, ips))
    block = codec.pack_be([1 if mirroring else 0, start, size, 1 if enable else 0, interval_ms, port], "I")
    writes.append((memmap.STREAM_MIRRORING, block))
    return writes


def configure_stream(client: Any, port: int, interval_ms: int, targets: Sequence[str] = (),
                     **options: Any) -> None:
    """Configure (and by default start) the stream through ``client.write``.
    See :func:`stream_config_writes` for the arguments."""
    for address, data in stream_config_writes(port, interval_ms, targets, **options):
        client.write(address, data)


def disable_stream(client: Any) -> None:
    """Stop the stream: write 0 to the on/off word (0xF03FFFD0)."""
    client.write(memmap.STREAM_ENABLE, codec.pack_be(0, "I"))


async def configure_stream_async(client: Any, port: int, interval_ms: int,
                                 targets: Sequence[str] = (), **options: Any) -> None:
    """:func:`configure_stream` for an ``AsyncClient``."""
    for address, data in stream_config_writes(port, interval_ms, targets, **options):
        await client.write(address, data)


async def disable_stream_async(client: Any) -> None:
    """:func:`disable_stream` for an ``AsyncClient``."""
    await client.write(memmap.STREAM_ENABLE, codec.pack_be(0, "I"))


def _point(p: object) -> int:
    if isinstance(p, bool) or not isinstance(p, int):
        raise TypeError(f"point must be an int, not {type(p).__name__}")
    if not 0 <= p < _N:
        raise ValueError(f"point {p} out of range 0..{_N - 1}")
    return p


class StreamPacket:
    """One decoded standard stream packet; converts only what is asked for.

    ``buffer`` is the raw 604 bytes (memoryview); ``sync`` the header's low
    nibble; ``source`` the sender's ``(host, port)`` and ``received`` the
    monotonic receive time when it came from a receiver.  Masks are ints
    (bit p = point p).  ``analog`` is an ``array('f')`` of the 64 values
    and ``counters`` an ``array('I')``, each converted by one codec call on
    first use.
    """

    __slots__ = ("buffer", "sync", "source", "received", "_analog", "_counters", "_masks")

    def __init__(self, data: Any, source: Optional[Tuple[str, int]] = None,
                 received: Optional[float] = None) -> None:
        mv = memoryview(data)
        if mv.ndim != 1 or mv.format != "B":
            mv = mv.cast("B")
        n = mv.nbytes
        if n != memmap.STREAM_PACKET_LENGTH:
            raise MmpProtocolError(f"stream packet is {n} bytes, expected {memmap.STREAM_PACKET_LENGTH}")
        declared = (mv[0] << 8) | mv[1]
        if declared != n:
            raise MmpProtocolError(f"stream packet header says {declared} bytes, got {n}")
        if mv[2] != 0 or mv[3] >> 4 != HEADER_TCODE:
            raise MmpProtocolError(f"not a stream packet header: {bytes(mv[:4]).hex(' ')}")
        self.buffer = mv
        self.sync = mv[3] & 0x0F
        self.source = source
        self.received = received
        self._analog: Optional["array[float]"] = None
        self._counters: Optional["array[int]"] = None
        self._masks: Optional[List[int]] = None

    # bulk
    @property
    def analog(self) -> "array[float]":
        """The 64 analog values (engineering units), native ``array('f')``."""
        if self._analog is None:
            a = array("f", bytes(4 * _N))
            codec.unpack_be_into(self.buffer[_ANALOG:_ANALOG + 4 * _N], a, "f")
            self._analog = a
        return self._analog

    @property
    def counters(self) -> "array[int]":
        """The 64 counter (feature) values, native ``array('I')``."""
        if self._counters is None:
            a = array("I", bytes(4 * _N))
            codec.unpack_be_into(self.buffer[_COUNTERS:_COUNTERS + 4 * _N], a, "I")
            self._counters = a
        return self._counters

    def _mask(self, i: int) -> int:
        if self._masks is None:
            self._masks = [int(v) for v in codec.unpack_be(self.buffer[_MASKS:_MASKS + 32], "Q")]
        return self._masks[i]

    @property
    def state_mask(self) -> int:
        return self._mask(0)

    @property
    def on_latch_mask(self) -> int:
        return self._mask(1)

    @property
    def off_latch_mask(self) -> int:
        return self._mask(2)

    @property
    def active_counter_mask(self) -> int:
        return self._mask(3)

    @property
    def states(self) -> List[bool]:
        """The 64 digital states, point 0 first."""
        m = self.state_mask
        return [(m >> p) & 1 == 1 for p in range(_N)]

    @property
    def points_on(self) -> List[int]:
        """Points whose state is on, ascending."""
        m = self.state_mask
        return [p for p in range(_N) if (m >> p) & 1]

    # per point
    def value(self, point: int) -> float:
        """Analog value of ``point`` (0..63)."""
        return float(self.analog[_point(point)])

    def counter(self, point: int) -> int:
        """Counter (feature) value of ``point``."""
        return int(self.counters[_point(point)])

    def state(self, point: int) -> bool:
        return (self.state_mask >> _point(point)) & 1 == 1

    def on_latch(self, point: int) -> bool:
        return (self.on_latch_mask >> _point(point)) & 1 == 1

    def off_latch(self, point: int) -> bool:
        return (self.off_latch_mask >> _point(point)) & 1 == 1

    def counter_active(self, point: int) -> bool:
        return (self.active_counter_mask >> _point(point)) & 1 == 1

    def values(self) -> Dict[str, Any]:
        """Everything as Python values: ``analog`` and ``counters`` lists, the four masks."""
        return {
            "analog": self.analog.tolist(), "counters": self.counters.tolist(),
            "state_mask": self.state_mask, "on_latch_mask": self.on_latch_mask,
            "off_latch_mask": self.off_latch_mask, "active_counter_mask": self.active_counter_mask,
        }

    def __len__(self) -> int:
        return self.buffer.nbytes

    def __repr__(self) -> str:
        return f"<StreamPacket sync={self.sync} on={self.points_on} from={self.source}>"


def decode_stream_packet(data: Any) -> StreamPacket:
    """Decode one standard stream packet (``MmpProtocolError`` when malformed)."""
    return StreamPacket(data)


class StreamReceiver:
    """A blocking UDP receiver for the standard stream.

    Binds ``(host, port)`` (port 0 picks a free one: see ``.port``).
    ``recv(timeout)`` returns the next :class:`StreamPacket`; a datagram that
    is not a valid packet raises ``MmpProtocolError`` when ``strict`` (the
    default), else it is dropped and counted in ``.invalid``.  Iterating
    yields packets until ``close()``; a ``timeout`` ends iteration with
    ``MmpTimeoutError``.  Use as a context manager.
    """

    def __init__(self, host: str = "0.0.0.0", port: int = 0, *, timeout: Optional[float] = None,
                 strict: bool = True) -> None:
        self.timeout = timeout
        self.strict = strict
        self.invalid = 0
        self.received = 0
        self._sock: Optional[socket.socket] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.bind((host, port))
        except BaseException:
            self._sock.close()
            raise
        self.host, self.port = self._sock.getsockname()[:2]
        self._buf = bytearray(2048)

    def recv(self, timeout: Optional[float] = -1.0) -> StreamPacket:
        """The next packet; waits at most ``timeout`` seconds (default: the
        receiver's ``timeout``; ``None`` = forever) else ``MmpTimeoutError``."""
        sock = self._sock
        if sock is None:
            raise OSError("receiver is closed")
        t = self.timeout if timeout == -1.0 else timeout
        deadline = None if t is None else time.monotonic() + t
        while True:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise MmpTimeoutError(f"no stream packet within {t} s")
                sock.settimeout(left)
            else:
                sock.settimeout(None)
            try:
                n, addr = sock.recvfrom_into(self._buf)
            except socket.timeout:
                raise MmpTimeoutError(f"no stream packet within {t} s") from None
            try:
                pkt = StreamPacket(bytes(self._buf[:n]), addr, time.monotonic())
            except MmpProtocolError:
                self.invalid += 1
                if self.strict:
                    raise
                continue
            self.received += 1
            return pkt

    def __iter__(self) -> Iterator[StreamPacket]:
        while self._sock is not None:
            yield self.recv()

    def fileno(self) -> int:
        return self._sock.fileno() if self._sock is not None else -1

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> "StreamReceiver":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class StreamProtocol(asyncio.DatagramProtocol):
    """asyncio datagram protocol: decodes each datagram into a queue of
    packets (or ``MmpProtocolError`` instances when ``strict``)."""

    def __init__(self, queue: "asyncio.Queue[Union[StreamPacket, BaseException]]", strict: bool = True,
                 maxsize: int = 1024) -> None:
        self.queue = queue
        self.strict = strict
        self.invalid = 0
        self.dropped = 0
        self.transport: Optional[asyncio.DatagramTransport] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Tuple[str, int]) -> None:
        item: Union[StreamPacket, BaseException]
        try:
            item = StreamPacket(data, addr, time.monotonic())
        except MmpProtocolError as exc:
            self.invalid += 1
            if not self.strict:
                return
            item = exc
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.dropped += 1

    def error_received(self, exc: Exception) -> None:  # pragma: no cover - OS-dependent
        pass


class AsyncStreamReceiver:
    """The asyncio receiver: ``rx = await AsyncStreamReceiver.open(host, port)``,
    then ``await rx.recv(timeout)`` or ``async for pkt in rx``; ``rx.close()``.
    Keeps at most ``maxsize`` undelivered packets (newer ones are dropped and
    counted in ``.dropped``)."""

    def __init__(self, transport: asyncio.DatagramTransport, protocol: StreamProtocol) -> None:
        self._transport = transport
        self._protocol = protocol
        sock = transport.get_extra_info("sockname")
        self.host, self.port = sock[0], sock[1]

    @classmethod
    async def open(cls, host: str = "0.0.0.0", port: int = 0, *, strict: bool = True,
                   maxsize: int = 1024) -> "AsyncStreamReceiver":
        loop = asyncio.get_running_loop()
        queue: "asyncio.Queue[Union[StreamPacket, BaseException]]" = asyncio.Queue(maxsize)
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: StreamProtocol(queue, strict), local_addr=(host, port), family=socket.AF_INET)
        return cls(transport, protocol)

    @property
    def invalid(self) -> int:
        return self._protocol.invalid

    @property
    def dropped(self) -> int:
        return self._protocol.dropped

    async def recv(self, timeout: Optional[float] = None) -> StreamPacket:
        """The next packet (``MmpTimeoutError`` after ``timeout`` seconds)."""
        try:
            item = await asyncio.wait_for(self._protocol.queue.get(), timeout)
        except asyncio.TimeoutError:
            raise MmpTimeoutError(f"no stream packet within {timeout} s") from None
        if isinstance(item, BaseException):
            raise item
        return item

    def __aiter__(self) -> "AsyncStreamReceiver":
        return self

    async def __anext__(self) -> StreamPacket:
        if self._transport.is_closing():
            raise StopAsyncIteration
        return await self.recv()

    def close(self) -> None:
        self._transport.close()

    async def __aenter__(self) -> "AsyncStreamReceiver":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()
