"""The request engine shared by ``Client`` and ``AsyncClient`` (sans-I/O).

Every public client call is built here exactly once: an ``op_*`` function
checks the arguments (``ValueError`` out of range, ``TypeError`` for a wrong
type, before anything is sent) and returns an ``Operation``: the block reads
or block writes the call needs and a ``finish`` that builds its return value.
The clients only hand the operation to their transport.

``exchange`` drives one operation over one connection: it yields "send these
bytes" and "receive into this buffer" steps, frames the received stream with
the codec's splitter (``codec.frame_boundaries``), checks every response with
the codec (``codec.scatter_read_responses``, ``codec.check_write_responses``)
and keeps the transaction labels and pipeline windows.  The transports pump
bytes through it, so every frame rule is written once for both clients.

This module imports no ``socket``, ``select``, ``time`` or ``asyncio``.

Wire habits: every read is a block read (tcode 5), every write a block write
(tcode 1), chunked at ``max_block`` data bytes, each chunk its own request
with its own tl (0..63, rotating).  All values are big-endian on the wire.
"""
from __future__ import annotations

import codecs
import logging
import math
import operator
import sys
from typing import (TYPE_CHECKING, Any, Callable, Dict, Generator, Generic, Iterable, List,
                    Optional, Sequence, Tuple, TypeVar, Union)

from . import codec, memmap
from .errors import MmpConnectionError, MmpNakError, MmpProtocolError
from .plan import ScanPlan, ScanResult
from .protocol import (HEADER_BLOCK, HEADER_SHORT, MAX_ADDRESS, MAX_DATA_LENGTH,
                       MAX_PORT, TCODE_READ_BLOCK_RESPONSE, TCODE_WRITE_RESPONSE, TL_MODULO)
from .records import AnalogChannel, DigitalChannel, Status

__all__ = [
    "Operation", "Connection", "exchange", "PeerClosed", "SEND", "RECV", "DEFAULT_ENCODING",
    "check_options", "check_endpoint", "Values", "Buffer", "single_request", "single_answer",
    "DatagramExchange", "TRANSPORTS", "check_transport", "MAX_UDP_BLOCK",
]

#: hex dumps of every frame sent and received, at DEBUG (enable with
#: ``logging.getLogger("mmpfast.frames").setLevel(logging.DEBUG)``)
frames_log = logging.getLogger("mmpfast.frames")
_DEBUG = logging.DEBUG
#: datagrams dropped over UDP (stale, duplicate, foreign, garbled) and resends, at DEBUG/INFO
udp_log = logging.getLogger("mmpfast.udp")

#: Text encoding of scratch-pad strings unless a call says otherwise.  UTF-8
#: is a superset of the ASCII that Opto 22's tools write; the 128-byte limit
#: counts encoded bytes.
DEFAULT_ENCODING = "utf-8"

Number = Union[int, float]
#: one number or a sequence of numbers (scratch-pad writes)
Values = Union[Number, Iterable[Number]]

if sys.version_info >= (3, 12):
    from collections.abc import Buffer
elif TYPE_CHECKING:
    from typing_extensions import Buffer
else:
    Buffer = Any   #: any object supporting the buffer protocol (bytes, bytearray, memoryview, array, numpy)
T = TypeVar("T")

_EMPTY: Tuple[Any, ...] = ()


# =============================================================================
# Operations
# =============================================================================
class Operation(Generic[T]):
    """One client call as wire work: block reads scattered into ``dest``, or block writes.

    Reads: ``ranges`` is a sequence of ``(address, length)``; response i's data
    lands at ``dest[offsets[i]:offsets[i] + lengths[i]]``.  Writes:
    ``chunks`` is a list of ``(address, data)``.  ``finish()`` builds the
    call's return value once every response has been checked.  An operation
    with no request at all (``empty``) sends nothing.
    """

    __slots__ = ("is_write", "ranges", "offsets", "lengths", "dest", "chunks", "finish", "retry")

    def __init__(self, finish: Callable[[], T], *, ranges: Sequence[Tuple[int, int]] = _EMPTY,
                 offsets: Sequence[int] = _EMPTY, lengths: Sequence[int] = _EMPTY,
                 dest: Any = None, chunks: Optional[List[Tuple[int, memoryview]]] = None) -> None:
        self.is_write = chunks is not None
        self.ranges = ranges
        self.offsets = offsets
        self.lengths = lengths
        self.dest = dest
        self.chunks: Sequence[Tuple[int, memoryview]] = chunks if chunks is not None else _EMPTY
        self.finish = finish
        self.retry: Optional[bool] = None

    @property
    def empty(self) -> bool:
        """True when the call needs no request (nothing is sent)."""
        return not (self.ranges or self.chunks)

    def may_retry(self) -> bool:
        """True for reads that can be repeated safely (no read-and-clear area touched)."""
        if self.retry is None:
            self.retry = not self.is_write and not any(
                memmap.read_has_side_effects(a, n) for a, n in self.ranges)
        return self.retry


