"""Client CPU per call against floors: the per-call speed table, from one run.

    python benchmarks/percall.py                   # 7 rounds x 3000 calls, about 1-2 min
    python benchmarks/percall.py --calls 500       # quicker, noisier

The simulator runs in ANOTHER process (``mmpfast.sim.SimulatorProcess``,
latency 0), so ``time.process_time()`` of this process is the client's own
CPU.  Each case is set up once (connected, warmed up); then 7 rounds run
every case for ``--calls`` calls, interleaved (the order rotates each round),
and each figure is the minimum over the rounds of (process time of the loop
/ calls); the wall time of the same loop is kept beside it.  Ratios are taken
against floors that do the same request with the least code Python allows:

* blocking floor: a persistent socket (``TCP_NODELAY``), the 16-byte read
  block request ``struct``-packed into a reused buffer with a rotating
  transaction label, ``sendall``, ``recv_into`` a reused buffer until the
  20-byte response is in, state = any of its 4 data bytes.  No checks.
* asyncio floor: a minimal ``asyncio.Protocol`` client doing the same
  request (``transport.write``; ``data_received`` appends to a bytearray and
  wakes a future when the whole response is in).  The same class on uvloop.
  Beside it (no goal attached) the same client on ``asyncio.BufferedProtocol``,
  which receives into a preallocated buffer.
* scan floor: a bare socket sending a full-rack plan's ``plan.requests`` as
  one pipelined write and copying each payload into the result buffer at
  ``plan.offsets``.

optommp 0.7 (``optommp.O22MMP``) is measured too.  Its constructor connects
to port 2001 whatever the host; ``_optommp_client`` runs that constructor
unchanged with the ``socket`` name in optommp's module namespace pointing at
a socket class whose ``connect`` replaces the port 2001 by the simulator's
port (nothing else changes, and the patch is undone at once).

The table is printed (Markdown) and written to ``benchmarks/results/percall.md``
(``--out``).  Needs the bench extra for the optommp row and the uvloop extra
for the uvloop rows (each missing one is reported as skipped, with the reason).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import mmpfast  # noqa: E402
from mmpfast import memmap, protocol  # noqa: E402
from mmpfast.plan import ScanPlan  # noqa: E402
from mmpfast.sim import SimulatorProcess  # noqa: E402

#: the point every per-call case reads (a digital output module of the default rack, set on)
MODULE, CHANNEL = 1, 3
#: the request every per-call case sends: read block, 4 bytes of the digital state
STATE_ADDRESS = memmap.digital_read_address(MODULE, CHANNEL) + memmap.DIG_STATE
STATE_LENGTH = 4
#: read block request header (16 bytes), from mmpfast.protocol
REQUEST = struct.Struct(protocol.BLOCK_REQUEST_HEADER.format)
TCODE_BYTE = protocol.TCODE_READ_BLOCK << 4
RESPONSE_HEADER = protocol.HEADER_BLOCK
PIPELINE = 8
DEFAULT_CALLS = 3000
DEFAULT_ROUNDS = 7
DEFAULT_OUT = HERE / "results" / "percall.md"


def full_rack_plan() -> ScanPlan:
    """16 modules x 32 channels, digital states and analog values (as in bench_scan.py)."""
    p = ScanPlan()
    for m in range(16):
        for c in range(32):
            p.add_digital(m, c)
            p.add_analog(m, c)
    return p.freeze()


# ----------------------------------------------------------------------------- floors
class BareSocket:
    """The blocking floor: persistent socket, struct-packed request, recv_into."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.tl = 0

    def read_state_loop(self, n: int) -> bool:
        """``n`` read_digital-equivalent requests, one at a time; the last state."""
        sock = self.sock
        pack_into = REQUEST.pack_into
        req = bytearray(REQUEST.size)
        rx = bytearray(RESPONSE_HEADER + STATE_LENGTH)
        view = memoryview(rx)
        need = len(rx)
        tl = self.tl
        state = False
        for _ in range(n):
            tl = (tl + 1) & 63
            pack_into(req, 0, 0, tl << 2, TCODE_BYTE, 0, protocol.ADDRESS_HIGH, STATE_ADDRESS,
                      STATE_LENGTH, 0)
            sock.sendall(req)
            got = 0
            while got < need:
                got += sock.recv_into(view[got:])
            state = any(view[RESPONSE_HEADER:need])
        self.tl = tl
        return state

    def scan_loop(self, plan: ScanPlan, buf: bytearray, n: int) -> bytearray:
        """``n`` passes of ``plan.requests``, all sent in one write, payloads copied to ``buf``."""
        sock = self.sock
        pack_into = REQUEST.pack_into
        requests = plan.requests
        offsets = list(plan.offsets)
        lengths = list(plan.lengths)
        k = len(requests)
        req = bytearray(REQUEST.size * k)
        total = sum(RESPONSE_HEADER + n_ for n_ in lengths)
        rx = bytearray(total)
        view = memoryview(rx)
        dest = memoryview(buf)
        tl = self.tl
        for _ in range(n):
            for i, (address, length) in enumerate(requests):
                tl = (tl + 1) & 63
                pack_into(req, REQUEST.size * i, 0, tl << 2, TCODE_BYTE, 0, protocol.ADDRESS_HIGH,
                          address, length, 0)
            sock.sendall(req)
            got = 0
            while got < total:
                got += sock.recv_into(view[got:])
            pos = 0
            for off, length in zip(offsets, lengths):
                start = pos + RESPONSE_HEADER
                dest[off:off + length] = view[start:start + length]
                pos = start + length
        self.tl = tl
        return buf

    def close(self) -> None:
        self.sock.close()


