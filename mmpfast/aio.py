"""The asyncio OptoMMP client (TCP).

``AsyncClient`` has every public method of ``Client`` (they come from the
same ``mmpfast.requests.RequestMixin``); here each returns a coroutine, so
``await client.read(0xF030010C, 4)``.  Argument errors are raised when the
method is called, before anything is awaited or sent.

The transport is a non-blocking socket driven with ``loop.sock_sendall`` and
``loop.sock_recv_into`` (into a reused buffer), ``TCP_NODELAY`` set; one
deadline covers the lock, the connect and every chunk of a call; calls are
serialised by an ``asyncio.Lock``.  The failure policy is ``Client``'s: a
timeout, protocol error, dropped connection or cancellation closes the socket
(the next call reconnects), an unacknowledged (or garbled-ack) write raises
``WriteOutcomeUnknown`` and is never repeated, a read is repeated once on a
new connection after a drop (not after a timeout, never for read-and-clear
areas), a NAK raises ``MmpNakError`` and keeps the connection.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import sys
import time
from types import TracebackType
from typing import Any, List, Optional, Tuple, Type

from .client import DEFAULT_PORT
from .errors import MmpConnectionError, MmpError
from .requests import SEND, ClientCore, Operation, exchange

__all__ = ["AsyncClient"]

log = logging.getLogger("mmpfast.aio")


def _is_ip_literal(host: str) -> Optional[int]:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return family
        except (OSError, ValueError):
            continue
    return None


class _Deadline(Exception):
    """Internal: the call's deadline passed."""


class AsyncClient(ClientCore):
    """asyncio OptoMMP client for one controller.

    ``AsyncClient(host, port=2001, *, timeout=2.0, max_block=1024, pipeline=1)``,
    options as for ``Client``.  Use ``async with`` or ``await client.close()``.
    One instance belongs to one event loop.
    """

    _kind = "AsyncClient"

    def __init__(self, host: str, port: int = DEFAULT_PORT, *, timeout: float = 2.0,
                 max_block: int = 1024, pipeline: int = 1) -> None:
        super().__init__(host, port, timeout, max_block, pipeline)
        self._lock: Optional[asyncio.Lock] = None

    # ---------------------------------------------------------------- lifecycle
    async def connect(self) -> None:
        """Open the connection now instead of on the first call (within ``timeout``)."""
        await self._guarded(None)

    async def close(self) -> None:
        """Close the connection.  A later call opens a new one."""
        self._drop()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                        tb: Optional[TracebackType]) -> None:
        self._drop()

    # ---------------------------------------------------------------- internals
    async def _ensure(self, op: Optional[Operation] = None) -> socket.socket:
        sock = self._sock
        if sock is not None:
            if not self._stale(sock, op):
                return sock
            log.debug("%s:%s: connection went stale, reconnecting", self.host, self.port)
            self._drop()
        loop = asyncio.get_running_loop()
        family = _is_ip_literal(self.host)
        if family is not None:
            targets: List[Tuple[int, Any]] = [(family, (self.host, self.port))]
        else:
            try:
                infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
            except OSError as exc:
                raise MmpConnectionError(f"{self.host}:{self.port}: cannot resolve: {exc}") from exc
            targets = [(int(fam), addr) for fam, _t, _p, _c, addr in infos]
        last: Optional[BaseException] = None
        for fam, addr in targets:
            s = socket.socket(fam, socket.SOCK_STREAM)
            try:
                s.setblocking(False)
                await loop.sock_connect(s, addr)
            except OSError as exc:
                s.close()
                last = exc
                continue
            except BaseException:
                s.close()
                raise
            try:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # pragma: no cover
                pass
            self._sock = s
            log.debug("%s:%s: connected", self.host, self.port)
            return s
        raise MmpConnectionError(f"{self.host}:{self.port}: cannot connect: {last}") from last

    async def _pump(self, sock: socket.socket, op: Operation) -> None:
        loop = asyncio.get_running_loop()
        gen = exchange(op, self._conn, self._pipeline)
        step = next(gen)
        while True:
            if step[0] is SEND:
                await loop.sock_sendall(sock, step[1])
                reply = None
            else:
                reply = await loop.sock_recv_into(sock, step[1])
            try:
                step = gen.send(reply)
            except StopIteration:
                return

    async def _run(self, op: Optional[Operation]) -> Any:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            for attempt in (0, 1):
                sock = await self._ensure(op)
                if op is None:
                    return None
                self._conn.pending_write = None
                try:
                    await self._pump(sock, op)
                except BaseException as exc:
                    self._failed(exc, op, attempt == 0)
                    continue
                self._last_used = time.monotonic()
                return op.finish()
        raise AssertionError("unreachable")  # pragma: no cover

    async def _guarded(self, op: Optional[Operation]) -> Any:
        try:
            if sys.version_info >= (3, 11):
                try:
                    async with asyncio.timeout(self._timeout):
                        return await self._run(op)
                except TimeoutError as exc:
                    if isinstance(exc, MmpError):
                        raise
                    raise _Deadline() from exc
            else:  # pragma: no cover - Python < 3.11
                try:
                    return await asyncio.wait_for(self._run(op), self._timeout)
                except asyncio.TimeoutError as exc:
                    if isinstance(exc, MmpError):
                        raise
                    raise _Deadline() from exc
        except _Deadline as dl:
            err = self._timed_out(dl.__cause__)
            raise err from err.__cause__

    def _execute(self, op: Operation) -> Any:
        return self._guarded(op)
