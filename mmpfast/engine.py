"""The request engine shared by ``Client`` and ``AsyncClient`` (sans-I/O).

A public client call is built once, by an ``op_*`` function of
``mmpfast.calls``, as an ``Operation``: the block reads or block writes the
call needs and a ``finish`` that builds its return value.  The clients only
hand the operation to their transport.

``exchange`` drives one operation over one connection: it yields "send these
bytes" and "receive into this buffer" steps, frames the received stream with
the codec's splitter (``codec.frame_boundaries``), checks every response with
the codec (``codec.scatter_read_responses``, ``codec.check_write_responses``)
and keeps the transaction labels and pipeline windows.  The transports pump
bytes through it, so every frame rule is written once for both clients.

Reads with side effects (read-and-clear areas, ``memmap.read_has_side_effects``)
are the last requests of an operation (from ``Operation.clear_from``); they
go out in windows of their own, only after every plain answer arrived, and
the connection records that they were handed over (``Connection.pending_clear``)
so that the failure policy never sends them twice.

This module imports no ``socket``, ``select``, ``time`` or ``asyncio``.

Wire habits: every read is a block read (tcode 5), every write a block write
(tcode 1), chunked at ``max_block`` data bytes, each chunk its own request
with its own tl (0..63, rotating).  All values are big-endian on the wire.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Generator, Generic, List, Optional, Sequence, Tuple, TypeVar

from . import codec, memmap
from .errors import MmpConnectionError, MmpError, MmpNakError, MmpProtocolError
from .protocol import HEADER_BLOCK, HEADER_SHORT, TL_MODULO

__all__ = [
    "Operation", "Connection", "exchange", "PeerClosed", "NotPrepared", "SEND", "RECV",
    "single_request", "single_answer", "begin_custom", "single_read", "single_write", "read_op",
    "ranges_op", "chunk", "write_chunks", "nothing",
]

#: hex dumps of every frame sent and received, at DEBUG (enable with
#: ``logging.getLogger("mmpfast.frames").setLevel(logging.DEBUG)``)
frames_log = logging.getLogger("mmpfast.frames")
_DEBUG = logging.DEBUG

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

    ``clear_from``: index of the first read that changes the device (the
    read-and-clear requests are last); ``None`` lets ``may_retry`` decide
    from the addresses (then every request counts as one when any does).
    ``custom``: for a read, the custom-area address list the connection must
    have been prepared with (``None``: none needed); for a write, the list
    the write leaves in the device (``()``: unknown), see ``begin_custom``.
    """

    __slots__ = ("is_write", "ranges", "offsets", "lengths", "dest", "chunks", "finish", "retry",
                 "clear_from", "custom")

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
        self.clear_from: Optional[int] = None
        self.custom: Optional[Tuple[int, ...]] = None

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

    def first_clearing(self) -> int:
        """Index of the first request that changes the device when read (``len(ranges)``
        when none does): ``clear_from``, else 0 or ``len(ranges)`` by ``may_retry``."""
        cf = self.clear_from
        if cf is None:
            cf = self.clear_from = len(self.ranges) if self.may_retry() else 0
        return cf


_new_operation = object.__new__
_ZERO = (0,)


def single_read(address: int, length: int, dest: Any, finish: Callable[[], T],
                retry: Optional[bool] = None) -> Operation[T]:
    """A one-request read (built without keyword parsing: the per-call hot path).
    ``retry``: whether it may be repeated (``None``: ``may_retry`` decides)."""
    op: Operation[T] = _new_operation(Operation)
    op.is_write = False
    op.ranges = ((address, length),)
    op.offsets = _ZERO
    op.lengths = (length,)
    op.dest = dest
    op.chunks = _EMPTY
    op.finish = finish
    op.retry = retry
    op.clear_from = None
    op.custom = None
    return op


def single_write(address: int, data: memoryview) -> Operation[None]:
    """A one-request write (the per-call hot path)."""
    op: Operation[None] = _new_operation(Operation)
    op.is_write = True
    op.ranges = _EMPTY
    op.offsets = _EMPTY
    op.lengths = _EMPTY
    op.dest = None
    op.chunks = ((address, data),)
    op.finish = nothing
    op.retry = False
    op.clear_from = None
    op.custom = None
    return op