class FloorProtocol(asyncio.Protocol):
    """The asyncio floor: write a request, wake a future once ``need`` bytes are in."""

    def __init__(self) -> None:
        self.rx = bytearray()
        self.need = 0
        self.waiter: Optional["asyncio.Future[None]"] = None
        self.transport: Any = None
        self.tl = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport      # uvloop's transports are not asyncio.Transport subclasses
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.rx += data
        w = self.waiter
        if w is not None and len(self.rx) >= self.need:
            self.waiter = None
            w.set_result(None)

    def connection_lost(self, exc: Optional[Exception]) -> None:
        w = self.waiter
        if w is not None and not w.done():
            self.waiter = None
            w.set_exception(ConnectionError("connection lost"))

    async def exchange(self, request: bytes, need: int) -> bytearray:
        """Send ``request``; the first ``need`` bytes received (removed from the stream)."""
        assert self.transport is not None
        self.need = need
        w = self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        await w
        rx = self.rx
        frame = rx[:need]
        del rx[:need]
        return frame

    async def read_state_loop(self, n: int) -> bool:
        state = False
        pack = REQUEST.pack
        tl = self.tl
        need = RESPONSE_HEADER + STATE_LENGTH
        for _ in range(n):
            tl = (tl + 1) & 63
            frame = await self.exchange(pack(0, tl << 2, TCODE_BYTE, 0, protocol.ADDRESS_HIGH,
                                             STATE_ADDRESS, STATE_LENGTH, 0), need)
            state = any(frame[RESPONSE_HEADER:need])
        self.tl = tl
        return state

    async def scan_into(self, requests: Sequence[Tuple[int, int]], offsets: Sequence[int],
                        lengths: Sequence[int], buf: Any) -> None:
        """One pass of a plan: every request in one write, each payload copied to ``buf``."""
        pack = REQUEST.pack
        tl = self.tl
        parts = []
        for address, length in requests:
            tl = (tl + 1) & 63
            parts.append(pack(0, tl << 2, TCODE_BYTE, 0, protocol.ADDRESS_HIGH, address, length, 0))
        self.tl = tl
        total = sum(RESPONSE_HEADER + n for n in lengths)
        frames = memoryview(await self.exchange(b"".join(parts), total))
        pos = 0
        for off, length in zip(offsets, lengths):
            start = pos + RESPONSE_HEADER
            buf[off:off + length] = frames[start:start + length]
            pos = start + length


class FloorBufferedProtocol(asyncio.BufferedProtocol):
    """The same floor on ``asyncio.BufferedProtocol``: the loop receives straight into a
    preallocated buffer (``recv_into``) instead of handing ``data_received`` a new
    ``bytes`` (asyncio's selector loop reads up to 256 KiB into a fresh object each time)."""

    def __init__(self) -> None:
        self.rx = bytearray(1 << 16)
        self.view = memoryview(self.rx)
        self.pos = 0
        self.need = 0
        self.waiter: Optional["asyncio.Future[None]"] = None
        self.transport: Any = None
        self.tl = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view[self.pos:]

    def buffer_updated(self, nbytes: int) -> None:
        self.pos += nbytes
        w = self.waiter
        if w is not None and self.pos >= self.need:
            self.waiter = None
            w.set_result(None)

    def connection_lost(self, exc: Optional[Exception]) -> None:
        w = self.waiter
        if w is not None and not w.done():
            self.waiter = None
            w.set_exception(ConnectionError("connection lost"))

    async def read_state_loop(self, n: int) -> bool:
        state = False
        pack = REQUEST.pack
        tl = self.tl
        need = RESPONSE_HEADER + STATE_LENGTH
        loop = asyncio.get_running_loop()
        for _ in range(n):
            tl = (tl + 1) & 63
            self.pos, self.need = 0, need          # one response in flight: it starts the buffer
            w = self.waiter = loop.create_future()
            self.transport.write(pack(0, tl << 2, TCODE_BYTE, 0, protocol.ADDRESS_HIGH, STATE_ADDRESS,
                                      STATE_LENGTH, 0))
            await w
            state = any(self.view[RESPONSE_HEADER:need])
        self.tl = tl
        return state


