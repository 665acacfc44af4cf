#!/usr/bin/env python3
"""Soak: many clients write distinct scratch-pad values and verify every one.

Blocking clients in threads (each its own ``Client``, plus a pair of threads
sharing one ``Client``) and asyncio tasks (each its own ``AsyncClient``, all
in one event loop in its own thread) run at once for ``--seconds``.  Each
worker owns a disjoint range of the scratch pad; every round it writes a run
of values no other write ever used (int32, float32 and int64 in turn) and
reads the run back.  A value that does not come back is *lost*; an exception
is an *error*.  At the end every worker's last run is checked once more.

By default the target is an in-process simulator; ``--host``/``--port``
point it at another simulator (or a controller whose scratch pad you may
overwrite: indexes ``--base`` upwards are used).

Prints one summary line and exits 1 on any lost value or error:

    python tools/soak.py --seconds 60

Standard library and mmpfast only.
"""
from __future__ import annotations

import argparse
import asyncio
import math
import os
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Tuple

try:
    import mmpfast  # noqa: F401
except ImportError:     # run from a checkout without installing: use the source tree
    sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mmpfast import AsyncClient, Client, MmpError, memmap  # noqa: E402

#: scratch-pad elements one worker owns (int32/float index range, and int64 range)
SPAN32 = 64
SPAN64 = 16


@dataclass
class WorkerResult:
    """Counters of one worker."""

    name: str
    writes: int = 0
    reads: int = 0
    values: int = 0          # values written and verified
    lost: int = 0
    errors: int = 0
    latencies: List[float] = field(default_factory=list)
    messages: List[str] = field(default_factory=list)
    last: Optional[Tuple[str, int, List[Any]]] = None      # (kind, index, values) last verified


class _Round:
    """The values of one round of worker ``wid``: distinct from every other round and worker."""

    def __init__(self, wid: int, base: int) -> None:
        self.wid = wid
        self.base32 = base + wid * SPAN32
        self.base64 = wid * SPAN64
        self.seq = 0

    def next(self) -> Tuple[str, int, List[Any]]:
        self.seq += 1
        s = self.seq
        n = 1 + (s * 7) % 24                   # 1..24 values
        kind = ("int32", "float", "int64")[s % 3]
        if kind == "int32":
            # worker id in the top byte, sequence below: never repeats within 2**24 rounds
            vals: List[Any] = [((self.wid << 24 | ((s * 32 + i) & 0xFFFFFF)) - (1 << 31)) for i in range(n)]
            return kind, self.base32, vals
        if kind == "float":
            # integers below 2**24: exact in float32, distinct as for int32
            vals = [float(self.wid << 18 | ((s * 32 + i) & 0x3FFFF)) for i in range(n)]
            return kind, self.base32, vals
        n = min(n, SPAN64)
        vals = [(self.wid << 48) | (s << 8) | i for i in range(n)]
        return kind, self.base64, vals


def _check(res: WorkerResult, kind: str, index: int, want: List[Any], got: List[Any]) -> None:
    res.reads += 1
    if list(got) == want:
        res.values += len(want)
        res.last = (kind, index, want)
    else:
        bad = sum(1 for a, b in zip(got, want) if a != b) + abs(len(got) - len(want))
        res.lost += bad
        res.messages.append(f"{res.name}: {kind}[{index}] wrote {want[:3]}.. read {list(got)[:3]}..")


def thread_worker(client: Any, wid: int, base: int, stop: threading.Event, res: WorkerResult,
                  lock: Optional[threading.Lock] = None) -> None:
    """Blocking worker: write a fresh run, read it back, until ``stop``."""
    rnd = _Round(wid, base)
    while not stop.is_set():
        kind, index, vals = rnd.next()
        t0 = time.monotonic()
        try:
            getattr(client, f"write_scratchpad_{kind}")(index, vals)
            res.writes += 1
            got = getattr(client, f"read_scratchpad_{kind}")(index, len(vals))
        except MmpError as exc:
            res.errors += 1
            res.messages.append(f"{res.name}: {exc!r}")
            continue
        res.latencies.append(time.monotonic() - t0)
        _check(res, kind, index, vals, got)


async def task_worker(client: AsyncClient, wid: int, base: int, stop: threading.Event,
                      res: WorkerResult) -> None:
    """asyncio worker: as ``thread_worker``, on an ``AsyncClient``."""
    rnd = _Round(wid, base)
    while not stop.is_set():
        kind, index, vals = rnd.next()
        t0 = time.monotonic()
        try:
            await getattr(client, f"write_scratchpad_{kind}")(index, vals)
            res.writes += 1
            got = await getattr(client, f"read_scratchpad_{kind}")(index, len(vals))
        except MmpError as exc:
            res.errors += 1
            res.messages.append(f"{res.name}: {exc!r}")
            continue
        res.latencies.append(time.monotonic() - t0)
        _check(res, kind, index, vals, got)
        await asyncio.sleep(0)      # let the other tasks in


