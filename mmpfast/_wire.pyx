# cython: language_level=3
"""One request/answer exchange on a connected stream socket, compiled (blocking client hot path).

The fast twin of ``mmpfast._wire_py`` (same functions, results and exception
classes).  The request is encoded on the stack, sent with ``send``, and the
answer received into the caller's reused buffer with ``recv``; between them
``poll`` waits on the descriptor with the GIL released, never past the call's
``deadline`` (seconds on ``time.monotonic()``'s clock).  The socket must be in
non-blocking or timeout mode (``sock.settimeout(x)``), as the client keeps it.

Raises ``TimeoutError`` when the deadline passes, ``OSError`` for a socket
error, ``mmpfast.engine.PeerClosed`` when the peer closes the connection,
``MmpProtocolError`` for a frame that is not the expected answer (wrong
length, tcode or tl, bytes after it) and ``MmpNakError`` (with the request's
address) for a non-zero rcode.  All header fields are big-endian.

The deadline without a ``poll`` per call: the socket is put in blocking mode
once (``sock.settimeout(None)``) and its ``SO_RCVTIMEO``/``SO_SNDTIMEO`` armed
to the time left less ``2 * ARM_MARGIN`` (seconds); ``armed`` is that value,
passed back in by the caller on the next call (0.0: the socket's mode is not
known, e.g. a new socket; -1.0: blocking, nothing armed).  Before each send or
receive the time left is read from the monotonic clock: none left is
``TimeoutError``; an armed value within ``[left - 4 * ARM_MARGIN, left -
ARM_MARGIN]`` is kept (the common case: no system call), otherwise both options
are re-armed (two ``setsockopt``).  A normal call is thus one blocking ``send``
and one blocking ``recv`` (the GIL released around each), as a bare blocking
socket loop.  The armed timeout ends a blocking call at least ``ARM_MARGIN``
(20 ms; the kernel rounds these timeouts up to its timer ticks) before the
deadline; the rest of the budget, and any budget under ``3 * ARM_MARGIN``, is
waited for with ``poll`` (millisecond precision, as before) followed by a
non-blocking call, so no call outlives its deadline by more than ``poll``'s
rounding.
Each function returns the ``armed`` value now on the socket.
"""
cimport cython
from cpython.buffer cimport PyBUF_C_CONTIGUOUS, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.exc cimport PyErr_CheckSignals, PyErr_SetFromErrno
from libc.errno cimport EAGAIN, EINTR, errno

cdef extern from "<errno.h>":
    const int EWOULDBLOCK
from libc.string cimport memcpy, strerror

from . import protocol as _protocol
from .engine import PeerClosed
from .codec import decode_frame, encode_read_blocks, frame_ends, scatter_read_responses
from .errors import MmpNakError, MmpProtocolError

cdef extern from "<poll.h>" nogil:
    struct pollfd:
        int fd
        short events
        short revents
    int poll(pollfd *fds, unsigned long nfds, int timeout)
    const short POLLIN
    const short POLLOUT

cdef extern from "<sys/socket.h>" nogil:
    ssize_t send(int fd, const void *buf, size_t n, int flags)
    ssize_t recv(int fd, void *buf, size_t n, int flags)
    const int MSG_NOSIGNAL
    const int MSG_DONTWAIT

cdef extern from "<sys/time.h>" nogil:
    ctypedef long suseconds_t
    struct timeval:
        long tv_sec
        suseconds_t tv_usec

cdef extern from "<sys/socket.h>" nogil:
    ctypedef unsigned int socklen_t
    int setsockopt(int fd, int level, int name, const void *value, socklen_t size)
    const int SOL_SOCKET
    const int SO_RCVTIMEO
    const int SO_SNDTIMEO

cdef extern from "<time.h>" nogil:
    ctypedef long time_t
    struct timespec:
        time_t tv_sec
        long tv_nsec
    int clock_gettime(int clk, timespec *ts)
    const int CLOCK_MONOTONIC