_new_operation = object.__new__
_ZERO = (0,)


def _single_read(address: int, length: int, dest: Any, finish: Callable[[], T],
                 retry: Optional[bool] = None) -> Operation[T]:
    """A one-request read (built without keyword parsing: the per-call hot path)."""
    op: Operation[T] = _new_operation(Operation)
    op.is_write = False
    op.ranges = ((address, length),)
    op.offsets = _ZERO
    op.lengths = (length,)
    op.dest = dest
    op.chunks = _EMPTY
    op.finish = finish
    op.retry = retry
    return op


def _single_write(address: int, data: memoryview) -> Operation[None]:
    """A one-request write (the per-call hot path)."""
    op: Operation[None] = _new_operation(Operation)
    op.is_write = True
    op.ranges = _EMPTY
    op.offsets = _EMPTY
    op.lengths = _EMPTY
    op.dest = None
    op.chunks = ((address, data),)
    op.finish = _nothing
    op.retry = False
    return op


def _chunk(address: int, length: int, step: int) -> Tuple[List[Tuple[int, int]], List[int], List[int]]:
    ranges: List[Tuple[int, int]] = []
    offsets: List[int] = []
    lengths: List[int] = []
    done = 0
    while done < length:
        n = min(step, length - done)
        ranges.append((address + done, n))
        offsets.append(done)
        lengths.append(n)
        done += n
    return ranges, offsets, lengths


def _read_op(address: int, length: int, step: int, dest: Any, finish: Callable[[], T],
             retry: Optional[bool] = None) -> Operation[T]:
    if length <= step:
        if length == 0:
            return Operation(finish)
        return _single_read(address, length, dest, finish, retry)
    ranges, offsets, lengths = _chunk(address, length, step)
    return Operation(finish, ranges=ranges, offsets=offsets, lengths=lengths, dest=dest)


def _write_chunks(address: int, data: memoryview, step: int) -> List[Tuple[int, memoryview]]:
    n = data.nbytes
    return [(address + i, data[i:i + step]) for i in range(0, n, step)]


def _nothing() -> None:
    return None


# =============================================================================
# The protocol engine (sans-I/O)
# =============================================================================
SEND = 0   #: step: send all of the payload (bytes); resume with None
RECV = 1   #: step: receive into the payload (writable memoryview); resume with the byte count


class PeerClosed(MmpConnectionError):
    """The peer closed the connection while a response was expected."""


class Connection:
    """Per-connection protocol state: the next tl, the receive buffer, and
    the address of the first write of the current call handed to the
    transport and not yet acknowledged (``None`` when there is none)."""

    __slots__ = ("tl", "rbuf", "view", "pending_write")

    def __init__(self, size: int = 4096) -> None:
        self.tl = 0
        self.rbuf = bytearray(size)
        self.view = memoryview(self.rbuf)
        self.pending_write: Optional[int] = None

    def reserve(self, size: int) -> memoryview:
        if len(self.rbuf) < size:
            self.rbuf = bytearray(size)
            self.view = memoryview(self.rbuf)
        return self.view

    def next_tl(self, count: int = 1) -> int:
        """The tl of the next request; reserves ``count`` labels."""
        tl = self.tl
        self.tl = (tl + count) % TL_MODULO
        return tl


Step = Tuple[int, Any]


def _collect(conn: Connection, maxlens: Sequence[int]) -> Generator[Step, Any, int]:
    """Receive exactly ``len(maxlens)`` whole frames into ``conn.rbuf``.

    Frames whatever has arrived with the codec's splitter (``codec.frame_ends``);
    frame i may be at most ``maxlens[i]`` bytes (a NAK'd read is shorter).
    Returns the number of bytes the frames occupy.
    """
    view = conn.reserve(sum(maxlens))
    frame_ends = codec.frame_ends
    count = len(maxlens)
    have = pos = i = 0
    while True:
        if have > pos:
            start = 0
            for end in frame_ends(view[pos:have], count - i):
                n = end - start
                if n > maxlens[i]:
                    raise MmpProtocolError(f"response {i} is a {n}-byte frame, at most {maxlens[i]} expected")
                start = end
                i += 1
            pos += start
            if i < count and have > pos:
                n = codec.frame_length(view[pos:have]) or 0
                if n > maxlens[i]:
                    raise MmpProtocolError(f"response {i} is a {n}-byte frame, at most {maxlens[i]} expected")
        if i == count:
            if have != pos:
                raise MmpProtocolError(f"{have - pos} unexpected bytes after the last response")
            return pos
        if have == len(view):
            raise MmpProtocolError("responses longer than requested")
        got = yield (RECV, view[have:])
        if not got:
            raise PeerClosed(f"connection closed by the peer after {have} bytes of a response")
        have += got


