# cython: language_level=3
"""Compiled OptoMMP codec: the fast twin of ``mmpfast._codec_py``.

Same public names, signatures, results and exception classes as the pure
reference (API.md "mmpfast.codec" and its edge rules).  Everything on the
wire is big-endian; addresses are the low 32 bits of the 48-bit offset and
the codec writes ``FF FF`` above them.  Byte inputs are read through the
buffer protocol without copying; outputs are built once as ``bytes``.
"""
cimport cython
from cpython.buffer cimport (
    PyBUF_C_CONTIGUOUS,
    PyBUF_FORMAT,
    PyBUF_WRITABLE,
    PyBuffer_IsContiguous,
    PyBuffer_Release,
    PyObject_CheckBuffer,
    PyObject_GetBuffer,
)
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.float cimport PyFloat_AS_DOUBLE
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_AsUnsignedLongLong
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.memoryview cimport PyMemoryView_FromObject, PyMemoryView_GET_BUFFER
from cpython.number cimport PyNumber_Index
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE
from libc.math cimport isinf
from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy, memmove, memset, strcmp

from . import protocol as _protocol
from .errors import MmpNakError, MmpProtocolError

cdef extern from "Python.h":
    ctypedef struct PyObject
    # borrowed-pointer variants for the batch loop (no reference counting, no Python code)
    PyObject *_list_item "PyList_GET_ITEM"(object o, Py_ssize_t i)
    Py_ssize_t _list_size "PyList_GET_SIZE"(object o)
    PyObject *_tuple_item_p "PyTuple_GET_ITEM"(PyObject *o, Py_ssize_t i)
    Py_ssize_t _tuple_size_p "PyTuple_GET_SIZE"(PyObject *o)
    bint _tuple_exact_p "PyTuple_CheckExact"(PyObject *o)
    bint _long_exact_p "PyLong_CheckExact"(PyObject *o)
    long long _long_value_p "PyLong_AsLongLongAndOverflow"(PyObject *o, int *overflow)
    bint PyLong_Check(object o)
    bint PyLong_CheckExact(object o)
    bint PyFloat_CheckExact(object o)
    bint PyTuple_CheckExact(object o)
    bint PyList_CheckExact(object o)
    bint PyMemoryView_Check(object o)

cdef extern from *:
    """
    #include <limits.h>
    #include <stdint.h>
    #include <string.h>
    #if defined(__GNUC__) || defined(__clang__)
    #  define MMP_BSWAP32(x) __builtin_bswap32(x)
    #  define MMP_BSWAP64(x) __builtin_bswap64(x)
    #elif defined(_MSC_VER)
    #  include <stdlib.h>
    #  define MMP_BSWAP32(x) _byteswap_ulong(x)
    #  define MMP_BSWAP64(x) _byteswap_uint64(x)
    #else
    static inline uint32_t MMP_BSWAP32(uint32_t x) {
        return (x >> 24) | ((x >> 8) & 0xFF00u) | ((x << 8) & 0xFF0000u) | (x << 24);
    }
    static inline uint64_t MMP_BSWAP64(uint64_t x) {
        return ((uint64_t)MMP_BSWAP32((uint32_t)x) << 32) | MMP_BSWAP32((uint32_t)(x >> 32));
    }
    #endif
    #if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    #  define MMP_HOST_BIG 1
    #  define MMP_BE32(x) (x)
    #  define MMP_BE64(x) (x)
    #else
    #  define MMP_HOST_BIG 0
    #  define MMP_BE32(x) MMP_BSWAP32(x)
    #  define MMP_BE64(x) MMP_BSWAP64(x)
    #endif
    static inline uint32_t mmp_load_be32(const unsigned char *p) {
        uint32_t v; memcpy(&v, p, 4); return MMP_BE32(v);
    }
    static inline uint64_t mmp_load_be64(const unsigned char *p) {
        uint64_t v; memcpy(&v, p, 8); return MMP_BE64(v);
    }
    static inline void mmp_store_be32(unsigned char *p, uint32_t v) {
        v = MMP_BE32(v); memcpy(p, &v, 4);
    }
    static inline void mmp_store_be64(unsigned char *p, uint64_t v) {
        v = MMP_BE64(v); memcpy(p, &v, 8);
    }
    static inline float mmp_u32_to_float(uint32_t v) { float f; memcpy(&f, &v, 4); return f; }
    static inline uint32_t mmp_float_to_u32(float f) { uint32_t v; memcpy(&v, &f, 4); return v; }
    /* swap n elements of size 4 or 8 in place (no-op on a big-endian host) */
    static void mmp_swap_inplace(unsigned char *p, Py_ssize_t n, int size) {
    #if !MMP_HOST_BIG
        Py_ssize_t i;
        if (size == 4) {
            for (i = 0; i < n; i++) {
                uint32_t v; memcpy(&v, p + 4 * i, 4); v = MMP_BSWAP32(v); memcpy(p + 4 * i, &v, 4);
            }
        } else {
            for (i = 0; i < n; i++) {
                uint64_t v; memcpy(&v, p + 8 * i, 8); v = MMP_BSWAP64(v); memcpy(p + 8 * i, &v, 8);
            }
        }
    #else
        (void)p; (void)n; (void)size;
    #endif
    }
    """
    uint32_t mmp_load_be32(const unsigned char *p) noexcept nogil
    uint64_t mmp_load_be64(const unsigned char *p) noexcept nogil
    void mmp_store_be32(unsigned char *p, uint32_t v) noexcept nogil
    void mmp_store_be64(unsigned char *p, uint64_t v) noexcept nogil
    float mmp_u32_to_float(uint32_t v) noexcept nogil
    uint32_t mmp_float_to_u32(float f) noexcept nogil
    void mmp_swap_inplace(unsigned char *p, Py_ssize_t n, int size) noexcept nogil
    int MMP_HOST_BIG
    const long long LLONG_MAX
    const long long LLONG_MIN

# --- C copies of the wire facts for the hot path (checked against protocol.py below)
cdef enum:
    C_TCODE_WRITE_QUADLET = 0
    C_TCODE_WRITE_BLOCK = 1
    C_TCODE_WRITE_RESPONSE = 2
    C_TCODE_READ_QUADLET = 4
    C_TCODE_READ_BLOCK = 5
    C_TCODE_READ_QUADLET_RESPONSE = 6
    C_TCODE_READ_BLOCK_RESPONSE = 7
    C_HEADER_SHORT = 12
    C_HEADER_BLOCK = 16
    C_QUADLET = 4
    C_MIN_PEEK = 4
    C_MIN_PEEK_VARIABLE = 14
    C_OFF_TL = 2
    C_OFF_TCODE = 3
    C_OFF_SOURCE_ID = 4
    C_OFF_RCODE = 6
    C_OFF_ADDRESS_HIGH = 6
    C_OFF_ADDRESS = 8
    C_OFF_DATA_LENGTH = 12
    C_OFF_QUADLET = 12
    C_OFF_BLOCK_DATA = 16
    C_ADDRESS_HIGH = 0xFFFF
    C_MAX_DATA_LENGTH = 0xFFFF
    C_MAX_TL = 63
    C_TL_MODULO = 64
    C_MAX_SOURCE_ID = 0xFFFF
    C_MAX_RCODE = 15

cdef long long C_MAX_ADDRESS = 0xFFFFFFFF


