"""Property tests: round trips, cross-codec agreement, scatter into many buffer kinds."""
from __future__ import annotations

from array import array
from typing import Any, Callable, List, Tuple

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmpfast.errors import MmpNakError, MmpProtocolError

from conftest import load_codec

FIXTURE_OK = settings(suppress_health_check=[HealthCheck.function_scoped_fixture],
                      deadline=None, max_examples=120)

tls = st.integers(0, 63)
sids = st.integers(0, 0xFFFF)
addrs = st.integers(0, 0xFFFFFFFF)
rcodes = st.integers(0, 15)
lengths = st.integers(0, 0xFFFF)
blobs = st.binary(max_size=300)
quads = st.binary(max_size=4)


# ----------------------------------------------------------------------------- round trips
@FIXTURE_OK
@given(tl=tls, addr=addrs, sid=sids)
def test_read_quadlet_roundtrip(codec: Any, tl: int, addr: int, sid: int) -> None:
    raw = codec.encode_read_quadlet(tl, addr, sid)
    assert len(raw) == 12 and raw[6:8] == b"\xff\xff"
    f = codec.decode_frame(raw)
    assert (f.tcode, f.tl, f.source_id, f.address, f.rcode, f.data_length) == (4, tl, sid, addr, None, 4)
    assert bytes(f.data) == b""     # data_length is what it asks for; it carries none


@FIXTURE_OK
@given(tl=tls, addr=addrs, n=lengths, sid=sids)
def test_read_block_roundtrip(codec: Any, tl: int, addr: int, n: int, sid: int) -> None:
    raw = codec.encode_read_block(tl, addr, n, sid)
    assert len(raw) == 16 and raw[12:14] == n.to_bytes(2, "big")
    f = codec.decode_frame(raw)
    assert (f.tcode, f.tl, f.source_id, f.address, f.data_length, bytes(f.data)) == (5, tl, sid, addr, n, b"")


@FIXTURE_OK
@given(tl=tls, addr=addrs, data=quads, sid=sids)
def test_write_quadlet_roundtrip(codec: Any, tl: int, addr: int, data: bytes, sid: int) -> None:
    raw = codec.encode_write_quadlet(tl, addr, data, sid)
    assert len(raw) == 16
    f = codec.decode_frame(raw)
    assert (f.tcode, f.tl, f.source_id, f.address) == (0, tl, sid, addr)
    assert bytes(f.data) == data + bytes(4 - len(data))     # zero-filled at the end


@FIXTURE_OK
@given(tl=tls, addr=addrs, data=blobs, sid=sids)
def test_write_block_roundtrip(codec: Any, tl: int, addr: int, data: bytes, sid: int) -> None:
    raw = codec.encode_write_block(tl, addr, bytearray(data), sid)
    assert len(raw) == 16 + len(data)
    f = codec.decode_frame(raw)
    assert (f.tcode, f.tl, f.source_id, f.address, f.data_length) == (1, tl, sid, addr, len(data))
    assert bytes(f.data) == data


@FIXTURE_OK
@given(tl=tls, rcode=rcodes, sid=sids)
def test_write_response_roundtrip(codec: Any, tl: int, rcode: int, sid: int) -> None:
    raw = codec.encode_write_response(tl, rcode, sid)
    assert len(raw) == 12 and raw[6] == rcode << 4
    f = codec.decode_frame(raw)
    assert (f.tcode, f.tl, f.source_id, f.rcode, f.address) == (2, tl, sid, rcode, None)


@FIXTURE_OK
@given(tl=tls, data=quads, rcode=rcodes, sid=sids)
def test_read_quadlet_response_roundtrip(codec: Any, tl: int, data: bytes, rcode: int, sid: int) -> None:
    raw = codec.encode_read_quadlet_response(tl, data, rcode, sid)
    f = codec.decode_frame(raw)
    assert (f.tcode, f.tl, f.source_id, f.rcode, f.data_length) == (6, tl, sid, rcode, 4)
    assert bytes(f.data) == data.ljust(4, b"\0")