def _raise_nak_of(view: memoryview, end: int, addresses: Sequence[int]) -> None:
    """After a NAK from ``scatter_read_responses``: re-raise it with the failing request's address."""
    start = 0
    for addr, stop in zip(addresses, codec.frame_ends(view[:end], len(addresses))):
        rcode = codec.decode_frame(view[start:stop]).rcode
        if rcode:
            raise MmpNakError(rcode, address=addr)
        start = stop


def _log_frames(payload: bytes, received: memoryview) -> None:
    frames_log.debug("sent %s", payload.hex(" "))
    frames_log.debug("received %s", bytes(received).hex(" "))


def exchange(op: Operation[Any], conn: Connection, pipeline: int) -> Generator[Step, Any, None]:
    """Drive ``op`` over one connection, ``pipeline`` requests in flight at most.

    Yields ``(SEND, bytes)`` and ``(RECV, memoryview)`` steps.  Raises
    ``MmpProtocolError`` on any unexpected frame (the connection must then be
    closed), ``MmpNakError`` with the request's address on a NAK (every
    response of the window has been read, so the connection stays usable),
    ``PeerClosed`` when the peer hangs up.
    """
    if op.is_write:
        yield from _exchange_writes(op, conn, pipeline)
        return
    ranges, offsets, lengths, dest = op.ranges, op.offsets, op.lengths, op.dest
    total = len(ranges)
    start = 0
    while start < total:
        stop = min(start + pipeline, total)
        whole = not start and stop == total
        tl = conn.next_tl(stop - start)
        window = ranges if whole else ranges[start:stop]
        payload = codec.encode_read_blocks(tl, window)
        yield (SEND, payload)
        maxlens = [HEADER_BLOCK + lengths[i] for i in range(start, stop)]
        end = yield from _collect(conn, maxlens)
        stream = conn.view[:end]
        if frames_log.isEnabledFor(_DEBUG):
            _log_frames(payload, stream)
        try:
            if whole:
                codec.scatter_read_responses(stream, dest, offsets, lengths, tl)
            else:
                codec.scatter_read_responses(stream, dest, offsets[start:stop], lengths[start:stop], tl)
        except MmpNakError:
            _raise_nak_of(conn.view, end, [a for a, _ in window])
            raise
        start = stop


def _exchange_writes(op: Operation[Any], conn: Connection, pipeline: int) -> Generator[Step, Any, None]:
    chunks = op.chunks
    total = len(chunks)
    encode = codec.encode_write_block
    start = 0
    while start < total:
        stop = min(start + pipeline, total)
        k = stop - start
        tl0 = conn.next_tl(k)
        frames = [encode((tl0 + j) % TL_MODULO, address, data)
                  for j, (address, data) in enumerate(chunks[start:stop])]
        conn.pending_write = chunks[start][0]
        payload = frames[0] if k == 1 else b"".join(frames)
        yield (SEND, payload)
        end = yield from _collect(conn, [HEADER_SHORT] * k)
        view = conn.view
        if frames_log.isEnabledFor(_DEBUG):
            _log_frames(payload, view[:end])
        nak = codec.check_write_responses(view[:end], k, tl0)
        conn.pending_write = None
        if nak >= 0:
            rcode = codec.decode_frame(view[nak * HEADER_SHORT:(nak + 1) * HEADER_SHORT]).rcode
            raise MmpNakError(rcode or 0, address=chunks[start + nak][0])
        start = stop


def single_request(op: Operation[Any], conn: Connection) -> Tuple[bytes, int, int]:
    """For an operation of exactly one request: ``(request bytes, largest answer in bytes, tl)``.

    A transport that receives whole frames (``codec.FrameSplitter``) sends the
    bytes and hands the one answer to ``single_answer``.
    """
    tl = conn.next_tl()
    if op.is_write:
        address, data = op.chunks[0]
        conn.pending_write = address
        return codec.encode_write_block(tl, address, data), HEADER_SHORT, tl
    address, length = op.ranges[0]
    return codec.encode_read_block(tl, address, length), HEADER_BLOCK + length, tl


