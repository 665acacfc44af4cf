"""Argument and stream errors: both codecs raise the same classes and leave buffers alone."""
from __future__ import annotations

from array import array
from typing import Any, List

import numpy as np
import pytest

from mmpfast.errors import MmpError, MmpNakError, MmpProtocolError


@pytest.mark.parametrize("tl", [64, -1, 2 ** 70, -(2 ** 70)])
def test_tl_out_of_range(codec: Any, tl: int) -> None:
    with pytest.raises(ValueError):
        codec.encode_read_block(tl, 0, 4)
    with pytest.raises(ValueError):
        codec.encode_write_response(tl)
    with pytest.raises(ValueError):
        codec.encode_read_blocks(tl, [(0, 4)])
    with pytest.raises(ValueError):
        codec.scatter_read_responses(b"", bytearray(4), [], [], tl)


@pytest.mark.parametrize("bad", [1.0, "1", None, b"\x01", [1]])
def test_wrong_int_types(codec: Any, bad: Any) -> None:
    with pytest.raises(TypeError):
        codec.encode_read_quadlet(bad, 0)
    with pytest.raises(TypeError):
        codec.encode_read_block(0, bad, 4)
    with pytest.raises(TypeError):
        codec.encode_read_block(0, 0, bad)
    with pytest.raises(TypeError):
        codec.encode_write_response(0, rcode=bad)
    with pytest.raises(TypeError):
        codec.encode_read_quadlet(0, 0, source_id=bad)
    with pytest.raises(TypeError):
        codec.encode_read_blocks(0, [(0, bad)])


def test_index_like_ints_accepted(codec: Any) -> None:
    class Idx:
        def __index__(self) -> int:
            return 5
    assert codec.encode_read_block(np.int64(1), np.uint32(0xF030010C), Idx()) == \
        bytes.fromhex("00 00 04 50 00 00 FF FF F0 30 01 0C 00 05 00 00")
    assert codec.encode_read_quadlet(True, 0)[2] == 4


def test_limits(codec: Any) -> None:
    assert codec.encode_read_quadlet(63, 0xFFFFFFFF, 0xFFFF) == bytes.fromhex("0000FC40FFFFFFFFFFFFFFFF")
    for call in (lambda: codec.encode_read_quadlet(0, 2 ** 32),
                 lambda: codec.encode_read_quadlet(0, -1),
                 lambda: codec.encode_read_block(0, 0, 65536),
                 lambda: codec.encode_read_quadlet(0, 0, 65536),
                 lambda: codec.encode_write_response(0, 16),
                 lambda: codec.encode_read_blocks(0, [(2 ** 32, 1)]),
                 lambda: codec.encode_read_blocks(0, [(0, 65536)]),
                 lambda: codec.encode_read_blocks(0, np.array([[0, 65536]])),
                 lambda: codec.encode_read_blocks(0, np.array([[-1, 4]])),
                 lambda: codec.encode_write_block(0, 0, bytes(65536)),
                 lambda: codec.encode_read_block_response(0, bytes(65536)),
                 lambda: codec.encode_write_quadlet(0, 0, b"12345"),
                 lambda: codec.encode_read_quadlet_response(0, b"12345")):
        with pytest.raises(ValueError):
            call()
    assert len(codec.encode_write_block(0, 0, bytes(65535))) == 16 + 65535


@pytest.mark.parametrize("ranges", [[(1, 2, 3)], [5], [(1,)], ["ab"], [None]])
def test_bad_range_items(codec: Any, ranges: List[Any]) -> None:
    with pytest.raises(TypeError):
        codec.encode_read_blocks(0, ranges)
    with pytest.raises(TypeError):
        codec.encode_read_blocks(0, 5)


def test_non_contiguous_and_non_buffers(codec: Any) -> None:
    raw = bytes.fromhex("00 00 04 20 00 00 00 00 00 00 00 00") * 2
    strided = memoryview(raw)[::2]
    nstrided = np.frombuffer(raw, dtype=np.uint8)[::2]
    for bad in (strided, nstrided, "text", 12, None):
        with pytest.raises(TypeError):
            codec.frame_length(bad)
        with pytest.raises(TypeError):
            codec.decode_frame(bad)
        with pytest.raises(TypeError):
            codec.encode_write_block(0, 0, bad)
        with pytest.raises(TypeError):
            codec.encode_write_quadlet(0, 0, bad)
        with pytest.raises(TypeError):
            codec.scatter_read_responses(bad, bytearray(4), [], [], 0)
        with pytest.raises(TypeError):
            codec.unpack_be(bad, "i")


def _stream(codec: Any, first_tl: int, chunks: List[bytes]) -> bytes:
    return b"".join(codec.encode_read_block_response((first_tl + i) % 64, c) for i, c in enumerate(chunks))


@pytest.mark.parametrize("dest", [b"\x00" * 8, memoryview(bytearray(8)).toreadonly(), "xxxxxxxx"])
def test_readonly_or_non_buffer_dest(codec: Any, dest: Any) -> None:
    with pytest.raises(TypeError):
        codec.scatter_read_responses(_stream(codec, 0, [b"abcd"]), dest, [0], [4], 0)


def test_non_contiguous_dest(codec: Any) -> None:
    big = bytearray(16)
    with pytest.raises(TypeError):
        codec.scatter_read_responses(_stream(codec, 0, [b"ab"]), memoryview(big)[::2], [0], [2], 0)
    assert big == bytearray(16)