@dataclass
class SoakReport:
    seconds: float
    threads: int
    tasks: int
    workers: List[WorkerResult]

    @property
    def ops(self) -> int:
        return sum(w.writes + w.reads for w in self.workers)

    @property
    def values(self) -> int:
        return sum(w.values for w in self.workers)

    @property
    def lost(self) -> int:
        return sum(w.lost for w in self.workers)

    @property
    def errors(self) -> int:
        return sum(w.errors for w in self.workers)

    @property
    def p99(self) -> float:
        lat = sorted(x for w in self.workers for x in w.latencies)
        if not lat:
            return math.nan
        return lat[min(len(lat) - 1, max(0, math.ceil(0.99 * len(lat)) - 1))]

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.errors == 0 and all(w.reads > 0 for w in self.workers)

    def line(self) -> str:
        return (f"soak: {self.seconds:.1f} s, {len(self.workers)} clients ({self.threads} threads incl. 2 "
                f"sharing one Client, {self.tasks} asyncio tasks), {self.ops} ops, {self.values} values "
                f"written and verified, {self.lost} lost, {self.errors} errors, "
                f"p99 write+read {self.p99 * 1000:.2f} ms; {'PASS' if self.ok else 'FAIL'}")


def soak(host: str, port: int, seconds: float, threads: int = 4, tasks: int = 4, base: int = 0,
         timeout: float = 2.0, final_check: Optional[Callable[[WorkerResult], bool]] = None) -> SoakReport:
    """Run the soak against ``host:port``; ``threads`` (at least 2: the last two
    share one ``Client``) blocking workers and ``tasks`` asyncio workers."""
    threads = max(threads, 2)
    if base + (threads + tasks) * SPAN32 > 10240 or (threads + tasks) * SPAN64 > 1024 or base < 0:
        raise ValueError("too many workers for the scratch pad")
    stop = threading.Event()
    results: List[WorkerResult] = []
    clients: List[Client] = []
    ths: List[threading.Thread] = []
    shared = Client(host, port, timeout=timeout)
    clients.append(shared)
    for wid in range(threads):
        res = WorkerResult(f"thread{wid}")
        results.append(res)
        if wid >= threads - 2:
            c = shared
        else:
            c = Client(host, port, timeout=timeout)
            clients.append(c)
        ths.append(threading.Thread(target=thread_worker, args=(c, wid, base, stop, res), daemon=True))

    task_results = [WorkerResult(f"task{k}") for k in range(tasks)]
    results += task_results

    async def run_tasks() -> None:
        acs = [AsyncClient(host, port, timeout=timeout) for _ in range(tasks)]
        try:
            await asyncio.gather(*(task_worker(ac, threads + k, base, stop, task_results[k])
                                   for k, ac in enumerate(acs)))
        finally:
            for ac in acs:
                await ac.close()

    ths.append(threading.Thread(target=asyncio.run, args=(run_tasks(),), daemon=True))
    t0 = time.monotonic()
    try:
        for t in ths:
            t.start()
        stop.wait(seconds)
    finally:
        stop.set()
        for t in ths:
            t.join(timeout + 5.0)
    elapsed = time.monotonic() - t0
    try:
        # every worker's last verified run is still there, read by a fresh client
        with Client(host, port, timeout=timeout) as check:
            for res in results:
                if res.last is None:
                    continue
                kind, index, vals = res.last
                got = getattr(check, f"read_scratchpad_{kind}")(index, len(vals))
                if list(got) != vals:
                    res.lost += len(vals)
                    res.messages.append(f"{res.name}: final check of {kind}[{index}] failed")
    finally:
        for c in clients:
            c.close()
    return SoakReport(elapsed, threads, tasks, results)


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60.0, help="how long (default 60)")
    p.add_argument("--threads", type=int, default=4, help="blocking workers, >= 2 (default 4)")
    p.add_argument("--tasks", type=int, default=4, help="asyncio workers (default 4)")
    p.add_argument("--host", default=None, help="target instead of an in-process simulator")
    p.add_argument("--port", type=int, default=2001)
    p.add_argument("--base", type=int, default=0, help="first scratch-pad int32/float index used")
    p.add_argument("--latency", type=float, default=0.0, help="in-process simulator latency, seconds")
    args = p.parse_args(argv)
    if args.host is not None:
        rep = soak(args.host, args.port, args.seconds, args.threads, args.tasks, args.base)
    else:
        from mmpfast.sim import Simulator
        with Simulator(latency=args.latency) as sim:
            rep = soak(sim.host, sim.port, args.seconds, args.threads, args.tasks, args.base)
            # the device's own memory agrees with what the clients verified last
            for res in rep.workers:
                if res.last is None:
                    continue
                kind, index, vals = res.last
                code = {"int32": "i", "float": "f", "int64": "q"}[kind]
                addr = getattr(memmap, f"scratchpad_{kind}_address")(index)
                raw = sim.memory.read(addr, struct.calcsize(code) * len(vals))
                if list(struct.unpack(f">{len(vals)}{code}", raw)) != vals:
                    res.lost += len(vals)
                    res.messages.append(f"{res.name}: simulator memory disagrees")
    for w in rep.workers:
        for m in w.messages[:5]:
            print("  ", m, file=sys.stderr)
    print(rep.line())
    return 0 if rep.ok else 1


if __name__ == "__main__":
    sys.exit(main())
