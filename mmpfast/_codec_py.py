"""Pure-Python OptoMMP codec: the reference implementation and the fallback.

Same names, signatures, results and exception classes as the Cython
``mmpfast._codec`` (API.md "mmpfast.codec" and its edge rules).  Everything
on the wire is big-endian; addresses are the low 32 bits of the 48-bit
offset and the codec writes ``FF FF`` above them.

The module is long (about 880 lines) because it mirrors ``_codec.pyx``
function for function, check for check: one file per codec keeps the two
readable side by side, and the differential fuzzer and the stubtest compare
them whole.
"""
from __future__ import annotations

import operator
import struct
import sys
from array import array
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from ._gather import LAYOUT_WIDTH, layout_spec
from .errors import MmpNakError, MmpProtocolError
from .protocol import (
    BLOCK_REQUEST_HEADER,
    BLOCK_RESPONSE_HEADER,
    FIXED_FRAME_LENGTH,
    HEADER_BLOCK,
    HEADER_SHORT,
    MAX_ADDRESS,
    MAX_BLOCK as _MAX_BLOCK,
    MAX_DATA_LENGTH,
    MAX_RCODE,
    MAX_SOURCE_ID,
    MAX_TL,
    MIN_PEEK,
    MIN_PEEK_VARIABLE,
    OFF_DATA_LENGTH,
    OFF_RCODE,
    OFF_TCODE,
    OFF_TL,
    QUADLET,
    REQUEST_HEADER,
    REQUEST_TCODES,
    RESPONSE_HEADER,
    TCODE_READ_BLOCK,
    TCODE_READ_BLOCK_RESPONSE,
    TCODE_READ_QUADLET,
    TCODE_READ_QUADLET_RESPONSE,
    TCODE_WRITE_BLOCK,
    TCODE_WRITE_QUADLET,
    TCODE_WRITE_RESPONSE,
    TL_MODULO,
    VARIABLE_TCODES,
    ADDRESS_HIGH,
)

IMPLEMENTATION = "python"
MAX_BLOCK: int = _MAX_BLOCK

__all__ = [
    "IMPLEMENTATION", "MAX_BLOCK", "Frame",
    "encode_read_quadlet", "encode_read_block", "encode_write_quadlet", "encode_write_block",
    "encode_write_response", "encode_read_quadlet_response", "encode_read_block_response",
    "frame_length", "decode_frame", "encode_read_blocks", "scatter_read_responses",
    "unpack_be", "pack_be", "unpack_be_into", "pack_be_from",
    "gather_be", "frame_ends", "check_write_responses", "FrameSplitter",
    "GatherLayout",
]

Buffer = Any  # any object supporting the buffer protocol

_BIG = sys.byteorder == "big"
#: bulk big-endian element types: code -> (size, struct code, array code)
_ELEMENT = {
    "i": (4, "i", "i"),   # int32
    "I": (4, "I", "I"),   # uint32
    "f": (4, "f", "f"),   # float32
    "q": (8, "q", "q"),   # int64
    "Q": (8, "Q", "Q"),   # uint64
}
_INT_LIMITS = {"i": (-(1 << 31), (1 << 31) - 1), "I": (0, (1 << 32) - 1),
               "q": (-(1 << 63), (1 << 63) - 1), "Q": (0, (1 << 64) - 1)}
_F32 = struct.Struct(">f")


# ----------------------------------------------------------------------------- checks
def _as_int(name: str, value: object) -> int:
    """``value`` as an int (``__index__`` honoured); TypeError for non-ints."""
    if isinstance(value, int):
        return int(value)
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an int, not {type(value).__name__}") from None


def _int(name: str, value: object, hi: int) -> int:
    """``value`` as an int in 0..hi: TypeError for non-ints, ValueError out of range."""
    v = _as_int(name, value)
    if v < 0 or v > hi:
        raise ValueError(f"{name} {v} out of range 0..{hi}")
    return v


def _bytes_view(obj: object, name: str) -> memoryview:
    """A flat unsigned-byte view of a C-contiguous buffer (TypeError otherwise)."""
    if isinstance(obj, (bytes, bytearray)):
        return memoryview(obj)
    try:
        mv = memoryview(obj)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be a bytes-like object, not {type(obj).__name__}") from None
    if not mv.c_contiguous:
        raise TypeError(f"{name} must be a C-contiguous buffer")
    if mv.format != "B" or mv.ndim != 1:
        mv = mv.cast("B")
    return mv


def _writable_view(obj: object, name: str) -> memoryview:
    mv = _bytes_view(obj, name)
    if mv.readonly:
        raise TypeError(f"{name} must be a writable buffer")
    return mv


