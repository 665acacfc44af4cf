"""The blocking OptoMMP client (TCP, or UDP with ``transport="udp"``).

``Client`` only moves bytes: every call is built by ``mmpfast.calls``, its
frames made and checked by ``mmpfast.engine``, every failure judged by
``mmpfast.policy.ClientCore``.  What lives here is the
socket: a lazy connect with ``TCP_NODELAY``, one deadline per call
(``timeout`` seconds for the lock, the connect and every chunk together) and
``recv_into`` a reused buffer.  The failure policy:

* a timeout, a malformed or unexpected frame, or a dropped connection closes
  the socket (it may be out of step); the next call connects again;
* a write whose acknowledgement did not arrive, or arrived malformed, raises
  ``WriteOutcomeUnknown`` (chained from the cause) and is never repeated;
* a read is repeated once, on a new connection, when the connection dropped
  (reset or closed by the peer) and time is left - never after a timeout
  (the device may simply be slow; repeating would break the deadline) and
  never for read-and-clear / calc-and-set areas (``memmap.read_has_side_effects``);
* a NAK raises ``MmpNakError`` carrying the request's address; the connection
  stays open.

Over UDP (``transport="udp"``) the socket is a connected UDP socket (the
kernel drops datagrams from any other address) and every request is one
datagram, driven by ``datagrams.DatagramExchange``: answers are matched by tl and
tcode, anything else is dropped, a plain read's request is sent again once
when its answer is late, and a write or a read-and-clear read is never sent
twice.  A call never repeats itself over UDP (the resend rule replaces the
reconnect-and-repeat of TCP).  The compiled hot path (``mmpfast._wire``) is
TCP-only; UDP always runs through the engine.

The module is about 500 lines because the public calls (about 150 lines) are
generated into it by ``tools/gen_client_api.py``, beside the transports.
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from types import TracebackType
from typing import Any, List, Optional, Tuple, Type, TypeVar, Union

from . import calls, policy
from .checks import DEFAULT_ENCODING, Buffer, Values
from .datagrams import DatagramExchange
from .engine import SEND, Operation, begin_custom, exchange
from .errors import MmpConnectionError, MmpTimeoutError
from .plan import ScanPlan, ScanResult
from .policy import ClientCore
from .protocol import DEFAULT_PORT, HEADER_BLOCK, MAX_BLOCK, TL_MODULO
from .wire import exchange_read, exchange_window, exchange_write
from .records import AnalogChannel, DigitalChannel, DigitalCounts, PointConfig, Status

__all__ = ["Client", "DEFAULT_PORT"]

log = logging.getLogger("mmpfast.client")

_monotonic = time.monotonic
_frames_log = logging.getLogger("mmpfast.frames")
_frames_enabled = _frames_log.isEnabledFor
_DEBUG = logging.DEBUG
_BOTH = (0, 1)
_SECOND = (1,)
T = TypeVar("T")


def _arm(sock: socket.socket, deadline: float, slack: float) -> None:
    """Keep the socket's timeout within the time left before ``deadline`` (never above it, and
    at most ``slack`` seconds below it), so that each send or receive ends by the deadline.
    ``settimeout`` costs a system call, so it is only called when the budget moved."""
    left = deadline - _monotonic()
    if left <= 0:
        raise TimeoutError("deadline passed")
    current = sock.gettimeout()
    if current is None or current > left or current < left - slack:
        sock.settimeout(left)


class Client(ClientCore):
    """Blocking OptoMMP client for one controller.

    ``Client(host, port=2001, *, timeout=2.0, max_block=1024, pipeline=1, device="epic")``:
    ``timeout`` is the budget of one call in seconds (lock, connect, all
    chunks), ``max_block`` the largest data length of one request in bytes,
    ``pipeline`` how many requests may be in flight at once (1..64),
    ``device`` the memory map of the point calls and scans: ``"epic"`` (groov
    EPIC channel slots, module 0..15, channel 0..63) or ``"snap"`` (SNAP PAC
    points p = 4·module + channel, channel 0..3, docs/protocol.md §3.7),
    ``transport`` ``"tcp"`` or ``"udp"`` (one request per datagram to the same
    port; see ``mmpfast.datagrams.DatagramExchange`` for the matching and resend rules).  The
    connection is made on first use and remade after a failure.  Use it as a
    context manager or call ``close()``.

    Custom area: ``prepare(plan)`` writes a plan's address list and this
    connection remembers it; a connection that is remade (after a failure,
    ``close()`` or an idle check) forgets it, since another client may have
    written the device's one list meanwhile, or the device restarted: scanning
    such a plan then raises ``MmpError`` before anything is sent, until
    ``prepare`` is called again.

    Thread safety: one ``Client`` may be shared by threads; its calls are
    serialised by a lock (one request/answer exchange at a time per
    connection), and a thread waiting for the lock counts that wait against its
    own call's ``timeout``.  For parallel traffic to one controller, give each
    thread its own ``Client``.
    """

    _kind = "Client"

    def __init__(self, host: str, port: int = DEFAULT_PORT, *, timeout: float = 2.0,
                 max_block: int = MAX_BLOCK, pipeline: int = 1, device: str = "epic",
                 transport: str = "tcp") -> None:
        super().__init__(host, port, timeout, max_block, pipeline, device, transport)
        self._lock = threading.Lock()
        self._dgram: Optional[memoryview] = None     # UDP receive buffer (one whole datagram)
        self._armed = 0.0       # the TCP hot path's socket timeout (mmpfast.wire); 0.0: not known

    # ---------------------------------------------------------------- lifecycle
    def connect(self) -> None:
        """Open the connection now instead of on the first call (within ``timeout``)."""
        deadline = _monotonic() + self._timeout
        with self._locked(deadline):
            try:
                self._ensure(deadline)
            except TimeoutError as exc:
                err = self._timeout_error(exc)
                raise err from err.__cause__

    def close(self) -> None:
        """Close the connection.  A later call opens a new one."""
        with self._lock:
            self._drop()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()

    # ---------------------------------------------------------------- internals
    def _locked(self, deadline: float) -> "_Held":
        remaining = deadline - _monotonic()
        if not self._lock.acquire(timeout=max(remaining, 0.0)):
            raise MmpTimeoutError(f"{self.host}:{self.port}: client busy for {self._timeout} s")
        return _Held(self._lock)

    def _timeout_error(self, exc: BaseException) -> BaseException:
        """Any timeout of a call as ``MmpTimeoutError`` (or ``WriteOutcomeUnknown``), socket closed."""
        if isinstance(exc, MmpTimeoutError) and self._conn.pending_write is None:
            self._drop()
            return exc
        return self._timed_out(exc)

    def _ensure(self, deadline: float, op: Optional[Operation[Any]] = None) -> socket.socket:
        sock: Optional[socket.socket] = self._sock
        if sock is not None:
            if not self._stale(sock, op):
                return sock
            log.debug("%s:%s: connection went stale, reconnecting", self.host, self.port)
            self._drop()
        remaining = deadline - _monotonic()
        if remaining <= 0:
            raise MmpTimeoutError(f"{self.host}:{self.port}: no time left to connect")
        if self._udp:
            return self._open_udp()
        try:
            sock = socket.create_connection((self.host, self.port), timeout=remaining)
        except socket.timeout as exc:
            raise MmpTimeoutError(f"{self.host}:{self.port}: connect timed out") from exc
        except OSError as exc:
            raise MmpConnectionError(f"{self.host}:{self.port}: cannot connect: {exc}") from exc
        try:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # pragma: no cover - not a TCP socket on some platforms
                pass
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._armed = 0.0
        self._conn.pending_write = None
        log.debug("%s:%s: connected", self.host, self.port)
        return sock

    def _peer_gone(self, sock: Any) -> bool:
        if self._udp:
            return False          # nothing to lose: what is queued is discarded before each call
        return super()._peer_gone(sock)

    def _open_udp(self) -> socket.socket:
        """A UDP socket connected to the controller (no packet is sent)."""
        try:
            infos = socket.getaddrinfo(self.host, self.port, 0, socket.SOCK_DGRAM)
        except OSError as exc:
            raise MmpConnectionError(f"{self.host}:{self.port}: cannot resolve: {exc}") from exc
        last: Optional[OSError] = None
        for family, kind, proto, _name, addr in infos:
            sock = socket.socket(family, kind, proto)
            try:
                sock.connect(addr)
            except OSError as exc:
                sock.close()
                last = exc
                continue
            self._sock = sock
            self._conn.pending_write = None
            log.debug("%s:%s: UDP socket connected", self.host, self.port)
            return sock
        raise MmpConnectionError(f"{self.host}:{self.port}: cannot open a UDP socket: {last}")

    def _pump_udp(self, sock: socket.socket, op: Operation[Any], deadline: float) -> None:
        """Exchange ``op`` over datagrams within ``deadline`` (``datagrams.DatagramExchange``)."""
        view = self._dgram
        if view is None:
            view = self._dgram = memoryview(bytearray(65536))
        x = DatagramExchange(op, self._conn, self._pipeline, self._timeout)
        sock.settimeout(0.0)              # discard what came since the last call
        while True:
            try:
                n = sock.recv_into(view)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:        # an ICMP error left by an earlier send
                log.debug("%s:%s: discarded a pending socket error: %s", self.host, self.port, exc)
                continue
            x.received(view[:n], _monotonic())     # nothing is outstanding yet: dropped
        now = _monotonic()
        for d in x.start(now):
            sock.send(d)
        while not x.done:
            now = _monotonic()
            if now >= deadline:
                raise TimeoutError("deadline passed")
            for d in x.due(now):
                sock.send(d)
            sock.settimeout(max(min(x.next_timer(), deadline) - now, 0.0001))
            try:
                n = sock.recv_into(view)
            except socket.timeout:
                continue
            for d in x.received(view[:n], _monotonic()):
                sock.send(d)
        x.result()

    def _pump(self, sock: socket.socket, op: Operation[Any], deadline: float) -> None:
        """Many requests (or a logged exchange): the engine's generator, the socket's
        timeout set to the time left before each send and receive."""
        self._armed = 0.0           # the socket's timeout is set here by settimeout
        gen = exchange(op, self._conn, self._pipeline)
        step = next(gen)
        slack = max(0.005, 0.05 * self._timeout)
        while True:
            if step[0] is SEND:
                data = memoryview(step[1])
                while data:
                    _arm(sock, deadline, slack)
                    data = data[sock.send(data):]
                reply = None
            else:
                _arm(sock, deadline, slack)
                reply = sock.recv_into(step[1])
            try:
                step = gen.send(reply)
            except StopIteration:
                return

    def _once(self, sock: socket.socket, op: Operation[Any], deadline: float) -> None:
        """Exchange ``op`` on ``sock``: one request through the compiled hot path, else the engine."""
        conn = self._conn
        if self._udp:
            self._pump_udp(sock, op, deadline)
        elif _frames_log.isEnabledFor(_DEBUG):
            self._pump(sock, op, deadline)          # the engine logs every frame
        elif op.is_write:
            if len(op.chunks) != 1:
                self._pump(sock, op, deadline)
                return
            address, data = op.chunks[0]
            conn.reserve(HEADER_BLOCK + data.nbytes)
            tl = conn.tl
            conn.tl = (tl + 1) % TL_MODULO
            conn.pending_write = address
            self._armed = exchange_write(sock, tl, address, data, conn.rbuf, deadline, self._armed)
            conn.pending_write = None
        elif len(op.ranges) == 1:
            if op.retry is not True and not op.may_retry():
                conn.pending_clear = True       # a read-and-clear: never sent twice
            address, length = op.ranges[0]
            if len(conn.rbuf) < HEADER_BLOCK + length:
                conn.reserve(HEADER_BLOCK + length)
            tl = conn.tl
            conn.tl = (tl + 1) % TL_MODULO
            self._armed = exchange_read(sock, tl, address, length, op.dest, op.offsets[0], conn.rbuf, deadline,
                                        self._armed)
        elif len(op.ranges) <= self._pipeline and (op.retry or op.may_retry()):
            lengths = op.lengths            # one pipeline window of plain reads: compiled too
            need = HEADER_BLOCK * len(lengths) + sum(lengths)
            if len(conn.rbuf) < need:
                conn.reserve(need)
            tl = conn.tl
            conn.tl = (tl + len(lengths)) % TL_MODULO
            self._armed = exchange_window(sock, tl, op.ranges, op.offsets, lengths, op.dest, conn.rbuf,
                                          deadline, self._armed)
        else:
            self._pump(sock, op, deadline)

    def _execute(self, op: Operation[T]) -> T:
        ranges = op.ranges
        lock = self._lock
        if len(ranges) == 1 and op.custom is None and lock.acquire(False):
            # The per-call hot path: one plain block read over TCP on a connection used moments
            # ago (no idle check, policy), the lock free.  Anything else, or a failure, goes the
            # general way.
            try:
                now = _monotonic()
                sock = self._sock
                if (sock is not None and now - self._last_used < policy.STALE_CHECK_AFTER
                        and (op.retry or op.may_retry()) and not self._udp and not _frames_enabled(_DEBUG)):
                    conn = self._conn
                    address, length = ranges[0]
                    rbuf = conn.rbuf
                    if len(rbuf) < HEADER_BLOCK + length:
                        conn.reserve(HEADER_BLOCK + length)
                        rbuf = conn.rbuf
                    tl = conn.tl
                    conn.tl = (tl + 1) % TL_MODULO
                    conn.pending_write = None
                    conn.pending_clear = False
                    deadline = now + self._timeout
                    try:
                        self._armed = exchange_read(sock, tl, address, length, op.dest, op.offsets[0], rbuf,
                                                    deadline, self._armed)
                    except TimeoutError as exc:
                        self._armed = 0.0       # the socket's timeout is not known any more
                        err = self._timeout_error(exc)
                        raise err from err.__cause__
                    except BaseException as exc:
                        self._armed = 0.0
                        self._failed(exc, op, deadline - _monotonic() > 0)
                        return self._attempts(op, now, deadline, _SECOND)
                    self._last_used = now       # the call's start: never younger than its end
                    return op.finish()
                return self._attempts(op, now, now + self._timeout, _BOTH)
            finally:
                lock.release()
        if op.empty:
            return op.finish()        # nothing to send: the connection is left as it was
        now = _monotonic()
        deadline = now + self._timeout
        if not lock.acquire(False):
            if not lock.acquire(timeout=self._timeout):
                raise MmpTimeoutError(f"{self.host}:{self.port}: client busy for {self._timeout} s")
            now = _monotonic()
        try:
            return self._attempts(op, now, deadline, _BOTH)
        finally:
            lock.release()

    def _attempts(self, op: Operation[T], now: float, deadline: float, attempts: Tuple[int, ...]) -> T:
        """Exchange ``op`` (the lock held): a read that lost its connection on the first
        attempt is repeated once on a new one when the policy allows."""
        conn = self._conn
        for attempt in attempts:
            conn.pending_write = None
            conn.pending_clear = False
            try:
                if op.custom is not None:
                    begin_custom(op, conn)      # not prepared: raised before connecting
                sock = self._sock
                # a plain read on a connection used moments ago skips the idle check (policy)
                if (sock is None or op.is_write or now - self._last_used >= policy.STALE_CHECK_AFTER
                        or not (op.retry or op.may_retry())):
                    sock = self._ensure(deadline, op)
                if op.custom is not None:
                    begin_custom(op, conn)      # again: a connection remade just now forgot it
                self._once(sock, op, deadline)
            except TimeoutError as exc:
                self._armed = 0.0               # the socket's timeout is not known any more
                err = self._timeout_error(exc)
                raise err from err.__cause__
            except BaseException as exc:
                self._armed = 0.0
                now = _monotonic()
                self._failed(exc, op, attempt == 0 and deadline - now > 0 and not self._udp)
                continue
            self._last_used = _monotonic()
            return op.finish()
        raise AssertionError("unreachable")  # pragma: no cover

    # ---------------------------------------------------------------- the public calls
    # One line each: the arguments are checked and the frames built by mmpfast.calls.
    # ---- BEGIN generated by tools/gen_client_api.py: the public calls (do not edit by hand)
    def read(self, address: int, length: int) -> bytes:
        """``length`` bytes from ``address`` (low 32 bits), as ``bytes``.

        Any length; chunked at ``max_block`` (one block read per chunk).  ``read(a, 0)``
        is ``b""`` and sends nothing."""
        return self._execute(calls.op_read(self._max_block, address, length))

    def read_into(self, address: int, buffer: Buffer) -> None:
        """Fill ``buffer`` (any writable C-contiguous buffer: bytearray, memoryview,
        array, numpy) with its size in bytes from ``address``.  Returns ``None``.

        The bytes are stored as they come off the wire (big-endian).  An empty
        buffer sends nothing."""
        return self._execute(calls.op_read_into(self._max_block, address, buffer))

    def write(self, address: int, data: Buffer) -> None:
        """Write the bytes of ``data`` (any bytes-like) at ``address``; chunked at ``max_block``.
        Empty ``data`` sends nothing."""
        return self._execute(calls.op_write(self._max_block, address, data))

    def uptime_ms(self) -> int:
        """Milliseconds since power-up (uint32 at 0xF030010C, read with one 4-byte block read)."""
        return self._execute(calls.op_uptime_ms(self._max_block))

    def status(self) -> Status:
        """The status area (one block read of ``memmap.STATUS_BLOCK_LENGTH`` bytes) as a ``Status``."""
        return self._execute(calls.op_status(self._max_block))

    def powerup_clear(self) -> None:
        """Send Powerup Clear: one block write of ``00 00 00 01`` to 0xF0380000."""
        return self._execute(calls.op_powerup_clear(self._max_block))

    def read_digital(self, module: int, channel: int) -> bool:
        """State of a digital point: one 4-byte read.  EPIC: ``module`` 0..15, ``channel`` 0..63,
        slot +0 of 0xF01E0000 + 0x1000*m + 0x40*c; SNAP: channel 0..3, 0xF0800000 + 0x40*p
        (p = 4*module + channel)."""
        return self._execute(calls.op_read_digital(self._max_block, self._device, module, channel))

    def write_digital(self, module: int, channel: int, state: bool) -> None:
        """Turn a digital output on (``True``/1) or off (``False``/0): one 4-byte write.
        EPIC: ``state`` at slot +0 of 0xF0220000 + 0x1000*m + 0x40*c; SNAP: ``00 00 00 01`` at
        0xF0900000 + 0x40*p (turn on) or + 4 (turn off)."""
        return self._execute(calls.op_write_digital(self._max_block, self._device, module, channel, state))

    def read_digital_channel(self, module: int, channel: int) -> DigitalChannel:
        """The whole digital channel record (``DigitalChannel``), one block read.  SNAP: the
        point record 0xF0800000 + 0x40*p; ``feature_type`` is its counter-active word (1 while
        counting, the counter feature's code) and ``quality`` is 0 (SNAP PAC has no quality word)."""
        return self._execute(calls.op_read_digital_channel(self._max_block, self._device, module, channel))

    def read_analog(self, module: int, channel: int) -> float:
        """Value (float32, engineering units) of an analog point: EPIC 0xF0260000 + 0x1000*m +
        0x40*c, SNAP 0xF0A00000 + 0x40*p."""
        return self._execute(calls.op_read_analog(self._max_block, self._device, module, channel))

    def write_analog(self, module: int, channel: int, value: float) -> None:
        """Set an analog output (float32 EU): EPIC 0xF02A0000 + 0x1000*m + 0x40*c, SNAP
        0xF0B00000 + 0x40*p.  NaN and infinities are ``ValueError``."""
        return self._execute(calls.op_write_analog(self._max_block, self._device, module, channel, value))

    def read_analog_channel(self, module: int, channel: int) -> AnalogChannel:
        """Value, minimum, maximum and quality of an analog channel (``AnalogChannel``).  SNAP: the
        point record 0xF0A00000 + 0x40*p; ``quality`` is 0 (SNAP PAC has no quality word)."""
        return self._execute(calls.op_read_analog_channel(self._max_block, self._device, module, channel))

    def read_clear_digital(self, module: int, channel: int) -> DigitalCounts:
        """Read and clear a digital point's feature value (counts) and latches (``DigitalCounts``).

        EPIC: one 12-byte read of 0xF02E0000 + 0x600*m + 0x18*c; SNAP: 4-byte reads of
        0xF0F00000 + 4*p, + 0x100, + 0x200.  The device clears what it returns: the call is
        never repeated (a lost answer is ``MmpTimeoutError`` / ``MmpConnectionError``)."""
        return self._execute(calls.op_read_clear_digital(self._max_block, self._device, module, channel))

    def read_clear_analog_minmax(self, module: int, channel: int) -> Tuple[float, float]:
        """Read and reset an analog point's ``(minimum, maximum)`` (float32 EU).  EPIC: one 8-byte
        read of 0xF01D4000 + 0x300*m + 0x0C*c; SNAP: 0xF0F80000 + 4*p and + 0x100.  Never
        repeated, as ``read_clear_digital``."""
        return self._execute(calls.op_read_clear_analog_minmax(self._max_block, self._device, module, channel))

    def read_point_config(self, module: int, channel: int) -> PointConfig:
        """A point's configuration (``PointConfig``: module and point type, feature, scaling,
        watchdog, name), one block read: EPIC 0x63 bytes at 0xF0100000 + 0x3000*m + 0xC0*c,
        SNAP 0x40 bytes at 0xF0C00000 + 0x40*p.  Absent modules and channels read as zeros."""
        return self._execute(calls.op_read_point_config(self._max_block, self._device, module, channel))

    def write_point_feature(self, module: int, channel: int, feature: int) -> None:
        """Set a point's feature (uint32 0..0xFFFFFFFF: 0 none, 1 counter, ...): one 4-byte
        write at +0x08 of its configuration record (see ``read_point_config``)."""
        return self._execute(calls.op_write_point_feature(self._max_block, self._device, module, channel, feature))

    def read_scratchpad_int32(self, index: int, count: int = 1) -> List[int]:
        """``count`` int32 values from logical index 0..10239 (spanning areas 1-3), as ``list[int]``."""
        return self._execute(calls.op_read_scratchpad_int32(self._max_block, index, count))

    def write_scratchpad_int32(self, index: int, values: Values) -> None:
        """Write one int or a sequence of ints (each must fit int32) from logical ``index``."""
        return self._execute(calls.op_write_scratchpad_int32(self._max_block, index, values))

    def read_scratchpad_float(self, index: int, count: int = 1) -> List[float]:
        """``count`` float32 values from logical index 0..10239, as ``list[float]``."""
        return self._execute(calls.op_read_scratchpad_float(self._max_block, index, count))

    def write_scratchpad_float(self, index: int, values: Values) -> None:
        """Write float32 values from logical ``index``.  NaN and infinities are stored as
        given (the scratch pad is raw storage); finite values beyond float32 are ``ValueError``."""
        return self._execute(calls.op_write_scratchpad_float(self._max_block, index, values))

    def read_scratchpad_int64(self, index: int, count: int = 1) -> List[int]:
        """``count`` int64 values (big-endian, stride 8) from index 0..1023, as ``list[int]``."""
        return self._execute(calls.op_read_scratchpad_int64(self._max_block, index, count))

    def write_scratchpad_int64(self, index: int, values: Values) -> None:
        """Write one int or a sequence of ints (each must fit int64) from ``index``."""
        return self._execute(calls.op_write_scratchpad_int64(self._max_block, index, values))

    def read_scratchpad_string(self, slot: int, *, encoding: str = DEFAULT_ENCODING, errors: str = "strict") -> str:
        """Text of string slot 0..63: one block read of the 130-byte slot.

        The first two bytes are the big-endian length (above 128 is
        ``MmpProtocolError``); the text is decoded with ``encoding`` (UTF-8 by default).
        An unknown ``encoding`` or ``errors`` is ``ValueError`` before anything is sent."""
        return self._execute(calls.op_read_scratchpad_string(self._max_block, slot, encoding, errors))

    def write_scratchpad_string(self, slot: int, text: Union[str, bytes], *, encoding: str = DEFAULT_ENCODING) -> None:
        """Store ``text`` in string slot 0..63: one block write of the big-endian
        length word followed by the bytes (``str`` is encoded with ``encoding``,
        bytes-like objects are stored as they are).  Over 128 bytes is ``ValueError``."""
        return self._execute(calls.op_write_scratchpad_string(self._max_block, slot, text, encoding))

    def prepare(self, plan: ScanPlan) -> None:
        """Write ``plan.custom_writes`` (the plan's custom-area address list, from 0xF0D50000) and
        remember on this connection that it holds them; ``scan`` needs it for a plan with
        ``custom_addresses``.  A plan without them sends nothing.  The connection forgets it
        when it is remade, or when another list (or any raw write over 0xF0D50000..0xF0D50FFF)
        is written: prepare again then."""
        return self._execute(calls.op_prepare(self._max_block, self._device, self._conn, plan))

    def scan_into(self, plan: ScanPlan, buffer: Buffer) -> None:
        """Run ``plan``'s block reads, pipelined, scattering the data into ``buffer``
        (writable, at least ``plan.buffer_size`` bytes).  Returns ``None``.
        A plan with no points sends nothing; ``plan`` not a ``ScanPlan`` is ``TypeError``, a plan
        of another device ``ValueError``, a custom-area plan this connection was not prepared
        for ``MmpError`` (nothing sent).  Read-and-clear requests (from ``plan.clear_from``) go
        after every plain answer and are never repeated."""
        return self._execute(calls.op_scan_into(self._max_block, self._device, plan, buffer))

    def scan(self, plan: ScanPlan) -> ScanResult:
        """One pass of ``plan``: a new buffer filled as ``scan_into`` does, as ``plan.result(buffer)``.
        A plan with no points sends nothing and returns an empty ``ScanResult``."""
        return self._execute(calls.op_scan(self._max_block, self._device, plan))
    # ---- END generated calls


class _Held:
    __slots__ = ("_lock",)

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        self._lock.release()
