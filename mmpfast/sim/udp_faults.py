"""The UDP fault proxy: a relay that drops, delays, duplicates answer datagrams
and sends foreign ones, for tests (see ``mmpfast.sim.faults`` for the TCP one).

``UdpFaultProxy(upstream_host, upstream_port, ...)`` relays one request and one
answer per datagram: it drops answers (every k-th, by tl, a seeded random
fraction, or scripted one by one), delays and duplicates them and sends
foreign datagrams (wrong tl, wrong tcode, garbage)::

    with Simulator() as sim, UdpFaultProxy(sim.host, sim.port, drop_every=10) as proxy:
        ...                                        # a UDP client talks to proxy.address
        proxy.next_answer(UdpFault.duplicate())    # scripted faults come first
        assert proxy.up_by_tcode[1] == 1           # the write block reached the device once
"""
from __future__ import annotations

import asyncio
import collections
import logging
import math
import random
import threading
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, FrozenSet, Iterable, List, Optional, Set, Tuple

from .. import codec
from ..protocol import (
    MIN_PEEK,
    OFF_SOURCE_ID,
    OFF_TL,
    TCODE_READ_BLOCK_RESPONSE,
    TCODE_WRITE_RESPONSE,
    set_tl,
    source_id_of,
    tcode_of,
    tl_of,
)
from .proxybase import ProxyBase

log = logging.getLogger("mmpfast.sim.faults")

__all__ = ["GARBAGE", "UdpFault", "UdpFaultProxy", "foreign_datagram"]

#: the datagram ``UdpFault.foreign("garbage")`` sends when given no bytes: 7 bytes,
#: shorter than any OptoMMP header
GARBAGE = bytes.fromhex("de ad be ef 00 01 02")

_FOREIGN_KINDS = ("tl", "tcode", "garbage")


@dataclass(frozen=True)
class UdpFault:
    """What to do to one answer datagram of ``UdpFaultProxy``.  Build with the factory methods."""

    kind: str
    seconds: float = 0.0
    what: str = ""
    tl: Optional[int] = None
    data: Optional[bytes] = None
    replace: bool = False

    @classmethod
    def drop(cls) -> "UdpFault":
        """Never forward this answer."""
        return cls("drop")

    @classmethod
    def delay(cls, seconds: float) -> "UdpFault":
        """Forward this answer ``seconds`` later (answers behind it are not held back)."""
        if not (isinstance(seconds, (int, float)) and not isinstance(seconds, bool)
                and math.isfinite(seconds) and seconds >= 0):
            raise ValueError("seconds must be a finite number >= 0")
        return cls("delay", seconds=float(seconds))

    @classmethod
    def duplicate(cls, after: float = 0.0) -> "UdpFault":
        """Forward this answer, then the same datagram again ``after`` seconds later
        (a stale duplicate the client must drop)."""
        if not (isinstance(after, (int, float)) and not isinstance(after, bool)
                and math.isfinite(after) and after >= 0):
            raise ValueError("after must be a finite number >= 0")
        return cls("duplicate", seconds=float(after))

    @classmethod
    def foreign(cls, kind: str = "tl", *, tl: Optional[int] = None, data: Optional[bytes] = None,
                replace: bool = False) -> "UdpFault":
        """Send a foreign datagram to the client just before this answer:

        * ``"tl"``: the answer with transaction label ``tl`` (default: the answer's tl + 1
          modulo 64) instead of its own;
        * ``"tcode"``: a well-formed response of another tcode carrying the answer's tl
          (a read-block answer becomes a 12-byte write acknowledgement, a write
          acknowledgement a 16-byte read-quadlet answer with zero data, a read-quadlet
          answer a 20-byte read-block answer with zero data; rcode 0);
        * ``"garbage"``: ``data`` (default ``GARBAGE``, 7 bytes), which is no frame.

        ``replace=True``: the foreign datagram is sent instead of the answer (the answer
        is dropped and counted in ``dropped``).
        """
        if kind not in _FOREIGN_KINDS:
            raise ValueError(f"foreign kind must be one of {_FOREIGN_KINDS}, not {kind!r}")
        if tl is not None and not (isinstance(tl, int) and 0 <= tl <= 63):
            raise ValueError("tl must be 0..63")
        if data is not None and not isinstance(data, (bytes, bytearray)):
            raise TypeError("data must be bytes")
        return cls("foreign", what=kind, tl=tl, data=None if data is None else bytes(data),
                   replace=bool(replace))