async def open_floor(host: str, port: int, cls: Any = FloorProtocol) -> Any:
    _, proto = await asyncio.get_running_loop().create_connection(cls, host, port)
    return proto


# ----------------------------------------------------------------------------- optommp
def _optommp_client(host: str, port: int) -> Any:
    """An ``optommp.O22MMP`` built by its own constructor, connected to ``host:port``.

    O22MMP.__init__ calls ``socket.socket(...).connect((host, 2001))``; for the
    duration of that call the ``socket`` name in optommp's namespace is a
    stand-in whose ``socket`` class redirects a connect to port 2001 to ``port``.
    """
    import optommp

    class _Redirected(socket.socket):
        def connect(self, address: Any) -> None:
            h, p = address
            super().connect((h, port if p == 2001 else p))

    real = optommp.socket
    optommp.socket = SimpleNamespace(socket=_Redirected, AF_INET=socket.AF_INET,
                                     SOCK_STREAM=socket.SOCK_STREAM)
    try:
        return optommp.O22MMP(host)
    finally:
        optommp.socket = real


# ----------------------------------------------------------------------------- placement
PIN_MODES = ("split", "same", "none")


def _set_affinity(pid: int, cpus: "set[int]") -> None:
    """Pin every thread of process ``pid`` to ``cpus`` (Linux)."""
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        tids = [pid]
    for tid in tids:
        try:
            os.sched_setaffinity(tid, cpus)
        except OSError:
            pass


def pin(sim_pid: int, mode: str) -> str:
    """Place this process and the simulator's: ``split`` = one CPU each, ``same`` = both on
    one CPU, ``none`` = the scheduler's choice.  Returns what was done, for the report.

    Where the two processes run is the largest effect on a loopback round trip's cost: a
    blocking receive answered from the other CPU costs a sleep and a cross-CPU wake-up, one
    answered on the same CPU a direct switch (on this 2-core VM about 20 vs 8 µs of client
    CPU for the bare loop).  Left to the scheduler, rounds land in either regime at random,
    so the figures are taken with a fixed placement (default ``split``: the device is
    another machine in the field, and the scheduler's usual choice under load).
    """
    if mode == "none" or not hasattr(os, "sched_setaffinity"):
        return "processes not pinned"
    cpus = sorted(os.sched_getaffinity(0))
    if mode == "split" and len(cpus) < 2:
        return "processes not pinned (one CPU available)"
    mine = cpus[0]
    theirs = cpus[0] if mode == "same" else cpus[1]
    _set_affinity(os.getpid(), {mine})
    _set_affinity(sim_pid, {theirs})
    return (f"client pinned to CPU {mine}, simulator to CPU {theirs}" if mode == "split"
            else f"client and simulator both pinned to CPU {mine}")


# ----------------------------------------------------------------------------- cases
@dataclass
class Case:
    """One measured loop: ``run(n)`` makes n calls and returns the last result."""

    key: str
    label: str
    run: Callable[[int], Any]
    close: Callable[[], None]
    cpu: List[float] = field(default_factory=list)      # seconds per call, per round
    wall: List[float] = field(default_factory=list)
    last: Any = None

    @property
    def cpu_min(self) -> float:
        return min(self.cpu)

    @property
    def wall_min(self) -> float:
        return min(self.wall)


@dataclass
class Run:
    """Everything one measurement run produced."""

    calls: int
    scan_calls: int
    rounds: int
    cases: Dict[str, Case]
    skipped: Dict[str, str]
    plan_requests: int
    placement: str = ""
    load: str = "unknown"
    scan_buffers_equal: Optional[bool] = None


