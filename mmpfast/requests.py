"""The request layer shared by ``Client`` and ``AsyncClient`` (sans-I/O).

Every public client method lives here exactly once, in ``RequestMixin``.  A
method checks its arguments, turns the call into an ``Operation`` (a list of
block reads or block writes plus a ``finish`` that builds the return value)
and hands it to ``self._execute``.  The blocking client's ``_execute``
returns the value; the asyncio client's returns a coroutine, so
``await aclient.read(...)`` works from the same definition.

``exchange`` is the protocol engine: a generator that yields "send these
bytes" and "receive into this buffer" steps and does all framing, transaction
label and response checking itself.  The transports only pump bytes through
it, so a frame rule is written once for both clients.

Argument errors (``ValueError`` for out of range, ``TypeError`` for a wrong
type) are raised when the method is called, before anything is sent; on the
asyncio client that is before the coroutine is awaited.

Wire habits: every read is a block read (tcode 5), every write a block write
(tcode 1), chunked at ``max_block`` data bytes, each chunk its own request
with its own tl (0..63, rotating).  All values are big-endian on the wire.
"""
from __future__ import annotations

import logging
import math
import operator
import select
import socket
import time
from typing import (Any, Callable, Generator, Iterable, List, Optional, Sequence, Tuple,
                    Union)

from . import codec, memmap
from .records import AnalogChannel, DigitalChannel, Status
from .errors import (MmpConnectionError, MmpError, MmpNakError, MmpProtocolError, MmpTimeoutError,
                     WriteOutcomeUnknown)
from .protocol import (HEADER_BLOCK, HEADER_SHORT, MAX_ADDRESS, MAX_DATA_LENGTH,
                       OFF_RCODE, OFF_TCODE, OFF_TL, TCODE_WRITE_RESPONSE, TL_MODULO)

__all__ = [
    "Status", "DigitalChannel", "AnalogChannel", "Operation", "Connection", "RequestMixin",
    "exchange", "PeerClosed", "SEND", "RECV", "DEFAULT_ENCODING", "ClientCore",
]

log = logging.getLogger("mmpfast.client")
#: hex dumps of every frame sent and received, at DEBUG (enable with
#: ``logging.getLogger("mmpfast.frames").setLevel(logging.DEBUG)``)
frames_log = logging.getLogger("mmpfast.frames")
_DEBUG = logging.DEBUG

#: Text encoding of scratch-pad strings unless a call says otherwise.  UTF-8
#: is a superset of the ASCII that Opto 22's tools write; the 128-byte limit
#: counts encoded bytes.
DEFAULT_ENCODING = "utf-8"

Number = Union[int, float]
Values = Union[Number, Iterable[Number]]


# =============================================================================
# Operations
# =============================================================================
class Operation:
    """One client call as wire work: block reads scattered into ``dest``, or block writes.

    Reads: ``ranges`` is a list of ``(address, length)``; response i's data
    lands at ``dest[offsets[i]:offsets[i] + lengths[i]]``.  Writes:
    ``chunks`` is a list of ``(address, data)``.  ``finish()`` builds the
    call's return value once every response has been checked.
    """

    __slots__ = ("is_write", "ranges", "offsets", "lengths", "dest", "chunks", "finish")

    def __init__(self, *, ranges: Optional[Sequence[Tuple[int, int]]] = None,
                 offsets: Optional[Sequence[int]] = None, lengths: Optional[Sequence[int]] = None,
                 dest: Any = None, chunks: Optional[List[Tuple[int, memoryview]]] = None,
                 finish: Callable[[], Any]) -> None:
        self.is_write = chunks is not None
        self.ranges = ranges if ranges is not None else []
        self.offsets = offsets if offsets is not None else []
        self.lengths = lengths if lengths is not None else []
        self.dest = dest
        self.chunks = chunks if chunks is not None else []
        self.finish = finish

    def may_retry(self) -> bool:
        """True for reads that can be repeated safely (no read-and-clear area touched)."""
        if self.is_write:
            return False
        return not any(memmap.read_has_side_effects(a, n) for a, n in self.ranges)

    @property
    def request_count(self) -> int:
        return len(self.chunks) if self.is_write else len(self.ranges)


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


def _read_op(address: int, length: int, step: int, dest: Any,
             finish: Callable[[], Any]) -> Operation:
    ranges, offsets, lengths = _chunk(address, length, step)
    return Operation(ranges=ranges, offsets=offsets, lengths=lengths, dest=dest, finish=finish)


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


