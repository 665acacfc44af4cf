"""Connection state and failure policy shared by the blocking and asyncio transports.

``ClientCore`` holds what both clients keep about a connection (options,
socket, protocol state) and decides, once for both, what a failure means:
which errors close the connection, when a read may be repeated, when a write
becomes ``WriteOutcomeUnknown``.  The transports (``mmpfast.client``,
``mmpfast.aio``) only move bytes; the calls (``mmpfast.calls``) and the request
engine (``mmpfast.engine``) turn calls into frames and frames into results.
"""
from __future__ import annotations

import logging
import select
import socket
import time
from typing import Any, Optional

from . import memmap
from .checks import MAX_UDP_BLOCK, check_endpoint, check_options, check_transport
from .engine import Connection, NotPrepared, Operation, PeerClosed
from .errors import (MmpConnectionError, MmpError, MmpNakError, MmpProtocolError, MmpTimeoutError,
                     WriteOutcomeUnknown)
from .protocol import HEADER_BLOCK

__all__ = ["ClientCore", "peer_gone", "STALE_CHECK_AFTER"]

log = logging.getLogger("mmpfast.client")


_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)


_poll = getattr(select, "poll", None)


def peer_gone(sock: socket.socket) -> bool:
    """True when the idle socket was closed by the peer or holds unsolicited bytes.

    Never blocks, whatever the socket's mode: a zero-timeout ``poll`` says
    whether anything is there, then one ``MSG_PEEK`` receive looks at it.
    """
    try:
        if _poll is not None:            # no descriptor limit (select() stops at 1024)
            p = _poll()
            p.register(sock, select.POLLIN)
            readable = bool(p.poll(0))
        else:  # pragma: no cover - Windows
            readable = bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True
    if not readable:
        return False
    try:
        data = sock.recv(1, socket.MSG_PEEK | _DONTWAIT)
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True
    if data:
        log.warning("unsolicited bytes from the device on an idle connection; reconnecting")
    return True


#: seconds a connection may sit idle before the next call first checks that the peer is still there
STALE_CHECK_AFTER = 0.25