def _check_constants() -> None:
    p = _protocol
    pairs = [
        (p.TCODE_WRITE_QUADLET, C_TCODE_WRITE_QUADLET), (p.TCODE_WRITE_BLOCK, C_TCODE_WRITE_BLOCK),
        (p.TCODE_WRITE_RESPONSE, C_TCODE_WRITE_RESPONSE), (p.TCODE_READ_QUADLET, C_TCODE_READ_QUADLET),
        (p.TCODE_READ_BLOCK, C_TCODE_READ_BLOCK),
        (p.TCODE_READ_QUADLET_RESPONSE, C_TCODE_READ_QUADLET_RESPONSE),
        (p.TCODE_READ_BLOCK_RESPONSE, C_TCODE_READ_BLOCK_RESPONSE),
        (p.HEADER_SHORT, C_HEADER_SHORT), (p.HEADER_BLOCK, C_HEADER_BLOCK), (p.QUADLET, C_QUADLET),
        (p.MIN_PEEK, C_MIN_PEEK), (p.MIN_PEEK_VARIABLE, C_MIN_PEEK_VARIABLE),
        (p.OFF_TL, C_OFF_TL), (p.OFF_TCODE, C_OFF_TCODE), (p.OFF_SOURCE_ID, C_OFF_SOURCE_ID),
        (p.OFF_RCODE, C_OFF_RCODE), (p.OFF_ADDRESS_HIGH, C_OFF_ADDRESS_HIGH),
        (p.OFF_ADDRESS, C_OFF_ADDRESS), (p.OFF_DATA_LENGTH, C_OFF_DATA_LENGTH),
        (p.OFF_QUADLET, C_OFF_QUADLET), (p.OFF_BLOCK_DATA, C_OFF_BLOCK_DATA),
        (p.ADDRESS_HIGH, C_ADDRESS_HIGH), (p.MAX_DATA_LENGTH, C_MAX_DATA_LENGTH),
        (p.MAX_TL, C_MAX_TL), (p.TL_MODULO, C_TL_MODULO), (p.MAX_SOURCE_ID, C_MAX_SOURCE_ID),
        (p.MAX_RCODE, C_MAX_RCODE), (p.MAX_ADDRESS, C_MAX_ADDRESS),
        (p.VARIABLE_TCODES, frozenset({C_TCODE_WRITE_BLOCK, C_TCODE_READ_BLOCK_RESPONSE})),
        (p.REQUEST_TCODES, frozenset({0, 1, 4, 5})),
        (p.FIXED_FRAME_LENGTH, {0: 16, 2: 12, 4: 12, 5: 16, 6: 16}),
    ]
    for i, (want, have) in enumerate(pairs):
        if want != have:
            raise ImportError(f"mmpfast._codec: C constant #{i} ({have!r}) disagrees with "
                              f"mmpfast.protocol ({want!r}); rebuild the extension")


_check_constants()

IMPLEMENTATION = "cython"
MAX_BLOCK = _protocol.MAX_BLOCK

__all__ = [
    "IMPLEMENTATION", "MAX_BLOCK", "Frame",
    "encode_read_quadlet", "encode_read_block", "encode_write_quadlet", "encode_write_block",
    "encode_write_response", "encode_read_quadlet_response", "encode_read_block_response",
    "frame_length", "decode_frame", "encode_read_blocks", "scatter_read_responses",
    "unpack_be", "pack_be", "unpack_be_into", "pack_be_from",
    "gather_be", "frame_ends", "check_write_responses", "FrameSplitter",
    "GatherLayout",
]


# ----------------------------------------------------------------------------- checks
cdef object _as_int(object value, str name):
    """``value`` as an exact int (``__index__`` honoured); TypeError for non-ints."""
    if isinstance(value, int):
        return int(value)
    try:
        return PyNumber_Index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, not {type(value).__name__}") from None


cdef long long _check_slow(object value, long long hi, str name) except -1:
    cdef int overflow = 0
    cdef long long v
    value = _as_int(value, name)
    v = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow != 0 or v < 0 or v > hi:
        raise ValueError(f"{name} {value} out of range 0..{hi}")
    return v


cdef inline long long _check(object value, long long hi, str name) except -1:
    """``value`` as a C integer in 0..hi (TypeError for non-ints, ValueError out of range)."""
    cdef int overflow = 0
    cdef long long v
    if PyLong_CheckExact(value):
        v = PyLong_AsLongLongAndOverflow(value, &overflow)
        if overflow == 0 and v >= 0 and v <= hi:
            return v
    return _check_slow(value, hi, name)


cdef int _buffer_refused(object obj, bint writable, str name) except -1:
    """Raise what the pure codec raises for a buffer the C request refused."""
    if isinstance(obj, (bytes, bytearray)):
        mv = memoryview(obj)
    else:
        try:
            mv = memoryview(obj)
        except TypeError:
            raise TypeError(f"{name} must be a bytes-like object, not {type(obj).__name__}") from None
        if not mv.c_contiguous:
            raise TypeError(f"{name} must be a C-contiguous buffer")
    if writable and mv.readonly:
        raise TypeError(f"{name} must be a writable buffer")
    raise TypeError(f"{name}: the buffer refused a C-contiguous export")


cdef int _get_buffer(object obj, Py_buffer *view, bint writable, str name) except -1:
    """Acquire a C-contiguous (and writable if asked) byte view; the caller releases it."""
    cdef int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT   # FORMAT: refuse what memoryview() refuses
    if writable:
        flags |= PyBUF_WRITABLE
    try:
        PyObject_GetBuffer(obj, view, flags)
        return 0
    except Exception:
        pass
    _buffer_refused(obj, writable, name)
    return -1


cdef object _byte_memoryview(object obj, str name):
    """A flat unsigned-byte memoryview of a C-contiguous buffer (TypeError otherwise)."""
    cdef Py_buffer *v
    try:
        mv = PyMemoryView_FromObject(obj)
    except TypeError:
        raise TypeError(f"{name} must be a bytes-like object, not {type(obj).__name__}") from None
    v = PyMemoryView_GET_BUFFER(mv)
    if not PyBuffer_IsContiguous(v, b'C') or (v.len == 0 and not mv.c_contiguous):
        raise TypeError(f"{name} must be a C-contiguous buffer")   # (an empty strided view too)
    if v.ndim != 1 or v.format == NULL or strcmp(v.format, b"B") != 0:
        mv = mv.cast("B")
    return mv


# ----------------------------------------------------------------------------- Frame
@cython.auto_pickle(False)
@cython.final
cdef class Frame:
    """One decoded frame.  Read-only; ``data`` is a zero-copy view into the input.

    ``rcode`` is ``None`` for requests, ``address``/``address_high`` are
    ``None`` for responses.  ``data_length`` is the byte count carried (tcodes
    0, 1, 6, 7) or asked for (tcode 4: 4, tcode 5: bytes 12-13); 0 for tcode 2.
    """

    cdef readonly object tcode
    cdef readonly object tl
    cdef readonly object source_id
    cdef readonly object rcode
    cdef readonly object address
    cdef readonly object address_high
    cdef readonly object data_length
    cdef readonly object data

    def __init__(self, tcode, tl, source_id, rcode, address, address_high, data_length, data):
        self.tcode = tcode
        self.tl = tl
        self.source_id = source_id
        self.rcode = rcode
        self.address = address
        self.address_high = address_high
        self.data_length = data_length
        self.data = data

    @property
    def is_request(self):
        """True for tcodes 0, 1, 4, 5."""
        return self.rcode is None

    def __repr__(self):
        parts = [f"tcode={self.tcode}", f"tl={self.tl}", f"source_id={self.source_id}"]
        if self.rcode is not None:
            parts.append(f"rcode={self.rcode}")
        if self.address is not None:
            parts.append(f"address=0x{self.address:08X}")
        parts.append(f"data_length={self.data_length}")
        return f"Frame({', '.join(parts)})"


# ----------------------------------------------------------------------------- encoders
cdef inline void _put_start(unsigned char *q, long long tl, int tcode, long long sid) noexcept nogil:
    """The first 6 header bytes every frame shares: 0, 0, tl << 2, tcode << 4, source id."""
    q[0] = 0
    q[1] = 0
    q[C_OFF_TL] = <unsigned char>(tl << 2)
    q[C_OFF_TCODE] = <unsigned char>(tcode << 4)
    q[C_OFF_SOURCE_ID] = <unsigned char>(sid >> 8)
    q[C_OFF_SOURCE_ID + 1] = <unsigned char>(sid & 0xFF)


cdef inline void _put_request(unsigned char *q, long long tl, int tcode, long long sid,
                              long long address) noexcept nogil:
    _put_start(q, tl, tcode, sid)
    q[C_OFF_ADDRESS_HIGH] = <unsigned char>(C_ADDRESS_HIGH >> 8)
    q[C_OFF_ADDRESS_HIGH + 1] = <unsigned char>(C_ADDRESS_HIGH & 0xFF)
    mmp_store_be32(q + C_OFF_ADDRESS, <uint32_t>address)


cdef inline void _put_response(unsigned char *q, long long tl, int tcode, long long sid,
                               long long rcode) noexcept nogil:
    _put_start(q, tl, tcode, sid)
    q[C_OFF_RCODE] = <unsigned char>(rcode << 4)
    memset(q + C_OFF_RCODE + 1, 0, 5)