# ----------------------------------------------------------------------------- Frame
class Frame:
    """One decoded frame.  Read-only; ``data`` is a zero-copy view into the input.

    ``rcode`` is ``None`` for requests, ``address``/``address_high`` are
    ``None`` for responses.  ``data_length`` is the byte count carried (tcodes
    0, 1, 6, 7) or asked for (tcode 4: 4, tcode 5: bytes 12-13); 0 for tcode 2.
    """

    __slots__ = ("tcode", "tl", "source_id", "rcode", "address", "address_high",
                 "data_length", "data")

    tcode: int
    tl: int
    source_id: int
    rcode: Optional[int]
    address: Optional[int]
    address_high: Optional[int]
    data_length: int
    data: memoryview

    def __init__(self, tcode: int, tl: int, source_id: int, rcode: Optional[int],
                 address: Optional[int], address_high: Optional[int],
                 data_length: int, data: memoryview) -> None:
        s = object.__setattr__
        s(self, "tcode", tcode)
        s(self, "tl", tl)
        s(self, "source_id", source_id)
        s(self, "rcode", rcode)
        s(self, "address", address)
        s(self, "address_high", address_high)
        s(self, "data_length", data_length)
        s(self, "data", data)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Frame.{name} is read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Frame.{name} is read-only")

    @property
    def is_request(self) -> bool:
        """True for tcodes 0, 1, 4, 5."""
        return self.rcode is None

    def __repr__(self) -> str:
        parts = [f"tcode={self.tcode}", f"tl={self.tl}", f"source_id={self.source_id}"]
        if self.rcode is not None:
            parts.append(f"rcode={self.rcode}")
        if self.address is not None:
            parts.append(f"address=0x{self.address:08X}")
        parts.append(f"data_length={self.data_length}")
        return f"Frame({', '.join(parts)})"


# ----------------------------------------------------------------------------- encoders
def _b2(tl: int) -> int:
    return _int("tl", tl, MAX_TL) << 2


def _quadlet_bytes(data: Buffer) -> bytes:
    mv = _bytes_view(data, "data")
    n = mv.nbytes
    if n > QUADLET:
        raise ValueError(f"quadlet data is at most 4 bytes, got {n}")
    return bytes(mv) + bytes(QUADLET - n)   # PROTOCOL.md §1.2: zero-fill at the end


def _block_bytes(data: Buffer) -> bytes:
    mv = _bytes_view(data, "data")
    n = mv.nbytes
    if n > MAX_DATA_LENGTH:
        raise ValueError(f"data length {n} out of range 0..{MAX_DATA_LENGTH}")
    return bytes(mv)


def encode_read_quadlet(tl: int, address: int, source_id: int = 0) -> bytes:
    """Read Quadlet Request (tcode 4), 12 bytes."""
    return REQUEST_HEADER.pack(0, _b2(tl), TCODE_READ_QUADLET << 4,
                               _int("source_id", source_id, MAX_SOURCE_ID), ADDRESS_HIGH,
                               _int("address", address, MAX_ADDRESS))


def encode_read_block(tl: int, address: int, length: int, source_id: int = 0) -> bytes:
    """Read Block Request (tcode 5), 16 bytes, asking for ``length`` bytes."""
    return BLOCK_REQUEST_HEADER.pack(0, _b2(tl), TCODE_READ_BLOCK << 4,
                                     _int("source_id", source_id, MAX_SOURCE_ID), ADDRESS_HIGH,
                                     _int("address", address, MAX_ADDRESS),
                                     _int("length", length, MAX_DATA_LENGTH), 0)


def encode_write_quadlet(tl: int, address: int, data: Buffer, source_id: int = 0) -> bytes:
    """Write Quadlet Request (tcode 0), 16 bytes; ``data`` up to 4 bytes, zero-filled at the end."""
    b2 = _b2(tl)
    sid = _int("source_id", source_id, MAX_SOURCE_ID)
    addr = _int("address", address, MAX_ADDRESS)
    return REQUEST_HEADER.pack(0, b2, TCODE_WRITE_QUADLET << 4, sid, ADDRESS_HIGH, addr) + _quadlet_bytes(data)


def encode_write_block(tl: int, address: int, data: Buffer, source_id: int = 0) -> bytes:
    """Write Block Request (tcode 1), 16 + len(data) bytes (len(data) <= 65535)."""
    b2 = _b2(tl)
    sid = _int("source_id", source_id, MAX_SOURCE_ID)
    addr = _int("address", address, MAX_ADDRESS)
    d = _block_bytes(data)
    return BLOCK_REQUEST_HEADER.pack(0, b2, TCODE_WRITE_BLOCK << 4, sid, ADDRESS_HIGH, addr, len(d), 0) + d


def encode_write_response(tl: int, rcode: int = 0, source_id: int = 0) -> bytes:
    """Write Response (tcode 2), 12 bytes."""
    return RESPONSE_HEADER.pack(0, _b2(tl), TCODE_WRITE_RESPONSE << 4,
                                _int("source_id", source_id, MAX_SOURCE_ID),
                                _int("rcode", rcode, MAX_RCODE) << 4, 0, 0)