@FIXTURE_OK
@given(tl=tls, data=blobs, rcode=rcodes, sid=sids)
def test_read_block_response_roundtrip(codec: Any, tl: int, data: bytes, rcode: int, sid: int) -> None:
    raw = codec.encode_read_block_response(tl, memoryview(data), rcode, sid)
    f = codec.decode_frame(raw)
    assert (f.tcode, f.tl, f.source_id, f.rcode, f.data_length) == (7, tl, sid, rcode, len(data))
    assert bytes(f.data) == data


# ----------------------------------------------------------------------------- cross codec
@FIXTURE_OK
@given(tl=tls, addr=addrs, n=lengths, data=blobs, q=quads, rcode=rcodes, sid=sids)
def test_cross_codec(codec_pair: Tuple[Any, Any], tl: int, addr: int, n: int, data: bytes,
                     q: bytes, rcode: int, sid: int) -> None:
    enc, dec = codec_pair
    frames = [
        enc.encode_read_quadlet(tl, addr, sid), enc.encode_read_block(tl, addr, n, sid),
        enc.encode_write_quadlet(tl, addr, q, sid), enc.encode_write_block(tl, addr, data, sid),
        enc.encode_write_response(tl, rcode, sid), enc.encode_read_quadlet_response(tl, q, rcode, sid),
        enc.encode_read_block_response(tl, data, rcode, sid),
    ]
    for raw in frames:
        a, b = dec.decode_frame(raw), enc.decode_frame(raw)
        assert repr(a) == repr(b)
        assert (a.address_high, bytes(a.data), a.is_request) == (b.address_high, bytes(b.data), b.is_request)
        assert dec.frame_length(raw) == len(raw)


def _outcome(fn: Callable[..., Any], *args: Any) -> Tuple[str, Any]:
    try:
        return ("ok", fn(*args))
    except (ValueError, TypeError, MmpProtocolError, MmpNakError) as exc:
        return ("err", type(exc))


def _pair() -> Tuple[Any, Any]:
    return load_codec("cython"), load_codec("python")


anything = st.one_of(
    st.integers(-(2 ** 70), 2 ** 70), st.integers(-2, 70), st.integers(0xFFFFFFF0, 0x100000010),
    st.integers(0xFFF0, 0x10010), st.booleans(), st.none(), st.floats(allow_nan=False),
    st.text(max_size=2), st.binary(max_size=2), st.just(np.int64(7)), st.just(np.uint8(255)),
    st.just(np.float64(1.0)),
)
bufferish = st.one_of(
    st.binary(max_size=8), st.binary(max_size=8).map(bytearray), st.binary(max_size=8).map(memoryview),
    st.binary(min_size=4, max_size=8).map(lambda b: memoryview(b)[::2]), st.integers(0, 5), st.none(),
    st.text(max_size=3), st.just(array("H", [1, 2])), st.just(np.arange(3, dtype=np.uint16)),
)


@settings(deadline=None, max_examples=300)
@given(a=anything, b=anything, c=anything, d=bufferish)
def test_both_codecs_agree_on_random_arguments(a: Any, b: Any, c: Any, d: Any) -> None:
    cy, py = _pair()
    calls: List[Tuple[str, Tuple[Any, ...]]] = [
        ("encode_read_quadlet", (a, b, c)), ("encode_read_block", (a, b, c)),
        ("encode_read_block", (a, b, c, a)), ("encode_write_quadlet", (a, b, d, c)),
        ("encode_write_block", (a, b, d, c)), ("encode_write_response", (a, b, c)),
        ("encode_read_quadlet_response", (a, d, b, c)), ("encode_read_block_response", (a, d, b, c)),
        ("encode_read_blocks", (a, [(b, c)], c)), ("frame_length", (d,)), ("decode_frame", (d,)),
        ("pack_be", ([a, b], "i")), ("pack_be", (a, "I")), ("pack_be", ([c], "q")),
        ("pack_be", (b, "Q")), ("pack_be", ([a, c], "f")), ("unpack_be", (d, "i")),
        ("unpack_be", (d, a)), ("pack_be_from", (d, "f")),
    ]
    for name, args in calls:
        r1, r2 = _outcome(getattr(cy, name), *args), _outcome(getattr(py, name), *args)
        if name == "decode_frame" and r1[0] == r2[0] == "ok":
            assert repr(r1[1]) == repr(r2[1])
            continue
        assert r1 == r2, (name, args)