cdef inline void _put_block_fields(unsigned char *q, long long length) noexcept nogil:
    q[C_OFF_DATA_LENGTH] = <unsigned char>(length >> 8)
    q[C_OFF_DATA_LENGTH + 1] = <unsigned char>(length & 0xFF)
    q[C_OFF_DATA_LENGTH + 2] = 0
    q[C_OFF_DATA_LENGTH + 3] = 0


cdef bytes _new_bytes(Py_ssize_t n):
    return PyBytes_FromStringAndSize(NULL, n)


cdef bytes _data_frame(long long tl, int tcode, long long sid, long long second,
                       object data, bint request, bint block):
    """A frame carrying ``data``: 16 bytes whose last 4 are ``data`` zero-filled at the end
    (tcode 0 or 6), or with ``block`` 16 + N bytes (tcode 1 or 7)."""
    cdef Py_buffer view
    cdef bytes out
    cdef unsigned char *q
    cdef Py_ssize_t at
    _get_buffer(data, &view, False, "data")
    try:
        if block:
            if view.len > C_MAX_DATA_LENGTH:
                raise ValueError(f"data length {view.len} out of range 0..{C_MAX_DATA_LENGTH}")
        elif view.len > C_QUADLET:
            raise ValueError(f"quadlet data is at most 4 bytes, got {view.len}")
        out = _new_bytes(C_HEADER_BLOCK + (view.len if block else 0))
        q = <unsigned char *>PyBytes_AS_STRING(out)
        if request:
            _put_request(q, tl, tcode, sid, second)
        else:
            _put_response(q, tl, tcode, sid, second)
        if block:
            _put_block_fields(q, view.len)
            at = C_OFF_BLOCK_DATA
        else:
            memset(q + C_OFF_QUADLET, 0, C_QUADLET)
            at = C_OFF_QUADLET
        memcpy(q + at, view.buf, view.len)
        return out
    finally:
        PyBuffer_Release(&view)


def encode_read_quadlet(tl, address, source_id=0):
    """Read Quadlet Request (tcode 4), 12 bytes, big-endian; ``address`` is the low 32 bits."""
    cdef long long t = _check(tl, C_MAX_TL, "tl")
    cdef long long sid = _check(source_id, C_MAX_SOURCE_ID, "source_id")
    cdef long long addr = _check(address, C_MAX_ADDRESS, "address")
    cdef bytes out = _new_bytes(C_HEADER_SHORT)
    _put_request(<unsigned char *>PyBytes_AS_STRING(out), t, C_TCODE_READ_QUADLET, sid, addr)
    return out


def encode_read_block(tl, address, length, source_id=0):
    """Read Block Request (tcode 5), 16 bytes, asking for ``length`` bytes (big-endian fields)."""
    cdef long long t = _check(tl, C_MAX_TL, "tl")
    cdef long long sid = _check(source_id, C_MAX_SOURCE_ID, "source_id")
    cdef long long addr = _check(address, C_MAX_ADDRESS, "address")
    cdef long long n = _check(length, C_MAX_DATA_LENGTH, "length")
    cdef bytes out = _new_bytes(C_HEADER_BLOCK)
    cdef unsigned char *q = <unsigned char *>PyBytes_AS_STRING(out)
    _put_request(q, t, C_TCODE_READ_BLOCK, sid, addr)
    _put_block_fields(q, n)
    return out


def encode_write_quadlet(tl, address, data, source_id=0):
    """Write Quadlet Request (tcode 0), 16 bytes; ``data`` up to 4 bytes, zero-filled at the end."""
    cdef long long t = _check(tl, C_MAX_TL, "tl")
    cdef long long sid = _check(source_id, C_MAX_SOURCE_ID, "source_id")
    cdef long long addr = _check(address, C_MAX_ADDRESS, "address")
    return _data_frame(t, C_TCODE_WRITE_QUADLET, sid, addr, data, True, False)


def encode_write_block(tl, address, data, source_id=0):
    """Write Block Request (tcode 1), 16 + len(data) bytes (len(data) <= 65535)."""
    cdef long long t = _check(tl, C_MAX_TL, "tl")
    cdef long long sid = _check(source_id, C_MAX_SOURCE_ID, "source_id")
    cdef long long addr = _check(address, C_MAX_ADDRESS, "address")
    return _data_frame(t, C_TCODE_WRITE_BLOCK, sid, addr, data, True, True)


def encode_write_response(tl, rcode=0, source_id=0):
    """Write Response (tcode 2), 12 bytes; ``rcode`` 0 is an ACK."""
    cdef long long t = _check(tl, C_MAX_TL, "tl")
    cdef long long sid = _check(source_id, C_MAX_SOURCE_ID, "source_id")
    cdef long long r = _check(rcode, C_MAX_RCODE, "rcode")
    cdef bytes out = _new_bytes(C_HEADER_SHORT)
    _put_response(<unsigned char *>PyBytes_AS_STRING(out), t, C_TCODE_WRITE_RESPONSE, sid, r)
    return out


def encode_read_quadlet_response(tl, data, rcode=0, source_id=0):
    """Read Quadlet Response (tcode 6), 16 bytes; ``data`` up to 4 bytes, zero-filled at the end."""
    cdef long long t = _check(tl, C_MAX_TL, "tl")
    cdef long long r = _check(rcode, C_MAX_RCODE, "rcode")
    cdef long long sid = _check(source_id, C_MAX_SOURCE_ID, "source_id")
    return _data_frame(t, C_TCODE_READ_QUADLET_RESPONSE, sid, r, data, False, False)


def encode_read_block_response(tl, data, rcode=0, source_id=0):
    """Read Block Response (tcode 7), 16 + len(data) bytes."""
    cdef long long t = _check(tl, C_MAX_TL, "tl")
    cdef long long r = _check(rcode, C_MAX_RCODE, "rcode")
    cdef long long sid = _check(source_id, C_MAX_SOURCE_ID, "source_id")
    return _data_frame(t, C_TCODE_READ_BLOCK_RESPONSE, sid, r, data, False, True)


# ----------------------------------------------------------------------------- integer buffers
cdef int _int_format(Py_buffer *view) noexcept:
    """1 signed / 2 unsigned when ``view`` holds native-order integers; 0 otherwise."""
    cdef const char *f = view.format
    cdef char c
    if f == NULL:
        return 2 if view.itemsize == 1 else 0
    c = f[0]
    if c == b'@' or c == b'=' or c == b'<' or c == b'>' or c == b'!':
        if (c == b'>' or c == b'!') and not MMP_HOST_BIG and view.itemsize > 1:
            return 0
        if c == b'<' and MMP_HOST_BIG and view.itemsize > 1:
            return 0
        f += 1
        c = f[0]
    if c == 0 or f[1] != 0:
        return 0
    if view.itemsize not in (1, 2, 4, 8):
        return 0
    if c in b"bhilqn":
        return 1
    if c in b"BHILQN":
        return 2
    return 0


cdef inline long long _read_int(const unsigned char *p, Py_ssize_t itemsize, int kind) noexcept nogil:
    """One native-order integer item (any alignment), clamped to long long (huge -> LLONG_MAX)."""
    cdef int8_t s8
    cdef int16_t s16
    cdef uint16_t u16
    cdef int32_t s32
    cdef uint32_t u32
    cdef int64_t s64
    cdef uint64_t u64
    if itemsize == 1:
        if kind == 1:
            memcpy(&s8, p, 1)
            return s8
        return p[0]
    if itemsize == 2:
        if kind == 1:
            memcpy(&s16, p, 2)
            return s16
        memcpy(&u16, p, 2)
        return u16
    if itemsize == 4:
        if kind == 1:
            memcpy(&s32, p, 4)
            return s32
        memcpy(&u32, p, 4)
        return u32
    if kind == 1:
        memcpy(&s64, p, 8)
        return s64
    memcpy(&u64, p, 8)
    if u64 > <uint64_t>LLONG_MAX:
        return LLONG_MAX
    return <long long>u64