def encode_read_quadlet_response(tl: int, data: Buffer, rcode: int = 0, source_id: int = 0) -> bytes:
    """Read Quadlet Response (tcode 6), 16 bytes; ``data`` up to 4 bytes, zero-filled at the end."""
    b2 = _b2(tl)
    r = _int("rcode", rcode, MAX_RCODE)
    sid = _int("source_id", source_id, MAX_SOURCE_ID)
    return RESPONSE_HEADER.pack(0, b2, TCODE_READ_QUADLET_RESPONSE << 4, sid, r << 4, 0, 0) + _quadlet_bytes(data)


def encode_read_block_response(tl: int, data: Buffer, rcode: int = 0, source_id: int = 0) -> bytes:
    """Read Block Response (tcode 7), 16 + len(data) bytes."""
    b2 = _b2(tl)
    r = _int("rcode", rcode, MAX_RCODE)
    sid = _int("source_id", source_id, MAX_SOURCE_ID)
    d = _block_bytes(data)
    return BLOCK_RESPONSE_HEADER.pack(0, b2, TCODE_READ_BLOCK_RESPONSE << 4, sid, r << 4, 0, 0, len(d), 0) + d


def encode_read_blocks(first_tl: int, ranges: Iterable[Tuple[int, int]], source_id: int = 0) -> bytes:
    """Many Read Block Requests back to back; request i has tl ``(first_tl + i) % 64``.

    ``ranges`` is a sequence of ``(address, length)`` pairs.
    """
    tl = _int("first_tl", first_tl, MAX_TL)
    sid = _int("source_id", source_id, MAX_SOURCE_ID)
    pack = BLOCK_REQUEST_HEADER.pack
    out = []
    try:
        for item in ranges:
            try:
                address, length = item
            except (TypeError, ValueError):
                raise TypeError("ranges must hold (address, length) pairs") from None
            out.append(pack(0, tl << 2, TCODE_READ_BLOCK << 4, sid, ADDRESS_HIGH,
                            _int("address", address, MAX_ADDRESS),
                            _int("length", length, MAX_DATA_LENGTH), 0))
            tl = (tl + 1) % TL_MODULO
    except NotImplementedError:   # e.g. iterating a multi-dimensional memoryview
        raise TypeError("ranges must be a sequence of (address, length) pairs") from None
    return b"".join(out)


# ----------------------------------------------------------------------------- decoding
def _frame_length(mv: memoryview) -> Optional[int]:
    n = mv.nbytes
    if n < MIN_PEEK:
        return None
    tcode = mv[3] >> 4
    if tcode in VARIABLE_TCODES:
        if n < MIN_PEEK_VARIABLE:
            return None
        return HEADER_BLOCK + ((mv[OFF_DATA_LENGTH] << 8) | mv[OFF_DATA_LENGTH + 1])
    try:
        return FIXED_FRAME_LENGTH[tcode]
    except KeyError:
        raise MmpProtocolError(f"undefined tcode {tcode}") from None


def frame_length(buf: Buffer) -> Optional[int]:
    """Total size in bytes of the frame that starts ``buf``; ``None`` = need more bytes.

    Needs 4 bytes (14 for tcodes 1 and 7).  An undefined tcode (3, 8..15)
    raises ``MmpProtocolError``.
    """
    return _frame_length(_bytes_view(buf, "buf"))


def decode_frame(buf: Buffer) -> Frame:
    """Decode exactly one whole frame.  ``data`` is a zero-copy view into ``buf``.

    Fewer or more bytes than the frame's length is ``MmpProtocolError``.
    """
    mv = _bytes_view(buf, "buf")
    n = _frame_length(mv)
    have = mv.nbytes
    if n is None:
        raise MmpProtocolError(f"incomplete frame: {have} bytes is not enough for a header")
    if have != n:
        if have < n:
            raise MmpProtocolError(f"incomplete frame: need {n} bytes, have {have}")
        raise MmpProtocolError(f"{have - n} bytes after the end of a {n}-byte frame")
    tcode = mv[3] >> 4
    tl = mv[2] >> 2
    sid = (mv[4] << 8) | mv[5]
    rcode: Optional[int] = None
    high: Optional[int] = None
    address: Optional[int] = None
    if tcode in REQUEST_TCODES:
        high = (mv[6] << 8) | mv[7]
        address = int.from_bytes(mv[8:12], "big")
    else:
        rcode = mv[6] >> 4
    if tcode in VARIABLE_TCODES:
        dlen = n - HEADER_BLOCK
        data = mv[HEADER_BLOCK:n]
    elif tcode == TCODE_READ_BLOCK:
        dlen = (mv[12] << 8) | mv[13]
        data = mv[0:0]
    elif tcode == TCODE_WRITE_QUADLET or tcode == TCODE_READ_QUADLET_RESPONSE:
        dlen = QUADLET
        data = mv[12:16]
    elif tcode == TCODE_READ_QUADLET:
        dlen = QUADLET          # the bytes it asks for; it carries none
        data = mv[0:0]
    else:
        dlen = 0
        data = mv[0:0]
    return Frame(tcode, tl, sid, rcode, address, high, dlen, data)