Step = Tuple[int, Any]


def _collect(conn: Connection, maxlens: List[int]) -> Generator[Step, Any, int]:
    """Receive exactly ``len(maxlens)`` whole frames into ``conn.rbuf``.

    Reads whatever is available and frames it with ``codec.frame_length``;
    frame i may be at most ``maxlens[i]`` bytes (a NAK'd read is shorter).
    Returns the number of bytes the frames occupy.
    """
    view = conn.reserve(sum(maxlens))
    frame_length = codec.frame_length
    count = len(maxlens)
    have = pos = i = 0
    while True:
        while i < count:
            n = frame_length(view[pos:have]) if have - pos >= 4 else None
            if n is None or have - pos < n:
                if n is not None and n > maxlens[i]:
                    raise MmpProtocolError(
                        f"response {i} is a {n}-byte frame, at most {maxlens[i]} expected")
                break
            if n > maxlens[i]:
                raise MmpProtocolError(f"response {i} is a {n}-byte frame, at most {maxlens[i]} expected")
            pos += n
            i += 1
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


def _raise_nak_of(view: memoryview, end: int, addresses: List[int]) -> None:
    """After a NAK from ``scatter_read_responses``: re-raise it with the failing request's address."""
    pos = 0
    for addr in addresses:
        n = codec.frame_length(view[pos:end])
        if n is None:
            break
        rcode = view[pos + OFF_RCODE] >> 4
        if rcode:
            raise MmpNakError(rcode, address=addr)
        pos += n


def exchange(op: Operation, conn: Connection, pipeline: int) -> Generator[Step, Any, None]:
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
        tl = conn.tl
        conn.tl = (tl + stop - start) % TL_MODULO
        window = ranges[start:stop] if (start or stop != total) else ranges
        payload = codec.encode_read_blocks(tl, window)
        yield (SEND, payload)
        maxlens = [HEADER_BLOCK + lengths[i] for i in range(start, stop)]
        end = yield from _collect(conn, maxlens)
        stream = conn.view[:end]
        if frames_log.isEnabledFor(_DEBUG):
            frames_log.debug("sent %s", payload.hex(" "))
            frames_log.debug("received %s", bytes(stream).hex(" "))
        try:
            if start or stop != total:
                codec.scatter_read_responses(stream, dest, offsets[start:stop], lengths[start:stop], tl)
            else:
                codec.scatter_read_responses(stream, dest, offsets, lengths, tl)
        except MmpNakError:
            _raise_nak_of(conn.view, end, [a for a, _ in window])
            raise
        start = stop


def _exchange_writes(op: Operation, conn: Connection, pipeline: int) -> Generator[Step, Any, None]:
    chunks = op.chunks
    total = len(chunks)
    encode = codec.encode_write_block
    start = 0
    while start < total:
        stop = min(start + pipeline, total)
        tl0 = conn.tl
        frames = []
        tl = tl0
        for address, data in chunks[start:stop]:
            frames.append(encode(tl, address, data))
            tl = (tl + 1) % TL_MODULO
        conn.tl = tl
        conn.pending_write = chunks[start][0]
        payload = frames[0] if len(frames) == 1 else b"".join(frames)
        yield (SEND, payload)
        k = stop - start
        end = yield from _collect(conn, [HEADER_SHORT] * k)
        view = conn.view
        if frames_log.isEnabledFor(_DEBUG):
            frames_log.debug("sent %s", payload.hex(" "))
            frames_log.debug("received %s", bytes(view[:end]).hex(" "))
        nak: Optional[MmpNakError] = None
        for j in range(k):
            pos = j * HEADER_SHORT
            if pos + HEADER_SHORT > end:
                raise MmpProtocolError(f"write response {j} is shorter than {HEADER_SHORT} bytes")
            tcode = view[pos + OFF_TCODE] >> 4
            if tcode != TCODE_WRITE_RESPONSE:
                raise MmpProtocolError(f"write response {j}: tcode {tcode}, expected 2")
            want = (tl0 + j) % TL_MODULO
            got = view[pos + OFF_TL] >> 2
            if got != want:
                raise MmpProtocolError(f"write response {j}: tl {got}, expected {want}")
            rcode = view[pos + OFF_RCODE] >> 4
            if rcode and nak is None:
                nak = MmpNakError(rcode, address=chunks[start + j][0])
        conn.pending_write = None
        if nak is not None:
            raise nak
        start = stop


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