cdef inline long long _clamp_int(object v, str name) except? -1:
    """A Python int-like item as a clamped long long (TypeError for non-ints)."""
    cdef int overflow = 0
    cdef long long r
    if not PyLong_Check(v):
        try:
            v = PyNumber_Index(v)
        except TypeError:
            raise TypeError(f"{name} must hold ints, not {type(v).__name__}") from None
    elif not PyLong_CheckExact(v):
        v = int(v)
    r = PyLong_AsLongLongAndOverflow(v, &overflow)
    if overflow > 0:
        return LLONG_MAX
    if overflow < 0:
        return LLONG_MIN
    return r


cdef long long *_int_array(object seq, str name, Py_ssize_t *count) except NULL:
    """``seq`` (buffer of ints, list, tuple, any iterable of ints) as a new C array."""
    cdef Py_buffer view
    cdef long long *out = NULL
    cdef Py_ssize_t i, n
    cdef int kind
    cdef const unsigned char *p
    if PyObject_CheckBuffer(seq) and not PyMemoryView_Check(seq):
        try:
            PyObject_GetBuffer(seq, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT)
        except Exception:
            pass
        else:
            try:
                kind = _int_format(&view)
                if view.ndim == 1 and kind:
                    n = view.shape[0]
                    out = <long long *>PyMem_Malloc(max(n, 1) * sizeof(long long))
                    if out == NULL:
                        raise MemoryError()
                    p = <const unsigned char *>view.buf
                    for i in range(n):
                        out[i] = _read_int(p + i * view.itemsize, view.itemsize, kind)
                    count[0] = n
                    return out
            finally:
                PyBuffer_Release(&view)
    try:
        items = list(seq)
    except (TypeError, NotImplementedError):   # NotImplementedError: a multi-dimensional memoryview
        raise TypeError(f"{name} must be a sequence of ints") from None
    n = len(items)
    out = <long long *>PyMem_Malloc(max(n, 1) * sizeof(long long))
    if out == NULL:
        raise MemoryError()
    try:
        for i in range(n):
            out[i] = _clamp_int(items[i], name)
    except BaseException:
        PyMem_Free(out)
        raise
    count[0] = n
    return out


# ----------------------------------------------------------------------------- batch encode
cdef int _encode_one(unsigned char *q, object item, long long tl, long long sid) except -1:
    cdef long long addr, n
    if PyTuple_CheckExact(item) and PyTuple_GET_SIZE(item) == 2:
        a = <object>PyTuple_GET_ITEM(item, 0)
        b = <object>PyTuple_GET_ITEM(item, 1)
    else:
        try:
            a, b = item
        except (TypeError, ValueError):
            raise TypeError("ranges must hold (address, length) pairs") from None
    addr = _check(a, C_MAX_ADDRESS, "address")
    n = _check(b, C_MAX_DATA_LENGTH, "length")
    _put_request(q, tl, C_TCODE_READ_BLOCK, sid, addr)
    _put_block_fields(q, n)
    return 0


cdef object _encode_from_int_buffer(object ranges, long long tl, long long sid):
    """Fast path for a C-contiguous (N, 2) buffer of integers (e.g. numpy); None if not one."""
    cdef Py_buffer view
    cdef Py_ssize_t i, n, isz
    cdef int kind
    cdef long long addr, length
    cdef const unsigned char *p
    cdef unsigned char *q
    cdef bytes out
    try:
        PyObject_GetBuffer(ranges, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT)
    except Exception:
        return None
    try:
        kind = _int_format(&view)
        if view.ndim != 2 or view.shape[1] != 2 or not kind:
            return None
        n = view.shape[0]
        isz = view.itemsize
        p = <const unsigned char *>view.buf
        for i in range(n):
            addr = _read_int(p + 2 * i * isz, isz, kind)
            length = _read_int(p + (2 * i + 1) * isz, isz, kind)
            if addr < 0 or addr > C_MAX_ADDRESS:
                raise ValueError(f"address {addr} out of range 0..{C_MAX_ADDRESS}")
            if length < 0 or length > C_MAX_DATA_LENGTH:
                raise ValueError(f"length {length} out of range 0..{C_MAX_DATA_LENGTH}")
        out = _new_bytes(C_HEADER_BLOCK * n)
        q = <unsigned char *>PyBytes_AS_STRING(out)
        with nogil:
            for i in range(n):
                addr = _read_int(p + 2 * i * isz, isz, kind)
                length = _read_int(p + (2 * i + 1) * isz, isz, kind)
                _put_request(q, tl, C_TCODE_READ_BLOCK, sid, addr)
                _put_block_fields(q, length)
                q += C_HEADER_BLOCK
                tl = (tl + 1) % C_TL_MODULO
        return out
    finally:
        PyBuffer_Release(&view)


cdef inline bint _encode_fast(unsigned char *q, PyObject *item, long long tl, long long sid) noexcept:
    """Write one request from an exact ``(int, int)`` tuple in range; False if not that case."""
    cdef PyObject *a
    cdef PyObject *b
    cdef int ova = 0, ovb = 0
    cdef long long addr, n
    if not _tuple_exact_p(item) or _tuple_size_p(item) != 2:
        return False
    a = _tuple_item_p(item, 0)
    b = _tuple_item_p(item, 1)
    if not _long_exact_p(a) or not _long_exact_p(b):
        return False
    addr = _long_value_p(a, &ova)
    n = _long_value_p(b, &ovb)
    if ova or ovb or addr < 0 or addr > C_MAX_ADDRESS or n < 0 or n > C_MAX_DATA_LENGTH:
        return False
    _put_request(q, tl, C_TCODE_READ_BLOCK, sid, addr)
    _put_block_fields(q, n)
    return True


def encode_read_blocks(first_tl, ranges, source_id=0):
    """Many Read Block Requests (16 bytes each) back to back; request i has tl ``(first_tl + i) % 64``.

    ``ranges`` is a sequence of ``(address, length)`` pairs (or an (N, 2)
    integer array); addresses are the low 32 bits, lengths 0..65535.
    """
    cdef long long tl = _check(first_tl, C_MAX_TL, "first_tl")
    cdef long long sid = _check(source_id, C_MAX_SOURCE_ID, "source_id")
    cdef Py_ssize_t cap, count = 0, i
    cdef unsigned char *buf
    cdef unsigned char *grown
    cdef PyObject *p_item
    cdef bint is_list = PyList_CheckExact(ranges)
    cdef bint is_tuple = PyTuple_CheckExact(ranges)
    if not is_list and not is_tuple and not PyMemoryView_Check(ranges) and PyObject_CheckBuffer(ranges):
        res = _encode_from_int_buffer(ranges, tl, sid)
        if res is not None:
            return res
    if is_list or is_tuple:
        cap = len(ranges)
        if cap < 1:
            cap = 1
    else:
        cap = 64
    buf = <unsigned char *>PyMem_Malloc(cap * C_HEADER_BLOCK)
    if buf == NULL:
        raise MemoryError()
    try:
        if is_list or is_tuple:
            # index loop re-reading the size each step: the same items a list iterator sees
            i = 0
            while True:
                if is_list:
                    if i >= _list_size(ranges):
                        break
                    p_item = _list_item(ranges, i)
                else:
                    if i >= PyTuple_GET_SIZE(ranges):
                        break
                    p_item = _tuple_item_p(<PyObject *>ranges, i)
                if count == cap:
                    grown = <unsigned char *>PyMem_Realloc(buf, 2 * cap * C_HEADER_BLOCK)
                    if grown == NULL:
                        raise MemoryError()
                    buf = grown
                    cap *= 2
                if not _encode_fast(buf + count * C_HEADER_BLOCK, p_item, tl, sid):
                    _encode_one(buf + count * C_HEADER_BLOCK, <object>p_item, tl, sid)
                tl = (tl + 1) % C_TL_MODULO
                count += 1
                i += 1
        else:
            for item in ranges:
                if count == cap:
                    grown = <unsigned char *>PyMem_Realloc(buf, 2 * cap * C_HEADER_BLOCK)
                    if grown == NULL:
                        raise MemoryError()
                    buf = grown
                    cap *= 2
                _encode_one(buf + count * C_HEADER_BLOCK, item, tl, sid)
                tl = (tl + 1) % C_TL_MODULO
                count += 1
        return PyBytes_FromStringAndSize(<char *>buf, count * C_HEADER_BLOCK)
    except NotImplementedError:   # e.g. iterating a multi-dimensional memoryview
        raise TypeError("ranges must be a sequence of (address, length) pairs") from None
    finally:
        PyMem_Free(buf)