def _answer_tl(frame: bytes) -> Optional[int]:
    return tl_of(frame) if len(frame) > OFF_TL else None


def foreign_datagram(answer: bytes, fault: UdpFault) -> bytes:
    """The foreign datagram ``fault`` (kind ``"foreign"``) sends before or instead of ``answer``."""
    if fault.what == "garbage" or len(answer) < MIN_PEEK:
        return GARBAGE if fault.data is None else fault.data
    b = bytearray(answer)
    tl = tl_of(b)
    sid = source_id_of(b) if len(b) >= OFF_SOURCE_ID + 2 else 0
    if fault.what == "tl":
        new = (tl + 1) % 64 if fault.tl is None else fault.tl
        set_tl(b, new)
        return bytes(b)
    tcode = tcode_of(b)
    if tcode == TCODE_READ_BLOCK_RESPONSE:
        return codec.encode_write_response(tl, 0, sid)
    if tcode == TCODE_WRITE_RESPONSE:
        return codec.encode_read_quadlet_response(tl, b"", 0, sid)
    return codec.encode_read_block_response(tl, bytes(4), 0, sid)


class _Front(asyncio.DatagramProtocol):
    def __init__(self, proxy: "UdpFaultProxy") -> None:
        self.proxy = proxy

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.proxy._from_client(data, addr)

    def error_received(self, exc: Exception) -> None:   # pragma: no cover - ICMP and the like
        log.debug("UDP proxy (client side): %s", exc)


class _Back(asyncio.DatagramProtocol):
    def __init__(self, proxy: "UdpFaultProxy", client: Any) -> None:
        self.proxy = proxy
        self.client = client

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.proxy._from_device(data, self.client)

    def error_received(self, exc: Exception) -> None:   # pragma: no cover - e.g. upstream gone
        log.debug("UDP proxy (device side, for %s): %s", self.client, exc)


