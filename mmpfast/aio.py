"""The asyncio OptoMMP client (TCP, or UDP with ``transport="udp"``).

``AsyncClient`` has every public method of ``Client`` (both are built by
``mmpfast.calls``); here each is a coroutine function, so
``await client.read(0xF030010C, 4)``.  Argument errors are raised when the
call is awaited, before anything is sent.

The transport is an ``asyncio.Protocol`` (``loop.create_connection``, so it
runs unchanged on uvloop): ``data_received`` feeds the codec's frame splitter
(``codec.FrameSplitter``) and wakes the waiting call once a whole frame is
there; requests go out with ``transport.write``.  One deadline covers the
lock, the connect and every chunk of a call; calls are serialised by a
first-come first-served lock.  The failure policy is ``Client``'s (``mmpfast.policy``): a
timeout, protocol error, dropped connection or cancellation closes the
connection (the next call reconnects), an unacknowledged (or garbled-ack)
write raises ``WriteOutcomeUnknown`` and is never repeated, a read is repeated
once on a new connection after a drop (not after a timeout, never for
read-and-clear areas), a NAK raises ``MmpNakError`` and keeps the connection.

Over UDP the transport is an ``asyncio.DatagramProtocol`` on a connected
datagram endpoint (``remote_addr``: the kernel drops foreign senders); the
rules are ``datagrams.DatagramExchange``'s, as for ``Client``.

The module is long because the public calls (about 150 lines) are generated
into it by ``tools/gen_client_api.py``, beside the TCP and UDP transports.
"""
from __future__ import annotations

import asyncio
import logging
import select
import sys
import time
from collections import deque
from types import TracebackType
from typing import Any, Awaitable, Deque, List, Optional, Tuple, Type, TypeVar, Union

from . import calls, codec
from .checks import DEFAULT_ENCODING, Buffer, Values
from .datagrams import DatagramExchange
from .engine import (SEND, Operation, PeerClosed, begin_custom, exchange,
                     single_answer, single_request)
from .errors import MmpConnectionError, MmpError, MmpTimeoutError
from .plan import ScanPlan, ScanResult
from .policy import ClientCore
from .protocol import DEFAULT_PORT, HEADER_BLOCK, HEADER_SHORT, MAX_BLOCK
from .records import AnalogChannel, DigitalChannel, DigitalCounts, PointConfig, Status

T = TypeVar("T")

__all__ = ["AsyncClient"]

log = logging.getLogger("mmpfast.aio")
_frames_log = logging.getLogger("mmpfast.frames")
_DEBUG = logging.DEBUG


class _Deadline(Exception):
    """Internal: the call's deadline passed."""


_NEVER = float("inf")
_poll = getattr(select, "poll", None)

if sys.version_info >= (3, 11):
    _timeout_at = asyncio.timeout_at
else:  # pragma: no cover - Python < 3.11
    import contextlib

    @contextlib.asynccontextmanager
    async def _timeout_at(when: float) -> Any:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        handle = loop.call_at(when, task.cancel)
        try:
            yield
        except asyncio.CancelledError:
            if loop.time() >= when:
                raise TimeoutError("deadline passed") from None
            raise
        finally:
            handle.cancel()


class _CallLock:
    """First-come first-served exclusion of one client's calls (an ``asyncio.Lock`` without
    the coroutine on the free path): ``held`` is taken at once when free, otherwise
    ``wait`` queues a future that ``release`` hands the lock to."""

    __slots__ = ("held", "_waiters")

    def __init__(self) -> None:
        self.held = False
        self._waiters: Deque["asyncio.Future[None]"] = deque()

    async def wait(self, loop: asyncio.AbstractEventLoop) -> None:
        fut: "asyncio.Future[None]" = loop.create_future()
        self._waiters.append(fut)
        try:
            await fut
        except BaseException:
            if fut.done() and not fut.cancelled():
                self.release()          # handed over while being cancelled: pass it on
            else:
                try:
                    self._waiters.remove(fut)
                except ValueError:      # pragma: no cover - already handed over
                    pass
            raise

    def release(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)    # handed over: stays held
                return
        self.held = False