# ----------------------------------------------------------------------------- decoding
cdef inline Py_ssize_t _frame_len(const unsigned char *p, Py_ssize_t n) except -2:
    """Whole frame length, or -1 when more bytes are needed."""
    cdef int tcode
    if n < C_MIN_PEEK:
        return -1
    tcode = p[C_OFF_TCODE] >> 4
    if tcode == C_TCODE_WRITE_BLOCK or tcode == C_TCODE_READ_BLOCK_RESPONSE:
        if n < C_MIN_PEEK_VARIABLE:
            return -1
        return C_HEADER_BLOCK + ((p[C_OFF_DATA_LENGTH] << 8) | p[C_OFF_DATA_LENGTH + 1])
    if (tcode == C_TCODE_WRITE_QUADLET or tcode == C_TCODE_READ_BLOCK
            or tcode == C_TCODE_READ_QUADLET_RESPONSE):
        return C_HEADER_BLOCK
    if tcode == C_TCODE_WRITE_RESPONSE or tcode == C_TCODE_READ_QUADLET:
        return C_HEADER_SHORT
    raise MmpProtocolError(f"undefined tcode {tcode}")


def frame_length(buf):
    """Total size in bytes of the frame that starts ``buf``; ``None`` = need more bytes.

    Needs 4 bytes (14 for tcodes 1 and 7; data_length is big-endian at bytes
    12-13).  An undefined tcode (3, 8..15) raises ``MmpProtocolError``.
    """
    cdef Py_buffer view
    cdef Py_ssize_t n
    _get_buffer(buf, &view, False, "buf")
    try:
        n = _frame_len(<const unsigned char *>view.buf, view.len)
    finally:
        PyBuffer_Release(&view)
    return None if n < 0 else n


def decode_frame(buf):
    """Decode exactly one whole frame.  ``data`` is a zero-copy view into ``buf``.

    Fewer or more bytes than the frame's length is ``MmpProtocolError``.
    Header fields are big-endian; ``address`` is the low 32 bits.
    """
    mv = _byte_memoryview(buf, "buf")
    cdef Py_buffer *v = PyMemoryView_GET_BUFFER(mv)
    cdef const unsigned char *p = <const unsigned char *>v.buf
    cdef Py_ssize_t have = v.len
    cdef Py_ssize_t n = _frame_len(p, have)
    cdef int tcode
    cdef Frame f
    if n < 0:
        raise MmpProtocolError(f"incomplete frame: {have} bytes is not enough for a header")
    if have != n:
        if have < n:
            raise MmpProtocolError(f"incomplete frame: need {n} bytes, have {have}")
        raise MmpProtocolError(f"{have - n} bytes after the end of a {n}-byte frame")
    tcode = p[C_OFF_TCODE] >> 4
    f = Frame.__new__(Frame)
    f.tcode = tcode
    f.tl = p[C_OFF_TL] >> 2
    f.source_id = (p[C_OFF_SOURCE_ID] << 8) | p[C_OFF_SOURCE_ID + 1]
    if (tcode == C_TCODE_WRITE_QUADLET or tcode == C_TCODE_WRITE_BLOCK
            or tcode == C_TCODE_READ_QUADLET or tcode == C_TCODE_READ_BLOCK):
        f.rcode = None
        f.address_high = (p[C_OFF_ADDRESS_HIGH] << 8) | p[C_OFF_ADDRESS_HIGH + 1]
        f.address = mmp_load_be32(p + C_OFF_ADDRESS)
    else:
        f.rcode = p[C_OFF_RCODE] >> 4
        f.address_high = None
        f.address = None
    if tcode == C_TCODE_WRITE_BLOCK or tcode == C_TCODE_READ_BLOCK_RESPONSE:
        f.data_length = n - C_HEADER_BLOCK
        f.data = mv[C_OFF_BLOCK_DATA:n]
    elif tcode == C_TCODE_READ_BLOCK:
        f.data_length = (p[C_OFF_DATA_LENGTH] << 8) | p[C_OFF_DATA_LENGTH + 1]
        f.data = mv[0:0]
    elif tcode == C_TCODE_WRITE_QUADLET or tcode == C_TCODE_READ_QUADLET_RESPONSE:
        f.data_length = C_QUADLET
        f.data = mv[C_OFF_QUADLET:C_OFF_QUADLET + C_QUADLET]
    elif tcode == C_TCODE_READ_QUADLET:
        f.data_length = C_QUADLET      # the bytes it asks for; it carries none
        f.data = mv[0:0]
    else:
        f.data_length = 0
        f.data = mv[0:0]
    return f


# ----------------------------------------------------------------------------- scatter
cdef enum:
    _OK = 0
    _E_HEADER = 1
    _E_TCODE = 2
    _E_TL = 3
    _E_NAK = 4
    _E_LENGTH = 5
    _E_DATA = 6


cdef Py_ssize_t _scatter(const unsigned char *src, Py_ssize_t have, unsigned char *dst,
                         const long long *offs, const long long *lens, Py_ssize_t count,
                         int tl0, Py_ssize_t *err_i, int *err_kind, long long *err_val) noexcept nogil:
    """Check and copy every response; returns bytes consumed, or -1 with the error filled in."""
    cdef Py_ssize_t i, pos = 0, start, n
    cdef const unsigned char *h
    cdef int v
    for i in range(count):
        err_i[0] = i
        if have - pos < C_HEADER_BLOCK:
            err_kind[0] = _E_HEADER
            return -1
        h = src + pos
        v = h[C_OFF_TCODE] >> 4
        if v != C_TCODE_READ_BLOCK_RESPONSE:
            err_kind[0] = _E_TCODE
            err_val[0] = v
            return -1
        v = h[C_OFF_TL] >> 2
        if v != (tl0 + i) % C_TL_MODULO:
            err_kind[0] = _E_TL
            err_val[0] = v
            return -1
        v = h[C_OFF_RCODE] >> 4
        if v != 0:
            err_kind[0] = _E_NAK
            err_val[0] = v
            return -1
        v = (h[C_OFF_DATA_LENGTH] << 8) | h[C_OFF_DATA_LENGTH + 1]
        n = <Py_ssize_t>lens[i]
        if v != n:
            err_kind[0] = _E_LENGTH
            err_val[0] = v
            return -1
        start = pos + C_HEADER_BLOCK
        if have - start < n:
            err_kind[0] = _E_DATA
            return -1
        # memmove: dest may alias the stream (same semantics as a memoryview slice copy)
        memmove(dst + offs[i], src + start, n)
        pos = start + n
    err_kind[0] = _OK
    return pos


def scatter_read_responses(stream, dest, offsets, lengths, first_tl):
    """Copy the data of ``len(offsets)`` read-block responses into ``dest``.

    Response i must be tcode 7 with tl ``(first_tl + i) % 64``, rcode 0 and
    ``data_length == lengths[i]``; its data lands in
    ``dest[offsets[i]:offsets[i] + lengths[i]]`` (byte offsets into any
    writable C-contiguous buffer).  Every range is checked against ``dest``
    before any byte is written.  Returns the bytes of ``stream`` consumed;
    bytes after the last response are left alone.
    """
    cdef long long tl0 = _check(first_tl, C_MAX_TL, "first_tl")
    cdef Py_buffer sview, dview
    cdef bint have_s = False, have_d = False
    cdef long long *offs = NULL
    cdef long long *lens = NULL
    cdef Py_ssize_t count = 0, nlens = 0, i, size, pos, err_i = 0
    cdef long long o, n, err_val = 0
    cdef int err_kind = 0
    try:
        _get_buffer(stream, &sview, False, "stream")
        have_s = True
        _get_buffer(dest, &dview, True, "dest")
        have_d = True
        offs = _int_array(offsets, "offsets", &count)
        lens = _int_array(lengths, "lengths", &nlens)
        if nlens != count:
            raise ValueError(f"{count} offsets but {nlens} lengths")
        size = dview.len
        for i in range(count):
            o = offs[i]
            n = lens[i]
            if o < 0 or n < 0 or n > C_MAX_DATA_LENGTH or o > size - n:
                raise ValueError(f"range [{o}, {o}+{n}) does not fit a {size}-byte destination")
        with nogil:
            pos = _scatter(<const unsigned char *>sview.buf, sview.len,
                           <unsigned char *>dview.buf, offs, lens, count, <int>tl0,
                           &err_i, &err_kind, &err_val)
        if err_kind == _OK:
            return pos
        if err_kind == _E_HEADER:
            raise MmpProtocolError(f"stream ended in the header of response {err_i}")
        if err_kind == _E_TCODE:
            raise MmpProtocolError(f"response {err_i}: tcode {err_val}, expected 7")
        if err_kind == _E_TL:
            raise MmpProtocolError(f"response {err_i}: tl {err_val}, expected {(tl0 + err_i) % 64}")
        if err_kind == _E_NAK:
            raise MmpNakError(err_val)
        if err_kind == _E_LENGTH:
            raise MmpProtocolError(f"response {err_i}: data_length {err_val}, expected {lens[err_i]}")
        raise MmpProtocolError(f"stream ended in the data of response {err_i}")
    finally:
        PyMem_Free(offs)
        PyMem_Free(lens)
        if have_d:
            PyBuffer_Release(&dview)
        if have_s:
            PyBuffer_Release(&sview)