@settings(deadline=None, max_examples=200)
@given(stream=st.binary(max_size=80), offs=st.lists(st.integers(-3, 40), max_size=4),
       lens=st.lists(st.integers(-1, 20), max_size=4), tl=st.integers(-1, 64), size=st.integers(0, 48))
def test_both_codecs_agree_on_random_scatter(stream: bytes, offs: List[int], lens: List[int],
                                             tl: int, size: int) -> None:
    cy, py = _pair()
    d1, d2 = bytearray(b"\xEE" * size), bytearray(b"\xEE" * size)
    r1 = _outcome(cy.scatter_read_responses, stream, d1, offs, lens, tl)
    r2 = _outcome(py.scatter_read_responses, stream, d2, offs, lens, tl)
    assert r1 == r2
    assert d1 == d2


@settings(deadline=None, max_examples=200)
@given(data=st.binary(max_size=40))
def test_both_codecs_agree_on_random_frames(data: bytes) -> None:
    cy, py = _pair()
    r1, r2 = _outcome(cy.frame_length, data), _outcome(py.frame_length, data)
    assert r1 == r2
    r1, r2 = _outcome(cy.decode_frame, data), _outcome(py.decode_frame, data)
    assert (r1[0], repr(r1[1])) == (r2[0], repr(r2[1]))


# ----------------------------------------------------------------------------- scatter
def _responses(first_tl: int, chunks: List[bytes]) -> bytes:
    py = load_codec("python")
    return b"".join(py.encode_read_block_response((first_tl + i) % 64, c) for i, c in enumerate(chunks))


