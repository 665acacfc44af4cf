"""The blocking OptoMMP client (TCP).

``Client`` only moves bytes: every public method comes from
``mmpfast.requests.RequestMixin`` and every frame rule from
``mmpfast.requests.exchange``.  What lives here is the socket: a lazy
connect with ``TCP_NODELAY``, one deadline per call (``timeout`` seconds for
the lock, the connect and every chunk together, kept by the kernel's own
``SO_RCVTIMEO``/``SO_SNDTIMEO`` re-armed to the remaining budget, so each send
or receive is one system call), ``recv_into`` a reused buffer, and the
failure policy (``ClientCore``):

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

One ``Client`` may be shared by threads: calls are serialised by a lock.
"""
from __future__ import annotations

import logging
import math
import socket
import struct
import sys
import threading
import time
from types import TracebackType
from typing import Any, Optional, Type

from .errors import MmpConnectionError, MmpTimeoutError
from .requests import SEND, ClientCore, Operation, exchange

__all__ = ["Client", "DEFAULT_PORT"]

log = logging.getLogger("mmpfast.client")

DEFAULT_PORT = 2001
_monotonic = time.monotonic


if sys.platform == "win32":  # pragma: no cover - SO_RCVTIMEO is a DWORD of milliseconds there
    def _timeval(seconds: float) -> bytes:
        return struct.pack("@L", max(1, math.ceil(seconds * 1000)))
else:
    def _timeval(seconds: float) -> bytes:
        us = max(1000, math.ceil(seconds * 1e6))
        return struct.pack("@ll", us // 1_000_000, us % 1_000_000)

#: how far (seconds) the kernel's timeout may run past a call's deadline before it is lowered
_OVERSHOOT = 0.005


class Client(ClientCore):
    """Blocking OptoMMP client for one controller.

    ``Client(host, port=2001, *, timeout=2.0, max_block=1024, pipeline=1)``:
    ``timeout`` is the budget of one call in seconds (lock, connect, all
    chunks), ``max_block`` the largest data length of one request in bytes,
    ``pipeline`` how many requests may be in flight at once (1..64).  The
    connection is made on first use and remade after a failure.  Use it as a
    context manager or call ``close()``.
    """

    _kind = "Client"

    def __init__(self, host: str, port: int = DEFAULT_PORT, *, timeout: float = 2.0,
                 max_block: int = 1024, pipeline: int = 1) -> None:
        super().__init__(host, port, timeout, max_block, pipeline)
        self._lock = threading.Lock()
        self._armed = 0.0      # SO_RCVTIMEO/SO_SNDTIMEO now set on the socket, seconds

    # ---------------------------------------------------------------- lifecycle
    def connect(self) -> None:
        """Open the connection now instead of on the first call (within ``timeout``)."""
        deadline = _monotonic() + self._timeout
        with self._locked(deadline):
            self._ensure(deadline)

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

    def _ensure(self, deadline: float, op: Optional[Operation] = None) -> socket.socket:
        sock = self._sock
        if sock is not None:
            if not self._stale(sock, op):
                return sock
            log.debug("%s:%s: connection went stale, reconnecting", self.host, self.port)
            self._drop()
        remaining = deadline - _monotonic()
        if remaining <= 0:
            raise MmpTimeoutError(f"{self.host}:{self.port}: no time left to connect")
        try:
            sock = socket.create_connection((self.host, self.port), timeout=remaining)
        except socket.timeout as exc:
            raise MmpTimeoutError(f"{self.host}:{self.port}: connect timed out") from exc
        except OSError as exc:
            raise MmpConnectionError(f"{self.host}:{self.port}: cannot connect: {exc}") from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # pragma: no cover - not a TCP socket on some platforms
            pass
        # Blocking from here on, with the kernel's own send/receive timeouts kept within the
        # call's budget (_arm): one system call per send or receive, no poll() in between.
        sock.settimeout(None)
        self._armed = 0.0
        self._arm(sock, deadline - _monotonic())
        self._sock = sock
        self._conn.pending_write = None
        log.debug("%s:%s: connected", self.host, self.port)
        return sock

    def _arm(self, sock: socket.socket, remaining: float) -> None:
        """Keep the kernel's send/receive timeouts within ``remaining`` seconds (and not far
        below it): a system call only when a slow call ate into the budget, or after one."""
        if remaining <= 0:
            raise socket.timeout("deadline passed")
        armed = self._armed
        if armed > remaining + _OVERSHOOT or armed < remaining - max(_OVERSHOOT, 0.05 * self._timeout):
            tv = _timeval(remaining)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
            self._armed = remaining

    def _pump(self, sock: socket.socket, op: Operation, deadline: float) -> None:
        # A blocking socket whose kernel timeouts are re-armed to the remaining budget
        # before each operation when needed; EAGAIN means the kernel timeout expired.
        gen = exchange(op, self._conn, self._pipeline)
        step = next(gen)
        while True:
            if step[0] is SEND:
                data = memoryview(step[1])
                while data:
                    self._arm(sock, deadline - _monotonic())
                    try:
                        sent = sock.send(data)
                    except (BlockingIOError, InterruptedError):
                        continue
                    data = data[sent:]
                reply = None
            else:
                while True:
                    self._arm(sock, deadline - _monotonic())
                    try:
                        reply = sock.recv_into(step[1])
                        break
                    except (BlockingIOError, InterruptedError):
                        continue
            try:
                step = gen.send(reply)
            except StopIteration:
                return

    def _execute(self, op: Operation) -> Any:
        deadline = _monotonic() + self._timeout
        with self._locked(deadline):
            for attempt in (0, 1):
                sock = self._ensure(deadline, op)
                self._conn.pending_write = None
                try:
                    self._pump(sock, op, deadline)
                except socket.timeout as exc:
                    err = self._timed_out(exc)
                    raise err from err.__cause__
                except BaseException as exc:
                    self._failed(exc, op, attempt == 0 and deadline - _monotonic() > 0)
                    continue
                self._last_used = _monotonic()
                return op.finish()
        raise AssertionError("unreachable")  # pragma: no cover


class _Held:
    __slots__ = ("_lock",)

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        self._lock.release()
