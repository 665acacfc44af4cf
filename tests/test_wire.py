"""The blocking client's hot path (``mmpfast._wire`` compiled, ``mmpfast._wire_py`` pure):
same bytes sent, same results, same exception classes, on both."""
from __future__ import annotations

import importlib
import socket
import struct
import threading
import time
from types import ModuleType
from typing import Iterator, Tuple

import pytest

from mmpfast import _codec_py as ref
from mmpfast.engine import PeerClosed
from mmpfast.errors import MmpNakError, MmpProtocolError


def _load(name: str) -> ModuleType:
    if name == "cython":
        return pytest.importorskip("mmpfast._wire", reason="compiled mmpfast._wire not built")
    return importlib.import_module("mmpfast._wire_py")


@pytest.fixture(params=["cython", "python"])
def wire(request: pytest.FixtureRequest) -> ModuleType:
    return _load(request.param)


@pytest.fixture
def pair() -> Iterator[Tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.settimeout(1.0)           # the client keeps its socket in timeout (non-blocking) mode
    b.settimeout(1.0)
    yield a, b
    a.close()
    b.close()


def _deadline(seconds: float = 1.0) -> float:
    return time.monotonic() + seconds


def test_read_sends_the_request_and_fills_dest(wire: ModuleType, pair: Tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    b.sendall(ref.encode_read_block_response(9, b"\x01\x02\x03\x04"))    # the answer is already there
    dest = bytearray(10)
    rbuf = bytearray(64)
    assert wire.exchange_read(a, 9, 0xF0221200, 4, dest, 3, rbuf, _deadline()) > 0
    assert dest == b"\x00\x00\x00\x01\x02\x03\x04\x00\x00\x00"
    assert b.recv(100) == ref.encode_read_block(9, 0xF0221200, 4)


@pytest.mark.parametrize("answer, error", [
    (ref.encode_read_block_response(9, b"", rcode=5), MmpNakError),
    (ref.encode_read_block_response(8, b"abcd"), MmpProtocolError),                 # wrong tl
    (ref.encode_write_response(9), MmpProtocolError),                               # wrong tcode
    (ref.encode_read_block_response(9, b"ab"), MmpProtocolError),                   # short data
    (ref.encode_read_block_response(9, b"abcdefgh"), MmpProtocolError),             # too long
    (ref.encode_read_block_response(9, b"abcd") + b"\x00", MmpProtocolError),       # bytes after it
    (b"\x00\x00\x24\x30" + bytes(12), MmpProtocolError),                             # tcode 3
])
def test_read_checks_the_answer(wire: ModuleType, pair: Tuple[socket.socket, socket.socket],
                                answer: bytes, error: type) -> None:
    a, b = pair
    b.sendall(answer)
    dest = bytearray(4)
    with pytest.raises(error) as info:
        wire.exchange_read(a, 9, 0xF0D81000, 4, dest, 0, bytearray(64), _deadline())
    if error is MmpNakError:
        assert (info.value.rcode, info.value.address) == (5, 0xF0D81000)
    assert dest == bytes(4)                                   # nothing stored from a bad answer


def test_read_peer_closed_and_timeout(wire: ModuleType, pair: Tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        wire.exchange_read(a, 0, 0xF030010C, 4, bytearray(4), 0, bytearray(64), _deadline(0.05))
    assert 0.04 <= time.monotonic() - t0 < 0.5
    b.sendall(ref.encode_read_block_response(1, b"abcd")[:10])   # half an answer, then the peer goes
    b.shutdown(socket.SHUT_WR)
    with pytest.raises(PeerClosed):
        wire.exchange_read(a, 1, 0xF030010C, 4, bytearray(4), 0, bytearray(64), _deadline())
    with pytest.raises(TimeoutError):                          # a deadline already gone: nothing waits
        wire.exchange_read(a, 2, 0xF030010C, 4, bytearray(4), 0, bytearray(64), time.monotonic() - 1)


def test_write_and_its_acknowledgement(wire: ModuleType, pair: Tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    b.sendall(ref.encode_write_response(63))
    assert wire.exchange_write(a, 63, 0xF0D82000, b"\x00\x00\x00\x07", bytearray(64), _deadline()) > 0
    assert b.recv(100) == ref.encode_write_block(63, 0xF0D82000, b"\x00\x00\x00\x07")
    b.sendall(ref.encode_write_response(0, rcode=4))
    with pytest.raises(MmpNakError) as info:
        wire.exchange_write(a, 0, 0xF0D82004, b"abcd", bytearray(64), _deadline())
    assert (info.value.rcode, info.value.address) == (4, 0xF0D82004)
    b.sendall(ref.encode_write_response(2))
    with pytest.raises(MmpProtocolError):
        wire.exchange_write(a, 1, 0xF0D82004, b"abcd", bytearray(64), _deadline())
    with pytest.raises(TimeoutError):
        wire.exchange_write(a, 5, 0xF0D82004, b"abcd", bytearray(64), _deadline(0.03))


def test_window_of_reads(wire: ModuleType, pair: Tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    ranges = [(0xF0D81000, 4), (0xF01E0000, 8), (0xF0D81100, 2)]
    answers = [ref.encode_read_block_response((62 + i) % 64, bytes([i + 1]) * n) for i, (_, n) in enumerate(ranges)]
    b.sendall(b"".join(answers))
    dest = bytearray(14)
    assert wire.exchange_window(a, 62, ranges, [0, 4, 12], [4, 8, 2], dest, bytearray(128), _deadline()) > 0
    assert dest == b"\x01" * 4 + b"\x02" * 8 + b"\x03" * 2
    assert b.recv(1000) == ref.encode_read_blocks(62, ranges)
    # a NAK on the second answer names its request; every answer of the window was read
    b.sendall(answers[0] + ref.encode_read_block_response(63, b"", rcode=5) + answers[2])
    with pytest.raises(MmpNakError) as info:
        wire.exchange_window(a, 62, ranges, [0, 4, 12], [4, 8, 2], bytearray(14), bytearray(128), _deadline())
    assert info.value.address == 0xF01E0000
    b.recv(1000)
    # an answer longer than its request is a protocol error at its header
    b.sendall(ref.encode_read_block_response(10, b"x" * 9))
    with pytest.raises(MmpProtocolError):
        wire.exchange_window(a, 10, ranges, [0, 4, 12], [4, 8, 2], bytearray(14), bytearray(128), _deadline())


def test_the_client_uses_the_implementation_the_codec_does() -> None:
    from mmpfast import codec, wire
    assert wire.IMPLEMENTATION == codec.IMPLEMENTATION


# ---- the deadline without a poll per call: socket timeouts armed once, kept, re-armed when late

def _socket_timeout(wire: ModuleType, sock: socket.socket) -> float:
    """The timeout the module armed on ``sock`` (seconds), read back from the socket."""
    if wire.IMPLEMENTATION == "cython":
        assert sock.gettimeout() is None                  # blocking mode; the kernel ends the calls
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.calcsize("ll"))
        sec, usec = struct.unpack("ll", raw)
        snd = struct.unpack("ll", sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, len(raw)))
        assert snd == (sec, usec)
        return sec + usec / 1e6
    t = sock.gettimeout()
    assert t is not None
    return t


def test_timeout_armed_once_and_kept_while_in_budget(wire: ModuleType,
                                                     pair: Tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    margin = wire.ARM_MARGIN
    b.sendall(ref.encode_read_block_response(1, b"\x00\x00\x00\x01"))
    dest = bytearray(4)
    deadline = _deadline(2.0)
    armed = wire.exchange_read(a, 1, 0xF0221200, 4, dest, 0, bytearray(64), deadline)
    assert dest == b"\x00\x00\x00\x01"
    assert 2.0 - 2 * margin - 0.1 < armed <= 2.0 - 2 * margin         # the budget less two margins
    assert abs(_socket_timeout(wire, a) - armed) < 0.01              # the kernel keeps microseconds
    assert ref.decode_frame(b.recv(64)).tl == 1
    for tl in (2, 3, 4):                                             # later calls: nothing re-armed
        b.sendall(ref.encode_read_block_response(tl, b"\x00\x00\x00\x00"))
        assert wire.exchange_read(a, tl, 0xF0221200, 4, dest, 0, bytearray(64), _deadline(2.0), armed) == armed
        assert ref.decode_frame(b.recv(64)).tl == tl
    assert dest == bytes(4)
    b.sendall(ref.encode_write_response(5))
    assert wire.exchange_write(a, 5, 0xF0D82000, b"\x00\x00\x00\x01", bytearray(64), _deadline(2.0),
                               armed) == armed
    assert b.recv(64) == ref.encode_write_block(5, 0xF0D82000, b"\x00\x00\x00\x01")


def test_late_call_rearms_and_ends_at_its_deadline(wire: ModuleType,
                                                   pair: Tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    b.sendall(ref.encode_read_block_response(1, b"\x00\x00\x00\x01"))
    armed = wire.exchange_read(a, 1, 0xF0221200, 4, bytearray(4), 0, bytearray(64), _deadline(10.0))
    assert armed > 9.0                                  # armed for a 10 s budget
    for budget in (0.2, 0.04):                          # re-armed below it; a small one polls
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):               # nothing answers
            wire.exchange_read(a, 2, 0xF0221200, 4, bytearray(4), 0, bytearray(64), t0 + budget, armed)
        assert budget <= time.monotonic() - t0 < budget + 0.15
    want = b"".join(ref.encode_read_block(tl, 0xF0221200, 4) for tl in (1, 2, 2))
    assert b.recv(64) == want                           # every request was sent


def test_armed_timeout_shorter_than_the_budget_waits_for_the_rest(
        wire: ModuleType, pair: Tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    margin = wire.ARM_MARGIN
    if wire.IMPLEMENTATION == "cython":                 # the kernel's timeout ends the recv early
        a.settimeout(None)
        a.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 50_000))
    else:
        a.settimeout(0.05)
    timer = threading.Timer(0.3, b.sendall, (ref.encode_read_block_response(7, b"\x00\x00\x00\x01"),))
    timer.start()
    try:
        dest = bytearray(4)
        t0 = time.monotonic()
        # the caller believes a full budget is armed; the answer comes after the armed timeout
        wire.exchange_read(a, 7, 0xF0221200, 4, dest, 0, bytearray(64), t0 + 1.0, 1.0 - 2 * margin)
        assert time.monotonic() - t0 >= 0.25
        assert dest == b"\x00\x00\x00\x01"
    finally:
        timer.join()
