#!/usr/bin/env python3
"""Abuse the simulator and check that it stays up, keeps answering and stays small.

The simulator runs in a child process (this script with ``--serve``), so its
resident memory can be read from ``/proc/<pid>/status`` before and after.
While the abuse goes on, well-behaved ``AsyncClient`` probes write a distinct
scratch-pad value, read it back and time both; their latency is the measure
of "keeps answering".  The abuse, all at once for ``--seconds``:

* ``--connections`` held-open connections: a third idle, a third stopped
  mid-header, a third announcing a large write block and stopped mid-data
  (half-open peers that never finish a frame);
* ``--slowloris`` senders that send valid requests one byte every
  ``--drip`` seconds and check each answer;
* ``--garbage`` workers that connect, send random bytes, hostile length
  fields, valid requests followed by junk, or a request followed by a
  half-close, then hang up, over and over.

Prints one summary line (for the README's reliability table) and exits 1 on
any probe error, any wrong value, a dead simulator, or memory growth above
``--max-growth-mb``.

    python tools/server_robustness.py --seconds 30 --connections 200

Other measurements, one per option (each prints one line and exits 1 when
the bound it checks does not hold):

* ``--never-read N``: N connections each send ``--megabytes`` MiB of
  1024-byte read requests to a simulator with ``--latency-ms`` latency and
  never read; the simulator's RSS growth (peak) is printed, the others are
  still answered, and one of them then reads every answer, in order;
* ``--cap M``: a simulator with ``max_connections=M``; M connections are
  served, the ones beyond are closed at once, a freed slot is usable again;
* ``--idle S``: a simulator with ``idle_timeout=S``; connections holding a
  half-received frame are closed after S seconds, idle ones and slow but
  whole-frame senders stay;
* ``--fidelity MS[,MS...]``: requested vs measured latency per request and
  for a pipelined burst of 64, against the ``mmpfast sim`` command
  (``SimulatorProcess``) and the in-process ``Simulator``, each compared
  with latency 0 in the same run.

Standard library and mmpfast only.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import socket
import statistics
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

try:
    import mmpfast  # noqa: F401
except ImportError:     # run from a checkout without installing: use the source tree
    sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mmpfast import AsyncClient, MmpError, codec, memmap  # noqa: E402
from mmpfast.protocol import OFF_DATA_LENGTH  # noqa: E402

#: scratch-pad int32 indexes the probes use (one per probe)
PROBE_BASE = 9000


# ----------------------------------------------------------------------------- measurements
def rss_kb(pid: Optional[int] = None) -> int:
    """Resident set size of ``pid`` (default: this process) in KiB, from /proc (0 when unknown)."""
    return _proc_status_kb(pid, "VmRSS")


def peak_rss_kb(pid: Optional[int] = None) -> int:
    """Peak resident set size (VmHWM) of ``pid`` in KiB (0 when unknown)."""
    return _proc_status_kb(pid, "VmHWM")


def _proc_status_kb(pid: Optional[int], key: str) -> int:
    path = f"/proc/{'self' if pid is None else pid}/status"
    try:
        with open(path, encoding="ascii") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    if pid is None:
        import resource
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return 0


def percentile(values: List[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by the nearest-rank method (NaN when empty)."""
    if not values:
        return math.nan
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


@dataclass
class AbuseReport:
    """What happened during one abuse run (latencies in seconds)."""

    seconds: float = 0.0
    held: int = 0                    # held-open connections established
    held_failed: int = 0             # held-open connections that could not be made
    garbage_sessions: int = 0
    garbage_bytes: int = 0
    half_closed_answered: int = 0
    slowloris_requests: int = 0      # requests completed byte by byte
    slowloris_wrong: int = 0
    probe_ok: int = 0
    probe_errors: int = 0
    probe_wrong: int = 0
    latencies: List[float] = field(default_factory=list)
    errors: List[str] = field(default_factory=list)

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 0.50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 0.99)

    @property
    def worst(self) -> float:
        return max(self.latencies) if self.latencies else math.nan

    @property
    def ok(self) -> bool:
        return (self.probe_errors == 0 and self.probe_wrong == 0 and self.slowloris_wrong == 0
                and self.probe_ok > 0)


