"""One request/answer exchange on a connected stream socket, pure Python.

The reference twin of the compiled ``mmpfast._wire`` (same functions, results
and exception classes; see there).  Used when ``MMPFAST_NO_EXTENSIONS=1`` or
the extension is missing.  The socket is kept in Python's timeout mode and
``armed`` is its timeout (seconds; 0.0: not set by this module yet), passed
back in by the caller and returned by every function.  As in the compiled
twin it is kept while it lies within ``[left - 4 * ARM_MARGIN, left -
ARM_MARGIN]`` of the time left before ``deadline`` (``time.monotonic()``
seconds), else re-set to ``left - 2 * ARM_MARGIN``, or to ``left`` itself
when less than ``3 * ARM_MARGIN`` is left or a send or receive timed out
with time still left; so no call outlives its deadline.
"""
from __future__ import annotations

import socket
import time
from typing import Any

from . import _codec_py as _codec
from .engine import RECV, Connection, Operation, PeerClosed, exchange
from .errors import MmpNakError, MmpProtocolError
from .protocol import (HEADER_BLOCK, HEADER_SHORT, MAX_DATA_LENGTH, TCODE_READ_BLOCK_RESPONSE,
                       TCODE_WRITE_RESPONSE, TL_MODULO)

IMPLEMENTATION = "python"
ARM_MARGIN = 0.02

__all__ = ["ARM_MARGIN", "IMPLEMENTATION", "exchange_read", "exchange_write", "exchange_window"]

_monotonic = time.monotonic


class _Armed:
    """The timeout now on the socket (seconds), carried through one call."""

    __slots__ = ("value",)

    def __init__(self, value: float) -> None:
        self.value = value


def _budget(sock: socket.socket, deadline: float, armed: _Armed) -> None:
    """Before a send or receive: TimeoutError when no time is left; the timeout re-set when
    what is armed is not within ``[left - 4 * ARM_MARGIN, left - ARM_MARGIN]``."""
    remaining = deadline - _monotonic()
    if remaining <= 0:
        raise TimeoutError("deadline passed")
    value = armed.value
    if value > 0 and remaining - 4 * ARM_MARGIN <= value <= remaining - ARM_MARGIN:
        return
    value = remaining - 2 * ARM_MARGIN if remaining > 3 * ARM_MARGIN else remaining
    sock.settimeout(value)
    armed.value = value


def _timed_out(sock: socket.socket, deadline: float, armed: _Armed) -> None:
    """A send or receive timed out: TimeoutError when the deadline passed, else the timeout
    re-set to exactly the time left (the caller tries again)."""
    remaining = deadline - _monotonic()
    if remaining <= 0:
        raise TimeoutError("deadline passed")
    sock.settimeout(remaining)
    armed.value = remaining


def _send_all(sock: socket.socket, data: Any, deadline: float, armed: _Armed) -> None:
    view = memoryview(data)
    exact = False
    while view:
        if not exact:
            _budget(sock, deadline, armed)
        try:
            sent = sock.send(view)
        except (socket.timeout, BlockingIOError):
            _timed_out(sock, deadline, armed)
            exact = True
            continue
        view = view[sent:]


def _recv_some(sock: socket.socket, view: memoryview, deadline: float, armed: _Armed) -> int:
    exact = False
    while True:
        if not exact:
            _budget(sock, deadline, armed)
        try:
            return sock.recv_into(view)
        except (socket.timeout, BlockingIOError):
            _timed_out(sock, deadline, armed)
            exact = True


def _recv_frame(sock: socket.socket, rbuf: bytearray, maxlen: int, deadline: float, armed: _Armed) -> int:
    view = memoryview(rbuf)
    cap = len(rbuf)
    have = 0
    while True:
        got = _recv_some(sock, view[have:], deadline, armed)
        if not got:
            raise PeerClosed(f"connection closed by the peer after {have} bytes of a response")
        have += got
        n = _codec.frame_length(view[:have])
        if n is not None:
            if n > maxlen:
                raise MmpProtocolError(f"response 0 is a {n}-byte frame, at most {maxlen} expected")
            if have >= n:
                if have > n:
                    raise MmpProtocolError(f"{have - n} unexpected bytes after the last response")
                return n
        if have == cap:
            raise MmpProtocolError("responses longer than requested")


def _check_header(frame: Any, tcode: int, tl: int, address: int) -> None:
    if frame.tcode != tcode:
        raise MmpProtocolError(f"response 0: tcode {frame.tcode}, expected {tcode}")
    if frame.tl != tl:
        raise MmpProtocolError(f"response 0: tl {frame.tl}, expected {tl}")
    if frame.rcode:
        raise MmpNakError(frame.rcode, address=address)