def single_answer(op: Operation[Any], conn: Connection, frame: bytes, tl: int, maxlen: int,
                  more: bool) -> None:
    """Check the answer ``frame`` to ``single_request``'s request (tl ``tl``) and store its data.

    ``more`` says whether bytes arrived after it (they are unexpected).  Raises
    as ``exchange`` does: ``MmpProtocolError``, or ``MmpNakError`` with the address.
    """
    n = len(frame)
    if n > maxlen:
        raise MmpProtocolError(f"response 0 is a {n}-byte frame, at most {maxlen} expected")
    if more:
        raise MmpProtocolError("unexpected bytes after the last response")
    if frames_log.isEnabledFor(_DEBUG):
        frames_log.debug("received %s", frame.hex(" "))
    if op.is_write:
        address = op.chunks[0][0]
        nak = codec.check_write_responses(frame, 1, tl)
        conn.pending_write = None
    else:
        address = op.ranges[0][0]
        try:
            codec.scatter_read_responses(frame, op.dest, op.offsets, op.lengths, tl)
            return
        except MmpNakError:
            nak = 0
    if nak >= 0:
        raise MmpNakError(codec.decode_frame(frame).rcode or 0, address=address)


# =============================================================================
# Datagrams (UDP): one request per datagram, answers matched by tl and tcode
# =============================================================================
#: the transports a client speaks
TRANSPORTS = ("tcp", "udp")
#: largest ``max_block`` over UDP: a 16-byte header plus the data must fit one IPv4 datagram
MAX_UDP_BLOCK = 65507 - HEADER_BLOCK