def _u32(raw: memoryview, offset: int) -> int:
    return int.from_bytes(raw[offset:offset + 4], "big")


# =============================================================================
# The public API, written once for both clients
# =============================================================================
class RequestMixin:
    """Public methods of ``Client`` and ``AsyncClient``.  Subclasses provide
    ``_max_block`` and ``_execute(op)``."""

    _max_block: int

    def _execute(self, op: Operation) -> Any:  # pragma: no cover - provided by the clients
        raise NotImplementedError

    @property
    def max_block(self) -> int:
        """Largest data length of one request, in bytes."""
        return self._max_block

    def _element_step(self, size: int) -> int:
        return self._max_block - self._max_block % size

    # ---------------------------------------------------------------- raw
    def read(self, address: int, length: int) -> Any:
        """``length`` bytes from ``address`` (low 32 bits), as ``bytes``.

        Any length; chunked at ``max_block`` (one block read per chunk).
        """
        a, n = _check_span(address, length)
        buf = bytearray(n)
        return self._execute(_read_op(a, n, self._max_block, buf, lambda: bytes(buf)))

    def read_into(self, address: int, buffer: Any) -> Any:
        """Fill ``buffer`` (any writable C-contiguous buffer: bytearray, memoryview,
        array, numpy) with its size in bytes from ``address``.  Returns ``None``.

        The bytes are stored as they come off the wire (big-endian).
        """
        mv = _byte_view(buffer, "buffer", writable=True)
        a, n = _check_span(address, mv.nbytes)
        return self._execute(_read_op(a, n, self._max_block, mv, _nothing))

    def write(self, address: int, data: Any) -> Any:
        """Write the bytes of ``data`` (any bytes-like) at ``address``; chunked at ``max_block``."""
        mv = _byte_view(data, "data")
        a, n = _check_span(address, mv.nbytes)
        payload = memoryview(bytes(mv))     # a private copy: the caller may reuse its buffer
        return self._execute(Operation(chunks=_write_chunks(a, payload, self._max_block), finish=_nothing))

    # ---------------------------------------------------------------- status
    def uptime_ms(self) -> Any:
        """Milliseconds since power-up (uint32 at 0xF030010C, read with one 4-byte block read)."""
        buf = bytearray(4)
        return self._execute(_read_op(memmap.STATUS_UPTIME_MS, 4, self._max_block, buf,
                                      lambda: int.from_bytes(buf, "big")))

    def status(self) -> Any:
        """The status area (one block read of ``memmap.STATUS_BLOCK_LENGTH`` bytes) as a ``Status``."""
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
        return self._execute(_read_op(memmap.STATUS_READ_BASE, n, self._max_block, buf, finish))

    def powerup_clear(self) -> Any:
        """Send Powerup Clear: one block write of ``00 00 00 01`` to 0xF0380000."""
        data = memoryview(memmap.OP_POWERUP_CLEAR.to_bytes(4, "big"))
        return self._execute(Operation(chunks=[(memmap.STATUS_WRITE_OPERATION, data)], finish=_nothing))

    # ---------------------------------------------------------------- EPIC points
    def read_digital(self, module: int, channel: int) -> Any:
        """State (``bool``) of EPIC digital ``module`` 0..15, ``channel`` 0..63 (4-byte read of slot +0)."""
        address = memmap.digital_read_address(module, channel) + memmap.DIG_STATE
        buf = bytearray(4)
        return self._execute(_read_op(address, 4, self._max_block, buf, lambda: any(buf)))

    def write_digital(self, module: int, channel: int, state: bool) -> Any:
        """Turn an EPIC digital output on (``True``/1) or off (``False``/0): 4-byte write of slot +0."""
        s = _check_state(state)
        address = memmap.digital_write_address(module, channel)
        data = memoryview(s.to_bytes(4, "big"))
        return self._execute(Operation(chunks=[(address, data)], finish=_nothing))

    def read_digital_channel(self, module: int, channel: int) -> Any:
        """The whole digital channel record (``DigitalChannel``), one block read."""
        address = memmap.digital_read_address(module, channel)
        n = memmap.DIGITAL_CHANNEL_LENGTH
        buf = bytearray(n)

        def finish() -> DigitalChannel:
            state, on, off, ftype, fvalue, quality = memmap.DIGITAL_CHANNEL_STRUCT.unpack(buf)
            return DigitalChannel(state != 0, on != 0, off != 0, ftype, fvalue, quality)
        return self._execute(_read_op(address, n, self._max_block, buf, finish))

    def read_analog(self, module: int, channel: int) -> Any:
        """Value (float32, engineering units) of an EPIC analog channel."""
        address = memmap.analog_read_address(module, channel) + memmap.ANA_VALUE
        buf = bytearray(4)
        return self._execute(_read_op(address, 4, self._max_block, buf,
                                      lambda: float(codec.unpack_be(buf, "f")[0])))

    def write_analog(self, module: int, channel: int, value: float) -> Any:
        """Set an EPIC analog output (float32 EU).  NaN and infinities are ``ValueError``."""
        f = _check_finite(value)
        address = memmap.analog_write_address(module, channel) + memmap.ANA_WRITE_VALUE
        data = memoryview(codec.pack_be(f, "f"))
        return self._execute(Operation(chunks=[(address, data)], finish=_nothing))

    def read_analog_channel(self, module: int, channel: int) -> Any:
        """Value, minimum, maximum and quality of an analog channel (``AnalogChannel``)."""
        address = memmap.analog_read_address(module, channel)
        n = memmap.ANALOG_CHANNEL_LENGTH
        buf = bytearray(n)

        def finish() -> AnalogChannel:
            value, _counts, lo, hi, quality = memmap.ANALOG_CHANNEL_STRUCT.unpack(buf)
            return AnalogChannel(value, lo, hi, quality)
        return self._execute(_read_op(address, n, self._max_block, buf, finish))

    # ---------------------------------------------------------------- scratch pad
    def _sp_read(self, kind: str, typecode: str, size: int, index: int, count: int) -> Any:
        runs = memmap.scratchpad_runs(kind, index, count)
        n = _as_int("count", count)
        buf = bytearray(size * n)
        step = self._element_step(size)
        ranges: List[Tuple[int, int]] = []
        offsets: List[int] = []
        lengths: List[int] = []
        for run in runs:
            base = (run.first - runs[0].first) * size
            r, o, ln = _chunk(run.address, run.elements * size, step)
            ranges += r
            offsets += [base + x for x in o]
            lengths += ln
        return self._execute(Operation(ranges=ranges, offsets=offsets, lengths=lengths, dest=buf,
                                       finish=lambda: codec.unpack_be(buf, typecode)))

    def _sp_write(self, kind: str, typecode: str, size: int, index: int, values: Values) -> Any:
        if isinstance(values, (str, bytes, bytearray)):
            raise TypeError(f"values must be a number or a sequence of numbers, not {type(values).__name__}")
        data = memoryview(codec.pack_be(values, typecode))   # checks type and range of every value
        count = data.nbytes // size
        runs = memmap.scratchpad_runs(kind, index, count)
        step = self._element_step(size)
        chunks: List[Tuple[int, memoryview]] = []
        for run in runs:
            base = (run.first - runs[0].first) * size
            chunks += _write_chunks(run.address, data[base:base + run.elements * size], step)
        return self._execute(Operation(chunks=chunks, finish=_nothing))

    def read_scratchpad_int32(self, index: int, count: int = 1) -> Any:
        """``count`` int32 values from logical index 0..10239 (spanning areas 1-3), as ``list[int]``."""
        return self._sp_read("int32", "i", 4, index, count)

    def write_scratchpad_int32(self, index: int, values: Values) -> Any:
        """Write one int or a sequence of ints (each must fit int32) from logical ``index``."""
        return self._sp_write("int32", "i", 4, index, values)

    def read_scratchpad_float(self, index: int, count: int = 1) -> Any:
        """``count`` float32 values from logical index 0..10239, as ``list[float]``."""
        return self._sp_read("float", "f", 4, index, count)

    def write_scratchpad_float(self, index: int, values: Values) -> Any:
        """Write float32 values from logical ``index``.  NaN and infinities are stored as
        given (the scratch pad is raw storage); finite values beyond float32 are ``ValueError``."""
        return self._sp_write("float", "f", 4, index, values)

    def read_scratchpad_int64(self, index: int, count: int = 1) -> Any:
        """``count`` int64 values (big-endian, stride 8) from index 0..1023, as ``list[int]``."""
        return self._sp_read("int64", "q", 8, index, count)

    def write_scratchpad_int64(self, index: int, values: Values) -> Any:
        """Write one int or a sequence of ints (each must fit int64) from ``index``."""
        return self._sp_write("int64", "q", 8, index, values)

    def read_scratchpad_string(self, slot: int, *, encoding: str = DEFAULT_ENCODING,
                               errors: str = "strict") -> Any:
        """Text of string slot 0..63: one block read of the 130-byte slot.

        The first two bytes are the big-endian length (above 128 is
        ``MmpProtocolError``); the text is decoded with ``encoding`` (UTF-8 by default).
        """
        address = memmap.scratchpad_string_address(slot)
        hdr = memmap.SCRATCHPAD_STRING_LENGTH_BYTES
        n = memmap.SCRATCHPAD_STRING_STRIDE
        buf = bytearray(n)

        def finish() -> str:
            length = int.from_bytes(buf[:hdr], "big")
            if length > memmap.SCRATCHPAD_STRING_MAX:
                raise MmpProtocolError(
                    f"string slot {slot}: length word {length} exceeds {memmap.SCRATCHPAD_STRING_MAX}")
            return bytes(buf[hdr:hdr + length]).decode(encoding, errors)
        return self._execute(_read_op(address, n, self._max_block, buf, finish))

    def write_scratchpad_string(self, slot: int, text: Union[str, bytes], *,
                                encoding: str = DEFAULT_ENCODING) -> Any:
        """Store ``text`` in string slot 0..63: one block write of the big-endian
        length word followed by the bytes (``str`` is encoded with ``encoding``,
        bytes-like objects are stored as they are).  Over 128 bytes is ``ValueError``."""
        address = memmap.scratchpad_string_address(slot)
        if isinstance(text, str):
            raw = text.encode(encoding)
        elif isinstance(text, (bytes, bytearray, memoryview)):
            raw = bytes(text)
        else:
            raise TypeError(f"text must be str or bytes, not {type(text).__name__}")
        if len(raw) > memmap.SCRATCHPAD_STRING_MAX:
            raise ValueError(f"{len(raw)} bytes do not fit a {memmap.SCRATCHPAD_STRING_MAX}-byte string slot")
        data = memoryview(len(raw).to_bytes(memmap.SCRATCHPAD_STRING_LENGTH_BYTES, "big") + raw)
        return self._execute(Operation(chunks=_write_chunks(address, data, self._max_block),
                                       finish=_nothing))

    # ---------------------------------------------------------------- scan
    def scan_into(self, plan: Any, buffer: Any) -> Any:
        """Run ``plan``'s block reads, pipelined, scattering the data into ``buffer``
        (writable, at least ``plan.buffer_size`` bytes).  Returns ``None``."""
        mv = _byte_view(buffer, "buffer", writable=True)
        need = plan.buffer_size
        if mv.nbytes < need:
            raise ValueError(f"buffer holds {mv.nbytes} bytes, the plan needs {need}")
        return self._execute(Operation(ranges=plan.requests, offsets=plan.offsets,
                                       lengths=plan.lengths, dest=mv, finish=_nothing))

    def scan(self, plan: Any) -> Any:
        """One pass of ``plan``: a new buffer filled by ``scan_into``, as ``plan.result(buffer)``."""
        buf = plan.new_buffer()
        if len(buf) < plan.buffer_size:
            raise ValueError("plan.new_buffer() is smaller than plan.buffer_size")
        return self._execute(Operation(ranges=plan.requests, offsets=plan.offsets,
                                       lengths=plan.lengths, dest=buf,
                                       finish=lambda: plan.result(buf)))