def _int_list(name: str, seq: object) -> List[int]:
    try:
        items = list(seq)  # type: ignore[call-overload]
    except (TypeError, NotImplementedError):   # NotImplementedError: a multi-dimensional memoryview
        raise TypeError(f"{name} must be a sequence of ints") from None
    out = []
    for v in items:
        if isinstance(v, int):
            out.append(int(v))
        else:
            try:
                out.append(operator.index(v))
            except TypeError:
                raise TypeError(f"{name} must hold ints, not {type(v).__name__}") from None
    return out


def scatter_read_responses(stream: Buffer, dest: Buffer, offsets: Sequence[int],
                           lengths: Sequence[int], first_tl: int) -> int:
    """Copy the data of ``len(offsets)`` read-block responses into ``dest``.

    Response i must be tcode 7 with tl ``(first_tl + i) % 64``, rcode 0 and
    ``data_length == lengths[i]``; its data lands in
    ``dest[offsets[i]:offsets[i] + lengths[i]]``.  Every range is checked
    against ``dest`` before any byte is written.  Returns the bytes of
    ``stream`` consumed; bytes after the last response are left alone.
    """
    tl0 = _int("first_tl", first_tl, MAX_TL)
    src = _bytes_view(stream, "stream")
    dst = _writable_view(dest, "dest")
    offs = _int_list("offsets", offsets)
    lens = _int_list("lengths", lengths)
    count = len(offs)
    if len(lens) != count:
        raise ValueError(f"{count} offsets but {len(lens)} lengths")
    size = dst.nbytes
    for o, n in zip(offs, lens):
        if o < 0 or n < 0 or n > MAX_DATA_LENGTH or o + n > size:
            raise ValueError(f"range [{o}, {o}+{n}) does not fit a {size}-byte destination")
    have = src.nbytes
    pos = 0
    for i in range(count):
        if have - pos < HEADER_BLOCK:
            raise MmpProtocolError(f"stream ended in the header of response {i}")
        tcode = src[pos + 3] >> 4
        if tcode != TCODE_READ_BLOCK_RESPONSE:
            raise MmpProtocolError(f"response {i}: tcode {tcode}, expected 7")
        tl = src[pos + 2] >> 2
        want = (tl0 + i) % TL_MODULO
        if tl != want:
            raise MmpProtocolError(f"response {i}: tl {tl}, expected {want}")
        rcode = src[pos + 6] >> 4
        if rcode:
            raise MmpNakError(rcode)
        dlen = (src[pos + 12] << 8) | src[pos + 13]
        n = lens[i]
        if dlen != n:
            raise MmpProtocolError(f"response {i}: data_length {dlen}, expected {n}")
        start = pos + HEADER_BLOCK
        if have - start < n:
            raise MmpProtocolError(f"stream ended in the data of response {i}")
        o = offs[i]
        dst[o:o + n] = src[start:start + n]
        pos = start + n
    return pos


# ----------------------------------------------------------------------------- stream framing
def _limit(name: str, value: object) -> int:
    """An int >= -1 (-1: no limit); TypeError for non-ints, ValueError below -1."""
    v = _as_int(name, value)
    if v < -1:
        raise ValueError(f"{name} {v} out of range (-1 or more)")
    return v


def frame_ends(buf: Buffer, max_frames: int = -1) -> List[int]:
    """End offsets of the whole frames at the start of ``buf``, in order.

    The frame splitter: a byte stream (frames back to back) to whole frames.
    Stops at the first incomplete frame, or after ``max_frames`` frames
    (``-1``: no limit).  An undefined tcode in a frame header is
    ``MmpProtocolError``.  ``ends[-1]`` (0 when empty) is the bytes consumed.
    """
    mv = _bytes_view(buf, "buf")
    limit = _limit("max_frames", max_frames)
    have = mv.nbytes
    ends: List[int] = []
    pos = 0
    while limit < 0 or len(ends) < limit:
        n = _frame_length(mv[pos:pos + MIN_PEEK_VARIABLE])
        if n is None or have - pos < n:
            break
        pos += n
        ends.append(pos)
    return ends