def _loop_factories() -> Tuple[Dict[str, Callable[[], asyncio.AbstractEventLoop]], Dict[str, str]]:
    loops: Dict[str, Callable[[], asyncio.AbstractEventLoop]] = {"asyncio": asyncio.new_event_loop}
    skipped: Dict[str, str] = {}
    try:
        import uvloop
    except ImportError:
        skipped["uvloop"] = 'uvloop is not installed (pip install "mmpfast[uvloop]")'
    else:
        loops["uvloop"] = uvloop.new_event_loop
    return loops, skipped


def build_cases(host: str, port: int, plan: ScanPlan,
                loops: Dict[str, Callable[[], asyncio.AbstractEventLoop]],
                skipped: Dict[str, str]) -> Dict[str, Case]:
    """Connect every case and warm it up."""
    cases: Dict[str, Case] = {}

    def add(case: Case, warm: int = 50) -> None:
        case.last = case.run(warm)
        cases[case.key] = case

    bare = BareSocket(host, port)
    add(Case("bare", "bare Python socket loop", bare.read_state_loop, bare.close))

    client = mmpfast.Client(host, port)

    def client_loop(n: int, c: mmpfast.Client = client) -> Any:
        state = None
        for _ in range(n):
            state = c.read_digital(MODULE, CHANNEL)
        return state
    add(Case("client", "`Client.read_digital`", client_loop, client.close))

    try:
        o = _optommp_client(host, port)
    except ImportError:
        skipped["optommp"] = 'optommp is not installed (pip install "mmpfast[bench]")'
    else:
        def optommp_loop(n: int, o: Any = o) -> Any:
            state = None
            for _ in range(n):
                state = o.GetDigitalPointState(MODULE, CHANNEL)
            return bool(state)
        add(Case("optommp", "optommp 0.7 `GetDigitalPointState`", optommp_loop, o.close))

    for name, factory in loops.items():
        loop = factory()
        proto = loop.run_until_complete(open_floor(host, port))

        async def make_client() -> mmpfast.AsyncClient:      # built inside its loop
            return mmpfast.AsyncClient(host, port)
        aclient = loop.run_until_complete(make_client())

        def floor_loop(n: int, loop: asyncio.AbstractEventLoop = loop, p: FloorProtocol = proto) -> Any:
            return loop.run_until_complete(p.read_state_loop(n))

        async def aclient_calls(n: int, c: mmpfast.AsyncClient = aclient) -> Any:
            state = None
            for _ in range(n):
                state = await c.read_digital(MODULE, CHANNEL)
            return state

        def aclient_loop(n: int, loop: asyncio.AbstractEventLoop = loop, calls: Any = aclient_calls) -> Any:
            return loop.run_until_complete(calls(n))

        def close(loop: asyncio.AbstractEventLoop = loop, p: FloorProtocol = proto,
                  c: mmpfast.AsyncClient = aclient) -> None:
            assert p.transport is not None
            p.transport.close()
            loop.run_until_complete(c.close())
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()
        bproto = loop.run_until_complete(open_floor(host, port, FloorBufferedProtocol))

        def bfloor_loop(n: int, loop: asyncio.AbstractEventLoop = loop, p: Any = bproto) -> Any:
            return loop.run_until_complete(p.read_state_loop(n))
        add(Case(f"{name}_floor", f"minimal `asyncio.Protocol` client on {name}", floor_loop, lambda: None))
        add(Case(f"{name}_bfloor", f"minimal `asyncio.BufferedProtocol` client on {name}", bfloor_loop,
                 bproto.transport.close))
        add(Case(f"{name}_client", f"`AsyncClient.read_digital` on {name}", aclient_loop, close))

    sbare = BareSocket(host, port)
    bare_buf = plan.new_buffer()
    add(Case("scan_bare", "bare socket, plan.requests pipelined, payloads copied",
             lambda n: sbare.scan_loop(plan, bare_buf, n), sbare.close), warm=10)
    sclient = mmpfast.Client(host, port, pipeline=PIPELINE)
    buf = plan.new_buffer()

    def scan_into_loop(n: int) -> Any:
        for _ in range(n):
            sclient.scan_into(plan, buf)
        return buf
    add(Case("scan_into", f"full-rack `scan_into(plan, buf)`, `pipeline={PIPELINE}`",
             scan_into_loop, sclient.close), warm=10)

    def values_loop(n: int) -> Any:
        v = None
        for _ in range(n):
            v = sclient.scan(plan).values()
        return v
    add(Case("scan_values", "full-rack `scan(plan).values()`", values_loop, lambda: None), warm=10)
    return cases