# ----------------------------------------------------------------------------- stream framing
cdef long long _limit(object value, str name) except -2:
    """An int >= -1 (-1: no limit); TypeError for non-ints, ValueError below -1."""
    cdef int overflow = 0
    cdef long long v
    if not PyLong_CheckExact(value):
        value = _as_int(value, name)
    v = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow > 0:
        return LLONG_MAX
    if overflow < 0 or v < -1:
        raise ValueError(f"{name} {value} out of range (-1 or more)")
    return v


def frame_ends(buf, max_frames=-1):
    """End offsets of the whole frames at the start of ``buf``, in order.

    The frame splitter: a byte stream (frames back to back) to whole frames.
    Stops at the first incomplete frame, or after ``max_frames`` frames
    (``-1``: no limit).  An undefined tcode in a frame header is
    ``MmpProtocolError``.  ``ends[-1]`` (0 when empty) is the bytes consumed.
    """
    cdef Py_buffer view
    cdef Py_ssize_t pos = 0, n, have
    cdef const unsigned char *p
    cdef long long limit
    cdef long long found = 0
    _get_buffer(buf, &view, False, "buf")
    try:
        limit = _limit(max_frames, "max_frames")
        p = <const unsigned char *>view.buf
        have = view.len
        ends = []
        while limit < 0 or found < limit:
            n = _frame_len(p + pos, have - pos)
            if n < 0 or have - pos < n:
                break
            pos += n
            found += 1
            ends.append(pos)
        return ends
    finally:
        PyBuffer_Release(&view)


def check_write_responses(stream, count, first_tl):
    """Check ``count`` write acknowledgements (tcode 2, 12 bytes each) at the start of ``stream``.

    Response i must be tcode 2 with tl ``(first_tl + i) % 64``; a stream
    shorter than ``12 * count`` bytes, a wrong tcode or tl is
    ``MmpProtocolError`` (every response is checked before a NAK is
    reported).  Returns the index of the first response with a non-zero
    rcode (a NAK), or -1 when every write was acknowledged.
    """
    cdef long long tl0 = _check(first_tl, C_MAX_TL, "first_tl")
    cdef long long n = _check(count, 1 << 30, "count")
    cdef Py_buffer view
    cdef const unsigned char *h
    cdef long long i, nak = -1
    cdef int v
    _get_buffer(stream, &view, False, "stream")
    try:
        if view.len < n * C_HEADER_SHORT:
            raise MmpProtocolError(f"{view.len} bytes hold fewer than {n} write responses")
        for i in range(n):
            h = <const unsigned char *>view.buf + i * C_HEADER_SHORT
            v = h[C_OFF_TCODE] >> 4
            if v != C_TCODE_WRITE_RESPONSE:
                raise MmpProtocolError(f"write response {i}: tcode {v}, expected {C_TCODE_WRITE_RESPONSE}")
            v = h[C_OFF_TL] >> 2
            if v != (tl0 + i) % C_TL_MODULO:
                raise MmpProtocolError(f"write response {i}: tl {v}, expected {(tl0 + i) % C_TL_MODULO}")
            if nak < 0 and h[C_OFF_RCODE] >> 4:
                nak = i
        return nak
    finally:
        PyBuffer_Release(&view)


@cython.auto_pickle(False)
@cython.final
cdef class FrameSplitter:
    """Incremental frame splitter for a byte stream (a server's or a proxy's socket).

    ``feed(data)`` appends received bytes and returns the whole frames now
    complete, each as ``bytes``, in order; a partial frame is kept for the
    next feed (``pending`` says how many bytes).  A frame header with an
    undefined tcode, or announcing more than ``max_frame`` bytes, is
    ``MmpProtocolError`` (the stream cannot be resynchronised: close it);
    whole frames before it are returned first and the next ``feed`` raises.
    """

    cdef bytearray _buf
    cdef Py_ssize_t _max

    def __init__(self, max_frame=C_HEADER_BLOCK + C_MAX_DATA_LENGTH):
        self._max = _check(max_frame, C_HEADER_BLOCK + C_MAX_DATA_LENGTH, "max_frame")
        self._buf = bytearray()

    @property
    def pending(self):
        """Bytes held of a frame not yet complete."""
        return len(self._buf)

    @property
    def max_frame(self):
        """Largest frame accepted, in bytes (settable: a client lowers it to the answer it expects)."""
        return self._max

    @max_frame.setter
    def max_frame(self, value):
        self._max = _check(value, C_HEADER_BLOCK + C_MAX_DATA_LENGTH, "max_frame")

    def clear(self):
        """Forget any partial frame."""
        del self._buf[:]

    def feed(self, data):
        """Whole frames completed by ``data`` (any bytes-like), in order."""
        cdef Py_buffer view
        cdef Py_ssize_t pos = 0, n, have
        cdef const unsigned char *p
        _get_buffer(data, &view, False, "data")
        try:
            self._buf += (<const char *>view.buf)[:view.len]
        finally:
            PyBuffer_Release(&view)
        buf = self._buf
        have = len(buf)
        p = <const unsigned char *><char *>buf
        out = []
        try:
            while True:
                try:
                    n = _frame_len(p + pos, have - pos)
                    if n > self._max:
                        raise MmpProtocolError(f"a {n}-byte frame exceeds the {self._max}-byte limit")
                except MmpProtocolError:
                    if out:
                        break
                    raise
                if n < 0 or have - pos < n:
                    break
                out.append(PyBytes_FromStringAndSize(<const char *>p + pos, n))
                pos += n
        finally:
            if pos:
                del buf[:pos]
        return out


# ----------------------------------------------------------------------------- bulk BE values
cdef enum:
    _T_I32 = 0
    _T_U32 = 1
    _T_F32 = 2
    _T_I64 = 3
    _T_U64 = 4

_TYPECODES = {"i": _T_I32, "I": _T_U32, "f": _T_F32, "q": _T_I64, "Q": _T_U64}
_SORTED_CODES = sorted(_TYPECODES)


cdef int _typecode(object typecode) except -1:
    try:
        return _TYPECODES[typecode]
    except (KeyError, TypeError):
        raise ValueError(f"typecode must be one of {_SORTED_CODES}, not {typecode!r}") from None


cdef inline int _size(int code) noexcept nogil:
    return 8 if code >= _T_I64 else 4


cdef Py_ssize_t _whole(Py_ssize_t nbytes, int size) except -1:
    if nbytes % size:
        raise ValueError(f"{nbytes} bytes is not a whole number of {size}-byte elements")
    return nbytes // size


