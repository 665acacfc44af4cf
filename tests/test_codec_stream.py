"""The frame splitter (``frame_ends``, ``FrameSplitter``) and write-acknowledgement
checking (``check_write_responses``), on both codecs."""
from __future__ import annotations

from types import ModuleType

import pytest

from mmpfast.errors import MmpProtocolError


def _frames(codec: ModuleType) -> list:
    return [codec.encode_write_response(1), codec.encode_read_block_response(2, b"abcd"),
            codec.encode_read_block(3, 0xF0D81000, 8), codec.encode_write_block(4, 0xF0D81000, b"xyz"),
            codec.encode_read_quadlet(5, 0xF030010C), codec.encode_read_quadlet_response(6, b"\x01\x02\x03\x04")]


def test_frame_ends(codec: ModuleType) -> None:
    frames = _frames(codec)
    assert [len(f) for f in frames] == [12, 20, 16, 19, 12, 16]
    stream = b"".join(frames)
    assert codec.frame_ends(stream) == [12, 32, 48, 67, 79, 95]
    assert codec.frame_ends(bytearray(stream), 2) == [12, 32]
    assert codec.frame_ends(memoryview(stream), 0) == []
    assert codec.frame_ends(stream[:31]) == [12]                 # second frame one byte short
    assert codec.frame_ends(stream[:13]) == [12]                 # a lone byte of the next header
    assert codec.frame_ends(b"") == []
    with pytest.raises(MmpProtocolError):
        codec.frame_ends(b"\x00\x00\x00\x30" + bytes(8))         # tcode 3 is undefined
    assert codec.frame_ends(stream[:12] + b"\x00\x00\x00\x30", 1) == [12]   # stops before it when told
    with pytest.raises(ValueError):
        codec.frame_ends(stream, -2)
    with pytest.raises(TypeError):
        codec.frame_ends(stream, 1.0)
    with pytest.raises(TypeError):
        codec.frame_ends("text")


def test_check_write_responses(codec: ModuleType) -> None:
    acks = b"".join(codec.encode_write_response((62 + i) % 64) for i in range(4))
    assert codec.check_write_responses(acks, 4, 62) == -1
    assert codec.check_write_responses(acks + b"junk", 4, 62) == -1      # only count frames are read
    assert codec.check_write_responses(acks, 0, 5) == -1
    naks = codec.encode_write_response(0) + codec.encode_write_response(1, 5) + codec.encode_write_response(2, 8)
    assert codec.check_write_responses(naks, 3, 0) == 1                 # the first NAK's index
    with pytest.raises(MmpProtocolError, match="tl"):
        codec.check_write_responses(acks, 4, 61)
    with pytest.raises(MmpProtocolError, match="tcode"):
        codec.check_write_responses(codec.encode_read_quadlet(0, 0), 1, 0)
    bad_tl_after_nak = codec.encode_write_response(0, 5) + codec.encode_write_response(7)
    with pytest.raises(MmpProtocolError):                              # every frame checked before a NAK counts
        codec.check_write_responses(bad_tl_after_nak, 2, 0)
    with pytest.raises(MmpProtocolError):
        codec.check_write_responses(acks[:-1], 4, 62)
    with pytest.raises(ValueError):
        codec.check_write_responses(acks, 4, 64)
    with pytest.raises(ValueError):
        codec.check_write_responses(acks, -1, 0)
    with pytest.raises(TypeError):
        codec.check_write_responses(acks, "4", 0)


def test_frame_splitter(codec: ModuleType) -> None:
    frames = _frames(codec)
    stream = b"".join(frames)
    sp = codec.FrameSplitter()
    assert sp.max_frame == 16 + 65535 and sp.pending == 0
    assert sp.feed(stream[:5]) == [] and sp.pending == 5
    assert sp.feed(memoryview(stream)[5:40]) == frames[:2] and sp.pending == 8
    got = sp.feed(bytearray(stream[40:]))
    assert got == frames[2:] and all(type(f) is bytes for f in got) and sp.pending == 0
    sp.feed(stream[:3])
    sp.clear()
    assert sp.pending == 0 and sp.feed(stream[:12]) == frames[:1]
    # an undefined tcode: the good frames first, then the error
    bad = frames[0] + b"\x00\x00\x00\x30" + bytes(8)
    sp = codec.FrameSplitter()
    assert sp.feed(bad) == frames[:1]
    with pytest.raises(MmpProtocolError):
        sp.feed(b"")
    # a frame announcing more than max_frame bytes
    small = codec.FrameSplitter(16)
    assert small.feed(frames[2]) == [frames[2]]
    with pytest.raises(MmpProtocolError, match="limit"):
        small.feed(frames[1])
    with pytest.raises(ValueError):
        codec.FrameSplitter(16 + 65536)
    with pytest.raises(TypeError):
        codec.FrameSplitter("16")
    with pytest.raises(TypeError):
        codec.FrameSplitter().feed(None)