class DatagramExchange:
    """Drive one operation over datagrams (sans-I/O: the transport sends, receives and keeps time).

    Every request is one datagram with its own tl; at most ``pipeline`` are in
    flight, and a new one is sent as soon as an answer frees a place (answers may
    come in any order).  A datagram is taken as the answer to an outstanding
    request only when it decodes as one whole frame with that request's tl and
    the expected tcode (7 for a read, 2 for a write) and, unless it is a NAK, the
    expected data length; anything else - a duplicate, a late answer to an
    earlier call, a wrong tcode, garbage - is dropped and logged at DEBUG on
    ``mmpfast.udp``.

    The resend rule: a request of a plain read (``Operation.may_retry()``) whose
    answer did not come within ``share`` seconds of its sending is sent again
    once, as the very same bytes (same tl).  Both sends ask for the same data,
    so whichever answer arrives first is taken and the other, arriving later,
    finds no outstanding request with its tl and is dropped.  Writes and reads
    of read-and-clear areas are never sent twice: the transport's deadline
    turns them into ``WriteOutcomeUnknown`` / ``MmpTimeoutError``.

    ``share`` is the call's budget divided among its rounds: ``budget / (2 *
    rounds)`` seconds, ``rounds`` = requests / ``pipeline`` rounded up, so a
    request waits half its share of the budget before its one resend.

    Times are plain numbers of seconds on the transport's clock.  The tl field
    has 6 bits: within one call a tl comes back after 64 requests, so a copy of
    an answer delayed by more than ``64 - pipeline`` requests of the same call
    cannot be told apart from a fresh one (the transports also discard whatever
    was queued before a call starts).
    """

    __slots__ = ("op", "conn", "pipeline", "share", "total", "next", "outstanding", "nak",
                 "sent", "resent", "dropped", "_retriable")

    def __init__(self, op: Operation[Any], conn: Connection, pipeline: int, budget: float) -> None:
        self.op = op
        self.conn = conn
        self.pipeline = pipeline
        self.total = len(op.chunks) if op.is_write else len(op.ranges)
        rounds = -(-self.total // pipeline) if self.total else 1
        self.share = budget / (2 * rounds)
        self._retriable = not op.is_write and op.may_retry()
        self.next = 0
        #: tl -> [request index, request bytes, resend time or None]
        self.outstanding: Dict[int, List[Any]] = {}
        self.nak: Optional[MmpNakError] = None
        self.sent = 0          #: datagrams sent, resends included
        self.resent = 0        #: resends
        self.dropped = 0       #: datagrams dropped

    @property
    def done(self) -> bool:
        """True when no answer is awaited any more (``result`` then raises a NAK, if any)."""
        return not self.outstanding and (self.next >= self.total or self.nak is not None)

    def result(self) -> None:
        """Raise the first NAK of the call (``MmpNakError`` with the request's address)."""
        if self.nak is not None:
            raise self.nak

    def next_timer(self) -> float:
        """When ``due`` next has a resend to hand out (``inf``: never)."""
        times = [r[2] for r in self.outstanding.values() if r[2] is not None]
        return min(times) if times else float("inf")

    def start(self, now: float) -> List[bytes]:
        """The first datagrams to send (one window)."""
        out: List[bytes] = []
        self._fill(now, out)
        return out

    def _address(self, index: int) -> int:
        op = self.op
        return op.chunks[index][0] if op.is_write else op.ranges[index][0]

    def _pending(self) -> None:
        if self.op.is_write:
            idx = [r[0] for r in self.outstanding.values()]
            self.conn.pending_write = self._address(min(idx)) if idx else None

    def _fill(self, now: float, out: List[bytes]) -> None:
        op = self.op
        while self.next < self.total and len(self.outstanding) < self.pipeline and self.nak is None:
            i = self.next
            tl = self.conn.next_tl()
            if op.is_write:
                address, data = op.chunks[i]
                payload = codec.encode_write_block(tl, address, data)
            else:
                address, length = op.ranges[i]
                payload = codec.encode_read_block(tl, address, length)
            self.outstanding[tl] = [i, payload, now + self.share if self._retriable else None]
            self.next = i + 1
            self.sent += 1
            if frames_log.isEnabledFor(_DEBUG):
                frames_log.debug("sent %s", payload.hex(" "))
            out.append(payload)
        self._pending()

    def due(self, now: float) -> List[bytes]:
        """The resends due at ``now`` (each request of a plain read at most once)."""
        out: List[bytes] = []
        for tl, req in self.outstanding.items():
            if req[2] is not None and req[2] <= now:
                req[2] = None
                self.sent += 1
                self.resent += 1
                udp_log.info("no answer to request %d (tl %d, 0x%08X) within %.3f s: sent again once",
                             req[0], tl, self._address(req[0]), self.share)
                out.append(req[1])
        return out

    def _drop(self, why: str, datagram: Any) -> List[bytes]:
        self.dropped += 1
        if udp_log.isEnabledFor(_DEBUG):
            udp_log.debug("dropped a datagram (%s): %s", why, bytes(datagram[:32]).hex(" "))
        return []

    def received(self, datagram: Any, now: float) -> List[bytes]:
        """Take ``datagram`` (one received UDP payload) if it answers an outstanding request.

        Returns the datagrams to send next (the window refilled).  Never raises for a
        bad datagram: it is dropped.  A NAK is kept for ``result`` (no new request is
        sent after it; the answers still in flight are awaited).
        """
        try:
            frame = codec.decode_frame(datagram)
        except MmpProtocolError as exc:
            return self._drop(f"not one frame: {exc}", datagram)
        req = self.outstanding.get(frame.tl)
        if req is None:
            return self._drop(f"tl {frame.tl} not awaited", datagram)
        op = self.op
        i = req[0]
        want = TCODE_WRITE_RESPONSE if op.is_write else TCODE_READ_BLOCK_RESPONSE
        if frame.tcode != want:
            return self._drop(f"tcode {frame.tcode}, expected {want}", datagram)
        rcode = frame.rcode or 0
        if not rcode and not op.is_write and frame.data_length != op.lengths[i]:
            return self._drop(f"{frame.data_length} data bytes, expected {op.lengths[i]}", datagram)
        if frames_log.isEnabledFor(_DEBUG):
            frames_log.debug("received %s", bytes(datagram).hex(" "))
        del self.outstanding[frame.tl]
        if rcode:
            if self.nak is None:
                self.nak = MmpNakError(rcode, address=self._address(i))
        elif not op.is_write:
            codec.scatter_read_responses(datagram, op.dest, (op.offsets[i],), (op.lengths[i],), frame.tl)
        out: List[bytes] = []
        self._fill(now, out)
        return out


def check_transport(transport: object) -> str:
    """``"tcp"`` or ``"udp"``; anything else is ``ValueError`` (a non-str ``TypeError``)."""
    if not isinstance(transport, str):
        raise TypeError(f"transport must be a str, not {type(transport).__name__}")
    if transport not in TRANSPORTS:
        raise ValueError(f"transport must be 'tcp' or 'udp', not {transport!r}")
    return transport


# =============================================================================
# Argument checks
# =============================================================================
def _as_int(name: str, value: object) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not bool")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an int, not {type(value).__name__}") from None


def _point(module: object, channel: object) -> Tuple[int, int]:
    return _as_int("module", module), _as_int("channel", channel)


#: (module, channel) -> address, for the per-point calls (filled on first use; the
#: addresses themselves come from memmap)
_DIGITAL_STATE: Dict[Tuple[int, int], int] = {}
_ANALOG_VALUE: Dict[Tuple[int, int], int] = {}


def _digital_state_address(module: object, channel: object) -> int:
    if type(module) is int and type(channel) is int:
        address = _DIGITAL_STATE.get((module, channel))
        if address is not None:
            return address
    m, c = _point(module, channel)
    address = _DIGITAL_STATE[m, c] = memmap.digital_read_address(m, c) + memmap.DIG_STATE
    return address


def _analog_value_address(module: object, channel: object) -> int:
    if type(module) is int and type(channel) is int:
        address = _ANALOG_VALUE.get((module, channel))
        if address is not None:
            return address
    m, c = _point(module, channel)
    address = _ANALOG_VALUE[m, c] = memmap.analog_read_address(m, c) + memmap.ANA_VALUE
    return address