def unpack_be(buf, typecode):
    """Python values of a run of big-endian elements.

    ``typecode``: ``"i"`` int32, ``"I"`` uint32, ``"f"`` float32, ``"q"``
    int64, ``"Q"`` uint64.  ``len(buf)`` must be a multiple of the element
    size (``ValueError`` otherwise).
    """
    cdef int code = _typecode(typecode)
    cdef int size = _size(code)
    cdef Py_buffer view
    cdef Py_ssize_t i, n
    cdef const unsigned char *p
    cdef list out
    cdef object o
    _get_buffer(buf, &view, False, "buf")
    try:
        n = _whole(view.len, size)
        p = <const unsigned char *>view.buf
        out = PyList_New(n)
        for i in range(n):
            if code == _T_I32:
                o = <int32_t>mmp_load_be32(p + 4 * i)
            elif code == _T_U32:
                o = mmp_load_be32(p + 4 * i)
            elif code == _T_F32:
                o = <double>mmp_u32_to_float(mmp_load_be32(p + 4 * i))
            elif code == _T_I64:
                o = <int64_t>mmp_load_be64(p + 8 * i)
            else:
                o = mmp_load_be64(p + 8 * i)
            Py_INCREF(o)
            PyList_SET_ITEM(out, i, o)
        return out
    finally:
        PyBuffer_Release(&view)


cdef int _pack_one(unsigned char *q, object v, int code) except -1:
    cdef double d
    cdef float f
    cdef int overflow = 0
    cdef long long s
    cdef unsigned long long u
    if code == _T_F32:
        if PyFloat_CheckExact(v):
            d = PyFloat_AS_DOUBLE(v)
        else:
            if isinstance(v, (str, bytes)) or not hasattr(v, "__float__"):
                raise TypeError(f"float value expected, not {type(v).__name__}")
            try:
                d = float(v)
            except OverflowError:
                raise ValueError(f"{v!r} does not fit a float32") from None
        f = <float>d
        if isinf(f) and not isinf(d):
            raise ValueError(f"{d!r} does not fit a float32")
        mmp_store_be32(q, mmp_float_to_u32(f))
        return 0
    if not PyLong_CheckExact(v):
        if isinstance(v, bool) or not isinstance(v, int):
            try:
                v = PyNumber_Index(v)
            except TypeError:
                raise TypeError(f"int value expected, not {type(v).__name__}") from None
        else:
            v = int(v)
    s = PyLong_AsLongLongAndOverflow(v, &overflow)
    if code == _T_I32:
        if overflow or s < -2147483648 or s > 2147483647:
            raise ValueError(f"{v} does not fit int32")
        mmp_store_be32(q, <uint32_t>s)
    elif code == _T_U32:
        if overflow or s < 0 or s > 4294967295:
            raise ValueError(f"{v} does not fit uint32")
        mmp_store_be32(q, <uint32_t>s)
    elif code == _T_I64:
        if overflow:
            raise ValueError(f"{v} does not fit int64")
        mmp_store_be64(q, <uint64_t>s)
    else:
        if overflow < 0 or (overflow == 0 and s < 0):
            raise ValueError(f"{v} does not fit uint64")
        if overflow > 0:
            try:
                u = PyLong_AsUnsignedLongLong(v)
            except OverflowError:
                raise ValueError(f"{v} does not fit uint64") from None
        else:
            u = <unsigned long long>s
        mmp_store_be64(q, u)
    return 0


def pack_be(values, typecode):
    """Big-endian bytes of one value or a sequence of values (see ``unpack_be``).

    A value that does not fit the type is ``ValueError``, a wrong type ``TypeError``.
    float32 accepts NaN and infinities; finite values beyond float32 are ``ValueError``.
    """
    cdef int code = _typecode(typecode)
    cdef int size = _size(code)
    cdef Py_ssize_t i, n
    cdef bytes out
    cdef unsigned char *q
    if isinstance(values, (int, float)) or not hasattr(values, "__iter__"):
        items = (values,)
    elif PyTuple_CheckExact(values):
        items = values
    else:
        try:
            items = list(values)
        except NotImplementedError:   # e.g. a multi-dimensional memoryview
            raise TypeError("values must be a number or a flat sequence of numbers") from None
    n = len(items)
    out = _new_bytes(n * size)
    q = <unsigned char *>PyBytes_AS_STRING(out)
    for i in range(n):
        _pack_one(q + i * size, items[i], code)
    return out


def unpack_be_into(buf, dest, typecode):
    """Convert big-endian elements of ``buf`` to native byte order into ``dest``.

    ``dest`` is any writable C-contiguous buffer (``array(typecode)``, a numpy
    array of the matching dtype, a bytearray); its bytes are filled from the
    start.  Returns the number of elements written.
    """
    cdef int code = _typecode(typecode)
    cdef int size = _size(code)
    cdef Py_buffer sview, dview
    cdef bint have_d = False
    cdef Py_ssize_t n
    _get_buffer(buf, &sview, False, "buf")
    try:
        n = _whole(sview.len, size)
        _get_buffer(dest, &dview, True, "dest")
        have_d = True
        if dview.len < n * size:
            raise ValueError(f"dest holds {dview.len} bytes, {n * size} needed")
        with nogil:
            memmove(dview.buf, sview.buf, n * size)
            mmp_swap_inplace(<unsigned char *>dview.buf, n, size)
        return n
    finally:
        if have_d:
            PyBuffer_Release(&dview)
        PyBuffer_Release(&sview)


def pack_be_from(src, typecode):
    """Big-endian bytes of the native-order elements in buffer ``src``."""
    cdef int code = _typecode(typecode)
    cdef int size = _size(code)
    cdef Py_buffer view
    cdef Py_ssize_t n
    cdef bytes out
    cdef unsigned char *q
    _get_buffer(src, &view, False, "src")
    try:
        n = _whole(view.len, size)
        out = _new_bytes(n * size)
        q = <unsigned char *>PyBytes_AS_STRING(out)
        with nogil:
            memcpy(q, view.buf, n * size)
            mmp_swap_inplace(q, n, size)
        return out
    finally:
        PyBuffer_Release(&view)


# ----------------------------------------------------------------------------- gather
cdef enum:
    _G_I32 = 0
    _G_U32 = 1
    _G_F32 = 2
    _G_I64 = 3
    _G_U64 = 4
    _G_BOOL = 5
    _G_BIT = 6
    _G_BAD = 7

_GATHER_CODES = "?IQbfiq"


# The gather kind of each code character: _GATHER_KIND_ORDER[k] is the character of kind k.
cdef str _GATHER_KIND_ORDER = u"iIfqQ?b"
cdef unsigned char _GATHER_KIND[128]
memset(_GATHER_KIND, _G_BAD, sizeof(_GATHER_KIND))
for _k, _ch in enumerate(_GATHER_KIND_ORDER):
    _GATHER_KIND[ord(_ch)] = <unsigned char>_k
del _k, _ch


cdef inline unsigned char _gather_kind(Py_UCS4 c) noexcept nogil:
    return _GATHER_KIND[c] if c < 128 else _G_BAD


cdef unsigned char *_gather_kinds(object codes, Py_ssize_t *count) except NULL:
    """One kind byte per character of ``codes`` (str or bytes) as a new C array."""
    cdef Py_ssize_t i = 0, n
    cdef Py_UCS4 ch
    cdef const unsigned char *cp
    cdef unsigned char *out
    if isinstance(codes, str):
        n = len(<str>codes)
        out = <unsigned char *>PyMem_Malloc(max(n, 1))
        if out == NULL:
            raise MemoryError()
        for ch in <str>codes:
            out[i] = _gather_kind(ch)
            i += 1
    elif isinstance(codes, bytes):
        n = len(<bytes>codes)
        out = <unsigned char *>PyMem_Malloc(max(n, 1))
        if out == NULL:
            raise MemoryError()
        cp = <const unsigned char *>PyBytes_AS_STRING(codes)
        for i in range(n):
            out[i] = _gather_kind(<Py_UCS4>cp[i])
    else:
        raise TypeError(f"codes must be a str or bytes, not {type(codes).__name__}")
    count[0] = n
    return out