class ClientCore:
    """State and failure policy shared by ``Client`` and ``AsyncClient``.

    The transports provide ``_execute`` (and connect/pump bytes); everything
    else about a connection's life is decided here, once:

    * a NAK keeps the connection (every response of the window was read);
    * any other failure mid-exchange closes it (it may be out of step);
    * a write in flight whose acknowledgement did not arrive, or arrived
      garbled, becomes ``WriteOutcomeUnknown`` and is never repeated;
    * a read whose connection dropped may be repeated once on a new
      connection (``_failed`` returns instead of raising), unless a request
      that changes the device (read-and-clear) was handed to the transport in
      that attempt (``Connection.pending_clear``), or the read gathers through
      the custom area (the new connection is not prepared for it);
    * a connection remade forgets the custom-area address list it was
      prepared with (``prepare`` again); a scan needing one it does not have
      raises ``NotPrepared`` (an ``MmpError``) before anything is sent.
    """

    _kind = "Client"

    def __init__(self, host: str, port: int, timeout: object, max_block: object, pipeline: object,
                 device: object = "epic", transport: object = "tcp") -> None:
        self.host, self.port = check_endpoint(host, port)
        self._timeout, self._max_block, self._pipeline = check_options(timeout, max_block, pipeline)
        self._device = "snap" if memmap.check_device(device) == "snap" else "epic"
        self._transport = check_transport(transport)
        self._udp = self._transport == "udp"
        if self._udp and self._max_block > MAX_UDP_BLOCK:
            raise ValueError(f"max_block {self._max_block} does not fit a UDP datagram (at most {MAX_UDP_BLOCK})")
        self._sock: Any = None     # the blocking client's socket, the asyncio client's protocol
        self._conn = Connection(self._pipeline * (HEADER_BLOCK + self._max_block))
        self._last_used = 0.0     # time.monotonic() at the end of the last exchange

    @property
    def max_block(self) -> int:
        """Largest data length of one request, in bytes."""
        return self._max_block

    @property
    def device(self) -> str:
        """``"epic"`` (groov EPIC channel slots) or ``"snap"`` (SNAP PAC points, PROTOCOL.md §3.7):
        the memory map of the point calls; a scan plan must be of the same device."""
        return self._device

    @property
    def timeout(self) -> float:
        """Budget of one call (lock, connect and every chunk), in seconds."""
        return self._timeout

    @property
    def pipeline(self) -> int:
        """Most requests in flight at once."""
        return self._pipeline

    @property
    def transport(self) -> str:
        """``"tcp"`` (a connection) or ``"udp"`` (one datagram per request, same port)."""
        return self._transport

    @property
    def connected(self) -> bool:
        """True while a TCP connection (or, over UDP, a connected UDP socket) is open
        (it may still turn out to be dead)."""
        return self._sock is not None

    def __repr__(self) -> str:
        state = "connected" if self._sock is not None else "idle"
        return f"<mmpfast.{self._kind} {self.host}:{self.port} {state}>"

    def _stale(self, sock: Any, op: Optional[Operation[Any]] = None) -> bool:
        """True when an idle connection should be replaced before ``op`` is sent: the
        peer closed it or it holds bytes nobody asked for (one non-blocking ``recv``).

        Skipped for a plain read on a connection used in the last
        ``STALE_CHECK_AFTER`` seconds: if the peer has gone, the read fails and is
        repeated once on a new connection.  Always done before a write (so a
        connection the device closed does not turn it into ``WriteOutcomeUnknown``)
        and before a read of a read-and-clear area (which is never repeated).
        """
        if (op is not None and not op.is_write and time.monotonic() - self._last_used < STALE_CHECK_AFTER
                and op.may_retry()):
            return False
        return self._peer_gone(sock)

    def _peer_gone(self, sock: Any) -> bool:
        """The idle check of this transport (``peer_gone`` for a socket)."""
        return peer_gone(sock)

    def _drop(self) -> None:
        self._conn.custom = None       # a new connection must be prepared again
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:  # pragma: no cover
                pass

    def _unknown(self, cause: BaseException) -> WriteOutcomeUnknown:
        address = self._conn.pending_write
        self._conn.pending_write = None
        return WriteOutcomeUnknown(
            f"{self.host}:{self.port}: write at 0x{address or 0:08X} sent but not acknowledged "
            f"({cause}); not retried", address=address)

    def _timed_out(self, cause: Optional[BaseException]) -> MmpError:
        """The error for a call whose deadline passed (the connection is closed)."""
        self._drop()
        err = MmpTimeoutError(f"{self.host}:{self.port}: no answer within {self._timeout} s")
        err.__cause__ = cause
        if self._conn.pending_write is not None:
            unknown = self._unknown(err)
            unknown.__cause__ = err
            return unknown
        return err

    def _failed(self, exc: BaseException, op: Operation[Any], retry_allowed: bool) -> None:
        """Apply the failure policy to ``exc``, raised while ``op`` was exchanged.

        Raises what the caller should see; returns only when the read may be
        repeated once on a new connection.
        """
        if isinstance(exc, (MmpNakError, NotPrepared)):
            self._last_used = time.monotonic()   # every response was read (or none sent): in step
            raise exc
        self._drop()
        pending = self._conn.pending_write is not None
        if isinstance(exc, MmpProtocolError):
            if pending:   # a garbled acknowledgement is no acknowledgement
                raise self._unknown(exc) from exc
            raise exc
        if isinstance(exc, (OSError, PeerClosed)):
            if isinstance(exc, MmpError):
                cerr: MmpError = exc
            else:
                cerr = MmpConnectionError(f"{self.host}:{self.port}: connection lost: {exc}")
                cerr.__cause__ = exc
            if pending:
                raise self._unknown(cerr) from cerr
            if (not op.is_write and retry_allowed and op.custom is None
                    and (op.may_retry() or not self._conn.pending_clear)):
                log.info("%s:%s: connection lost during a read, retrying once", self.host, self.port)
                return
            raise cerr
        raise exc   # cancelled or interrupted mid-exchange: the connection is already closed
