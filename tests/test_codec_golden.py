"""Golden frames (tests/vectors/frames.json) through both codecs."""
from __future__ import annotations

import struct
from typing import Any, Dict, List

import pytest

from mmpfast import protocol
from mmpfast.errors import MmpProtocolError

from conftest import hexbytes, load_vectors

_FRAMES: List[Dict[str, Any]] = load_vectors("frames.json")["frames"]
_MALFORMED: List[Dict[str, Any]] = load_vectors("frames.json")["malformed"]
_IDS = [f["name"] for f in _FRAMES]
_BAD_IDS = [f["name"] for f in _MALFORMED]


def test_vectors_cover_every_frame_kind() -> None:
    kinds = {f["kind"] for f in _FRAMES}
    assert kinds == {"read_block_request", "read_block_response", "write_block_request",
                     "write_response", "write_quadlet_request", "read_quadlet_request",
                     "read_quadlet_response"}


@pytest.mark.parametrize("vec", _FRAMES, ids=_IDS)
def test_decode_golden(codec: Any, vec: Dict[str, Any]) -> None:
    raw = hexbytes(vec["hex"])
    assert len(raw) == vec["length"]
    fields = vec["fields"]
    fr = codec.decode_frame(raw)
    assert fr.tcode == fields["tcode"]
    assert fr.tl == fields["tl"]
    assert fr.source_id == fields["source_id"]
    if fr.tcode in protocol.REQUEST_TCODES:
        assert fr.is_request
        assert fr.rcode is None
        assert fr.address == fields["address"]
        assert fr.address == int(fields["address_hex"], 16)
        assert fr.address_high == 0xFFFF
    else:
        assert not fr.is_request
        assert fr.rcode == fields["rcode"]
        assert fr.address is None and fr.address_high is None
    if "data_length" in fields:
        assert fr.data_length == fields["data_length"]
    elif fr.tcode == protocol.TCODE_READ_QUADLET:
        assert fr.data_length == 4      # the quadlet it asks for (API.md: tcode 4 -> 4)
    assert isinstance(fr.data, memoryview)
    expected_data = hexbytes(fields["data_hex"]) if "data_hex" in fields else b""
    assert bytes(fr.data) == expected_data
    data = bytes(fr.data)
    if "value_uint32" in fields:
        assert struct.unpack(">I", data)[0] == fields["value_uint32"]
        assert codec.unpack_be(fr.data, "I") == [fields["value_uint32"]]
    if "value_int32" in fields:
        assert codec.unpack_be(fr.data, "i") == [fields["value_int32"]]
    if "value_float32" in fields:
        assert codec.unpack_be(fr.data, "f") == [fields["value_float32"]]
    if "values_float32" in fields:
        assert codec.unpack_be(fr.data, "f") == fields["values_float32"]
    if "device_error" in fields:
        assert protocol.error_code(fr.rcode) == fields["device_error"]


@pytest.mark.parametrize("vec", _FRAMES, ids=_IDS)
def test_data_is_zero_copy_view(codec: Any, vec: Dict[str, Any]) -> None:
    buf = bytearray(hexbytes(vec["hex"]))
    fr = codec.decode_frame(buf)
    if fr.data.nbytes:
        assert fr.data.obj is buf
        assert fr.data.readonly is False
        before = bytes(fr.data)
        buf[-1] ^= 0xFF           # the view sees the change: no copy was made
        assert bytes(fr.data) != before
        assert fr.data[-1] == buf[-1]


def _encode(codec: Any, kind: str, f: Dict[str, Any]) -> bytes:
    data = hexbytes(f["data_hex"]) if "data_hex" in f else b""
    tl, sid = f["tl"], f["source_id"]
    if kind == "read_block_request":
        return codec.encode_read_block(tl, f["address"], f["data_length"], source_id=sid)
    if kind == "read_block_response":
        return codec.encode_read_block_response(tl, data, rcode=f["rcode"], source_id=sid)
    if kind == "write_block_request":
        return codec.encode_write_block(tl, f["address"], data, source_id=sid)
    if kind == "write_response":
        return codec.encode_write_response(tl, rcode=f["rcode"], source_id=sid)
    if kind == "write_quadlet_request":
        return codec.encode_write_quadlet(tl, f["address"], data, source_id=sid)
    if kind == "read_quadlet_request":
        return codec.encode_read_quadlet(tl, f["address"], source_id=sid)
    if kind == "read_quadlet_response":
        return codec.encode_read_quadlet_response(tl, data, rcode=f["rcode"], source_id=sid)
    raise AssertionError(f"unknown kind {kind}")


@pytest.mark.parametrize("vec", _FRAMES, ids=_IDS)
def test_encode_golden(codec: Any, vec: Dict[str, Any]) -> None:
    out = _encode(codec, vec["kind"], vec["fields"])
    assert type(out) is bytes
    assert out == hexbytes(vec["hex"])


def test_encode_read_blocks_matches_single_golden(codec: Any) -> None:
    reads = [f for f in _FRAMES if f["kind"] == "read_block_request"]
    for f in reads:
        fl = f["fields"]
        assert codec.encode_read_blocks(fl["tl"], [(fl["address"], fl["data_length"])],
                                        fl["source_id"]) == hexbytes(f["hex"])


@pytest.mark.parametrize("vec", _FRAMES, ids=_IDS)
def test_frame_length_every_prefix(codec: Any, vec: Dict[str, Any]) -> None:
    raw = hexbytes(vec["hex"])
    total = vec["length"]
    variable = vec["fields"]["tcode"] in (1, 7)
    for k in range(len(raw) + 1):
        want = None if k < 4 or (variable and k < 14) else total
        assert codec.frame_length(raw[:k]) == want, k
        assert codec.frame_length(memoryview(raw)[:k]) == want, k
    # trailing bytes do not change the answer
    assert codec.frame_length(raw + b"\xAA" * 5) == total
    for k in range(len(raw)):
        with pytest.raises(MmpProtocolError):
            codec.decode_frame(raw[:k])
    with pytest.raises(MmpProtocolError):
        codec.decode_frame(raw + b"\x00")


@pytest.mark.parametrize("vec", _MALFORMED, ids=_BAD_IDS)
def test_malformed(codec: Any, vec: Dict[str, Any]) -> None:
    raw = hexbytes(vec["hex"])
    expect = vec["expect"]
    if vec["name"] == "response_where_request_expected":
        fr = codec.decode_frame(raw)       # valid for the codec; a server refuses it
        assert fr.tcode == protocol.TCODE_WRITE_RESPONSE
        assert fr.tl == 1 and fr.rcode == 0 and not fr.is_request
        return
    if expect.startswith("protocol error"):
        with pytest.raises(MmpProtocolError, match="undefined tcode"):
            codec.frame_length(raw)
        with pytest.raises(MmpProtocolError, match="undefined tcode"):
            codec.decode_frame(raw)
        return
    assert expect.startswith("incomplete")
    n = codec.frame_length(raw)
    assert n is None or n > len(raw)
    if vec["name"] == "truncated_block_data":
        assert n == 20
    with pytest.raises(MmpProtocolError, match="incomplete"):
        codec.decode_frame(raw)


def test_stream_packet_values(codec: Any) -> None:
    """The standard stream packet's analog floats and counters via the bulk helpers."""
    vec = load_vectors("stream_standard.json")
    raw = bytes.fromhex(vec["hex"])
    assert codec.unpack_be(raw[4:4 + 256], "f") == vec["analog"]
    assert codec.unpack_be(raw[260:260 + 256], "I") == vec["counters"]
    assert codec.unpack_be(raw[516:524], "Q") == [vec["state_mask"]]