cdef enum:
    C_HEADER_SHORT = 12
    C_HEADER_BLOCK = 16
    C_TCODE_WRITE_BLOCK = 1
    C_TCODE_WRITE_RESPONSE = 2
    C_TCODE_READ_BLOCK = 5
    C_TCODE_READ_BLOCK_RESPONSE = 7
    C_OFF_TL = 2
    C_OFF_TCODE = 3
    C_OFF_RCODE = 6
    C_OFF_ADDRESS_HIGH = 6
    C_OFF_ADDRESS = 8
    C_OFF_DATA_LENGTH = 12
    C_ADDRESS_HIGH = 0xFFFF
    C_MAX_DATA_LENGTH = 0xFFFF
    C_TL_MODULO = 64


def _check_constants() -> None:
    p = _protocol
    pairs = [(p.HEADER_SHORT, C_HEADER_SHORT), (p.HEADER_BLOCK, C_HEADER_BLOCK),
             (p.TCODE_WRITE_BLOCK, C_TCODE_WRITE_BLOCK), (p.TCODE_WRITE_RESPONSE, C_TCODE_WRITE_RESPONSE),
             (p.TCODE_READ_BLOCK, C_TCODE_READ_BLOCK),
             (p.TCODE_READ_BLOCK_RESPONSE, C_TCODE_READ_BLOCK_RESPONSE), (p.OFF_TL, C_OFF_TL),
             (p.OFF_TCODE, C_OFF_TCODE), (p.OFF_RCODE, C_OFF_RCODE),
             (p.OFF_ADDRESS_HIGH, C_OFF_ADDRESS_HIGH), (p.OFF_ADDRESS, C_OFF_ADDRESS),
             (p.OFF_DATA_LENGTH, C_OFF_DATA_LENGTH), (p.ADDRESS_HIGH, C_ADDRESS_HIGH),
             (p.MAX_DATA_LENGTH, C_MAX_DATA_LENGTH), (p.TL_MODULO, C_TL_MODULO)]
    for i, (want, have) in enumerate(pairs):
        if want != have:
            raise ImportError(f"mmpfast._wire: C constant #{i} ({have!r}) disagrees with "
                              f"mmpfast.protocol ({want!r}); rebuild the extension")


_check_constants()

IMPLEMENTATION = "cython"

DEF C_ARM_MARGIN = 0.02
ARM_MARGIN = C_ARM_MARGIN

__all__ = ["ARM_MARGIN", "IMPLEMENTATION", "exchange_read", "exchange_write", "exchange_window"]


cdef inline double _now() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <double>ts.tv_sec + <double>ts.tv_nsec * 1e-9


cdef int _wait(int fd, short events, double deadline) except -1:
    """Wait until ``fd`` is ready for ``events``: 0, or TimeoutError once ``deadline`` passes."""
    cdef pollfd p
    cdef int rc, ms, err
    cdef double remaining
    p.fd = fd
    p.events = events
    while True:
        remaining = deadline - _now()
        if remaining <= 0:
            raise TimeoutError("deadline passed")
        ms = <int>(remaining * 1000.0) + 1
        with nogil:
            rc = poll(&p, 1, ms)
            err = errno
        if rc > 0:
            return 0
        if rc < 0:
            if err == EINTR:
                PyErr_CheckSignals()
                continue
            raise OSError(err, strerror(err).decode("utf-8", "replace"))


cdef int _set_timeouts(int fd, double seconds, double *armed) except -1:
    """``SO_RCVTIMEO`` and ``SO_SNDTIMEO`` of ``fd`` to ``seconds`` (> 0; at least 1 us, as 0 means
    never); ``armed[0]`` becomes ``seconds``."""
    cdef timeval tv
    cdef long us = <long>(seconds * 1e6) + 1
    tv.tv_sec = us // 1000000
    tv.tv_usec = us % 1000000
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0
            or setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0):
        armed[0] = 0.0
        PyErr_SetFromErrno(OSError)
        return -1
    armed[0] = seconds
    return 0


cdef inline int _budget(int fd, double deadline, double *armed) except -1:
    """Before a send or receive: TimeoutError when no time is left; else 0 to block (the armed
    ``SO_RCVTIMEO``/``SO_SNDTIMEO`` ends the call before the deadline, re-armed when it is not
    within ``[remaining - 4 * ARM_MARGIN, remaining - ARM_MARGIN]``), or 1 when too little time
    is left for the kernel's timer granularity: wait with ``poll``, then a non-blocking call."""
    cdef double remaining = deadline - _now()
    if remaining <= 0:
        raise TimeoutError("deadline passed")
    if armed[0] > 0 and remaining - 4 * C_ARM_MARGIN <= armed[0] <= remaining - C_ARM_MARGIN:
        return 0
    if remaining > 3 * C_ARM_MARGIN:
        _set_timeouts(fd, remaining - 2 * C_ARM_MARGIN, armed)
        return 0
    return 1