def exchange_read(sock: socket.socket, tl: int, address: int, length: int, dest: Any, offset: int,
                  rbuf: bytearray, deadline: float, armed: float = 0.0) -> float:
    """One block read (tcode 5, tl ``tl``) of ``length`` bytes at ``address``; the data lands in
    ``dest[offset:offset + length]``.  ``rbuf`` is the reused receive buffer (at least
    16 + ``length`` bytes).  Returns the ``armed`` timeout now on the socket (seconds)."""
    if not 0 <= tl < TL_MODULO or not 0 <= length <= MAX_DATA_LENGTH or len(rbuf) < HEADER_BLOCK + length:
        raise ValueError("tl, length or receive buffer out of range")
    dst = memoryview(dest).cast("B") if not isinstance(dest, bytearray) else memoryview(dest)
    if dst.readonly:
        raise TypeError("dest must be writable")
    if offset < 0 or offset + length > dst.nbytes:
        raise ValueError("destination range out of bounds")
    if sock.fileno() < 0:
        raise OSError(9, "socket is closed")
    arm = _Armed(armed)
    _send_all(sock, _codec.encode_read_block(tl, address, length), deadline, arm)
    n = _recv_frame(sock, rbuf, HEADER_BLOCK + length, deadline, arm)
    frame = _codec.decode_frame(memoryview(rbuf)[:n])
    _check_header(frame, TCODE_READ_BLOCK_RESPONSE, tl, address)
    if frame.data_length != length:
        raise MmpProtocolError(f"response 0: data_length {frame.data_length}, expected {length}")
    dst[offset:offset + length] = frame.data
    return arm.value


def exchange_write(sock: socket.socket, tl: int, address: int, data: Any, rbuf: bytearray,
                   deadline: float, armed: float = 0.0) -> float:
    """One block write (tcode 1, tl ``tl``) of the bytes of ``data`` at ``address``, and its
    acknowledgement (tcode 2) received into ``rbuf`` (at least 16 + len(data) bytes).
    Returns the ``armed`` timeout now on the socket (seconds)."""
    if not 0 <= tl < TL_MODULO:
        raise ValueError("tl out of range")
    n = memoryview(data).nbytes
    if n > MAX_DATA_LENGTH or len(rbuf) < HEADER_BLOCK + n:
        raise ValueError("data or receive buffer out of range")
    if sock.fileno() < 0:
        raise OSError(9, "socket is closed")
    arm = _Armed(armed)
    _send_all(sock, _codec.encode_write_block(tl, address, data), deadline, arm)
    m = _recv_frame(sock, rbuf, HEADER_SHORT, deadline, arm)
    _check_header(_codec.decode_frame(memoryview(rbuf)[:m]), TCODE_WRITE_RESPONSE, tl, address)
    return arm.value


def exchange_window(sock: socket.socket, tl: int, ranges: Any, offsets: Any, lengths: Any, dest: Any,
                    rbuf: bytearray, deadline: float, armed: float = 0.0) -> float:
    """One pipeline window of block reads: requests ``ranges`` (tl ``tl``, ``tl + 1``, ...)
    sent at once, the ``len(ranges)`` answers received whole into ``rbuf`` (at least
    the sum of 16 + ``lengths[i]`` bytes), checked and scattered into ``dest`` at
    ``offsets``.  Returns the ``armed`` timeout now on the socket (seconds).  (Driven by the
    engine's own generator.)"""
    count = len(ranges)
    if not 0 <= tl < TL_MODULO or len(offsets) != count or len(lengths) != count:
        raise ValueError("tl or window out of range")
    if len(rbuf) < sum(HEADER_BLOCK + n for n in lengths):
        raise ValueError("receive buffer smaller than the window's answers")
    if sock.fileno() < 0:
        raise OSError(9, "socket is closed")
    conn = Connection(0)
    conn.tl = tl
    conn.rbuf = rbuf
    conn.view = memoryview(rbuf)
    op = Operation(_none, ranges=ranges, offsets=offsets, lengths=lengths, dest=dest)
    op.clear_from = len(ranges)         # one window of plain reads (the client sends no other here)
    gen = exchange(op, conn, max(count, 1))
    arm = _Armed(armed)
    step = next(gen)
    while True:
        if step[0] == RECV:
            reply = _recv_some(sock, step[1], deadline, arm)
        else:
            _send_all(sock, step[1], deadline, arm)
            reply = None
        try:
            step = gen.send(reply)
        except StopIteration:
            return arm.value


def _none() -> None:
    return None