def _check_span(address: object, length: object) -> Tuple[int, int]:
    a = _as_int("address", address)
    n = _as_int("length", length)
    if not 0 <= a <= MAX_ADDRESS:
        raise ValueError(f"address 0x{a:X} out of range 0..0xFFFFFFFF")
    if n < 0:
        raise ValueError(f"length {n} is negative")
    if a + n - 1 > MAX_ADDRESS:
        raise ValueError(f"{n} bytes from 0x{a:08X} run past 0xFFFFFFFF")
    return a, n


def _byte_view(obj: object, name: str, writable: bool = False) -> memoryview:
    try:
        mv = memoryview(obj)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must support the buffer protocol, not {type(obj).__name__}") from None
    if not mv.c_contiguous:
        raise TypeError(f"{name} must be C-contiguous")
    if writable and mv.readonly:
        raise TypeError(f"{name} must be writable")
    if mv.format != "B" or mv.ndim != 1:
        mv = mv.cast("B")
    return mv


def _check_state(state: object) -> int:
    if isinstance(state, bool):
        return int(state)
    if isinstance(state, int):
        if state in (0, 1):
            return int(state)
        raise ValueError(f"state must be 0, 1, False or True, not {state}")
    raise TypeError(f"state must be a bool, not {type(state).__name__}")


def _check_finite(value: object) -> float:
    if isinstance(value, (str, bytes)) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise TypeError(f"value must be a real number, not {type(value).__name__}")
    f = float(value)
    if not math.isfinite(f):
        raise ValueError(f"{f!r} is not a finite number; analog outputs take finite values")
    return f


def _check_encoding(encoding: object) -> str:
    if not isinstance(encoding, str):
        raise TypeError(f"encoding must be a str, not {type(encoding).__name__}")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r}") from None
    return encoding


def _check_errors(errors: object) -> str:
    if not isinstance(errors, str):
        raise TypeError(f"errors must be a str, not {type(errors).__name__}")
    try:
        codecs.lookup_error(errors)
    except LookupError:
        raise ValueError(f"unknown error handler {errors!r}") from None
    return errors


def _u32(raw: memoryview, offset: int) -> int:
    return int.from_bytes(raw[offset:offset + 4], "big")


def check_options(timeout: object, max_block: object, pipeline: object) -> Tuple[float, int, int]:
    """Validate client options: ``timeout`` seconds > 0, ``max_block`` 8..65535 bytes, ``pipeline`` 1..64."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    t = float(timeout)
    if not (t > 0 and math.isfinite(t)):
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    mb = _as_int("max_block", max_block)
    if not 8 <= mb <= MAX_DATA_LENGTH:
        raise ValueError(f"max_block {mb} out of range 8..{MAX_DATA_LENGTH}")
    pl = _as_int("pipeline", pipeline)
    if not 1 <= pl <= TL_MODULO:
        raise ValueError(f"pipeline {pl} out of range 1..{TL_MODULO}")
    return t, mb, pl


def check_endpoint(host: object, port: object) -> Tuple[str, int]:
    """Validate a controller's address: ``host`` a non-empty str, ``port`` 0..65535 (TCP)."""
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, not {type(host).__name__}")
    if not host:
        raise ValueError("host must not be empty")
    p = _as_int("port", port)
    if not 0 < p <= MAX_PORT:
        raise ValueError(f"port {p} out of range 1..{MAX_PORT}")
    return host, p


# =============================================================================
# The public calls, written once for both clients (``step`` is the client's max_block)
# =============================================================================
def op_read(step: int, address: object, length: object) -> Operation[bytes]:
    a, n = _check_span(address, length)
    buf = bytearray(n)
    return _read_op(a, n, step, buf, lambda: bytes(buf))


def op_read_into(step: int, address: object, buffer: object) -> Operation[None]:
    mv = _byte_view(buffer, "buffer", writable=True)
    a, n = _check_span(address, mv.nbytes)
    return _read_op(a, n, step, mv, _nothing)


def op_write(step: int, address: object, data: object) -> Operation[None]:
    mv = _byte_view(data, "data")
    a, n = _check_span(address, mv.nbytes)
    if n == 0:
        return Operation(_nothing, chunks=[])
    payload = memoryview(bytes(mv))     # a private copy: the caller may reuse its buffer
    return Operation(_nothing, chunks=_write_chunks(a, payload, step))


def op_uptime_ms(step: int) -> Operation[int]:
    buf = bytearray(4)
    return _single_read(memmap.STATUS_UPTIME_MS, 4, buf, lambda: int.from_bytes(buf, "big"), True)