# ----------------------------------------------------------------------------- the abusers
async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 1.0)
    except (OSError, asyncio.TimeoutError):
        pass


def _hostile_write_header(tl: int, announced: int) -> bytes:
    """A block-write header announcing ``announced`` data bytes (up to 65535)."""
    hdr = bytearray(codec.encode_write_block(tl, memmap.scratchpad_int32_address(0), b"\0\0\0\0")[:16])
    hdr[OFF_DATA_LENGTH:OFF_DATA_LENGTH + 2] = announced.to_bytes(2, "big")
    return bytes(hdr)


async def _hold(host: str, port: int, i: int, stop: asyncio.Event, rep: AbuseReport) -> None:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5.0)
    except (OSError, asyncio.TimeoutError):
        rep.held_failed += 1
        return
    rep.held += 1
    try:
        mode = i % 3
        if mode == 1:       # stopped mid-header
            writer.write(codec.encode_read_block(1, memmap.STATUS_UPTIME_MS, 4)[:10])
        elif mode == 2:     # announces 60000 data bytes, sends 100
            writer.write(_hostile_write_header(2, 60000) + bytes(100))
        await writer.drain()
        await stop.wait()
    except OSError:
        pass
    finally:
        await _close(writer)


async def _slowloris(host: str, port: int, drip: float, stop: asyncio.Event, rep: AbuseReport) -> None:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5.0)
    except (OSError, asyncio.TimeoutError):
        rep.held_failed += 1
        return
    tl = 0
    try:
        while not stop.is_set():
            tl = (tl + 1) % 64
            req = codec.encode_read_block(tl, memmap.STATUS_UPTIME_MS, 4)
            for b in req:
                writer.write(bytes((b,)))
                await writer.drain()
                try:
                    await asyncio.wait_for(stop.wait(), drip)
                    return
                except asyncio.TimeoutError:
                    pass
            resp = await asyncio.wait_for(reader.readexactly(20), 5.0)
            f = codec.decode_frame(resp)
            if f.tcode != 7 or f.tl != tl or f.rcode != 0 or f.data_length != 4:
                rep.slowloris_wrong += 1
            rep.slowloris_requests += 1
    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, MmpError) as exc:
        rep.slowloris_wrong += 1
        rep.errors.append(f"slowloris: {exc!r}")
    finally:
        await _close(writer)


async def _garbage(host: str, port: int, seed: int, stop: asyncio.Event, rep: AbuseReport) -> None:
    rng = random.Random(seed)
    while not stop.is_set():
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5.0)
        except (OSError, asyncio.TimeoutError):
            await asyncio.sleep(0.01)
            continue
        try:
            kind = rng.randrange(5)
            if kind == 0:       # random bytes
                payload = rng.randbytes(rng.randint(1, 4096))
            elif kind == 1:     # hostile length field, body never completed
                payload = _hostile_write_header(rng.randrange(64), 65535) + rng.randbytes(rng.randint(0, 2000))
            elif kind == 2:     # a valid request, then junk with an undefined tcode
                payload = (codec.encode_read_block(3, memmap.STATUS_UPTIME_MS, 4)
                           + bytes((0, 0, 0, 0x30)) + rng.randbytes(rng.randint(0, 500)))
            elif kind == 3:     # oversize read: must be a short NAK, not 64 KiB
                payload = codec.encode_read_block(4, memmap.scratchpad_int32_address(0), 65535)
            else:               # a request, then half-close: the answer must still come
                payload = codec.encode_read_block(5, memmap.STATUS_UPTIME_MS, 4)
            writer.write(payload)
            rep.garbage_bytes += len(payload)
            if kind == 4:
                writer.write_eof()
            await writer.drain()
            try:
                got = await asyncio.wait_for(reader.read(65536), 0.05 if kind < 3 else 2.0)
            except asyncio.TimeoutError:
                got = b""
            if kind == 4 and len(got) == 20 and got[2] >> 2 == 5:
                rep.half_closed_answered += 1
            if kind == 3 and got and len(got) != 16:
                rep.slowloris_wrong += 1
                rep.errors.append(f"oversize read answered with {len(got)} bytes")
        except OSError:
            pass
        finally:
            await _close(writer)
        rep.garbage_sessions += 1