def check_write_responses(stream: Buffer, count: int, first_tl: int) -> int:
    """Check ``count`` write acknowledgements (tcode 2, 12 bytes each) at the start of ``stream``.

    Response i must be tcode 2 with tl ``(first_tl + i) % 64``; a stream
    shorter than ``12 * count`` bytes, a wrong tcode or tl is
    ``MmpProtocolError`` (every response is checked before a NAK is
    reported).  Returns the index of the first response with a non-zero
    rcode (a NAK), or -1 when every write was acknowledged.
    """
    tl0 = _int("first_tl", first_tl, MAX_TL)
    n = _int("count", count, 1 << 30)
    src = _bytes_view(stream, "stream")
    if src.nbytes < n * HEADER_SHORT:
        raise MmpProtocolError(f"{src.nbytes} bytes hold fewer than {n} write responses")
    nak = -1
    for i in range(n):
        pos = i * HEADER_SHORT
        tcode = src[pos + OFF_TCODE] >> 4
        if tcode != TCODE_WRITE_RESPONSE:
            raise MmpProtocolError(f"write response {i}: tcode {tcode}, expected {TCODE_WRITE_RESPONSE}")
        tl = src[pos + OFF_TL] >> 2
        want = (tl0 + i) % TL_MODULO
        if tl != want:
            raise MmpProtocolError(f"write response {i}: tl {tl}, expected {want}")
        if nak < 0 and src[pos + OFF_RCODE] >> 4:
            nak = i
    return nak