cdef int _failed_io(int err) except -1:
    """After a ``send``/``recv`` that failed with ``err``: 1 when the armed timeout ran out
    (or the socket is not blocking), 0 when a signal interrupted it (try again), else
    ``OSError``."""
    if err == EAGAIN or err == EWOULDBLOCK:
        return 1
    if err == EINTR:
        PyErr_CheckSignals()
        return 0
    raise OSError(err, strerror(err).decode("utf-8", "replace"))


cdef int _send_all(int fd, const unsigned char *buf, Py_ssize_t n, double deadline,
                   double *armed) except -1:
    cdef ssize_t sent
    cdef int err, flags, polled = 0
    # first a non-blocking send with the GIL held: a request fits the socket's buffer at once
    # in the common case, and needs no GIL round trip; what is left goes the blocking way
    if deadline - _now() <= 0:
        raise TimeoutError("deadline passed")
    sent = send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT)
    if sent >= 0:
        buf += sent
        n -= sent
    while n > 0:
        if polled or _budget(fd, deadline, armed):
            polled = 1
            _wait(fd, POLLOUT, deadline)
            flags = MSG_NOSIGNAL | MSG_DONTWAIT
        else:
            flags = MSG_NOSIGNAL
        with nogil:
            sent = send(fd, buf, n, flags)
            err = errno
        if sent >= 0:
            buf += sent
            n -= sent
            continue
        if _failed_io(err):
            polled = 1         # the armed timeout ran out (or the socket is not blocking): poll now
    return 0


cdef Py_ssize_t _recv_some(int fd, unsigned char *buf, Py_ssize_t n, double deadline,
                           double *armed) except -1:
    """One ``recv`` of at most ``n`` bytes (0: the peer closed), within the deadline."""
    cdef ssize_t got
    cdef int err, flags, polled = 0
    while True:
        if polled or _budget(fd, deadline, armed):
            polled = 1
            _wait(fd, POLLIN, deadline)
            flags = MSG_DONTWAIT
        else:
            flags = 0
        with nogil:
            got = recv(fd, buf, n, flags)
            err = errno
        if got >= 0:
            return got
        if _failed_io(err):
            polled = 1         # the armed timeout ran out (or the socket is not blocking): poll now


cdef double _blocking(sock, double armed) except? -2:
    """Mode unknown (``armed`` 0.0): the socket to blocking mode, nothing armed yet (-1.0)."""
    if armed == 0:
        sock.settimeout(None)
        return -1.0
    return armed


cdef Py_ssize_t _frame_len(const unsigned char *p, Py_ssize_t n) except -2:
    """Whole frame length from its first bytes, -1 when more are needed (MmpProtocolError: bad tcode)."""
    cdef int tcode
    if n < 4:
        return -1
    tcode = p[C_OFF_TCODE] >> 4
    if tcode == 1 or tcode == 7:
        if n < 14:
            return -1
        return C_HEADER_BLOCK + ((p[C_OFF_DATA_LENGTH] << 8) | p[C_OFF_DATA_LENGTH + 1])
    if tcode == 0 or tcode == 5 or tcode == 6:
        return C_HEADER_BLOCK
    if tcode == 2 or tcode == 4:
        return C_HEADER_SHORT
    raise MmpProtocolError(f"undefined tcode {tcode}")


cdef Py_ssize_t _recv_frame(int fd, unsigned char *buf, Py_ssize_t cap, Py_ssize_t maxlen,
                            double deadline, double *armed) except -1:
    """Receive one whole frame of at most ``maxlen`` bytes into ``buf`` (``cap`` bytes); its length."""
    cdef Py_ssize_t have = 0, n = -1
    cdef Py_ssize_t got
    while True:
        got = _recv_some(fd, buf + have, cap - have, deadline, armed)
        if got == 0:
            raise PeerClosed(f"connection closed by the peer after {have} bytes of a response")
        have += got
        n = _frame_len(buf, have)
        if n >= 0:
            if n > maxlen:
                raise MmpProtocolError(f"response 0 is a {n}-byte frame, at most {maxlen} expected")
            if have >= n:
                if have > n:
                    raise MmpProtocolError(f"{have - n} unexpected bytes after the last response")
                return n
        if have == cap:
            raise MmpProtocolError("responses longer than requested")