async def _probe(host: str, port: int, k: int, interval: float, stop: asyncio.Event,
                 rep: AbuseReport) -> None:
    index = PROBE_BASE + k
    value = k << 20
    async with AsyncClient(host, port, timeout=2.0) as c:
        while not stop.is_set():
            value = (value + 1) & 0x7FFFFFFF
            t0 = time.monotonic()
            try:
                await c.write_scratchpad_int32(index, value)
                t1 = time.monotonic()
                got = await c.read_scratchpad_int32(index)
                t2 = time.monotonic()
            except MmpError as exc:
                rep.probe_errors += 1
                rep.errors.append(f"probe {k}: {exc!r}")
            else:
                rep.latencies += [t1 - t0, t2 - t1]
                if got == [value]:
                    rep.probe_ok += 1
                else:
                    rep.probe_wrong += 1
                    rep.errors.append(f"probe {k}: wrote {value}, read {got}")
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except asyncio.TimeoutError:
                pass


async def abuse(host: str, port: int, *, seconds: float, connections: int = 200, slowloris: int = 20,
                garbage: int = 4, probes: int = 4, drip: float = 0.05,
                probe_interval: float = 0.01, seed: int = 1) -> AbuseReport:
    """Run every abuser against ``host:port`` for ``seconds`` while ``probes``
    well-behaved clients measure their latency.  Returns an ``AbuseReport``."""
    rep = AbuseReport()
    stop = asyncio.Event()
    t0 = time.monotonic()
    held = [asyncio.ensure_future(_hold(host, port, i, stop, rep)) for i in range(connections)]
    others = ([asyncio.ensure_future(_slowloris(host, port, drip, stop, rep)) for _ in range(slowloris)]
              + [asyncio.ensure_future(_garbage(host, port, seed + i, stop, rep)) for i in range(garbage)]
              + [asyncio.ensure_future(_probe(host, port, k, probe_interval, stop, rep))
                 for k in range(probes)])
    tasks = held + others
    try:
        await asyncio.sleep(seconds)
    finally:
        stop.set()
        done, pending = await asyncio.wait(tasks, timeout=10.0)
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.wait(pending, timeout=2.0)
        for t in done:
            if not t.cancelled() and t.exception() is not None:
                rep.errors.append(f"task: {t.exception()!r}")
                rep.probe_errors += 1
    rep.seconds = time.monotonic() - t0
    return rep


# ----------------------------------------------------------------------------- the child
def serve_child(count: int, latency: float, options: Optional[Dict[str, Any]] = None,
                prepare: Optional[Callable[[Any, int], None]] = None) -> None:
    """Child mode: run ``count`` simulators (``Simulator(latency=latency, **options)``) in one
    event loop (``prepare(sim, i)`` is called on each before it is announced), print their
    ports as one JSON line, serve until stdin closes."""
    from contextlib import AsyncExitStack

    from mmpfast.sim import Simulator

    async def main() -> None:
        async with AsyncExitStack() as stack:
            sims = [await stack.enter_async_context(Simulator(latency=latency, **(options or {})).serving())
                    for _ in range(count)]
            for i, sim in enumerate(sims):
                if prepare is not None:
                    prepare(sim, i)
            print(json.dumps({"pid": os.getpid(), "host": sims[0].host, "ports": [s.port for s in sims]}),
                  flush=True)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, sys.stdin.read)    # parent closed the pipe: stop

    asyncio.run(main())


