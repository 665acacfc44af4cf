"""The request engine over datagrams (UDP), sans-I/O.

Over UDP each request is one datagram to the device's port and each answer
one datagram back; nothing frames a byte stream, answers may arrive in any
order, and a datagram may be lost, duplicated or arrive late.
``DatagramExchange`` keeps the requests of one operation in flight, matches
answers by tl and tcode, drops what does not match and decides the one resend
of a plain read.  The transports (``client.py``, ``aio.py``) only send what it
hands them, feed it what arrives and tell it the time.

This module imports no ``socket``, ``select``, ``time`` or ``asyncio``.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Tuple

from . import codec
from .engine import Connection, Operation, frames_log
from .errors import MmpNakError, MmpProtocolError
from .protocol import TCODE_READ_BLOCK_RESPONSE, TCODE_WRITE_RESPONSE

__all__ = ["DatagramExchange"]

_DEBUG = logging.DEBUG
#: datagrams dropped over UDP (stale, duplicate, foreign, garbled) and resends, at DEBUG/INFO
udp_log = logging.getLogger("mmpfast.udp")


class DatagramExchange:
    """Drive one operation over datagrams (sans-I/O: the transport sends, receives and keeps time).

    Every request is one datagram with its own tl; at most ``pipeline`` are in
    flight, and a new one is sent as soon as an answer frees a place (answers may
    come in any order).  A datagram is taken as the answer to an outstanding
    request only when it decodes as one whole frame with that request's tl and
    the expected tcode (7 for a read, 2 for a write) and, unless it is a NAK, the
    expected data length; anything else - a duplicate, a late answer to an
    earlier call, a wrong tcode, garbage - is dropped and logged at DEBUG on
    ``mmpfast.udp``.

    The resend rule: a request of a plain read (``Operation.may_retry()``) whose
    answer did not come within ``share`` seconds of its sending is sent again
    once, as the very same bytes (same tl).  Both sends ask for the same data,
    so whichever answer arrives first is taken and the other, arriving later,
    finds no outstanding request with its tl and is dropped.  Writes and reads
    of read-and-clear areas are never sent twice: the transport's deadline
    turns them into ``WriteOutcomeUnknown`` / ``MmpTimeoutError``.

    ``share`` is the call's budget divided among its rounds: ``budget / (2 *
    rounds)`` seconds, ``rounds`` = requests / ``pipeline`` rounded up, so a
    request waits half its share of the budget before its one resend.

    Times are plain numbers of seconds on the transport's clock.  The tl field
    has 6 bits: within one call a tl comes back after 64 requests, so a copy of
    an answer delayed by more than ``64 - pipeline`` requests of the same call
    cannot be told apart from a fresh one (the transports also discard whatever
    was queued before a call starts).
    """

    __slots__ = ("op", "conn", "pipeline", "share", "total", "next", "outstanding", "nak",
                 "sent", "resent", "dropped", "_retriable")

    def __init__(self, op: Operation[Any], conn: Connection, pipeline: int, budget: float) -> None:
        self.op = op
        self.conn = conn
        self.pipeline = pipeline
        self.total = len(op.chunks) if op.is_write else len(op.ranges)
        rounds = -(-self.total // pipeline) if self.total else 1
        self.share = budget / (2 * rounds)
        self._retriable = not op.is_write and op.may_retry()
        self.next = 0
        #: tl -> [request index, request bytes, resend time or None]
        self.outstanding: Dict[int, List[Any]] = {}
        self.nak: Optional[MmpNakError] = None
        self.sent = 0          #: datagrams sent, resends included
        self.resent = 0        #: resends
        self.dropped = 0       #: datagrams dropped

    @property
    def done(self) -> bool:
        """True when no answer is awaited any more (``result`` then raises a NAK, if any)."""
        return not self.outstanding and (self.next >= self.total or self.nak is not None)

    def result(self) -> None:
        """Raise the first NAK of the call (``MmpNakError`` with the request's address)."""
        if self.nak is not None:
            raise self.nak

    def next_timer(self) -> float:
        """When ``due`` next has a resend to hand out (``inf``: never)."""
        times = [r[2] for r in self.outstanding.values() if r[2] is not None]
        return min(times) if times else float("inf")

    def start(self, now: float) -> List[bytes]:
        """The first datagrams to send (one window)."""
        out: List[bytes] = []
        self._fill(now, out)
        return out

    def _address(self, index: int) -> int:
        op = self.op
        return op.chunks[index][0] if op.is_write else op.ranges[index][0]

    def _pending(self) -> None:
        if self.op.is_write:
            idx = [r[0] for r in self.outstanding.values()]
            self.conn.pending_write = self._address(min(idx)) if idx else None

    def _fill(self, now: float, out: List[bytes]) -> None:
        op = self.op
        while self.next < self.total and len(self.outstanding) < self.pipeline and self.nak is None:
            i = self.next
            tl = self.conn.next_tl()
            if op.is_write:
                address, data = op.chunks[i]
                payload = codec.encode_write_block(tl, address, data)
            else:
                address, length = op.ranges[i]
                payload = codec.encode_read_block(tl, address, length)
            self.outstanding[tl] = [i, payload, now + self.share if self._retriable else None]
            self.next = i + 1
            self.sent += 1
            if frames_log.isEnabledFor(_DEBUG):
                frames_log.debug("sent %s", payload.hex(" "))
            out.append(payload)
        self._pending()

    def due(self, now: float) -> List[bytes]:
        """The resends due at ``now`` (each request of a plain read at most once)."""
        out: List[bytes] = []
        for tl, req in self.outstanding.items():
            if req[2] is not None and req[2] <= now:
                req[2] = None
                self.sent += 1
                self.resent += 1
                udp_log.info("no answer to request %d (tl %d, 0x%08X) within %.3f s: sent again once",
                             req[0], tl, self._address(req[0]), self.share)
                out.append(req[1])
        return out

    def _drop(self, why: str, datagram: Any) -> List[bytes]:
        self.dropped += 1
        if udp_log.isEnabledFor(_DEBUG):
            udp_log.debug("dropped a datagram (%s): %s", why, bytes(datagram[:32]).hex(" "))
        return []

    def received(self, datagram: Any, now: float) -> List[bytes]:
        """Take ``datagram`` (one received UDP payload) if it answers an outstanding request.

        Returns the datagrams to send next (the window refilled).  Never raises for a
        bad datagram: it is dropped.  A NAK is kept for ``result`` (no new request is
        sent after it; the answers still in flight are awaited).
        """
        try:
            frame = codec.decode_frame(datagram)
        except MmpProtocolError as exc:
            return self._drop(f"not one frame: {exc}", datagram)
        req = self.outstanding.get(frame.tl)
        if req is None:
            return self._drop(f"tl {frame.tl} not awaited", datagram)
        op = self.op
        i = req[0]
        want = TCODE_WRITE_RESPONSE if op.is_write else TCODE_READ_BLOCK_RESPONSE
        if frame.tcode != want:
            return self._drop(f"tcode {frame.tcode}, expected {want}", datagram)
        rcode = frame.rcode or 0
        if not rcode and not op.is_write and frame.data_length != op.lengths[i]:
            return self._drop(f"{frame.data_length} data bytes, expected {op.lengths[i]}", datagram)
        if frames_log.isEnabledFor(_DEBUG):
            frames_log.debug("received %s", bytes(datagram).hex(" "))
        del self.outstanding[frame.tl]
        if rcode:
            if self.nak is None:
                self.nak = MmpNakError(rcode, address=self._address(i))
        elif not op.is_write:
            codec.scatter_read_responses(datagram, op.dest, (op.offsets[i],), (op.lengths[i],), frame.tl)
        out: List[bytes] = []
        self._fill(now, out)
        return out
