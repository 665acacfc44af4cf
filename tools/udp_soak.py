#!/usr/bin/env python3
"""UDP soak: reads and writes over ``transport="udp"`` with answer datagrams dropped.

A blocking ``Client`` (in a thread) and an ``AsyncClient`` (in an event loop
in another thread) each talk to an in-process simulator through their own
``mmpfast.sim.faults.UdpFaultProxy``, which forwards every request and drops
every ``--drop-every``-th answer datagram (deterministically: answers 10, 20,
30, ... with the default).  (``UdpRelay`` below is a smaller relay with a
per-answer hook, used by the tests to reorder answers and forge senders.)
Each worker owns 8 scratch-pad int32 entries and, in turn, writes 8 values no
write ever used and reads them back one to three times (seeded random, so
that the dropped answers fall on writes and on reads).  Checked:

* every write is acknowledged or raises ``WriteOutcomeUnknown``, and the relay
  saw its request exactly once (a write is never sent twice);
* every read returns exactly the values of the last write (the relay drops only
  answers, so an unacknowledged write did land) or raises a typed ``MmpError``;
* a read whose answer was dropped was sent again once (the relay counts them).

Prints one summary line per client and a total, exits 1 on any lost or wrong
value, any untyped error or any write sent twice:

    python tools/udp_soak.py --seconds 60 --drop-every 10

Standard library and mmpfast only.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import select
import socket
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

try:
    import mmpfast  # noqa: F401
except ImportError:     # run from a checkout without installing: use the source tree
    sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mmpfast import AsyncClient, Client, MmpError, WriteOutcomeUnknown  # noqa: E402
from mmpfast import codec  # noqa: E402

#: on_answer hook: (answer number from 1, answer datagram) -> datagrams to deliver to the client
AnswerHook = Callable[[int, bytes], List[bytes]]


class UdpRelay:
    """A UDP relay between one client and a controller, in a thread.

    The client sends to ``(host, port)``; every request datagram is recorded in
    ``requests`` and forwarded.  Each answer is numbered from 1 and handed to
    ``on_answer`` (when set), whose list is delivered in its place - empty to
    drop it, several to duplicate or inject.  Without a hook, every
    ``drop_every``-th answer is dropped (0: none).
    """

    def __init__(self, target: Tuple[str, int], *, drop_every: int = 0,
                 on_answer: Optional[AnswerHook] = None) -> None:
        self.drop_every = drop_every
        self.on_answer = on_answer
        self.requests: List[bytes] = []
        self.answers = 0
        self.dropped = 0
        self._front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._front.bind(("127.0.0.1", 0))
        self._back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._back.connect(target)
        self.host, self.port = self._front.getsockname()[:2]
        self._client: Optional[Any] = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="udp-relay", daemon=True)
        self._thread.start()

    def send_to_client(self, datagram: bytes) -> None:
        """Deliver a datagram of our own to the client (after its first request)."""
        if self._client is not None:
            self._front.sendto(datagram, self._client)

    def _run(self) -> None:
        front, back = self._front, self._back
        while not self._stop.is_set():
            ready, _, _ = select.select([front, back], [], [], 0.05)
            for s in ready:
                try:
                    data, addr = s.recvfrom(65536)
                except OSError:
                    continue
                if s is front:
                    self._client = addr
                    with self._lock:
                        self.requests.append(data)
                    try:
                        back.send(data)
                    except OSError:
                        pass
                    continue
                with self._lock:
                    self.answers += 1
                    n = self.answers
                if self.on_answer is not None:
                    out = self.on_answer(n, data)
                elif self.drop_every and n % self.drop_every == 0:
                    out = []
                else:
                    out = [data]
                if not out:
                    with self._lock:
                        self.dropped += 1
                for d in out:
                    if self._client is not None:
                        front.sendto(d, self._client)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        self._front.close()
        self._back.close()

    def __enter__(self) -> "UdpRelay":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def request_kinds(requests: List[bytes]) -> Counter:
    """How many requests of each tcode (1 = block write, 5 = block read) the proxy saw."""
    return Counter(codec.decode_frame(r).tcode for r in requests)


def writes_sent_twice(requests: List[bytes]) -> int:
    """Write requests whose address and data the proxy saw more than once (tl ignored)."""
    seen = Counter(bytes(r[:2]) + bytes(r[3:]) for r in requests if codec.decode_frame(r).tcode == 1)
    return sum(c - 1 for c in seen.values() if c > 1)


@dataclass
class Tally:
    name: str
    writes_ok: int = 0
    writes_unknown: int = 0
    writes_other: int = 0
    reads_ok: int = 0
    reads_wrong: int = 0
    reads_typed_error: int = 0
    reads_untyped: int = 0
    untyped: List[str] = field(default_factory=list)
    typed: Counter = field(default_factory=Counter)     # typed read errors by class

    @property
    def writes(self) -> int:
        return self.writes_ok + self.writes_unknown + self.writes_other

    def wrote(self, values: List[int], exc: Optional[BaseException]) -> Optional[List[int]]:
        """Count one write (``exc``: what it raised, or ``None``); returns what a read must now
        find (``None``: unknown)."""
        if exc is None:
            self.writes_ok += 1
            return values
        if isinstance(exc, WriteOutcomeUnknown):
            self.writes_unknown += 1
            return values          # the relay drops answers only: the write landed
        if isinstance(exc, MmpError):
            self.writes_other += 1
        else:
            self.untyped.append(repr(exc))
        return None

    def read(self, got: Any, expected: Optional[List[int]], exc: Optional[BaseException]) -> None:
        """Count one read: right, wrong, a typed error or anything else."""
        if isinstance(exc, MmpError):
            self.reads_typed_error += 1
            self.typed[type(exc).__name__] += 1
        elif exc is not None:
            self.reads_untyped += 1
            self.untyped.append(repr(exc))
        elif expected is None or got == expected:
            self.reads_ok += 1
        else:
            self.reads_wrong += 1


def _values(base: int, n: int = 8) -> List[int]:
    return [(base + i) & 0x7FFFFFFF for i in range(n)]


def blocking_worker(host: str, port: int, index: int, seconds: float, timeout: float, tally: Tally,
                    seed: int) -> None:
    with Client(host, port, transport="udp", timeout=timeout) as c:
        rng = random.Random(seed)
        stop = time.monotonic() + seconds
        k = seed
        while time.monotonic() < stop:
            k += 8
            values = _values(k)
            error: Optional[BaseException] = None
            try:
                c.write_scratchpad_int32(index, values)
            except Exception as exc:   # noqa: BLE001 - every outcome is counted
                error = exc
            expected = tally.wrote(values, error)
            for _ in range(rng.randint(1, 3)):   # a varying round: the dropped answer hits writes and reads
                got, error = None, None
                try:
                    got = c.read_scratchpad_int32(index, 8)
                except Exception as exc:   # noqa: BLE001
                    error = exc
                tally.read(got, expected, error)


async def async_worker(host: str, port: int, index: int, seconds: float, timeout: float, tally: Tally,
                       seed: int) -> None:
    async with AsyncClient(host, port, transport="udp", timeout=timeout) as c:
        rng = random.Random(seed)
        stop = time.monotonic() + seconds
        k = seed
        while time.monotonic() < stop:
            k += 8
            values = _values(k)
            error: Optional[BaseException] = None
            try:
                await c.write_scratchpad_int32(index, values)
            except Exception as exc:   # noqa: BLE001 - every outcome is counted
                error = exc
            expected = tally.wrote(values, error)
            for _ in range(rng.randint(1, 3)):   # a varying round: the dropped answer hits writes and reads
                got, error = None, None
                try:
                    got = await c.read_scratchpad_int32(index, 8)
                except Exception as exc:   # noqa: BLE001
                    error = exc
                tally.read(got, expected, error)


def run(seconds: float, drop_every: int, timeout: float = 0.25,
        target: Optional[Tuple[str, int]] = None) -> Dict[str, Any]:
    """Run the soak; returns the figures (``ok`` says whether every check passed).

    Each client talks through its own ``mmpfast.sim.faults.UdpFaultProxy`` with
    ``drop_every`` (0: none), whose request log is the count of what was sent."""
    from mmpfast.sim.faults import UdpFaultProxy
    sim: Any = None
    if target is None:
        from mmpfast.sim import Simulator
        sim = Simulator(port=0)
        sim.start()
        target = (sim.host, sim.port)
    try:
        tallies = [Tally("Client"), Tally("AsyncClient")]
        proxies = [UdpFaultProxy(target[0], target[1], drop_every=drop_every or None).start()
                   for _ in tallies]
        try:
            t0 = time.monotonic()
            th = threading.Thread(target=blocking_worker, args=(proxies[0].host, proxies[0].port, 100,
                                                                 seconds, timeout, tallies[0], 1_000_000))
            th.start()
            asyncio.run(async_worker(proxies[1].host, proxies[1].port, 200, seconds, timeout, tallies[1],
                                     2_000_000))
            th.join()
            elapsed = time.monotonic() - t0
        finally:
            for p in proxies:
                p.stop()
    finally:
        if sim is not None:
            sim.stop()
    report: Dict[str, Any] = {"seconds": elapsed, "clients": []}
    ok = True
    for t, px in zip(tallies, proxies):
        requests = list(px.request_log)
        kinds = request_kinds(requests)
        twice = writes_sent_twice(requests)
        reads = t.reads_ok + t.reads_wrong + t.reads_typed_error + t.reads_untyped
        row = {
            "client": t.name, "writes": t.writes, "writes_ok": t.writes_ok, "writes_unknown": t.writes_unknown,
            "writes_other": t.writes_other, "write_requests_seen": kinds.get(1, 0), "writes_sent_twice": twice,
            "reads": reads, "reads_ok": t.reads_ok, "reads_wrong": t.reads_wrong,
            "reads_typed_error": t.reads_typed_error, "read_requests_seen": kinds.get(5, 0),
            "answers": px.answers_in, "answers_dropped": px.dropped, "untyped": t.untyped[:5],
            "typed": dict(t.typed),
        }
        report["clients"].append(row)
        ok = ok and not t.untyped and t.reads_wrong == 0 and twice == 0 and t.writes_other == 0 \
            and kinds.get(1, 0) == t.writes and len(requests) == px.requests_in
    report["ok"] = ok
    return report


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--drop-every", type=int, default=10, help="drop every N-th answer datagram (0: none)")
    ap.add_argument("--timeout", type=float, default=0.25, help="client timeout per call, seconds")
    args = ap.parse_args(argv)
    rep = run(args.seconds, args.drop_every, args.timeout)
    for row in rep["clients"]:
        print(f"{row['client']}: {row['writes']} writes ({row['writes_ok']} acknowledged, "
              f"{row['writes_unknown']} WriteOutcomeUnknown, {row['writes_other']} other; proxy saw "
              f"{row['write_requests_seen']} write requests, {row['writes_sent_twice']} sent twice); "
              f"{row['reads']} reads ({row['reads_ok']} right, {row['reads_wrong']} wrong, "
              f"{row['reads_typed_error']} typed errors{' ' + str(row['typed']) if row['typed'] else ''}; proxy saw {row['read_requests_seen']} read requests); "
              f"{row['answers_dropped']} of {row['answers']} answers dropped"
              + (f"; untyped errors: {row['untyped']}" if row["untyped"] else ""))
    print(f"{'OK' if rep['ok'] else 'FAILED'} in {rep['seconds']:.1f} s")
    return 0 if rep["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