def _dest_kinds(size: int) -> List[Tuple[str, Any, Callable[[], bytes]]]:
    ba = bytearray(size)
    big = bytearray(size + 10)
    mv = memoryview(big)[5:5 + size]          # an offset view into a larger buffer
    arr_b = array("B", bytes(size))
    arr_f = array("f", bytes(((size + 3) // 4) * 4))
    nb = np.zeros(size, dtype=np.uint8)
    nf = np.zeros((size + 3) // 4, dtype=np.float32)
    return [
        ("bytearray", ba, lambda: bytes(ba)),
        ("memoryview-slice", mv, lambda: bytes(big[5:5 + size]) + (b"" if big[:5] + big[5 + size:] == bytes(10) else b"!")),
        ("array-B", arr_b, lambda: arr_b.tobytes()),
        ("array-f", arr_f, lambda: arr_f.tobytes()[:size]),
        ("numpy-u8", nb, lambda: nb.tobytes()),
        ("numpy-f32", nf, lambda: nf.tobytes()[:size]),
    ]


@FIXTURE_OK
@given(chunks=st.lists(st.binary(max_size=24), min_size=1, max_size=6), tl=tls,
       gap=st.integers(0, 3), trailer=st.binary(max_size=5))
def test_scatter_into_many_buffer_kinds(codec: Any, chunks: List[bytes], tl: int, gap: int,
                                        trailer: bytes) -> None:
    stream = _responses(tl, chunks) + trailer
    offsets, pos = [], 0
    for c in chunks:
        offsets.append(pos)
        pos += len(c) + gap
    size = ((pos + 3) // 4) * 4
    expected = bytearray(size)
    for o, c in zip(offsets, chunks):
        expected[o:o + len(c)] = c
    lens = [len(c) for c in chunks]
    for name, dest, read in _dest_kinds(size):
        for offs, ls in ((offsets, lens), (array("q", offsets), array("I", lens)),
                         (tuple(offsets), np.array(lens, dtype=np.int32))):
            used = codec.scatter_read_responses(stream, dest, offs, ls, tl)
            assert used == len(stream) - len(trailer), name
            assert read() == bytes(expected[:len(read())]), name


def test_scatter_numpy_stream_and_readback(codec: Any) -> None:
    floats = np.array([1.5, -2.25, 3e9], dtype=">f4")
    stream = np.frombuffer(_responses(5, [floats.tobytes()]), dtype=np.uint8)
    dest = np.zeros(3, dtype=">f4")
    assert codec.scatter_read_responses(stream, dest, [0], [12], 5) == 28
    assert dest.tolist() == [1.5, -2.25, 3e9]


@FIXTURE_OK
@given(chunks=st.lists(st.binary(max_size=20), min_size=1, max_size=5), tl=tls, data=st.data())
def test_stream_split_anywhere_decodes_identically(codec: Any, chunks: List[bytes], tl: int,
                                                   data: st.DataObject) -> None:
    py = load_codec("python")
    frames = [py.encode_read_block_response((tl + i) % 64, c, source_id=i) for i, c in enumerate(chunks)]
    frames.insert(1, py.encode_write_response(tl, 3))
    frames.append(py.encode_read_quadlet_response(tl, b"\x01\x02"))
    stream = b"".join(frames)
    want = [repr(codec.decode_frame(f)) for f in frames]
    cuts = sorted(set(data.draw(st.lists(st.integers(0, len(stream)), max_size=8))))
    if data.draw(st.booleans()):
        cuts = list(range(len(stream) + 1))      # every byte boundary
    pieces = [stream[a:b] for a, b in zip([0] + cuts, cuts + [len(stream)])]
    buf = bytearray()
    got = []
    for piece in pieces:
        buf += piece
        while True:
            n = codec.frame_length(buf)
            if n is None or n > len(buf):
                break
            with memoryview(buf) as mv:
                fr = codec.decode_frame(mv[:n])
                got.append((repr(fr), bytes(fr.data)))
                del fr
            del buf[:n]
    assert buf == bytearray()
    assert [g[0] for g in got] == want
    assert [g[1] for g in got if g[0].startswith("Frame(tcode=7")] == chunks


# ----------------------------------------------------------------------------- batch encode
@FIXTURE_OK
@given(first=tls, ranges=st.lists(st.tuples(addrs, lengths), max_size=150), sid=sids)
def test_encode_read_blocks_tl_wrap(codec: Any, first: int, ranges: List[Tuple[int, int]], sid: int) -> None:
    out = codec.encode_read_blocks(first, ranges, sid)
    assert len(out) == 16 * len(ranges)
    for i, (a, n) in enumerate(ranges):
        frame = out[16 * i:16 * i + 16]
        assert frame == codec.encode_read_block((first + i) % 64, a, n, sid)
    # same bytes from a list of lists, a generator and an (N, 2) numpy array
    assert codec.encode_read_blocks(first, [list(r) for r in ranges], sid) == out
    assert codec.encode_read_blocks(first, (r for r in ranges), sid) == out
    if ranges:
        assert codec.encode_read_blocks(first, np.array(ranges, dtype=np.int64), sid) == out
        assert codec.encode_read_blocks(first, np.array(ranges, dtype=np.uint64), sid) == out


def test_encode_read_blocks_wraps_after_63(codec: Any) -> None:
    out = codec.encode_read_blocks(62, [(0x1000 * i, 4) for i in range(130)])
    tls_seen = [out[16 * i + 2] >> 2 for i in range(130)]
    assert tls_seen[:4] == [62, 63, 0, 1]
    assert tls_seen[66] == 0 and tls_seen[129] == (62 + 129) % 64
    assert codec.encode_read_blocks(0, []) == b""