def op_status(step: int) -> Operation[Status]:
    n = memmap.STATUS_BLOCK_LENGTH
    buf = bytearray(n)

    def finish() -> Status:
        raw = memoryview(buf)
        b = memmap.STATUS_READ_BASE
        fw = memmap.STATUS_FIRMWARE_VERSION - b
        pn = memmap.STATUS_PART_NUMBER - b
        mac = memmap.STATUS_MAC_ETH0 - b
        ip = memmap.STATUS_IP_ETH0 - b
        return Status(
            uptime_ms=_u32(raw, memmap.STATUS_UPTIME_MS - b),
            firmware=memmap.format_firmware(bytes(raw[fw:fw + 4])),
            part_number=memmap.decode_zstring(bytes(raw[pn:pn + memmap.PART_NUMBER_LENGTH])),
            mac=memmap.format_mac(bytes(raw[mac:mac + memmap.MAC_LENGTH])),
            ip=memmap.format_ip(bytes(raw[ip:ip + memmap.IP_LENGTH])),
            serial=_u32(raw, memmap.STATUS_SERIAL_NUMBER - b),
            last_error=_u32(raw, memmap.STATUS_LAST_ERROR - b),
            powerup_clear_needed=_u32(raw, memmap.STATUS_PUC_FLAG - b) != 0,
        )
    return _read_op(memmap.STATUS_READ_BASE, n, step, buf, finish)


def op_powerup_clear(step: int) -> Operation[None]:
    data = memoryview(memmap.OP_POWERUP_CLEAR.to_bytes(4, "big"))
    return Operation(_nothing, chunks=[(memmap.STATUS_WRITE_OPERATION, data)])


def op_read_digital(step: int, module: object, channel: object) -> Operation[bool]:
    buf = bytearray(4)
    return _single_read(_digital_state_address(module, channel), 4, buf, lambda: any(buf), True)


def op_write_digital(step: int, module: object, channel: object, state: object) -> Operation[None]:
    m, c = _point(module, channel)
    s = _check_state(state)
    address = memmap.digital_write_address(m, c)
    return _single_write(address, memoryview(s.to_bytes(4, "big")))


def op_read_digital_channel(step: int, module: object, channel: object) -> Operation[DigitalChannel]:
    m, c = _point(module, channel)
    address = memmap.digital_read_address(m, c)
    n = memmap.DIGITAL_CHANNEL_LENGTH
    buf = bytearray(n)

    def finish() -> DigitalChannel:
        state, on, off, ftype, fvalue, quality = memmap.DIGITAL_CHANNEL_STRUCT.unpack(buf)
        return DigitalChannel(state != 0, on != 0, off != 0, ftype, fvalue, quality)
    return _read_op(address, n, step, buf, finish)


def op_read_analog(step: int, module: object, channel: object) -> Operation[float]:
    buf = bytearray(4)
    return _single_read(_analog_value_address(module, channel), 4, buf,
                        lambda: float(codec.unpack_be(buf, "f")[0]), True)


def op_write_analog(step: int, module: object, channel: object, value: object) -> Operation[None]:
    m, c = _point(module, channel)
    f = _check_finite(value)
    address = memmap.analog_write_address(m, c) + memmap.ANA_WRITE_VALUE
    return _single_write(address, memoryview(codec.pack_be(f, "f")))


def op_read_analog_channel(step: int, module: object, channel: object) -> Operation[AnalogChannel]:
    m, c = _point(module, channel)
    address = memmap.analog_read_address(m, c)
    n = memmap.ANALOG_CHANNEL_LENGTH
    buf = bytearray(n)

    def finish() -> AnalogChannel:
        value, _counts, lo, hi, quality = memmap.ANALOG_CHANNEL_STRUCT.unpack(buf)
        return AnalogChannel(value, lo, hi, quality)
    return _read_op(address, n, step, buf, finish)


def _element_step(step: int, size: int) -> int:
    return step - step % size


def _sp_read(step: int, kind: str, typecode: str, size: int, index: object, count: object) -> Operation[Any]:
    i = _as_int("index", index)
    n = _as_int("count", count)
    runs = memmap.scratchpad_runs(kind, i, n)
    buf = bytearray(size * n)
    estep = _element_step(step, size)
    ranges: List[Tuple[int, int]] = []
    offsets: List[int] = []
    lengths: List[int] = []
    for run in runs:
        base = (run.first - runs[0].first) * size
        r, o, ln = _chunk(run.address, run.elements * size, estep)
        ranges += r
        offsets += [base + x for x in o]
        lengths += ln
    return Operation(lambda: codec.unpack_be(buf, typecode), ranges=ranges, offsets=offsets,
                     lengths=lengths, dest=buf)