cdef inline void _put_request(unsigned char *q, int tl, int tcode, unsigned int address,
                              Py_ssize_t length) noexcept nogil:
    q[0] = 0
    q[1] = 0
    q[C_OFF_TL] = <unsigned char>(tl << 2)
    q[C_OFF_TCODE] = <unsigned char>(tcode << 4)
    q[4] = 0
    q[5] = 0
    q[C_OFF_ADDRESS_HIGH] = <unsigned char>(C_ADDRESS_HIGH >> 8)
    q[C_OFF_ADDRESS_HIGH + 1] = <unsigned char>(C_ADDRESS_HIGH & 0xFF)
    q[C_OFF_ADDRESS] = <unsigned char>(address >> 24)
    q[C_OFF_ADDRESS + 1] = <unsigned char>(address >> 16)
    q[C_OFF_ADDRESS + 2] = <unsigned char>(address >> 8)
    q[C_OFF_ADDRESS + 3] = <unsigned char>address
    q[C_OFF_DATA_LENGTH] = <unsigned char>(length >> 8)
    q[C_OFF_DATA_LENGTH + 1] = <unsigned char>(length & 0xFF)
    q[C_OFF_DATA_LENGTH + 2] = 0
    q[C_OFF_DATA_LENGTH + 3] = 0


cdef int _check_header(const unsigned char *h, int tcode, int tl, unsigned int address) except -1:
    cdef int v = h[C_OFF_TCODE] >> 4
    if v != tcode:
        raise MmpProtocolError(f"response 0: tcode {v}, expected {tcode}")
    v = h[C_OFF_TL] >> 2
    if v != tl:
        raise MmpProtocolError(f"response 0: tl {v}, expected {tl}")
    v = h[C_OFF_RCODE] >> 4
    if v:
        raise MmpNakError(v, address=address)
    return 0


def exchange_read(sock, int tl, unsigned int address, Py_ssize_t length, dest, Py_ssize_t offset,
                  bytearray rbuf, double deadline, double armed=0.0):
    """One block read (tcode 5, tl ``tl``) of ``length`` bytes at ``address``; the data lands in
    ``dest[offset:offset + length]``.  ``rbuf`` is the reused receive buffer (at least
    16 + ``length`` bytes).  Returns the ``armed`` timeout now on the socket (seconds)."""
    cdef unsigned char req[C_HEADER_BLOCK]
    cdef Py_buffer dview
    cdef Py_ssize_t n, dlen
    cdef int fd = sock.fileno()
    cdef unsigned char *rb
    cdef Py_ssize_t cap = len(rbuf)
    if tl < 0 or tl >= C_TL_MODULO or length < 0 or length > C_MAX_DATA_LENGTH or cap < C_HEADER_BLOCK + length:
        raise ValueError("tl, length or receive buffer out of range")
    if fd < 0:
        raise OSError(9, "socket is closed")
    PyObject_GetBuffer(dest, &dview, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE)
    try:
        if offset < 0 or offset + length > dview.len:
            raise ValueError("destination range out of bounds")
        armed = _blocking(sock, armed)
        _put_request(req, tl, C_TCODE_READ_BLOCK, address, length)
        _send_all(fd, req, C_HEADER_BLOCK, deadline, &armed)
        rb = <unsigned char *><char *>rbuf
        n = _recv_frame(fd, rb, cap, C_HEADER_BLOCK + length, deadline, &armed)
        _check_header(rb, C_TCODE_READ_BLOCK_RESPONSE, tl, address)
        dlen = (rb[C_OFF_DATA_LENGTH] << 8) | rb[C_OFF_DATA_LENGTH + 1]
        if dlen != length or n != C_HEADER_BLOCK + length:
            raise MmpProtocolError(f"response 0: data_length {dlen}, expected {length}")
        memcpy(<unsigned char *>dview.buf + offset, rb + C_HEADER_BLOCK, length)
    finally:
        PyBuffer_Release(&dview)
    return armed