def ranges_op(ranges: Sequence[Tuple[int, int]], offsets: Sequence[int], lengths: Sequence[int],
              dest: Any, finish: Callable[[], T], clear_from: Optional[int] = None,
              custom: Optional[Tuple[int, ...]] = None) -> Operation[T]:
    """A read of many requests (a scan pass), built without keyword parsing.  With
    ``clear_from`` given, the requests from that index change the device and the
    others may be repeated."""
    op: Operation[T] = _new_operation(Operation)
    op.is_write = False
    op.ranges = ranges
    op.offsets = offsets
    op.lengths = lengths
    op.dest = dest
    op.chunks = _EMPTY
    op.finish = finish
    op.retry = None if clear_from is None else clear_from >= len(ranges)
    op.clear_from = clear_from
    op.custom = custom
    return op


def chunk(address: int, length: int, step: int) -> Tuple[List[Tuple[int, int]], List[int], List[int]]:
    """``length`` bytes from ``address`` as reads of at most ``step`` bytes:
    ``(ranges, offsets, lengths)``."""
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


def read_op(address: int, length: int, step: int, dest: Any, finish: Callable[[], T],
            retry: Optional[bool] = None) -> Operation[T]:
    """``length`` bytes from ``address`` into ``dest``, chunked at ``step`` bytes."""
    if length <= step:
        if length == 0:
            return Operation(finish)
        return single_read(address, length, dest, finish, retry)
    ranges, offsets, lengths = chunk(address, length, step)
    return Operation(finish, ranges=ranges, offsets=offsets, lengths=lengths, dest=dest)


def write_chunks(address: int, data: memoryview, step: int) -> List[Tuple[int, memoryview]]:
    """``data`` written from ``address`` as writes of at most ``step`` bytes."""
    n = data.nbytes
    return [(address + i, data[i:i + step]) for i in range(0, n, step)]


def nothing() -> None:
    """The ``finish`` of a call that returns ``None``."""
    return None


# =============================================================================
# The protocol engine (sans-I/O)
# =============================================================================
SEND = 0   #: step: send all of the payload (bytes); resume with None
RECV = 1   #: step: receive into the payload (writable memoryview); resume with the byte count


class PeerClosed(MmpConnectionError):
    """The peer closed the connection while a response was expected."""


class NotPrepared(MmpError):
    """A scan needs a custom-area address list this connection was not prepared with."""


class Connection:
    """Per-connection protocol state: the next tl, the receive buffer, the
    address of the first write of the current call handed to the transport and
    not yet acknowledged (``pending_write``, ``None`` when there is none),
    whether a read that changes the device was handed to the transport during
    the current attempt (``pending_clear``), and the custom-area address list
    written on this connection (``custom``, ``None`` when not known)."""

    __slots__ = ("tl", "rbuf", "view", "pending_write", "pending_clear", "custom")

    def __init__(self, size: int = 4096) -> None:
        self.tl = 0
        self.rbuf = bytearray(size)
        self.view = memoryview(self.rbuf)
        self.pending_write: Optional[int] = None
        self.pending_clear = False
        self.custom: Optional[Tuple[int, ...]] = None

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
    clear_from = op.first_clearing()
    start = 0
    while start < total:
        stop = min(start + pipeline, total)
        if start < clear_from < stop:
            stop = clear_from       # read-and-clear requests only after every plain answer
        elif stop > clear_from:
            conn.pending_clear = True
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
    if op.retry is not True and not op.may_retry():
        conn.pending_clear = True
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


def begin_custom(op: Operation[Any], conn: Connection) -> None:
    """Before ``op`` is sent on ``conn`` (when ``op.custom`` is not ``None``).

    A read needing a custom-area address list raises ``NotPrepared`` (an
    ``MmpError``; nothing is sent) unless that list is the one written on this
    connection.  A write to the address list forgets the list it replaces (the
    list ``op.custom`` is recorded by the write's ``finish``, once acknowledged).
    """
    if op.is_write:
        conn.custom = None
    elif conn.custom != op.custom:
        raise NotPrepared(
            "this plan gathers points through the custom area: call prepare(plan) on this "
            "connection first (a connection that was remade, or another plan prepared since, "
            "forgets it)")