def _sp_write(step: int, kind: str, typecode: str, size: int, index: object, values: object) -> Operation[None]:
    i = _as_int("index", index)
    if isinstance(values, (str, bytes, bytearray)):
        raise TypeError(f"values must be a number or a sequence of numbers, not {type(values).__name__}")
    data = memoryview(codec.pack_be(values, typecode))  # type: ignore[arg-type]  # checks every value
    count = data.nbytes // size
    runs = memmap.scratchpad_runs(kind, i, count)
    estep = _element_step(step, size)
    chunks: List[Tuple[int, memoryview]] = []
    for run in runs:
        base = (run.first - runs[0].first) * size
        chunks += _write_chunks(run.address, data[base:base + run.elements * size], estep)
    return Operation(_nothing, chunks=chunks)


def op_read_scratchpad_int32(step: int, index: object, count: object) -> Operation[List[int]]:
    return _sp_read(step, "int32", "i", 4, index, count)


def op_write_scratchpad_int32(step: int, index: object, values: object) -> Operation[None]:
    return _sp_write(step, "int32", "i", 4, index, values)


def op_read_scratchpad_float(step: int, index: object, count: object) -> Operation[List[float]]:
    return _sp_read(step, "float", "f", 4, index, count)


def op_write_scratchpad_float(step: int, index: object, values: object) -> Operation[None]:
    return _sp_write(step, "float", "f", 4, index, values)


def op_read_scratchpad_int64(step: int, index: object, count: object) -> Operation[List[int]]:
    return _sp_read(step, "int64", "q", 8, index, count)


def op_write_scratchpad_int64(step: int, index: object, values: object) -> Operation[None]:
    return _sp_write(step, "int64", "q", 8, index, values)


def op_read_scratchpad_string(step: int, slot: object, encoding: object, errors: object) -> Operation[str]:
    s = _as_int("slot", slot)
    enc = _check_encoding(encoding)
    err = _check_errors(errors)
    address = memmap.scratchpad_string_address(s)
    hdr = memmap.SCRATCHPAD_STRING_LENGTH_BYTES
    n = memmap.SCRATCHPAD_STRING_STRIDE
    buf = bytearray(n)

    def finish() -> str:
        length = int.from_bytes(buf[:hdr], "big")
        if length > memmap.SCRATCHPAD_STRING_MAX:
            raise MmpProtocolError(
                f"string slot {s}: length word {length} exceeds {memmap.SCRATCHPAD_STRING_MAX}")
        return bytes(buf[hdr:hdr + length]).decode(enc, err)
    return _read_op(address, n, step, buf, finish)


def op_write_scratchpad_string(step: int, slot: object, text: object, encoding: object) -> Operation[None]:
    s = _as_int("slot", slot)
    enc = _check_encoding(encoding)
    address = memmap.scratchpad_string_address(s)
    if isinstance(text, str):
        raw = text.encode(enc)
    elif isinstance(text, (bytes, bytearray, memoryview)):
        raw = bytes(text)
    else:
        raise TypeError(f"text must be str or bytes, not {type(text).__name__}")
    if len(raw) > memmap.SCRATCHPAD_STRING_MAX:
        raise ValueError(f"{len(raw)} bytes do not fit a {memmap.SCRATCHPAD_STRING_MAX}-byte string slot")
    data = memoryview(len(raw).to_bytes(memmap.SCRATCHPAD_STRING_LENGTH_BYTES, "big") + raw)
    return Operation(_nothing, chunks=_write_chunks(address, data, step))


def _check_plan(plan: object) -> ScanPlan:
    if not isinstance(plan, ScanPlan):
        raise TypeError(f"plan must be a mmpfast.ScanPlan, not {type(plan).__name__}")
    return plan


def _scan_op(p: ScanPlan, dest: Any, finish: Callable[[], T]) -> Operation[T]:
    op: Operation[T] = _new_operation(Operation)
    op.is_write = False
    op.ranges = p.requests
    op.offsets = p.offsets
    op.lengths = p.lengths
    op.dest = dest
    op.chunks = _EMPTY
    op.finish = finish
    op.retry = None
    return op


def op_scan_into(step: int, plan: object, buffer: object) -> Operation[None]:
    p = _check_plan(plan)
    if type(buffer) is bytearray:       # the common case, checked without a memoryview
        size: int = len(buffer)
        dest: Any = buffer
    else:
        dest = _byte_view(buffer, "buffer", writable=True)
        size = dest.nbytes
    need = p.buffer_size
    if size < need:
        raise ValueError(f"buffer holds {size} bytes, the plan needs {need}")
    return _scan_op(p, dest, _nothing)


def op_scan(step: int, plan: object) -> Operation[ScanResult]:
    p = _check_plan(plan)
    buf = p.new_buffer()
    if len(buf) < p.buffer_size:
        raise ValueError("plan.new_buffer() is smaller than plan.buffer_size")
    return _scan_op(p, buf, lambda: p.result(buf))