def measure(calls: int = DEFAULT_CALLS, rounds: int = DEFAULT_ROUNDS, scan_calls: Optional[int] = None,
            use_uvloop: bool = True, pin_mode: str = "split", progress: Optional[Callable[[str], None]] = None) -> Run:
    """Start the simulator process, build the cases, run ``rounds`` interleaved rounds."""
    scan_calls = calls if scan_calls is None else scan_calls
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"
    plan = full_rack_plan()
    loops, skipped = _loop_factories()
    if not use_uvloop:
        loops.pop("uvloop", None)
        skipped["uvloop"] = "left out (--no-uvloop)"
    with SimulatorProcess(latency=0.0) as sim:
        old_affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
        proc = getattr(sim, "proc", None)
        placement = (pin(proc.pid, pin_mode) if proc is not None
                     else "processes not pinned (no simulator process id)")
        with mmpfast.Client(sim.host, sim.port) as c:        # the state every per-call case reads
            c.write_digital(MODULE, CHANNEL, True)
        cases = build_cases(sim.host, sim.port, plan, loops, skipped)
        try:
            order = list(cases.values())
            for r in range(rounds):
                k = r % len(order)
                for case in order[k:] + order[:k]:
                    n = scan_calls if case.key.startswith("scan") else calls
                    c0, w0 = time.process_time(), time.perf_counter()
                    case.last = case.run(n)
                    c1, w1 = time.process_time(), time.perf_counter()
                    case.cpu.append((c1 - c0) / n)
                    case.wall.append((w1 - w0) / n)
                if progress is not None:
                    progress(f"round {r + 1}/{rounds} done")
        finally:
            for case in cases.values():
                case.close()
            if old_affinity is not None:
                _set_affinity(os.getpid(), old_affinity)
    run = Run(calls, scan_calls, rounds, cases, skipped, len(plan.requests), placement, load)
    if "scan_bare" in cases and "scan_into" in cases:
        run.scan_buffers_equal = bytes(cases["scan_bare"].last) == bytes(cases["scan_into"].last)
    return run


# ----------------------------------------------------------------------------- the table
#: (case, floor case, goal ratio or None, goal text); wall time is divided by the same floor
ROWS: List[Tuple[str, str, Optional[float], str]] = [
    ("bare", "bare", None, "floor"),
    ("optommp", "bare", None, "–"),
    ("client", "bare", 1.00, "≤ 1.00×"),
    ("asyncio_floor", "bare", None, "asyncio's own floor"),
    ("asyncio_client", "asyncio_floor", 1.15, "≤ 1.15×"),
    ("asyncio_bfloor", "bare", None, "–"),
    ("uvloop_floor", "bare", None, "uvloop's own floor"),
    ("uvloop_bfloor", "bare", None, "–"),
    ("uvloop_client", "bare", 1.30, "≤ 1.30× the blocking bare loop"),
    ("scan_bare", "scan_bare", None, "floor"),
    ("scan_into", "scan_bare", 1.05, "≤ 1.05×"),
    ("scan_values", "scan_bare", 1.50, "≤ 1.50×"),
]


FLOOR_NAMES = {"bare": "bare loop", "asyncio_floor": "asyncio Protocol", "uvloop_floor": "uvloop Protocol",
               "scan_bare": "bare scan"}


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} µs"


def per_round(run: Run, key: str, floor: str) -> List[float]:
    """Client CPU per call of ``key`` ÷ ``floor`` in each round (the two ran seconds apart)."""
    a, b = run.cases[key], run.cases[floor]
    return [x / y for x, y in zip(a.cpu, b.cpu)]


def ratio(run: Run, key: str, floor: str) -> Tuple[float, float, float]:
    """(min ÷ min, lowest and highest per-round ratio) of client CPU per call."""
    rounds = per_round(run, key, floor)
    return run.cases[key].cpu_min / run.cases[floor].cpu_min, min(rounds), max(rounds)


