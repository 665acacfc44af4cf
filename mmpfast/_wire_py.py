"""One request/answer exchange on a connected stream socket, pure Python.

The reference twin of the compiled ``mmpfast._wire`` (same functions, results
and exception classes; see there).  Used when ``MMPFAST_NO_EXTENSIONS=1`` or
the extension is missing.  The socket is kept in timeout mode; each send and
receive gets the time left before ``deadline`` (``time.monotonic()`` seconds).
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

__all__ = ["IMPLEMENTATION", "exchange_read", "exchange_write", "exchange_window"]

_monotonic = time.monotonic


def _arm(sock: socket.socket, deadline: float) -> None:
    """The socket's timeout within the time left (a ``settimeout`` system call only when the
    budget moved by more than 5 ms or above what is set)."""
    remaining = deadline - _monotonic()
    if remaining <= 0:
        raise TimeoutError("deadline passed")
    current = sock.gettimeout()
    if current is None or current > remaining or current < remaining - 0.005:
        sock.settimeout(remaining)


def _send_all(sock: socket.socket, data: Any, deadline: float) -> None:
    view = memoryview(data)
    while view:
        _arm(sock, deadline)
        view = view[sock.send(view):]


def _recv_frame(sock: socket.socket, rbuf: bytearray, maxlen: int, deadline: float) -> int:
    view = memoryview(rbuf)
    cap = len(rbuf)
    have = 0
    while True:
        _arm(sock, deadline)
        got = sock.recv_into(view[have:])
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
                  rbuf: bytearray, deadline: float) -> None:
    """One block read (tcode 5, tl ``tl``) of ``length`` bytes at ``address``; the data lands in
    ``dest[offset:offset + length]``.  ``rbuf`` is the reused receive buffer (at least
    16 + ``length`` bytes).  Returns ``None``."""
    if not 0 <= tl < TL_MODULO or not 0 <= length <= MAX_DATA_LENGTH or len(rbuf) < HEADER_BLOCK + length:
        raise ValueError("tl, length or receive buffer out of range")
    dst = memoryview(dest).cast("B") if not isinstance(dest, bytearray) else memoryview(dest)
    if dst.readonly:
        raise TypeError("dest must be writable")
    if offset < 0 or offset + length > dst.nbytes:
        raise ValueError("destination range out of bounds")
    if sock.fileno() < 0:
        raise OSError(9, "socket is closed")
    _send_all(sock, _codec.encode_read_block(tl, address, length), deadline)
    n = _recv_frame(sock, rbuf, HEADER_BLOCK + length, deadline)
    frame = _codec.decode_frame(memoryview(rbuf)[:n])
    _check_header(frame, TCODE_READ_BLOCK_RESPONSE, tl, address)
    if frame.data_length != length:
        raise MmpProtocolError(f"response 0: data_length {frame.data_length}, expected {length}")
    dst[offset:offset + length] = frame.data


def exchange_write(sock: socket.socket, tl: int, address: int, data: Any, rbuf: bytearray,
                   deadline: float) -> None:
    """One block write (tcode 1, tl ``tl``) of the bytes of ``data`` at ``address``, and its
    acknowledgement (tcode 2) received into ``rbuf`` (at least 16 + len(data) bytes).
    Returns ``None``."""
    if not 0 <= tl < TL_MODULO:
        raise ValueError("tl out of range")
    n = memoryview(data).nbytes
    if n > MAX_DATA_LENGTH or len(rbuf) < HEADER_BLOCK + n:
        raise ValueError("data or receive buffer out of range")
    if sock.fileno() < 0:
        raise OSError(9, "socket is closed")
    _send_all(sock, _codec.encode_write_block(tl, address, data), deadline)
    m = _recv_frame(sock, rbuf, HEADER_SHORT, deadline)
    _check_header(_codec.decode_frame(memoryview(rbuf)[:m]), TCODE_WRITE_RESPONSE, tl, address)


def exchange_window(sock: socket.socket, tl: int, ranges: Any, offsets: Any, lengths: Any, dest: Any,
                    rbuf: bytearray, deadline: float) -> None:
    """One pipeline window of block reads: requests ``ranges`` (tl ``tl``, ``tl + 1``, ...)
    sent at once, the ``len(ranges)`` answers received whole into ``rbuf`` (at least
    the sum of 16 + ``lengths[i]`` bytes), checked and scattered into ``dest`` at
    ``offsets``.  Returns ``None``.  (Driven by the engine's own generator.)"""
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
    step = next(gen)
    while True:
        if step[0] == RECV:
            _arm(sock, deadline)
            reply = sock.recv_into(step[1])
        else:
            _send_all(sock, step[1], deadline)
            reply = None
        try:
            step = gen.send(reply)
        except StopIteration:
            return


def _none() -> None:
    return None