class ChildSimulators:
    """``with ChildSimulators(n) as child:`` n simulators in a child process;
    ``child.host``, ``child.ports``, ``child.pid``, ``child.alive``."""

    def __init__(self, count: int = 1, latency: float = 0.0, script: Optional[str] = None,
                 **options: Any) -> None:
        self.count = count
        self.latency = latency
        self.options = options      # more Simulator keyword arguments (JSON-able)
        self.script = script or os.path.abspath(__file__)
        self.proc: Optional["subprocess.Popen[str]"] = None
        self.host = "127.0.0.1"
        self.ports: List[int] = []
        self.pid = 0

    def __enter__(self) -> "ChildSimulators":
        env = dict(os.environ)
        self.proc = subprocess.Popen(
            [sys.executable, self.script, "--serve", str(self.count), "--latency", repr(self.latency),
             "--serve-options", json.dumps(self.options)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.__exit__(None, None, None)
            raise RuntimeError("simulator child did not start")
        info = json.loads(line)
        self.host, self.ports, self.pid = info["host"], info["ports"], info["pid"]
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __exit__(self, *exc: Any) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(10.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5.0)
        finally:
            if proc.stdout is not None:
                proc.stdout.close()


# ----------------------------------------------------------------------------- clients that never read
def read_requests(megabytes: float, read_size: int = 1024) -> bytes:
    """``megabytes`` MiB of block-read requests for ``read_size`` bytes each, tl 0, 1, ... 63, 0, ..."""
    cycle = b"".join(codec.encode_read_block(tl, memmap.scratchpad_int32_address(0), read_size)
                     for tl in range(64))
    count = int(megabytes * (1 << 20)) // len(cycle)
    return cycle * max(count, 1)


def _send_without_reading(socks: List[socket.socket], payload: bytes, timeout: float,
                          stall: float = 1.0) -> List[int]:
    """Send ``payload`` on every (non-blocking) socket, round robin, never reading, until all of
    it is sent, nothing moved for ``stall`` seconds, or ``timeout`` passed.  Bytes sent per socket."""
    sent = [0] * len(socks)
    view = memoryview(payload)
    deadline = time.monotonic() + timeout
    last_progress = time.monotonic()
    while any(n < len(payload) for n in sent):
        now = time.monotonic()
        if now > deadline or now - last_progress > stall:
            break
        moved = False
        for i, sock in enumerate(socks):
            if sent[i] < len(payload):
                try:
                    sent[i] += sock.send(view[sent[i]:sent[i] + 65536])
                    moved = True
                except BlockingIOError:
                    pass
        if moved:
            last_progress = time.monotonic()
        else:
            time.sleep(0.005)
    return sent


def _uptime_round_trip(host: str, port: int, timeout: float = 5.0) -> float:
    """Seconds for one uptime read on a fresh connection (raises on a wrong answer)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        t0 = time.monotonic()
        s.sendall(codec.encode_read_block(33, memmap.STATUS_UPTIME_MS, 4))
        got = b""
        while len(got) < 20:
            chunk = s.recv(20 - len(got))
            if not chunk:
                raise ConnectionError("closed before the answer")
            got += chunk
        took = time.monotonic() - t0
    f = codec.decode_frame(got)
    if (f.tcode, f.tl, f.rcode) != (7, 33, 0):
        raise ValueError(f"wrong answer {f!r}")
    return took


def _drain_in_order(sock: socket.socket, frames: int, read_size: int, timeout: float) -> int:
    """Read ``frames`` answers of ``read_size`` bytes; return how many came whole, rcode 0, with
    tl 0, 1, ... 63, 0, ... in order (stops at the first one that does not)."""
    sock.setblocking(True)
    sock.settimeout(timeout)
    size = HEADER + read_size
    buf = bytearray()
    good = 0
    while good < frames:
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        buf += chunk
        whole = len(buf) // size
        for k in range(whole):
            head = buf[k * size:k * size + HEADER]
            if head[2] >> 2 != good % 64 or head[3] >> 4 != 7 or head[6] >> 4 != 0:
                return good
            good += 1
        del buf[:whole * size]
    return good


HEADER = 16


@dataclass
class NeverReadReport:
    """One ``never_read`` run (sizes in KiB, times in seconds)."""

    connections: int = 0
    latency: float = 0.0
    request_bytes: int = 0          # per connection, offered
    sent: List[int] = field(default_factory=list)
    rss_before_kb: int = 0
    rss_after_kb: int = 0
    peak_kb: int = 0
    probe: float = math.nan         # an uptime read by another client meanwhile
    drained: int = 0                # answers the first connection then read, whole and in order
    expected: int = 0               # requests it had sent

    @property
    def growth_mb(self) -> float:
        """The simulator's RSS growth (peak over the baseline), MB."""
        return (max(self.peak_kb, self.rss_after_kb) - self.rss_before_kb) / 1024.0


def never_read(child: "ChildSimulators", *, connections: int = 10, megabytes: float = 1.0,
               read_size: int = 1024, settle: float = 1.0, send_timeout: float = 20.0,
               drain: bool = True) -> NeverReadReport:
    """``connections`` clients each send ``megabytes`` MiB of read requests to ``child`` and never
    read; measure the child's RSS, check that another client is answered, then (``drain``) read
    every answer on the first connection and check them."""
    host, port = child.host, child.ports[0]
    _uptime_round_trip(host, port)          # warm the code paths before the baseline
    rep = NeverReadReport(connections=connections, latency=child.latency)
    rep.rss_before_kb = rss_kb(child.pid)
    payload = read_requests(megabytes, read_size)
    rep.request_bytes = len(payload)
    socks: List[socket.socket] = []
    try:
        for _ in range(connections):
            s = socket.create_connection((host, port), timeout=5)
            s.setblocking(False)
            socks.append(s)
        rep.sent = _send_without_reading(socks, payload, send_timeout)
        time.sleep(settle)                  # let the simulator answer (and hold back) what it will
        rep.rss_after_kb = rss_kb(child.pid)
        rep.peak_kb = peak_rss_kb(child.pid)
        rep.probe = _uptime_round_trip(host, port)
        if drain:
            rep.expected = rep.sent[0] // HEADER
            per_answer = max(child.latency, 1e-6)
            rep.drained = _drain_in_order(socks[0], rep.expected, read_size,
                                          timeout=5.0 + 20 * per_answer * 64)
    finally:
        for s in socks:
            s.close()
    return rep


def never_read_line(rep: NeverReadReport, max_growth_mb: float) -> Tuple[bool, str]:
    sent_mib = sum(rep.sent) / len(rep.sent) / (1 << 20) if rep.sent else 0.0
    ok = (rep.growth_mb <= max_growth_mb and math.isfinite(rep.probe)
          and (rep.expected == 0 or rep.drained == rep.expected))
    line = (f"never_read: {rep.connections} connections x {sent_mib:.2f} MiB of 1024-byte read requests "
            f"(of {rep.request_bytes / (1 << 20):.2f}), latency {rep.latency * 1000:g} ms, never reading: "
            f"sim RSS {rep.rss_before_kb / 1024:.1f} -> {rep.rss_after_kb / 1024:.1f} MB "
            f"(peak {rep.peak_kb / 1024:.1f}, +{rep.growth_mb:.1f} MB); another client answered in "
            f"{rep.probe * 1000:.2f} ms; then {rep.drained}/{rep.expected} answers read in order; "
            f"{'PASS' if ok else 'FAIL'}")
    return ok, line


# ----------------------------------------------------------------------------- connection cap, idle timeout
def _eof_within(sock: socket.socket, timeout: float) -> Optional[float]:
    """Seconds until the peer closes ``sock`` (EOF or reset), None if not within ``timeout``."""
    sock.setblocking(True)
    sock.settimeout(timeout)
    t0 = time.monotonic()
    try:
        while True:
            if not sock.recv(65536):
                return time.monotonic() - t0
    except socket.timeout:
        return None
    except OSError:         # reset
        return time.monotonic() - t0


def connection_cap(cap: int, extra: int = 10) -> Tuple[bool, str]:
    """A child simulator with ``max_connections=cap``: ``cap`` connections are served, ``extra``
    more are closed at once, and a freed slot serves again."""
    with ChildSimulators(1, max_connections=cap) as child:
        host, port = child.host, child.ports[0]
        held: List[socket.socket] = []
        refused_times: List[float] = []
        served = refused = 0
        try:
            for i in range(cap):
                s = socket.create_connection((host, port), timeout=5)
                held.append(s)
                s.sendall(codec.encode_read_block(i % 64, memmap.STATUS_UPTIME_MS, 4))
            for i, s in enumerate(held):
                s.settimeout(5)
                got = s.recv(20)
                if len(got) == 20 and got[2] >> 2 == i % 64:
                    served += 1
            for _ in range(extra):
                with socket.create_connection((host, port), timeout=5) as s:
                    s.sendall(codec.encode_read_block(1, memmap.STATUS_UPTIME_MS, 4))
                    took = _eof_within(s, 2.0)
                if took is not None:
                    refused += 1
                    refused_times.append(took)
            held.pop().close()
            again: Optional[float] = None
            deadline = time.monotonic() + 3.0
            while again is None and time.monotonic() < deadline:     # the slot frees once the close lands
                try:
                    again = _uptime_round_trip(host, port, timeout=1.0)
                except (OSError, ValueError):
                    time.sleep(0.05)
        finally:
            for s in held:
                s.close()
    ok = served == cap and refused == extra and again is not None
    line = (f"connection_cap: max_connections {cap}: {served}/{cap} served, {refused}/{extra} beyond it "
            f"closed at once (median {statistics.median(refused_times) * 1000 if refused_times else math.nan:.1f} ms), "
            f"a freed slot served again: {'yes' if again is not None else 'NO'}; {'PASS' if ok else 'FAIL'}")
    return ok, line


def idle_timeout(seconds: float, holders: int = 20) -> Tuple[bool, str]:
    """A child simulator with ``idle_timeout=seconds``: ``holders`` connections each stopped in
    the middle of a frame are closed after about ``seconds``; an idle connection (no partial
    frame) and a client sending whole frames every ``seconds / 2`` stay open and answered."""
    import select as _select

    with ChildSimulators(1, idle_timeout=seconds) as child:
        host, port = child.host, child.ports[0]
        req = codec.encode_read_block(2, memmap.STATUS_UPTIME_MS, 4)
        half = [socket.create_connection((host, port), timeout=5) for _ in range(holders)]
        idle = socket.create_connection((host, port), timeout=5)
        slow = socket.create_connection((host, port), timeout=5)
        closed_after: List[float] = []
        rounds = 6
        slow_ok = 0
        try:
            for i, s in enumerate(half):
                s.sendall(req[:1 + i % (len(req) - 1)])
            t0 = time.monotonic()
            waiting = list(half)
            next_slow = t0
            done_slow = 0
            while (waiting or done_slow < rounds) and time.monotonic() - t0 < 3 * seconds + 1:
                if done_slow < rounds and time.monotonic() >= next_slow:
                    slow.sendall(req)
                    slow.settimeout(5)
                    slow_ok += len(slow.recv(20)) == 20
                    done_slow += 1
                    next_slow += seconds / 2
                if not waiting:
                    time.sleep(max(0.0, next_slow - time.monotonic()))
                    continue
                readable, _, _ = _select.select(waiting, [], [], 0.005)
                for s in readable:
                    try:
                        gone = s.recv(1) == b""
                    except OSError:
                        gone = True
                    if gone:
                        closed_after.append(time.monotonic() - t0)
                        waiting.remove(s)
            idle.setblocking(False)
            try:
                idle_open = idle.recv(1) != b""
            except BlockingIOError:
                idle_open = True
            except OSError:
                idle_open = False
        finally:
            for s in half + [idle, slow]:
                s.close()
    first = min(closed_after, default=math.nan)
    worst = max(closed_after, default=math.nan)
    ok = (len(closed_after) == holders and idle_open and slow_ok == rounds
          and seconds * 0.9 <= first and worst <= seconds * 2 + 0.2)
    line = (f"idle_timeout: {seconds:g} s: {len(closed_after)}/{holders} connections holding half a frame "
            f"closed after {first:.3f}-{worst:.3f} s; an idle connection "
            f"{'stayed open' if idle_open else 'was CLOSED'}; a client sending a whole frame every "
            f"{seconds / 2:g} s for {rounds * seconds / 2:g} s: {slow_ok}/{rounds} answered; "
            f"{'PASS' if ok else 'FAIL'}")
    return ok, line


# ----------------------------------------------------------------------------- latency fidelity
def measure_latency(host: str, port: int, *, calls: int = 200, burst: int = 64,
                    rounds: int = 5) -> Tuple[float, float]:
    """(median seconds per sequential request, median seconds for a pipelined burst of
    ``burst`` requests) over one connection."""
    req = codec.encode_read_block(1, memmap.STATUS_UPTIME_MS, 4)
    burst_req = b"".join(codec.encode_read_block(i % 64, memmap.STATUS_UPTIME_MS, 4) for i in range(burst))
    with socket.create_connection((host, port), timeout=5) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def recv_n(n: int) -> None:
            got = 0
            while got < n:
                chunk = s.recv(n - got)
                if not chunk:
                    raise ConnectionError("closed")
                got += len(chunk)

        singles: List[float] = []
        for _ in range(calls):
            t0 = time.perf_counter()
            s.sendall(req)
            recv_n(20)
            singles.append(time.perf_counter() - t0)
        bursts: List[float] = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            s.sendall(burst_req)
            recv_n(20 * burst)
            bursts.append(time.perf_counter() - t0)
    return statistics.median(singles), statistics.median(bursts)


def fidelity(latencies_ms: List[float], *, calls: int = 200, burst: int = 64) -> Tuple[bool, List[str]]:
    """Requested vs measured latency, against ``mmpfast sim`` in a child process and the
    in-process ``Simulator``; each compared with latency 0 in the same run."""
    from mmpfast.sim import Simulator, SimulatorProcess

    lines: List[str] = []
    ok = True
    for where in ("mmpfast sim (child process)", "Simulator (in-process thread)"):
        def open_sim(latency: float) -> Any:
            return SimulatorProcess(latency=latency) if where.startswith("mmpfast") else Simulator(latency=latency)

        with open_sim(0.0) as base:
            base_single, base_burst = measure_latency(base.host, base.port, calls=calls, burst=burst)
        for ms in latencies_ms:
            with open_sim(ms / 1000.0) as sim:
                single, whole = measure_latency(sim.host, sim.port, calls=calls, burst=burst)
            per_request = (single - base_single) * 1000
            burst_ms = (whole - base_burst) * 1000
            good = abs(per_request - ms) <= 0.1 + 0.1 * ms and abs(burst_ms - burst * ms) <= 0.2 * burst * ms + 1
            ok &= good
            lines.append(f"fidelity: {where}: requested {ms:g} ms, measured {per_request:.3f} ms per request "
                         f"over latency 0 (median of {calls}); burst of {burst}: {burst_ms:.2f} ms "
                         f"(n x latency = {burst * ms:.2f} ms); {'PASS' if good else 'FAIL'}")
    return ok, lines


# ----------------------------------------------------------------------------- main
def run(seconds: float, connections: int, slowloris: int, garbage: int, probes: int, drip: float,
        max_growth_mb: float, max_p99_ms: float) -> Tuple[bool, str, Dict[str, Any]]:
    """One full run against a child simulator.  Returns (ok, summary line, details)."""
    with ChildSimulators(1) as child:
        port = child.ports[0]

        async def warm() -> None:       # touch the code paths once before the baseline
            async with AsyncClient(child.host, port) as c:
                for k in range(probes):
                    await c.write_scratchpad_int32(PROBE_BASE + k, 0)
                    await c.read_scratchpad_int32(PROBE_BASE + k)
        asyncio.run(warm())
        before = rss_kb(child.pid)
        rep = asyncio.run(abuse(child.host, port, seconds=seconds, connections=connections,
                                slowloris=slowloris, garbage=garbage, probes=probes, drip=drip))
        time.sleep(0.5)                 # let the child close what the abusers left
        after = rss_kb(child.pid)
        peak = peak_rss_kb(child.pid)

        async def still_answers() -> int:
            async with AsyncClient(child.host, port) as c:
                return int(await c.uptime_ms())
        try:
            asyncio.run(still_answers())
            alive = child.alive
        except MmpError:
            alive = False
    growth_mb = (after - before) / 1024.0
    p99_ms = rep.p99 * 1000
    ok = rep.ok and alive and growth_mb <= max_growth_mb and p99_ms <= max_p99_ms \
        and rep.held_failed == 0
    line = (f"server_robustness: {rep.seconds:.1f} s, {rep.held} held-open conns, {slowloris} slowloris "
            f"({rep.slowloris_requests} req), {rep.garbage_sessions} garbage sessions "
            f"({rep.garbage_bytes / 1e6:.1f} MB); probes {rep.probe_ok} ok / {rep.probe_errors} errors / "
            f"{rep.probe_wrong} wrong, latency p50 {rep.p50 * 1000:.2f} ms p99 {p99_ms:.2f} ms "
            f"max {rep.worst * 1000:.1f} ms; sim RSS {before / 1024:.1f} -> {after / 1024:.1f} MB "
            f"(peak {peak / 1024:.1f}); {'alive' if alive else 'DEAD'}; {'PASS' if ok else 'FAIL'}")
    details = {"report": rep, "rss_before_kb": before, "rss_after_kb": after, "peak_kb": peak,
               "alive": alive}
    return ok, line, details


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=30.0, help="length of the abuse (default 30)")
    p.add_argument("--connections", type=int, default=200, help="held-open connections (default 200)")
    p.add_argument("--slowloris", type=int, default=20, help="byte-at-a-time senders (default 20)")
    p.add_argument("--garbage", type=int, default=4, help="garbage-sending workers (default 4)")
    p.add_argument("--probes", type=int, default=4, help="well-behaved clients (default 4)")
    p.add_argument("--drip", type=float, default=0.05, help="seconds between slowloris bytes (default 0.05)")
    p.add_argument("--max-growth-mb", type=float, default=20.0, help="allowed RSS growth (default 20 MB)")
    p.add_argument("--max-p99-ms", type=float, default=100.0, help="allowed probe p99 latency (default 100 ms)")
    p.add_argument("--never-read", type=int, default=0, metavar="N",
                   help="instead: N connections send read requests and never read (RSS growth)")
    p.add_argument("--megabytes", type=float, default=1.0, help="MiB of requests per --never-read connection")
    p.add_argument("--latency-ms", type=float, default=0.02, help="simulator latency for --never-read (ms)")
    p.add_argument("--cap", type=int, default=0, metavar="M", help="instead: check max_connections=M")
    p.add_argument("--idle", type=float, default=0.0, metavar="S", help="instead: check idle_timeout=S")
    p.add_argument("--fidelity", default=None, metavar="MS[,MS...]",
                   help="instead: requested vs measured latency for these latencies (ms)")
    p.add_argument("--serve", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--latency", type=float, default=0.0, help=argparse.SUPPRESS)
    p.add_argument("--serve-options", default="{}", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        serve_child(args.serve, args.latency, json.loads(args.serve_options))
        return 0
    if args.never_read:
        with ChildSimulators(1, latency=args.latency_ms / 1000.0) as child:
            rep = never_read(child, connections=args.never_read, megabytes=args.megabytes)
        ok, line = never_read_line(rep, args.max_growth_mb)
        print(line)
        return 0 if ok else 1
    if args.cap:
        ok, line = connection_cap(args.cap)
        print(line)
        return 0 if ok else 1
    if args.idle:
        ok, line = idle_timeout(args.idle)
        print(line)
        return 0 if ok else 1
    if args.fidelity:
        ok, lines = fidelity([float(x) for x in args.fidelity.split(",")])
        print("\n".join(lines))
        return 0 if ok else 1
    ok, line, details = run(args.seconds, args.connections, args.slowloris, args.garbage, args.probes,
                            args.drip, args.max_growth_mb, args.max_p99_ms)
    for err in details["report"].errors[:10]:
        print("  error:", err, file=sys.stderr)
    print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