def table(run: Run) -> str:
    """The Markdown table of one run."""
    lines = ["| figure | client CPU per call | ÷ floor: min ÷ min (per-round ratios: median, range) | floor | goal | met? "
             "| wall per call | wall ÷ floor |",
             "|---|---|---|---|---|---|---|---|"]
    for key, floor, goal, goal_text in ROWS:
        if key not in run.cases or floor not in run.cases:
            continue
        c, f = run.cases[key], run.cases[floor]
        r, lo, hi = ratio(run, key, floor)
        met = "–" if goal is None else ("met" if r <= goal else f"missed by {r / goal - 1:.0%}")
        floor_label = "–" if key == floor else f"{FLOOR_NAMES.get(floor, floor)}, {_us(f.cpu_min)}"
        rtext = ("1.00×" if key == floor else
                 f"**{r:.2f}×** (median {statistics.median(per_round(run, key, floor)):.2f}, {lo:.2f}–{hi:.2f})")
        lines.append(f"| {c.label} | {_us(c.cpu_min)} | {rtext} | {floor_label} | {goal_text} | {met} "
                     f"| {_us(c.wall_min)} | {c.wall_min / f.wall_min:.2f}× |")
    notes = []
    if "asyncio_client" in run.cases and "bare" in run.cases:
        b = run.cases["bare"]
        parts = [f"{run.cases[k].label} {run.cases[k].cpu_min / b.cpu_min:.2f}× CPU, "
                 f"{run.cases[k].wall_min / b.wall_min:.2f}× wall"
                 for k in ("asyncio_floor", "asyncio_bfloor", "asyncio_client", "uvloop_floor", "uvloop_bfloor",
                           "uvloop_client") if k in run.cases]
        notes.append("Against the blocking bare loop: " + "; ".join(parts) + ".")
    if "uvloop_client" in run.cases and "uvloop_floor" in run.cases:
        r, lo, hi = ratio(run, "uvloop_client", "uvloop_floor")
        notes.append(f"`AsyncClient` on uvloop ÷ the minimal Protocol client on uvloop: {r:.2f}× ({lo:.2f}–{hi:.2f}).")
    for what, why in run.skipped.items():
        notes.append(f"{what} rows skipped: {why}.")
    wrong = [c.label for k, c in run.cases.items() if not k.startswith("scan") and c.last is not True]
    notes.append("Every per-call case returned the state set on (True)." if not wrong
                 else "WRONG RESULT from: " + ", ".join(wrong) + ".")
    if run.scan_buffers_equal is not None:
        notes.append(f"The full-rack plan is {run.plan_requests} block reads; the bare scan's buffer "
                     f"{'equals' if run.scan_buffers_equal else 'DIFFERS FROM'} `scan_into`'s.")
    return "\n".join(lines) + ("\n\n" + "\n".join(f"- {n}" for n in notes) if notes else "") + "\n"


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=str(HERE), capture_output=True,
                             text=True, check=False, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "mmpfast"],
                               cwd=str(HERE.parent), capture_output=True, text=True, check=False, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    c = out.stdout.strip() or "unknown"
    return c + (" (mmpfast/ modified)" if dirty.stdout.strip() else "")


def report(run: Run, command: str) -> str:
    from report import machine
    head = (f"Client CPU per call (`time.process_time()` around a loop of calls; the simulator is another "
            f"process, latency 0), min of {run.rounds} interleaved rounds × {run.calls:,} calls "
            f"({run.scan_calls:,} scan passes); wall time of the same loops beside it.\n\n"
            f"Run of commit `{_commit()}`: {machine()}; "
            f"{run.placement}; load average before the run {run.load}.\n"
            f"Command: `{command}`\n\n")
    return head + table(run)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=DEFAULT_CALLS, help=f"calls per round (default {DEFAULT_CALLS})")
    ap.add_argument("--scan-calls", type=int, default=None, help="scan passes per round (default: --calls)")
    ap.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help=f"rounds (default {DEFAULT_ROUNDS})")
    ap.add_argument("--no-uvloop", action="store_true", help="leave the uvloop rows out")
    ap.add_argument("--pin", choices=PIN_MODES, default="split",
                    help="CPU placement: split = client and simulator on different CPUs (default), "
                         "same = one CPU for both, none = the scheduler's choice")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="Markdown file to write ('' = none)")
    args = ap.parse_args(argv)
    if args.calls < 1 or args.rounds < 1 or (args.scan_calls is not None and args.scan_calls < 1):
        ap.error("--calls, --scan-calls and --rounds must be at least 1")
    command = "python benchmarks/percall.py" + "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
    t0 = time.monotonic()
    run = measure(args.calls, args.rounds, args.scan_calls, not args.no_uvloop, args.pin,
                  progress=lambda s: print(s, file=sys.stderr, flush=True))
    text = report(run, command)
    print(text)
    print(f"({time.monotonic() - t0:.0f} s)", file=sys.stderr)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