_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)


def peer_gone(sock: socket.socket) -> bool:
    """True when the idle socket was closed by the peer or holds unsolicited bytes.

    Never blocks (``MSG_DONTWAIT``, or a zero-timeout ``select`` where that flag
    does not exist), whatever the socket's blocking mode.
    """
    if not _DONTWAIT:  # pragma: no cover - Windows
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
    try:
        data = sock.recv(1, socket.MSG_PEEK | _DONTWAIT)
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True
    if data:
        log.warning("unsolicited bytes from the device on an idle connection; reconnecting")
    return True


#: seconds a connection may sit idle before the next call first checks that the peer is still there
STALE_CHECK_AFTER = 0.25


class ClientCore(RequestMixin):
    """State and failure policy shared by ``Client`` and ``AsyncClient``.

    The transports provide ``_execute`` (and connect/pump bytes); everything
    else about a connection's life is decided here, once:

    * a NAK keeps the connection (every response of the window was read);
    * any other failure mid-exchange closes it (it may be out of step);
    * a write in flight whose acknowledgement did not arrive, or arrived
      garbled, becomes ``WriteOutcomeUnknown`` and is never repeated;
    * a read whose connection dropped may be repeated once on a new
      connection (``_failed`` returns instead of raising).
    """

    _kind = "Client"

    def __init__(self, host: str, port: int, timeout: object, max_block: object, pipeline: object) -> None:
        self.host = host
        self.port = port
        self._timeout, self._max_block, self._pipeline = check_options(timeout, max_block, pipeline)
        self._sock: Optional[socket.socket] = None
        self._conn = Connection(self._pipeline * (HEADER_BLOCK + self._max_block))
        self._last_used = 0.0     # time.monotonic() at the end of the last exchange

    @property
    def timeout(self) -> float:
        """Budget of one call (lock, connect and every chunk), in seconds."""
        return self._timeout

    @property
    def pipeline(self) -> int:
        """Most requests in flight at once."""
        return self._pipeline

    @property
    def connected(self) -> bool:
        """True while a TCP connection is open (it may still turn out to be dead)."""
        return self._sock is not None

    def __repr__(self) -> str:
        state = "connected" if self._sock is not None else "idle"
        return f"<mmpfast.{self._kind} {self.host}:{self.port} {state}>"

    def _stale(self, sock: socket.socket, op: Optional[Operation] = None) -> bool:
        """True when an idle connection should be replaced before ``op`` is sent: the
        peer closed it or it holds bytes nobody asked for (one non-blocking ``recv``).

        Skipped for a plain read on a connection used in the last
        ``STALE_CHECK_AFTER`` seconds: if the peer has gone, the read fails and is
        repeated once on a new connection.  Always done before a write (so a
        connection the device closed does not turn it into ``WriteOutcomeUnknown``)
        and before a read of a read-and-clear area (which is never repeated).
        """
        if (op is not None and not op.is_write and time.monotonic() - self._last_used < STALE_CHECK_AFTER
                and op.may_retry()):
            return False
        return peer_gone(sock)

    def _drop(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:  # pragma: no cover
                pass

    def _unknown(self, cause: BaseException) -> WriteOutcomeUnknown:
        address = self._conn.pending_write
        self._conn.pending_write = None
        return WriteOutcomeUnknown(
            f"{self.host}:{self.port}: write at 0x{address or 0:08X} sent but not acknowledged "
            f"({cause}); not retried", address=address)

    def _timed_out(self, cause: Optional[BaseException]) -> MmpError:
        """The error for a call whose deadline passed (the connection is closed)."""
        self._drop()
        err = MmpTimeoutError(f"{self.host}:{self.port}: no answer within {self._timeout} s")
        err.__cause__ = cause
        if self._conn.pending_write is not None:
            unknown = self._unknown(err)
            unknown.__cause__ = err
            return unknown
        return err

    def _failed(self, exc: BaseException, op: Operation, retry_allowed: bool) -> None:
        """Apply the failure policy to ``exc``, raised while ``op`` was exchanged.

        Raises what the caller should see; returns only when the read may be
        repeated once on a new connection.
        """
        if isinstance(exc, MmpNakError):
            self._last_used = time.monotonic()   # every response was read: still in step
            raise exc
        self._drop()
        pending = self._conn.pending_write is not None
        if isinstance(exc, MmpProtocolError):
            if pending:   # a garbled acknowledgement is no acknowledgement
                raise self._unknown(exc) from exc
            raise exc
        if isinstance(exc, (OSError, PeerClosed)):
            if isinstance(exc, MmpError):
                cerr: MmpError = exc
            else:
                cerr = MmpConnectionError(f"{self.host}:{self.port}: connection lost: {exc}")
                cerr.__cause__ = exc
            if pending:
                raise self._unknown(cerr) from cerr
            if not op.is_write and retry_allowed and op.may_retry():
                log.info("%s:%s: connection lost during a read, retrying once", self.host, self.port)
                return
            raise cerr
        raise exc   # cancelled or interrupted mid-exchange: the connection is already closed


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
