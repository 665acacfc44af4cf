"""The blocking client's hot path (``mmpfast._wire`` compiled, ``mmpfast._wire_py`` pure):
same bytes sent, same results, same exception classes, on both."""
from __future__ import annotations

import importlib
import socket
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