#: bounds (bytes) of a connection's reused receive buffer: one pipeline window of answers,
#: at least a page, at most 64 KiB (asyncio reads the rest in the next call)
_RECV_MIN, _RECV_MAX = 4096, 65536


class _Waking:
    """What the stream and the datagram endpoint share: an error and a closed flag the
    loop's callbacks set, and the one waiter of the call that is receiving."""

    error: Optional[BaseException]
    closed: bool
    waiter: Optional["asyncio.Future[None]"]

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.closed = True
        if exc is not None and self.error is None:
            self.error = exc
        self._wake()

    def _wake(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    def expire(self) -> None:
        """The call's deadline passed: the waiting receive raises ``_Deadline``."""
        w = self.waiter
        if w is not None and not w.done():
            w.set_exception(_Deadline())


class _Stream(_Waking, asyncio.BufferedProtocol):
    """One connection: asyncio receives into one reused buffer (``get_buffer``); each
    arrival feeds the codec's frame splitter, whose whole frames are queued until a
    call takes them."""

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int) -> None:
        self._loop = loop
        self._rview = memoryview(bytearray(min(max(size, _RECV_MIN), _RECV_MAX)))
        self.transport: Optional[asyncio.Transport] = None
        self.splitter = codec.FrameSplitter()
        self.frames: Deque[bytes] = deque()
        self.partial = b""                  # the rest of a frame only partly handed over
        self.error: Optional[BaseException] = None
        self.closed = False
        self.waiter: Optional["asyncio.Future[None]"] = None
        self._fd = -1

    # ------------------------------------------------------------ asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        try:
            self._fd = sock.fileno() if sock is not None else -1
        except (AttributeError, OSError):  # pragma: no cover - a transport without a socket
            self._fd = -1

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._rview

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._rview[:nbytes])

    def data_received(self, data: Any) -> None:
        splitter = self.splitter
        frames: List[bytes] = []
        try:
            frames = splitter.feed(data)
            if frames and splitter.pending:
                splitter.feed(b"")          # a bad header after good frames: raise it now
        except MmpError as exc:
            self.error = exc                # after the good frames are taken
        if frames:
            self.frames.extend(frames)
        if frames or self.error is not None:
            self._wake()

    def eof_received(self) -> Optional[bool]:
        return False                        # close the transport

    # ------------------------------------------------------------ used by the client
    def gone(self) -> bool:
        """True when the idle connection was closed or holds bytes nobody asked for, including
        bytes (or an end of stream) the event loop has not handed over yet (a zero-timeout
        ``poll`` of the descriptor: the loop may not have run since they came)."""
        if (self.closed or self.error is not None or bool(self.frames) or bool(self.partial)
                or self.splitter.pending > 0):
            return True
        if self._fd >= 0 and _poll is not None:
            try:
                p = _poll()
                p.register(self._fd, select.POLLIN)
                return bool(p.poll(0))
            except (OSError, ValueError):  # pragma: no cover
                return True
        return False

    def more(self) -> bool:
        """True when bytes arrived beyond what was taken."""
        return bool(self.frames) or bool(self.partial) or self.splitter.pending > 0

    def send(self, data: bytes) -> None:
        t = self.transport
        if self.closed or t is None or t.is_closing():
            raise PeerClosed("connection closed by the peer")
        t.write(data)

    async def _arrival(self) -> bool:
        """Wait until a frame is queued; False when the connection closed first."""
        while not self.frames:
            if self.error is not None:
                err, self.error = self.error, None
                raise err
            if self.closed:
                return False
            self.waiter = self._loop.create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        return True

    async def next_frame(self) -> bytes:
        """The next whole frame (``PeerClosed`` when the connection closed first)."""
        if self.frames and not self.partial:
            return self.frames.popleft()
        if self.partial:
            raise PeerClosed("connection out of step")      # (never after single exchanges)
        if not await self._arrival():
            raise PeerClosed("connection closed by the peer while a response was expected")
        return self.frames.popleft()

    async def recv_into(self, view: memoryview) -> int:
        """Copy queued frames into ``view`` (at most its size); 0 when the connection closed."""
        if not self.partial and not await self._arrival():
            return 0
        room = len(view)
        got = 0
        while got < room:
            chunk = self.partial or (self.frames.popleft() if self.frames else b"")
            if not chunk:
                break
            n = min(len(chunk), room - got)
            view[got:got + n] = chunk[:n]
            self.partial = chunk[n:]
            got += n
        return got

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _Datagrams(_Waking, asyncio.DatagramProtocol):
    """One connected UDP endpoint: received datagrams are queued until a call takes them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.transport: Optional[asyncio.DatagramTransport] = None
        self.queue: Deque[bytes] = deque()
        self.error: Optional[BaseException] = None
        self.closed = False
        self.waiter: Optional["asyncio.Future[None]"] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.queue.append(data)
        self._wake()

    def error_received(self, exc: Exception) -> None:
        self.error = exc
        self._wake()

    def gone(self) -> bool:
        """True when the endpoint was closed (queued datagrams are discarded by the next call)."""
        return self.closed

    def send(self, data: bytes) -> None:
        t = self.transport
        if self.closed or t is None or t.is_closing():
            raise PeerClosed("UDP endpoint closed")
        t.sendto(data)

    async def wait(self, until: float) -> None:
        """Wait for a datagram, an error or the loop time ``until`` (``inf``: no timer)."""
        if self.queue or self.error is not None or self.closed:
            return
        loop = self._loop
        self.waiter = loop.create_future()
        handle = loop.call_at(until, self._wake) if until != _NEVER else None
        try:
            await self.waiter
        finally:
            self.waiter = None
            if handle is not None:
                handle.cancel()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class AsyncClient(ClientCore):
    """asyncio OptoMMP client for one controller.

    ``AsyncClient(host, port=2001, *, timeout=2.0, max_block=1024, pipeline=1, device="epic",
    transport="tcp")``, options (and the ``prepare`` rule of the custom area) as for ``Client``.
    Use ``async with`` or ``await client.close()``.
    One instance belongs to one event loop; its calls are serialised by a lock
    (tasks may share it; a task waiting for the lock counts that wait against its
    own call's ``timeout``).  It is not thread-safe.
    """

    _kind = "AsyncClient"

    def __init__(self, host: str, port: int = DEFAULT_PORT, *, timeout: float = 2.0,
                 max_block: int = MAX_BLOCK, pipeline: int = 1, device: str = "epic",
                 transport: str = "tcp") -> None:
        super().__init__(host, port, timeout, max_block, pipeline, device, transport)
        self._lock = _CallLock()
        self._deadline = _NEVER           # the current call's deadline (loop clock)
        self._watchdog: Optional[asyncio.TimerHandle] = None
        self._watch_at = 0.0
        self._watch_loop: Optional[asyncio.AbstractEventLoop] = None

    # ---------------------------------------------------------------- lifecycle
    async def connect(self) -> None:
        """Open the connection now instead of on the first call (within ``timeout``)."""
        await self._call(None)

    async def close(self) -> None:
        """Close the connection.  A later call opens a new one."""
        self._drop()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                        tb: Optional[TracebackType]) -> None:
        self._drop()

    # ---------------------------------------------------------------- internals
    def _peer_gone(self, sock: Any) -> bool:
        gone: bool = sock.gone()
        return gone

    async def _ensure(self, op: Optional[Operation[Any]] = None) -> _Stream:
        proto = self._sock
        if proto is not None:
            if not self._stale(proto, op):
                return proto  # type: ignore[no-any-return]
            log.debug("%s:%s: connection went stale, reconnecting", self.host, self.port)
            self._drop()
        loop = asyncio.get_running_loop()
        if self._udp:
            try:
                _d, dproto = await loop.create_datagram_endpoint(
                    lambda: _Datagrams(loop), remote_addr=(self.host, self.port))
            except OSError as exc:
                raise MmpConnectionError(f"{self.host}:{self.port}: cannot open a UDP endpoint: {exc}") from exc
            self._sock = dproto
            self._conn.pending_write = None
            log.debug("%s:%s: UDP endpoint connected", self.host, self.port)
            return dproto  # type: ignore[return-value]
        try:
            size = self._pipeline * (HEADER_BLOCK + self._max_block)
            _t, proto = await loop.create_connection(lambda: _Stream(loop, size), self.host, self.port)
        except OSError as exc:
            raise MmpConnectionError(f"{self.host}:{self.port}: cannot connect: {exc}") from exc
        self._sock = proto
        self._conn.pending_write = None
        log.debug("%s:%s: connected", self.host, self.port)
        return proto  # type: ignore[no-any-return]

    async def _pump_udp(self, proto: _Datagrams, op: Operation[Any]) -> None:
        """Exchange ``op`` over datagrams (``datagrams.DatagramExchange``); the watchdog ends the wait."""
        loop = asyncio.get_running_loop()
        x = DatagramExchange(op, self._conn, self._pipeline, self._timeout)
        queue = proto.queue
        while queue:                          # discard what came since the last call
            x.received(queue.popleft(), loop.time())
        proto.error = None                    # (an ICMP error left by an earlier send)
        for d in x.start(loop.time()):
            proto.send(d)
        while not x.done:
            now = loop.time()
            if now >= self._deadline:
                raise _Deadline()
            for d in x.due(now):
                proto.send(d)
            if queue:
                for d in x.received(queue.popleft(), now):
                    proto.send(d)
                continue
            if proto.error is not None:
                err, proto.error = proto.error, None
                raise err
            if proto.closed:
                raise PeerClosed("UDP endpoint closed")
            await proto.wait(min(x.next_timer(), self._deadline))
        x.result()

    async def _pump(self, proto: _Stream, op: Operation[Any]) -> None:
        conn = self._conn
        if self._udp:
            await self._pump_udp(proto, op)  # type: ignore[arg-type]
            return
        if (len(op.chunks) if op.is_write else len(op.ranges)) == 1 and not _frames_log.isEnabledFor(_DEBUG):
            payload, maxlen, tl = single_request(op, conn)
            proto.splitter.max_frame = maxlen      # a longer answer is an error at its header
            proto.send(payload)
            frame = await proto.next_frame()
            single_answer(op, conn, frame, tl, maxlen, proto.more())
            return
        gen = exchange(op, conn, self._pipeline)
        step = next(gen)
        proto.splitter.max_frame = HEADER_BLOCK + max(op.lengths, default=0) if not op.is_write \
            else HEADER_SHORT
        while True:
            if step[0] is SEND:
                proto.send(step[1])
                reply = None
            else:
                reply = await proto.recv_into(step[1])
            try:
                step = gen.send(reply)
            except StopIteration:
                return

    # One call's deadline is kept by a watchdog timer per client rather than a timer per call:
    # a call only records its deadline; the watchdog, when it fires, re-arms itself for the
    # current call's deadline, or - once that has passed - wakes the waiting receive with
    # ``_Deadline``.  The rare waits for the lock and for a connection use asyncio.timeout_at.
    def _watch(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        self._deadline = deadline
        if self._watchdog is None or self._watch_at > deadline or self._watch_loop is not loop:
            if self._watchdog is not None:
                self._watchdog.cancel()
            self._watchdog = loop.call_at(deadline, self._on_watchdog, loop)
            self._watch_at = deadline
            self._watch_loop = loop

    def _on_watchdog(self, loop: asyncio.AbstractEventLoop) -> None:
        self._watchdog = None
        deadline = self._deadline
        if deadline == _NEVER:
            return
        if loop.time() < deadline:
            self._watchdog = loop.call_at(deadline, self._on_watchdog, loop)
            self._watch_at = deadline
            return
        proto = self._sock
        if proto is not None:
            proto.expire()

    async def _call(self, op: Optional[Operation[Any]]) -> Any:
        if op is not None and op.empty:
            return op.finish()        # nothing to send: the connection is left as it was
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        lock = self._lock
        if lock.held:
            try:
                async with _timeout_at(deadline):
                    await lock.wait(loop)
            except TimeoutError as exc:
                if isinstance(exc, MmpError):
                    raise
                raise MmpTimeoutError(f"{self.host}:{self.port}: client busy for {self._timeout} s") from None
        else:
            lock.held = True
        try:
            conn = self._conn
            for attempt in (0, 1):
                conn.pending_write = None
                conn.pending_clear = False
                if op is not None and op.custom is not None:
                    begin_custom(op, conn)      # not prepared: raised before connecting
                proto = self._sock
                if proto is None or self._stale(proto, op):
                    try:
                        async with _timeout_at(deadline):
                            proto = await self._ensure(op)
                    except TimeoutError as exc:
                        if isinstance(exc, MmpError):
                            self._drop()
                            raise
                        err = self._timed_out(exc)
                        raise err from err.__cause__
                if op is None:
                    return None
                self._watch(loop, deadline)
                try:
                    if op.custom is not None:
                        begin_custom(op, conn)      # again: a connection remade just now forgot it
                    await self._pump(proto, op)
                except _Deadline:
                    err = self._timed_out(None)
                    raise err from err.__cause__
                except BaseException as exc:
                    self._failed(exc, op, attempt == 0 and loop.time() < deadline and not self._udp)
                    continue
                finally:
                    self._deadline = _NEVER
                self._last_used = time.monotonic()
                return op.finish()
        finally:
            lock.release()
        raise AssertionError("unreachable")  # pragma: no cover

    def _execute(self, op: Operation[T]) -> Awaitable[T]:
        return self._call(op)   # (one coroutine: the public methods await it)

    # ---------------------------------------------------------------- the public calls
    # One line each: the arguments are checked and the frames built by mmpfast.calls.
    # ---- BEGIN generated by tools/gen_client_api.py: the public calls (do not edit by hand)
    async def read(self, address: int, length: int) -> bytes:
        """``length`` bytes from ``address`` (low 32 bits), as ``bytes``.

        Any length; chunked at ``max_block`` (one block read per chunk).  ``read(a, 0)``
        is ``b""`` and sends nothing."""
        return await self._execute(calls.op_read(self._max_block, address, length))

    async def read_into(self, address: int, buffer: Buffer) -> None:
        """Fill ``buffer`` (any writable C-contiguous buffer: bytearray, memoryview,
        array, numpy) with its size in bytes from ``address``.  Returns ``None``.

        The bytes are stored as they come off the wire (big-endian).  An empty
        buffer sends nothing."""
        return await self._execute(calls.op_read_into(self._max_block, address, buffer))

    async def write(self, address: int, data: Buffer) -> None:
        """Write the bytes of ``data`` (any bytes-like) at ``address``; chunked at ``max_block``.
        Empty ``data`` sends nothing."""
        return await self._execute(calls.op_write(self._max_block, address, data))

    async def uptime_ms(self) -> int:
        """Milliseconds since power-up (uint32 at 0xF030010C, read with one 4-byte block read)."""
        return await self._execute(calls.op_uptime_ms(self._max_block))

    async def status(self) -> Status:
        """The status area (one block read of ``memmap.STATUS_BLOCK_LENGTH`` bytes) as a ``Status``."""
        return await self._execute(calls.op_status(self._max_block))

    async def powerup_clear(self) -> None:
        """Send Powerup Clear: one block write of ``00 00 00 01`` to 0xF0380000."""
        return await self._execute(calls.op_powerup_clear(self._max_block))

    async def read_digital(self, module: int, channel: int) -> bool:
        """State of a digital point: one 4-byte read.  EPIC: ``module`` 0..15, ``channel`` 0..63,
        slot +0 of 0xF01E0000 + 0x1000*m + 0x40*c; SNAP: channel 0..3, 0xF0800000 + 0x40*p
        (p = 4*module + channel)."""
        return await self._execute(calls.op_read_digital(self._max_block, self._device, module, channel))

    async def write_digital(self, module: int, channel: int, state: bool) -> None:
        """Turn a digital output on (``True``/1) or off (``False``/0): one 4-byte write.
        EPIC: ``state`` at slot +0 of 0xF0220000 + 0x1000*m + 0x40*c; SNAP: ``00 00 00 01`` at
        0xF0900000 + 0x40*p (turn on) or + 4 (turn off)."""
        return await self._execute(calls.op_write_digital(self._max_block, self._device, module, channel, state))

    async def read_digital_channel(self, module: int, channel: int) -> DigitalChannel:
        """The whole digital channel record (``DigitalChannel``), one block read.  SNAP: the
        point record 0xF0800000 + 0x40*p; ``feature_type`` is its counter-active word (1 while
        counting, the counter feature's code) and ``quality`` is 0 (SNAP PAC has no quality word)."""
        return await self._execute(calls.op_read_digital_channel(self._max_block, self._device, module, channel))

    async def read_analog(self, module: int, channel: int) -> float:
        """Value (float32, engineering units) of an analog point: EPIC 0xF0260000 + 0x1000*m +
        0x40*c, SNAP 0xF0A00000 + 0x40*p."""
        return await self._execute(calls.op_read_analog(self._max_block, self._device, module, channel))

    async def write_analog(self, module: int, channel: int, value: float) -> None:
        """Set an analog output (float32 EU): EPIC 0xF02A0000 + 0x1000*m + 0x40*c, SNAP
        0xF0B00000 + 0x40*p.  NaN and infinities are ``ValueError``."""
        return await self._execute(calls.op_write_analog(self._max_block, self._device, module, channel, value))

    async def read_analog_channel(self, module: int, channel: int) -> AnalogChannel:
        """Value, minimum, maximum and quality of an analog channel (``AnalogChannel``).  SNAP: the
        point record 0xF0A00000 + 0x40*p; ``quality`` is 0 (SNAP PAC has no quality word)."""
        return await self._execute(calls.op_read_analog_channel(self._max_block, self._device, module, channel))

    async def read_clear_digital(self, module: int, channel: int) -> DigitalCounts:
        """Read and clear a digital point's feature value (counts) and latches (``DigitalCounts``).

        EPIC: one 12-byte read of 0xF02E0000 + 0x600*m + 0x18*c; SNAP: 4-byte reads of
        0xF0F00000 + 4*p, + 0x100, + 0x200.  The device clears what it returns: the call is
        never repeated (a lost answer is ``MmpTimeoutError`` / ``MmpConnectionError``)."""
        return await self._execute(calls.op_read_clear_digital(self._max_block, self._device, module, channel))

    async def read_clear_analog_minmax(self, module: int, channel: int) -> Tuple[float, float]:
        """Read and reset an analog point's ``(minimum, maximum)`` (float32 EU).  EPIC: one 8-byte
        read of 0xF01D4000 + 0x300*m + 0x0C*c; SNAP: 0xF0F80000 + 4*p and + 0x100.  Never
        repeated, as ``read_clear_digital``."""
        return await self._execute(calls.op_read_clear_analog_minmax(self._max_block, self._device, module, channel))

    async def read_point_config(self, module: int, channel: int) -> PointConfig:
        """A point's configuration (``PointConfig``: module and point type, feature, scaling,
        watchdog, name), one block read: EPIC 0x63 bytes at 0xF0100000 + 0x3000*m + 0xC0*c,
        SNAP 0x40 bytes at 0xF0C00000 + 0x40*p.  Absent modules and channels read as zeros."""
        return await self._execute(calls.op_read_point_config(self._max_block, self._device, module, channel))

    async def write_point_feature(self, module: int, channel: int, feature: int) -> None:
        """Set a point's feature (uint32 0..0xFFFFFFFF: 0 none, 1 counter, ...): one 4-byte
        write at +0x08 of its configuration record (see ``read_point_config``)."""
        return await self._execute(calls.op_write_point_feature(self._max_block, self._device, module, channel, feature))

    async def read_scratchpad_int32(self, index: int, count: int = 1) -> List[int]:
        """``count`` int32 values from logical index 0..10239 (spanning areas 1-3), as ``list[int]``."""
        return await self._execute(calls.op_read_scratchpad_int32(self._max_block, index, count))

    async def write_scratchpad_int32(self, index: int, values: Values) -> None:
        """Write one int or a sequence of ints (each must fit int32) from logical ``index``."""
        return await self._execute(calls.op_write_scratchpad_int32(self._max_block, index, values))

    async def read_scratchpad_float(self, index: int, count: int = 1) -> List[float]:
        """``count`` float32 values from logical index 0..10239, as ``list[float]``."""
        return await self._execute(calls.op_read_scratchpad_float(self._max_block, index, count))

    async def write_scratchpad_float(self, index: int, values: Values) -> None:
        """Write float32 values from logical ``index``.  NaN and infinities are stored as
        given (the scratch pad is raw storage); finite values beyond float32 are ``ValueError``."""
        return await self._execute(calls.op_write_scratchpad_float(self._max_block, index, values))

    async def read_scratchpad_int64(self, index: int, count: int = 1) -> List[int]:
        """``count`` int64 values (big-endian, stride 8) from index 0..1023, as ``list[int]``."""
        return await self._execute(calls.op_read_scratchpad_int64(self._max_block, index, count))

    async def write_scratchpad_int64(self, index: int, values: Values) -> None:
        """Write one int or a sequence of ints (each must fit int64) from ``index``."""
        return await self._execute(calls.op_write_scratchpad_int64(self._max_block, index, values))

    async def read_scratchpad_string(self, slot: int, *, encoding: str = DEFAULT_ENCODING, errors: str = "strict") -> str:
        """Text of string slot 0..63: one block read of the 130-byte slot.

        The first two bytes are the big-endian length (above 128 is
        ``MmpProtocolError``); the text is decoded with ``encoding`` (UTF-8 by default).
        An unknown ``encoding`` or ``errors`` is ``ValueError`` before anything is sent."""
        return await self._execute(calls.op_read_scratchpad_string(self._max_block, slot, encoding, errors))

    async def write_scratchpad_string(self, slot: int, text: Union[str, bytes], *, encoding: str = DEFAULT_ENCODING) -> None:
        """Store ``text`` in string slot 0..63: one block write of the big-endian
        length word followed by the bytes (``str`` is encoded with ``encoding``,
        bytes-like objects are stored as they are).  Over 128 bytes is ``ValueError``."""
        return await self._execute(calls.op_write_scratchpad_string(self._max_block, slot, text, encoding))

    async def prepare(self, plan: ScanPlan) -> None:
        """Write ``plan.custom_writes`` (the plan's custom-area address list, from 0xF0D50000) and
        remember on this connection that it holds them; ``scan`` needs it for a plan with
        ``custom_addresses``.  A plan without them sends nothing.  The connection forgets it
        when it is remade, or when another list (or any raw write over 0xF0D50000..0xF0D50FFF)
        is written: prepare again then."""
        return await self._execute(calls.op_prepare(self._max_block, self._device, self._conn, plan))

    async def scan_into(self, plan: ScanPlan, buffer: Buffer) -> None:
        """Run ``plan``'s block reads, pipelined, scattering the data into ``buffer``
        (writable, at least ``plan.buffer_size`` bytes).  Returns ``None``.
        A plan with no points sends nothing; ``plan`` not a ``ScanPlan`` is ``TypeError``, a plan
        of another device ``ValueError``, a custom-area plan this connection was not prepared
        for ``MmpError`` (nothing sent).  Read-and-clear requests (from ``plan.clear_from``) go
        after every plain answer and are never repeated."""
        return await self._execute(calls.op_scan_into(self._max_block, self._device, plan, buffer))

    async def scan(self, plan: ScanPlan) -> ScanResult:
        """One pass of ``plan``: a new buffer filled as ``scan_into`` does, as ``plan.result(buffer)``.
        A plan with no points sends nothing and returns an empty ``ScanResult``."""
        return await self._execute(calls.op_scan(self._max_block, self._device, plan))
    # ---- END generated calls