class UdpFaultProxy(ProxyBase[UdpFault]):
    """A UDP relay between clients and a device's (or the simulator's) UDP port, that drops,
    delays, duplicates answers and sends foreign datagrams, deterministically.  Context
    manager; runs in a background thread.

    Each request datagram from a client is forwarded unchanged to ``upstream`` from a
    socket of that client's own (so each answer goes back to the address that asked),
    and counted.  Each answer datagram from upstream gets, in this order of precedence:

    1. the next entry of the fault queue (``next_answer``, ``queue_faults``), when one is
       queued: a ``UdpFault``, or ``None`` = forward it unchanged (no standing rule applies);
    2. otherwise the standing rules, set by the constructor or as attributes at any time:
       it is dropped when ``drop_every`` = k and it is the k-th, 2k-th, ... answer
       (``answers_in`` counts them from 1), when its tl is in ``drop_tls``, when
       ``drop_next_tl(tl)`` asked for it, or when the seeded random draw falls below
       ``drop_fraction``; an answer not dropped is forwarded ``delay`` seconds later
       (``0``: at once).

    The random draw: answer i (1-based) is dropped by ``drop_fraction`` when the i-th
    value of ``random.Random(seed).random()`` is below it.  One value is drawn for every
    answer, whatever decides its fate, so the answers it drops depend only on ``seed``.

    ``drop_request_every`` = k drops the k-th, 2k-th, ... request datagram (counted over
    all clients by ``requests_in``) before it reaches upstream (counted in
    ``requests_dropped``, not in ``frames_up``).

    Counters (read them; the proxy's thread updates them):
    ``requests_in`` request datagrams received from clients, ``frames_up`` requests
    forwarded to upstream, ``up_by_tcode`` the same per request
    tcode (datagrams shorter than 4 bytes are forwarded and counted under -1),
    ``requests_dropped``; ``answers_in`` datagrams from upstream, ``frames_down`` answer
    datagrams sent to clients (delayed ones when sent, duplicates included, foreign ones
    not), ``dropped`` answers never forwarded, ``duplicates`` extra copies sent,
    ``foreign`` foreign datagrams sent (``inject`` included), ``faults_applied`` queue
    entries used that were not ``None``, ``clients`` distinct client addresses;
    ``request_log`` the forwarded request datagrams and ``dropped_log`` the dropped
    answers, oldest first (the last ``log_size`` of each).
    """

    def __init__(self, upstream_host: str, upstream_port: int, *, host: str = "127.0.0.1",
                 port: int = 0, drop_every: Optional[int] = None, drop_tls: Iterable[int] = (),
                 drop_fraction: float = 0.0, seed: int = 0, delay: float = 0.0,
                 drop_request_every: Optional[int] = None, log_size: int = 100_000) -> None:
        for name, k in (("drop_every", drop_every), ("drop_request_every", drop_request_every)):
            if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
                raise ValueError(f"{name} must be an int >= 1 or None")
        if isinstance(drop_fraction, bool) or not isinstance(drop_fraction, (int, float)) \
                or not 0.0 <= drop_fraction <= 1.0:
            raise ValueError("drop_fraction must be a number in 0..1")
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) \
                or not (math.isfinite(delay) and delay >= 0):
            raise ValueError("delay must be a finite number of seconds >= 0")
        tls = frozenset(drop_tls)
        if any(isinstance(t, bool) or not isinstance(t, int) or not 0 <= t <= 63 for t in tls):
            raise ValueError("drop_tls must hold transaction labels 0..63")
        super().__init__(upstream_host, upstream_port, host, port)
        self.drop_every = drop_every
        self.drop_tls: FrozenSet[int] = tls
        self.drop_fraction = float(drop_fraction)
        self.seed = seed
        self.delay = float(delay)
        self.drop_request_every = drop_request_every
        self._rng = random.Random(seed)
        self._tl_drops: Dict[int, int] = {}
        self.requests_dropped = 0
        self.requests_in = 0
        self.answers_in = 0
        self.duplicates = 0
        self.foreign = 0
        self.request_log: Deque[bytes] = collections.deque(maxlen=log_size)
        self.dropped_log: Deque[bytes] = collections.deque(maxlen=log_size)
        self._backs: Dict[Any, asyncio.DatagramTransport] = {}
        self._opening: Dict[Any, List[Tuple[bytes, int]]] = {}
        self._last_client: Any = None
        self._timers: Set[asyncio.TimerHandle] = set()
        self._tasks: Set["asyncio.Future[None]"] = set()
        self._front: Optional[asyncio.DatagramTransport] = None

    # ------------------------------------------------------------------ scripting
    def next_answer(self, fault: Optional[UdpFault]) -> None:
        """Queue what happens to the next not-yet-scripted answer (``None`` = forward it)."""
        self._queue(fault)

    def clear_faults(self) -> None:
        """Forget every queued fault and every ``drop_next_tl`` request."""
        with self._lock:
            self._faults.clear()
            self._tl_drops.clear()

    def drop_next_tl(self, tl: int, count: int = 1) -> None:
        """Drop the next ``count`` answers whose tl is ``tl`` (those that reach the standing
        rules; answers after that with the same tl pass)."""
        if isinstance(tl, bool) or not isinstance(tl, int) or not 0 <= tl <= 63:
            raise ValueError("tl must be 0..63")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError("count must be an int >= 1")
        with self._lock:
            self._tl_drops[tl] = self._tl_drops.get(tl, 0) + count

    def inject(self, data: bytes, to: Any = None) -> None:
        """Send ``data`` to a client now, as a foreign datagram: to address ``to``, or to the
        client that sent the latest request (``RuntimeError`` when there was none yet)."""
        addr = self._last_client if to is None else to
        if addr is None:
            raise RuntimeError("no client has sent anything yet; give the address")
        loop = self._loop
        if loop is None:
            raise RuntimeError("proxy not started")
        payload = bytes(data)
        done = threading.Event()

        def send() -> None:
            try:
                self._send_foreign(payload, addr)
            finally:
                done.set()

        loop.call_soon_threadsafe(send)
        done.wait(5.0)

    # ------------------------------------------------------------------ lifecycle
    @property
    def address(self) -> Tuple[str, int]:
        """``(host, port)`` where clients send their requests."""
        return self._host, self._port

    @property
    def clients(self) -> int:
        """Distinct client addresses seen."""
        return len(self._backs)

    def _open(self, loop: asyncio.AbstractEventLoop) -> None:
        self._front, _ = loop.run_until_complete(loop.create_datagram_endpoint(
            lambda: _Front(self), local_addr=(self._host, self._port)))
        self._port = self._front.get_extra_info("sockname")[1]

    def _shut(self, loop: asyncio.AbstractEventLoop) -> None:
        for t in list(self._timers):
            t.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            loop.run_until_complete(asyncio.wait(list(self._tasks), timeout=2.0))
        for tr in self._backs.values():
            tr.close()
        if self._front is not None:
            self._front.close()
        loop.run_until_complete(asyncio.sleep(0))

    def stop(self) -> None:
        """Close every socket and stop the thread (idempotent); answers still delayed are lost."""
        super().stop()

    # ------------------------------------------------------------------ relaying (loop thread)
    def _from_client(self, data: bytes, addr: Any) -> None:
        self.requests_in += 1
        self._last_client = addr
        back = self._backs.get(addr)
        if back is not None:
            self._forward_up(back, data, self.requests_in)
            return
        waiting = self._opening.get(addr)
        if waiting is not None:         # its socket is being opened: keep the order
            waiting.append((data, self.requests_in))
            return
        self._opening[addr] = [(data, self.requests_in)]
        task = asyncio.ensure_future(self._open_back(addr))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _open_back(self, addr: Any) -> None:
        try:
            back, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                lambda: _Back(self, addr), remote_addr=self.upstream)
        except OSError as exc:
            log.warning("upstream %s:%d unreachable: %s", *self.upstream, exc)
            self._opening.pop(addr, None)
            return
        self._backs[addr] = back
        for data, n in self._opening.pop(addr, []):
            self._forward_up(back, data, n)

    def _forward_up(self, back: asyncio.DatagramTransport, data: bytes, n: int) -> None:
        k = self.drop_request_every
        if k is not None and n % k == 0:
            self.requests_dropped += 1
            return
        self._count_up(tcode_of(data) if len(data) >= MIN_PEEK else -1)
        self.request_log.append(data)
        back.sendto(data)

    def _later(self, seconds: float, callback: Callable[[], None]) -> None:
        assert self._loop is not None
        handles: List[asyncio.TimerHandle] = []

        def run() -> None:
            self._timers.discard(handles[0])
            callback()

        handles.append(self._loop.call_later(seconds, run))
        self._timers.add(handles[0])

    def _send_answer(self, data: bytes, client: Any, seconds: float = 0.0) -> None:
        if seconds > 0:
            self._later(seconds, lambda: self._send_answer(data, client))
            return
        if self._front is not None and not self._front.is_closing():
            self.frames_down += 1
            self._front.sendto(data, client)

    def _send_foreign(self, data: bytes, client: Any) -> None:
        if self._front is not None and not self._front.is_closing():
            self.foreign += 1
            self._front.sendto(data, client)

    def _drop(self, data: bytes) -> None:
        self.dropped += 1
        self.dropped_log.append(data)

    def _from_device(self, data: bytes, client: Any) -> None:
        self.answers_in += 1
        i = self.answers_in
        draw = self._rng.random()
        tl = _answer_tl(data)
        pending = False
        with self._lock:
            scripted = bool(self._faults)
            fault = self._faults.popleft() if scripted else None
            if not scripted and tl is not None and tl in self._tl_drops:
                pending = True
                left = self._tl_drops[tl] - 1
                if left:
                    self._tl_drops[tl] = left
                else:
                    del self._tl_drops[tl]
        if not scripted:
            k = self.drop_every
            if (pending or (k is not None and i % k == 0) or (tl is not None and tl in self.drop_tls)
                    or draw < self.drop_fraction):
                self._drop(data)
            else:
                self._send_answer(data, client, self.delay)
            return
        if fault is None:
            self._send_answer(data, client)
            return
        self.faults_applied += 1
        kind = fault.kind
        if kind == "drop":
            self._drop(data)
        elif kind == "delay":
            self._send_answer(data, client, fault.seconds)
        elif kind == "duplicate":
            self._send_answer(data, client)
            self.duplicates += 1
            if fault.seconds > 0:
                self._later(fault.seconds, lambda: self._send_answer(data, client))
            else:
                self._send_answer(data, client)
        elif kind == "foreign":
            self._send_foreign(foreign_datagram(data, fault), client)
            if fault.replace:
                self._drop(data)
            else:
                self._send_answer(data, client)
        else:   # pragma: no cover
            raise ValueError(f"unknown UDP fault {kind!r}")