def exchange_write(sock, int tl, unsigned int address, data, bytearray rbuf, double deadline,
                   double armed=0.0):
    """One block write (tcode 1, tl ``tl``) of the bytes of ``data`` at ``address``, and its
    acknowledgement (tcode 2) received into ``rbuf`` (at least 16 + len(data) bytes, reused
    to build the request too).  Returns the ``armed`` timeout now on the socket (seconds)."""
    cdef Py_buffer sview
    cdef int fd = sock.fileno()
    cdef unsigned char *rb
    cdef Py_ssize_t cap = len(rbuf), n
    if tl < 0 or tl >= C_TL_MODULO:
        raise ValueError("tl out of range")
    if fd < 0:
        raise OSError(9, "socket is closed")
    PyObject_GetBuffer(data, &sview, PyBUF_C_CONTIGUOUS)
    try:
        n = sview.len
        if n > C_MAX_DATA_LENGTH or cap < C_HEADER_BLOCK + n:
            raise ValueError("data or receive buffer out of range")
        rb = <unsigned char *><char *>rbuf
        _put_request(rb, tl, C_TCODE_WRITE_BLOCK, address, n)
        memcpy(rb + C_HEADER_BLOCK, sview.buf, n)
    finally:
        PyBuffer_Release(&sview)
    armed = _blocking(sock, armed)
    _send_all(fd, rb, C_HEADER_BLOCK + n, deadline, &armed)
    _recv_frame(fd, rb, cap, C_HEADER_SHORT, deadline, &armed)
    _check_header(rb, C_TCODE_WRITE_RESPONSE, tl, address)
    return armed


def exchange_window(sock, int tl, ranges, offsets, lengths, dest, bytearray rbuf, double deadline,
                    double armed=0.0):
    """One pipeline window of block reads: requests ``ranges`` (tl ``tl``, ``tl + 1``, ...)
    sent at once, the ``len(ranges)`` answers received whole into ``rbuf`` (at least
    the sum of 16 + ``lengths[i]`` bytes), checked and scattered into ``dest`` at
    ``offsets`` (``codec.scatter_read_responses``).  Returns the ``armed`` timeout now on
    the socket (seconds)."""
    cdef Py_ssize_t count = len(ranges), i = 0, have = 0, pos = 0, n, cap = len(rbuf), need = 0
    cdef Py_ssize_t maxlen, got
    cdef int fd = sock.fileno()
    cdef unsigned char *rb
    cdef bytes payload
    if tl < 0 or tl >= C_TL_MODULO or len(offsets) != count or len(lengths) != count:
        raise ValueError("tl or window out of range")
    for i in range(count):
        need += C_HEADER_BLOCK + <Py_ssize_t>lengths[i]
    if cap < need:
        raise ValueError("receive buffer smaller than the window's answers")
    if fd < 0:
        raise OSError(9, "socket is closed")
    payload = encode_read_blocks(tl, ranges)
    armed = _blocking(sock, armed)
    _send_all(fd, <const unsigned char *><char *>payload, len(payload), deadline, &armed)
    rb = <unsigned char *><char *>rbuf
    i = 0
    while True:
        # whole frames received so far, each within its own answer's size
        while i < count:
            n = _frame_len(rb + pos, have - pos)
            if n < 0:
                break
            maxlen = C_HEADER_BLOCK + <Py_ssize_t>lengths[i]
            if n > maxlen:
                raise MmpProtocolError(f"response {i} is a {n}-byte frame, at most {maxlen} expected")
            if have - pos < n:
                break
            pos += n
            i += 1
        if i == count:
            if have != pos:
                raise MmpProtocolError(f"{have - pos} unexpected bytes after the last response")
            break
        if have == cap:
            raise MmpProtocolError("responses longer than requested")
        got = _recv_some(fd, rb + have, cap - have, deadline, &armed)
        if got == 0:
            raise PeerClosed(f"connection closed by the peer after {have} bytes of a response")
        have += got
    stream = memoryview(rbuf)[:pos]
    try:
        scatter_read_responses(stream, dest, offsets, lengths, tl)
    except MmpNakError:
        start = 0
        for k, stop in enumerate(frame_ends(stream, count)):
            rcode = decode_frame(stream[start:stop]).rcode
            if rcode:
                raise MmpNakError(rcode, address=ranges[k][0]) from None
            start = stop
        raise
    return armed