def gather_be(buf, offsets, codes, bits=None):
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
    cdef Py_buffer view
    cdef bint have_v = False
    cdef long long *offs = NULL
    cdef long long *bts = NULL
    cdef unsigned char *kinds = NULL
    cdef Py_ssize_t n = 0, ncodes = 0, nbits = 0, i, size
    cdef long long o, w
    cdef unsigned char k
    cdef const unsigned char *base
    cdef const unsigned char *p
    cdef list out
    cdef object v
    try:
        _get_buffer(buf, &view, False, "buf")
        have_v = True
        kinds = _gather_kinds(codes, &ncodes)
        offs = _int_array(offsets, "offsets", &n)
        if bits is not None:
            bts = _int_array(bits, "bits", &nbits)
        if ncodes != n:
            raise ValueError(f"{ncodes} codes but {n} offsets")
        if bts != NULL and nbits != n:
            raise ValueError(f"{nbits} bits but {n} offsets")
        size = view.len
        for i in range(n):
            k = kinds[i]
            if k == _G_BAD:
                ch = codes[i] if isinstance(codes, str) else chr(codes[i])
                raise ValueError(f"codes[{i}] is {ch!r}, not one of {_GATHER_CODES!r}")
            if k == _G_BIT and bts == NULL:
                raise ValueError(f"codes[{i}] is 'b' but no bits were given")
            o = offs[i]
            w = 8 if (k == _G_I64 or k == _G_U64) else 4
            if o < 0 or o > size - w:
                raise ValueError(f"element {i} at offset {o} ({w} bytes) does not fit a {size}-byte buffer")
            if bts != NULL and (bts[i] < 0 or bts[i] > 31):
                raise ValueError(f"bits[{i}] {bts[i]} out of range 0..31")
        base = <const unsigned char *>view.buf
        out = PyList_New(n)
        for i in range(n):
            p = base + offs[i]
            k = kinds[i]
            if k == _G_F32:
                v = <double>mmp_u32_to_float(mmp_load_be32(p))
            elif k == _G_BIT:
                v = <bint>((mmp_load_be32(p) >> bts[i]) & 1)
            elif k == _G_U32:
                v = mmp_load_be32(p)
            elif k == _G_I32:
                v = <int32_t>mmp_load_be32(p)
            elif k == _G_BOOL:
                v = <bint>(mmp_load_be32(p) != 0)
            elif k == _G_I64:
                v = <int64_t>mmp_load_be64(p)
            else:
                v = mmp_load_be64(p)
            Py_INCREF(v)
            PyList_SET_ITEM(out, i, v)
        return out
    finally:
        PyMem_Free(kinds)
        PyMem_Free(offs)
        PyMem_Free(bts)
        if have_v:
            PyBuffer_Release(&view)


# ----------------------------------------------------------------------------- gather layout
from cpython.dict cimport PyDict_Copy, PyDict_SetItem
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM

from ._gather import layout_spec as _layout_spec


cdef enum:
    _L_BYTES = 8


cdef inline object _layout_field(const unsigned char *p, unsigned char k, long long arg):
    """One layout field at ``p`` (big-endian) as a Python value."""
    if k == _G_F32:
        return <double>mmp_u32_to_float(mmp_load_be32(p))
    if k == _G_BIT:
        return <bint>((mmp_load_be32(p) >> arg) & 1)
    if k == _G_U32:
        return mmp_load_be32(p)
    if k == _G_I32:
        return <int32_t>mmp_load_be32(p)
    if k == _G_BOOL:
        return <bint>(mmp_load_be32(p) != 0)
    if k == _G_I64:
        return <int64_t>mmp_load_be64(p)
    if k == _G_U64:
        return mmp_load_be64(p)
    return PyBytes_FromStringAndSize(<const char *>p, <Py_ssize_t>arg)


@cython.final
cdef class GatherLayout:
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

    cdef Py_ssize_t _nfields
    cdef Py_ssize_t _nitems
    cdef Py_ssize_t _size
    cdef long long *_offs
    cdef long long *_args
    cdef unsigned char *_kinds
    cdef Py_ssize_t *_counts
    cdef tuple _keys
    cdef tuple _makers
    cdef dict _template
    cdef bint _simple

    def __cinit__(self, *args, **kwargs):
        self._offs = NULL
        self._args = NULL
        self._kinds = NULL
        self._counts = NULL

    def __init__(self, keys, codes, offsets, args=None, counts=None, makers=None):
        cdef Py_ssize_t j, nf, ni
        if self._kinds != NULL:
            raise TypeError("GatherLayout is immutable")
        ks, cs, offs, arg, cnt, mks, size = _layout_spec(keys, codes, offsets, args, counts, makers)
        nf = len(cs)
        ni = len(ks)
        self._offs = <long long *>PyMem_Malloc(max(nf, 1) * sizeof(long long))
        self._args = <long long *>PyMem_Malloc(max(nf, 1) * sizeof(long long))
        self._kinds = <unsigned char *>PyMem_Malloc(max(nf, 1))
        self._counts = <Py_ssize_t *>PyMem_Malloc(max(ni, 1) * sizeof(Py_ssize_t))
        if self._offs == NULL or self._args == NULL or self._kinds == NULL or self._counts == NULL:
            raise MemoryError()
        for j in range(nf):
            self._offs[j] = offs[j]
            self._args[j] = arg[j]
            self._kinds[j] = _L_BYTES if cs[j] == "y" else _gather_kind(cs[j])
        for j in range(ni):
            self._counts[j] = cnt[j]
        self._nfields = nf
        self._nitems = ni
        self._size = size
        self._keys = ks
        self._makers = mks
        self._template = dict.fromkeys(ks)
        self._simple = nf == ni and all(m is None for m in mks)

    def __dealloc__(self):
        PyMem_Free(self._offs)
        PyMem_Free(self._args)
        PyMem_Free(self._kinds)
        PyMem_Free(self._counts)

    @property
    def size(self):
        """Bytes a buffer must hold for this layout (the end of its last field)."""
        return self._size

    @property
    def keys(self):
        """The item keys, in order (a tuple)."""
        return self._keys

    def __len__(self):
        return self._nitems

    def __repr__(self):
        return f"<GatherLayout {self._nitems} items, {self._nfields} fields, {self._size} bytes>"

    cdef inline object _field(self, const unsigned char *base, Py_ssize_t j):
        return _layout_field(base + self._offs[j], self._kinds[j], self._args[j])

    cdef object _item(self, const unsigned char *base, Py_ssize_t i, Py_ssize_t j):
        cdef Py_ssize_t n = self._counts[i], t
        cdef object mk = <object>PyTuple_GET_ITEM(self._makers, i)
        cdef object v
        cdef list lst
        cdef tuple tup
        if mk is None:
            return _layout_field(base + self._offs[j], self._kinds[j], self._args[j])
        if mk is list:
            lst = PyList_New(n)
            for t in range(n):
                v = self._field(base, j + t)
                Py_INCREF(v)
                PyList_SET_ITEM(lst, t, v)
            return lst
        tup = PyTuple_New(n)
        for t in range(n):
            v = self._field(base, j + t)
            Py_INCREF(v)
            PyTuple_SET_ITEM(tup, t, v)
        return mk(*tup)

    cdef int _open(self, object buf, Py_buffer *view) except -1:
        _get_buffer(buf, view, False, "buf")
        if view.len < self._size:
            PyBuffer_Release(view)
            raise ValueError(f"buf holds {view.len} bytes, the layout needs {self._size}")
        return 0

    def decode(self, buf):
        """``{key: value}`` of every item, in item order, decoded from ``buf``."""
        cdef Py_buffer view
        cdef Py_ssize_t i, j = 0
        cdef const unsigned char *base
        cdef dict out
        self._open(buf, &view)
        try:
            base = <const unsigned char *>view.buf
            out = PyDict_Copy(self._template)
            if self._simple:        # one field per item, no makers: fields are items
                for i in range(self._nitems):
                    PyDict_SetItem(out, <object>PyTuple_GET_ITEM(self._keys, i),
                                   _layout_field(base + self._offs[i], self._kinds[i], self._args[i]))
                return out
            for i in range(self._nitems):
                PyDict_SetItem(out, <object>PyTuple_GET_ITEM(self._keys, i), self._item(base, i, j))
                j += self._counts[i]
            return out
        finally:
            PyBuffer_Release(&view)

    def decode_list(self, buf):
        """The value of every item, in item order, as a new list."""
        cdef Py_buffer view
        cdef Py_ssize_t i, j = 0
        cdef const unsigned char *base
        cdef list out
        cdef object v
        self._open(buf, &view)
        try:
            base = <const unsigned char *>view.buf
            out = PyList_New(self._nitems)
            for i in range(self._nitems):
                v = self._item(base, i, j)
                Py_INCREF(v)
                PyList_SET_ITEM(out, i, v)
                j += self._counts[i]
            return out
        finally:
            PyBuffer_Release(&view)