@pytest.mark.parametrize("offsets,lengths", [
    ([0, 8], [4, 4]),          # second range overflows an 8-byte dest
    ([0, -1], [4, 1]),         # negative offset
    ([0, 2], [4, -1]),         # negative length
    ([0, 4], [4]),             # unequal counts
    ([0], [4, 4]),
    ([0, 2 ** 70], [4, 4]),    # huge offset
    ([0, 0], [4, 65536]),      # length beyond the 16-bit field
])
def test_bad_ranges_leave_dest_untouched(codec: Any, offsets: List[int], lengths: List[int]) -> None:
    dest = bytearray(b"\x5A" * 8)
    stream = _stream(codec, 0, [b"1234", b"5678"])
    with pytest.raises(ValueError):
        codec.scatter_read_responses(stream, dest, offsets, lengths, 0)
    assert dest == bytearray(b"\x5A" * 8)
    if max(offsets + lengths) < 2 ** 63:          # the same through array('q') buffers
        with pytest.raises(ValueError):
            codec.scatter_read_responses(stream, dest, array("q", offsets), array("q", lengths), 0)
        assert dest == bytearray(b"\x5A" * 8)
    else:                                          # and through uint64 numpy arrays
        with pytest.raises(ValueError):
            codec.scatter_read_responses(stream, dest, np.array([0, 2 ** 64 - 1], dtype=np.uint64),
                                         np.array(lengths, dtype=np.uint64), 0)
        assert dest == bytearray(b"\x5A" * 8)


def test_bad_offset_types(codec: Any) -> None:
    dest = bytearray(8)
    stream = _stream(codec, 0, [b"1234"])
    for offsets in ([0.0], ["0"], [None], 5, np.array([0.0])):
        with pytest.raises(TypeError):
            codec.scatter_read_responses(stream, dest, offsets, [4], 0)
    with pytest.raises(TypeError):
        codec.scatter_read_responses(stream, dest, [0], [4.0], 0)
    assert dest == bytearray(8)


def test_stream_ends_early(codec: Any) -> None:
    stream = _stream(codec, 3, [b"AAAA", b"BBBB"])
    for cut in (len(stream) - 1, 20 + 15, 20 + 3, 19, 10, 0):
        dest = bytearray(b"." * 8)
        with pytest.raises(MmpProtocolError):
            codec.scatter_read_responses(stream[:cut], dest, [0, 4], [4, 4], 3)
        if cut >= 20:
            assert dest == bytearray(b"AAAA....")
        else:
            assert dest == bytearray(b"." * 8)


def test_trailing_bytes_left_alone(codec: Any) -> None:
    stream = _stream(codec, 0, [b"AB", b"CD"]) + b"\x00\x00\x04\x70"
    dest = bytearray(4)
    assert codec.scatter_read_responses(stream, dest, [2, 0], [2, 2], 0) == 36
    assert dest == bytearray(b"CDAB")
    assert codec.scatter_read_responses(stream, dest, [], [], 0) == 0


def _fault(codec: Any, which: str) -> bytes:
    frames = [codec.encode_read_block_response(i % 64, bytes([0x41 + i]) * 4) for i in range(3)]
    if which == "tl":
        frames[1] = codec.encode_read_block_response(9, b"BBBB")
    elif which == "tcode":
        frames[1] = codec.encode_read_quadlet_response(1, b"BBBB")
    elif which == "length":
        frames[1] = codec.encode_read_block_response(1, b"BBB")
    elif which == "nak":
        frames[1] = codec.encode_read_block_response(1, b"", rcode=5)
    return b"".join(frames)


@pytest.mark.parametrize("which,exc", [("tl", MmpProtocolError), ("tcode", MmpProtocolError),
                                       ("length", MmpProtocolError), ("nak", MmpNakError)])
def test_mid_stream_fault(codec: Any, which: str, exc: type) -> None:
    dest = bytearray(b"." * 14)
    with pytest.raises(exc) as info:
        codec.scatter_read_responses(_fault(codec, which), dest, [0, 5, 10], [4, 4, 4], 0)
    assert dest == bytearray(b"AAAA.........."), "earlier range filled, later untouched"
    assert isinstance(info.value, MmpError)
    if which == "nak":
        assert info.value.rcode == 5
        assert info.value.error_code == 0xE005
    else:
        assert not isinstance(info.value, MmpNakError)


@pytest.mark.parametrize("rcode", [1, 4, 15])
def test_nak_rcode(codec: Any, rcode: int) -> None:
    stream = codec.encode_read_block_response(0, b"", rcode=rcode)
    with pytest.raises(MmpNakError) as info:
        codec.scatter_read_responses(stream, bytearray(4), [0], [4], 0)
    assert info.value.rcode == rcode
    assert info.value.error_code == 0xE000 | rcode


def test_inputs_never_written(codec: Any) -> None:
    stream = bytearray(_stream(codec, 0, [b"WXYZ"]))
    snapshot = bytes(stream)
    offs, lens = array("q", [0]), array("q", [4])
    dest = bytearray(4)
    codec.scatter_read_responses(stream, dest, offs, lens, 0)
    codec.decode_frame(stream)
    codec.frame_length(stream)
    data = bytearray(b"abc")
    codec.encode_write_block(0, 0, data)
    codec.encode_write_quadlet(0, 0, data)
    assert bytes(stream) == snapshot and offs.tolist() == [0] and lens.tolist() == [4]
    assert data == bytearray(b"abc") and dest == bytearray(b"WXYZ")


def test_frame_is_read_only(codec: Any) -> None:
    fr = codec.decode_frame(codec.encode_read_block(1, 2, 3))
    for name in ("tcode", "tl", "source_id", "rcode", "address", "address_high", "data_length", "data"):
        with pytest.raises(AttributeError):
            setattr(fr, name, 0)
    with pytest.raises(AttributeError):
        fr.extra = 1
    assert repr(fr) == "Frame(tcode=5, tl=1, source_id=0, address=0x00000002, data_length=3)"