class FrameSplitter:
    """Incremental frame splitter for a byte stream (a server's or a proxy's socket).

    ``feed(data)`` appends received bytes and returns the whole frames now
    complete, each as ``bytes``, in order; a partial frame is kept for the
    next feed (``pending`` says how many bytes).  A frame header with an
    undefined tcode, or announcing more than ``max_frame`` bytes, is
    ``MmpProtocolError`` (the stream cannot be resynchronised: close it);
    whole frames before it are returned first and the next ``feed`` raises.
    """

    __slots__ = ("_buf", "_max")

    def __init__(self, max_frame: int = HEADER_BLOCK + MAX_DATA_LENGTH) -> None:
        self._max = _int("max_frame", max_frame, HEADER_BLOCK + MAX_DATA_LENGTH)
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held of a frame not yet complete."""
        return len(self._buf)

    @property
    def max_frame(self) -> int:
        """Largest frame accepted, in bytes (settable: a client lowers it to the answer it expects)."""
        return self._max

    @max_frame.setter
    def max_frame(self, value: int) -> None:
        self._max = _int("max_frame", value, HEADER_BLOCK + MAX_DATA_LENGTH)

    def clear(self) -> None:
        """Forget any partial frame."""
        del self._buf[:]

    def feed(self, data: Buffer) -> List[bytes]:
        """Whole frames completed by ``data`` (any bytes-like), in order."""
        mv = _bytes_view(data, "data")
        buf = self._buf
        buf += mv
        out: List[bytes] = []
        pos = 0
        have = len(buf)
        view = memoryview(buf)
        try:
            while True:
                try:
                    n = _frame_length(view[pos:pos + MIN_PEEK_VARIABLE])
                    if n is not None and n > self._max:
                        raise MmpProtocolError(f"a {n}-byte frame exceeds the {self._max}-byte limit")
                except MmpProtocolError:
                    if out:     # hand over the good frames first; the next feed raises
                        break
                    raise
                if n is None or have - pos < n:
                    break
                out.append(bytes(view[pos:pos + n]))
                pos += n
        finally:
            view.release()
            if pos:
                del buf[:pos]
        return out


# ----------------------------------------------------------------------------- bulk BE values
def _element(typecode: object) -> Tuple[int, str, str]:
    try:
        return _ELEMENT[typecode]  # type: ignore[index]
    except (KeyError, TypeError):
        raise ValueError(f"typecode must be one of {sorted(_ELEMENT)}, not {typecode!r}") from None


def unpack_be(buf: Buffer, typecode: str) -> List[Union[int, float]]:
    """Python values of a run of big-endian elements.

    ``typecode``: ``"i"`` int32, ``"I"`` uint32, ``"f"`` float32, ``"q"``
    int64, ``"Q"`` uint64.  ``len(buf)`` must be a multiple of the element
    size (``ValueError`` otherwise).
    """
    size, code, _ = _element(typecode)
    mv = _bytes_view(buf, "buf")
    n, rem = divmod(mv.nbytes, size)
    if rem:
        raise ValueError(f"{mv.nbytes} bytes is not a whole number of {size}-byte elements")
    return list(struct.unpack(f">{n}{code}", mv))


def _checked_values(values: object, typecode: str) -> List[Any]:
    if isinstance(values, (int, float)) or not hasattr(values, "__iter__"):
        values = [values]
    try:
        items = list(values)
    except NotImplementedError:   # e.g. a multi-dimensional memoryview
        raise TypeError("values must be a number or a flat sequence of numbers") from None
    if typecode == "f":
        out: List[Any] = []
        for v in items:
            if isinstance(v, (str, bytes)) or not hasattr(v, "__float__"):
                raise TypeError(f"float value expected, not {type(v).__name__}")
            try:
                f = float(v)
            except OverflowError:   # an int too large for any float
                raise ValueError(f"{v!r} does not fit a float32") from None
            try:
                _F32.pack(f)   # finite values that round past float32 overflow
            except OverflowError:
                raise ValueError(f"{f!r} does not fit a float32") from None
            out.append(f)
        return out
    lo, hi = _INT_LIMITS[typecode]
    out = []
    for v in items:
        if isinstance(v, bool) or not isinstance(v, int):
            try:
                iv = operator.index(v)
            except TypeError:
                raise TypeError(f"int value expected, not {type(v).__name__}") from None
        else:
            iv = int(v)
        if iv < lo or iv > hi:
            raise ValueError(f"{iv} does not fit {'u' if lo == 0 else ''}int{8 * _ELEMENT[typecode][0]}")
        out.append(iv)
    return out


def pack_be(values: Union[int, float, Iterable[Union[int, float]]], typecode: str) -> bytes:
    """Big-endian bytes of one value or a sequence of values (see ``unpack_be``).

    A value that does not fit the type is ``ValueError``, a wrong type ``TypeError``.
    float32 accepts NaN and infinities; finite values beyond float32 are ``ValueError``.
    """
    size, code, _ = _element(typecode)
    vals = _checked_values(values, typecode)
    return struct.pack(f">{len(vals)}{code}", *vals)


def _native_dest(dest: Buffer, typecode: str, count: int) -> memoryview:
    size = _ELEMENT[typecode][0]
    dst = _writable_view(dest, "dest")
    if dst.nbytes < count * size:
        raise ValueError(f"dest holds {dst.nbytes} bytes, {count * size} needed")
    return dst


def unpack_be_into(buf: Buffer, dest: Buffer, typecode: str) -> int:
    """Convert big-endian elements of ``buf`` to native byte order into ``dest``.

    ``dest`` is any writable C-contiguous buffer (``array(typecode)``, a numpy
    array of the matching dtype, a bytearray); its bytes are filled from the
    start.  Returns the number of elements written.
    """
    size, _, acode = _element(typecode)
    src = _bytes_view(buf, "buf")
    n, rem = divmod(src.nbytes, size)
    if rem:
        raise ValueError(f"{src.nbytes} bytes is not a whole number of {size}-byte elements")
    dst = _native_dest(dest, typecode, n)
    tmp = array(acode)
    tmp.frombytes(src)
    if not _BIG:
        tmp.byteswap()
    dst[:n * size] = memoryview(tmp).cast("B")
    return n


def pack_be_from(src: Buffer, typecode: str) -> bytes:
    """Big-endian bytes of the native-order elements in buffer ``src``."""
    size, _, acode = _element(typecode)
    mv = _bytes_view(src, "src")
    n, rem = divmod(mv.nbytes, size)
    if rem:
        raise ValueError(f"{mv.nbytes} bytes is not a whole number of {size}-byte elements")
    tmp = array(acode)
    tmp.frombytes(mv)
    if not _BIG:
        tmp.byteswap()
    return tmp.tobytes()


# ----------------------------------------------------------------------------- gather
#: gather codes: code -> (element size in bytes, struct code of the big-endian element)
_GATHER = {"i": (4, "i"), "I": (4, "I"), "f": (4, "f"), "q": (8, "q"), "Q": (8, "Q"),
           "?": (4, "I"), "b": (4, "I")}
_GATHER_CODES = "".join(sorted(_GATHER))
_GATHER_UNPACK = {c: struct.Struct(">" + s).unpack_from for c, (_, s) in _GATHER.items()}
_INT_ARRAY_CODES = frozenset("bBhHiIlLqQ")


def _gather_ints(name: str, seq: object) -> List[int]:
    """``seq`` as a list of ints (an integer ``array`` converts in one call)."""
    if isinstance(seq, array) and seq.typecode in _INT_ARRAY_CODES:
        return seq.tolist()
    return _int_list(name, seq)


def _gather_check(size: int, offs: List[int], cs: str, bts: Optional[List[int]]) -> None:
    """Raise the ``ValueError`` for the first bad element, in element order."""
    for i, (o, c) in enumerate(zip(offs, cs)):
        if c not in _GATHER:
            raise ValueError(f"codes[{i}] is {c!r}, not one of {_GATHER_CODES!r}")
        if c == "b" and bts is None:
            raise ValueError(f"codes[{i}] is 'b' but no bits were given")
        w = _GATHER[c][0]
        if o < 0 or o > size - w:
            raise ValueError(f"element {i} at offset {o} ({w} bytes) does not fit a {size}-byte buffer")
        if bts is not None and not 0 <= bts[i] <= 31:
            raise ValueError(f"bits[{i}] {bts[i]} out of range 0..31")


def gather_be(buf: Buffer, offsets: Sequence[int], codes: Union[str, bytes],
              bits: Optional[Sequence[int]] = None) -> List[Union[int, float, bool]]:
    """Python values of big-endian elements at scattered byte offsets of ``buf``.

    Element ``i`` starts at byte ``offsets[i]`` (any alignment) and is
    decoded per ``codes[i]`` (``codes``: str or bytes, one character per
    element): ``"i"`` int32, ``"I"`` uint32, ``"f"`` float32, ``"q"`` int64,
    ``"Q"`` uint64, ``"?"`` uint32 != 0 (bool), ``"b"`` bit ``bits[i]``
    (0..31, bit 0 = least significant) of the uint32 at the offset (bool).
    ``bits`` (same length as ``offsets``, every entry 0..31) is required when
    any code is ``"b"``.  Everything is checked before any value is built:
    mismatched lengths, an unknown code, a negative offset, an element past
    the end of ``buf`` or a bit outside 0..31 is ``ValueError``; wrong types
    are ``TypeError``.  Returns a new list of ``len(offsets)`` values.
    """
    mv = _bytes_view(buf, "buf")
    if isinstance(codes, str):
        cs = str(codes)
    elif isinstance(codes, bytes):
        cs = codes.decode("latin-1")   # one character per byte
    else:
        raise TypeError(f"codes must be a str or bytes, not {type(codes).__name__}")
    offs = _gather_ints("offsets", offsets)
    bts = None if bits is None else _gather_ints("bits", bits)
    n = len(offs)
    if len(cs) != n:
        raise ValueError(f"{len(cs)} codes but {n} offsets")
    if bts is not None and len(bts) != n:
        raise ValueError(f"{len(bts)} bits but {n} offsets")
    _gather_check(mv.nbytes, offs, cs, bts)
    unpack = _GATHER_UNPACK
    out: List[Union[int, float, bool]] = []
    for i, (o, c) in enumerate(zip(offs, cs)):
        v = unpack[c](mv, o)[0]
        if c == "b":
            out.append((v >> bts[i]) & 1 == 1)   # type: ignore[index]  # bts checked above
        elif c == "?":
            out.append(v != 0)
        else:
            out.append(v)
    return out


# ----------------------------------------------------------------------------- gather layout
def _getter(indexes: Sequence[int]) -> Callable[[Sequence[Any]], Sequence[Any]]:
    """A C-level picker of ``indexes`` from a sequence (always returns a sequence)."""
    if not indexes:
        return lambda seq: ()
    if len(indexes) == 1:
        i = indexes[0]
        return lambda seq: (seq[i],)
    return operator.itemgetter(*indexes)


class GatherLayout:
    """A precomputed recipe that decodes many values from one buffer in one call.

    Built once (say, per frozen scan plan) and used for every buffer of that
    shape; immutable, so one layout may serve many threads at once.

    The layout has *fields* (element ``j``: ``codes[j]`` at byte
    ``offsets[j]``, any alignment, big-endian) grouped into *items* (item
    ``i``: the next ``counts[i]`` fields, named ``keys[i]``).  Field codes:
    ``"i"`` int32, ``"I"`` uint32, ``"f"`` float32, ``"q"`` int64, ``"Q"``
    uint64, ``"?"`` uint32 != 0 (bool), ``"b"`` bit ``args[j]`` (0..31, bit
    0 = least significant) of the uint32 (bool), ``"y"`` ``args[j]`` raw
    bytes (``bytes``).  ``args`` is ignored for the other codes (it must
    still be an int in range); ``None`` means all 0.  An item's value is its
    one field when ``makers[i]`` is ``None`` (then ``counts[i]`` must be
    1), a list of its fields when ``makers[i]`` is ``list``, else
    ``makers[i](*fields)``.  ``counts`` ``None`` means one field per item.
    Everything is checked here (``ValueError`` / ``TypeError``), so decoding
    only checks that the buffer holds ``size`` bytes.
    """

    __slots__ = ("_keys", "_size", "_nfields", "_lanes", "_plain", "_bools", "_bits", "_masks", "_field_order",
                 "_singles", "_complex", "_item_order")

    def __init__(self, keys: Sequence[Any], codes: Union[str, bytes], offsets: Sequence[int],
                 args: Optional[Sequence[int]] = None, counts: Optional[Sequence[int]] = None,
                 makers: Optional[Sequence[Optional[Callable[..., Any]]]] = None) -> None:
        if hasattr(self, "_keys"):
            raise TypeError("GatherLayout is immutable")
        ks, cs, offs, arg, cnt, mks, size = layout_spec(keys, codes, offsets, args, counts, makers)
        # 1. the distinct big-endian elements behind the fields
        where: Dict[Tuple[int, str], int] = {}
        elems: List[Tuple[int, int, str]] = []      # (offset, width, struct code)
        field_elem: List[int] = []
        for j, c in enumerate(cs):
            sc = f"{arg[j]}s" if c == "y" else _GATHER[c][1]
            k = (offs[j], sc)
            e = where.get(k)
            if e is None:
                e = where[k] = len(elems)
                elems.append((offs[j], arg[j] if c == "y" else LAYOUT_WIDTH[c], sc))
            field_elem.append(e)
        # 2. lanes of non-overlapping elements, each read by one struct call
        lanes: List[List[int]] = []
        ends: List[int] = []
        for e in sorted(range(len(elems)), key=lambda e: elems[e][:2]):
            o, w, _ = elems[e]
            for n, end in enumerate(ends):
                if end <= o:
                    lanes[n].append(e)
                    ends[n] = o + w
                    break
            else:
                lanes.append([e])
                ends.append(o + w)
        position = [0] * len(elems)     # element -> index in the lanes' joined values
        structs = []
        first = 0
        for lane in lanes:
            fmt, pos = [">"], 0
            for at, e in enumerate(lane):
                o, w, sc = elems[e]
                if o > pos:
                    fmt.append(f"{o - pos}x")
                fmt.append(sc)
                pos = o + w
                position[e] = first + at
            first += len(lane)
            structs.append(struct.Struct("".join(fmt)).unpack_from)
        self._lanes = tuple(structs)
        # 3. field values: plain ones picked, bools and bits converted, put back in field order
        plain = [j for j, c in enumerate(cs) if c not in "?b"]
        bools = [j for j, c in enumerate(cs) if c == "?"]
        bits = [j for j, c in enumerate(cs) if c == "b"]
        self._plain = _getter([position[field_elem[j]] for j in plain]) if plain else None
        self._bools = _getter([position[field_elem[j]] for j in bools]) if bools else None
        self._bits = _getter([position[field_elem[j]] for j in bits]) if bits else None
        self._masks = tuple(1 << arg[j] for j in bits)
        grouped = plain + bools + bits
        self._field_order = None if grouped == sorted(grouped) else _getter(
            [p for _, p in sorted(zip(grouped, range(len(grouped))))])
        # 4. items: single fields picked, the rest built; put back in item order
        singles: List[int] = []
        single_items: List[int] = []
        complex_: List[Tuple[int, int, Any]] = []
        complex_items: List[int] = []
        j = 0
        for i, (n, mk) in enumerate(zip(cnt, mks)):
            if mk is None:
                singles.append(j)
                single_items.append(i)
            else:
                complex_.append((j, j + n, mk))
                complex_items.append(i)
            j += n
        simple = not complex_ and singles == list(range(len(cs)))
        self._singles = None if simple else _getter(singles)
        self._complex = tuple(complex_)
        grouped = single_items + complex_items
        self._item_order = None if grouped == sorted(grouped) else _getter(
            [p for _, p in sorted(zip(grouped, range(len(grouped))))])
        self._keys = ks
        self._size = size
        self._nfields = len(cs)

    @property
    def size(self) -> int:
        """Bytes a buffer must hold for this layout (the end of its last field)."""
        return self._size

    @property
    def keys(self) -> Tuple[Any, ...]:
        """The item keys, in order (a tuple)."""
        return self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"<GatherLayout {len(self._keys)} items, {self._nfields} fields, {self._size} bytes>"

    def _values(self, buf: Buffer) -> Sequence[Any]:
        mv = _bytes_view(buf, "buf")
        if mv.nbytes < self._size:
            raise ValueError(f"buf holds {mv.nbytes} bytes, the layout needs {self._size}")
        lanes = self._lanes
        raw: Tuple[Any, ...] = lanes[0](mv) if len(lanes) == 1 else sum((u(mv) for u in lanes), ())
        fv: List[Any] = []
        if self._plain is not None:
            fv.extend(self._plain(raw))
        if self._bools is not None:
            fv.extend(map(operator.truth, self._bools(raw)))
        if self._bits is not None:
            fv.extend(map(operator.truth, map(operator.and_, self._bits(raw), self._masks)))
        fields: Sequence[Any] = fv if self._field_order is None else self._field_order(fv)
        if self._singles is None:
            return fields
        out = list(self._singles(fields))
        for a, b, mk in self._complex:
            out.append(list(fields[a:b]) if mk is list else mk(*fields[a:b]))
        return out if self._item_order is None else self._item_order(out)

    def decode(self, buf: Buffer) -> Dict[Any, Any]:
        """``{key: value}`` of every item, in item order, decoded from ``buf``."""
        return dict(zip(self._keys, self._values(buf)))

    def decode_list(self, buf: Buffer) -> List[Any]:
        """The value of every item, in item order, as a new list."""
        return list(self._values(buf))
