"""Run a :class:`~mmpfast.plan.ScanPlan` at a fixed rate.

Scheduling is absolute: pass ``k`` is due at ``start + k / rate_hz`` on the
monotonic clock, so a slow pass never shifts the passes after it.  A pass
that starts after its slot is *late*; when a pass overruns whole periods,
the slots it covered are *skipped* (counted, never run in a burst).

A pass that fails with an :class:`~mmpfast.errors.MmpError` (connection
lost, timeout, NAK, protocol error) is counted in ``stats.errors`` and the
schedule goes on; the client reconnects lazily on its next call.  Any other
exception propagates.

``ScanLoop`` drives a blocking :class:`~mmpfast.Client` (``run()`` or
``for res in loop``); ``AsyncScanLoop`` drives an ``AsyncClient``
(``await run()`` or ``async for res in loop``).  Each result goes to the
``callback`` (if any) and, when iterating, to the caller.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Deque, Iterator, List, Optional

from .errors import MmpError
from .plan import ScanPlan, ScanResult

__all__ = ["ScanLoop", "AsyncScanLoop", "ScanStats"]

log = logging.getLogger("mmpfast.scan")

#: passes kept for the period/jitter percentiles
HISTORY = 100_000


@dataclass(frozen=True)
class ScanStats:
    """A snapshot of a loop's counters and timing (seconds unless named otherwise).

    ``jitter`` is how late a pass started against its slot; ``period`` the
    time between the starts of consecutive passes.
    """

    passes: int                  #: passes attempted (ok + errors)
    ok: int                      #: passes that produced a result
    errors: int                  #: passes that raised an MmpError
    late: int                    #: passes that started after their slot + tolerance
    skipped: int                 #: slots dropped because a pass overran whole periods
    elapsed: float               #: seconds from the first slot to the last pass's end
    rate_hz: float               #: achieved passes per second
    period_mean: float
    period_p50: float
    period_p99: float
    jitter_p50: float
    jitter_p99: float
    jitter_max: float
    duration_p50: float          #: time one pass took
    duration_p99: float
    last_error: Optional[BaseException]


def _percentile(sorted_values: List[float], q: float) -> float:
    if not sorted_values:
        return math.nan
    k = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return float(sorted_values[k])


class _Schedule:
    """Bookkeeping shared by both loops (no I/O, the caller passes times)."""

    def __init__(self, plan: ScanPlan, rate_hz: float, tolerance: Optional[float]) -> None:
        if not isinstance(plan, ScanPlan):
            raise TypeError(f"plan must be a ScanPlan, not {type(plan).__name__}")
        if isinstance(rate_hz, bool) or not isinstance(rate_hz, (int, float)):
            raise TypeError("rate_hz must be a number")
        if not (rate_hz > 0 and math.isfinite(rate_hz)):
            raise ValueError(f"rate_hz must be positive and finite, got {rate_hz!r}")
        self.period = 1.0 / float(rate_hz)
        # a pass counts as late when it starts this much after its slot
        self.tolerance = min(0.001, self.period / 10) if tolerance is None else float(tolerance)
        plan.freeze()
        self.plan = plan
        self.reset()

    def reset(self) -> None:
        self.start: Optional[float] = None
        self.slot = 0
        self.busy = 0.0                 # elapsed time of earlier runs
        self.run_passes_span = 0.0      # sum of the periods measured
        self.n_periods = 0
        self.passes = self.ok = self.errors = self.late = self.skipped = 0
        self.last_error: Optional[BaseException] = None
        self.prev_start: Optional[float] = None
        self.end = 0.0
        self.jitter: Deque[float] = deque(maxlen=HISTORY)
        self.periods: Deque[float] = deque(maxlen=HISTORY)
        self.durations: Deque[float] = deque(maxlen=HISTORY)

    def anchor(self) -> None:
        """Start a new run: the next pass is due at once; counters carry on."""
        if self.start is not None:
            self.busy += max(0.0, self.end - self.start)
        self.start = None
        self.slot = 0
        self.prev_start = None

    def due(self, now: float) -> float:
        """Time the next pass is due (the first call anchors the schedule at ``now``)."""
        if self.start is None:
            self.start = now
        return self.start + self.slot * self.period

    def begin(self, now: float) -> None:
        assert self.start is not None
        due = self.start + self.slot * self.period
        late = now - due
        self.jitter.append(max(0.0, late))
        if late > self.tolerance:
            self.late += 1
        if self.prev_start is not None:
            self.periods.append(now - self.prev_start)
            self.run_passes_span += now - self.prev_start
            self.n_periods += 1
        self.prev_start = now

    def finish(self, began: float, now: float, error: Optional[BaseException]) -> None:
        assert self.start is not None
        self.passes += 1
        self.durations.append(now - began)
        self.end = now
        if error is None:
            self.ok += 1
        else:
            self.errors += 1
            self.last_error = error
        # next slot: the first one not already in the past
        nxt = self.slot + 1
        behind = int((now - self.start) / self.period)
        if behind > nxt:
            self.skipped += behind - nxt
            nxt = behind
        self.slot = nxt

    def stats(self) -> ScanStats:
        periods = sorted(self.periods)
        jitter = sorted(self.jitter)
        durations = sorted(self.durations)
        elapsed = self.busy + (max(0.0, self.end - self.start) if self.start is not None else 0.0)
        starts = self.run_passes_span
        rate = (self.n_periods / starts) if starts > 0 else 0.0
        return ScanStats(
            passes=self.passes, ok=self.ok, errors=self.errors, late=self.late,
            skipped=self.skipped, elapsed=elapsed, rate_hz=rate,
            period_mean=(sum(periods) / len(periods)) if periods else math.nan,
            period_p50=_percentile(periods, 0.5), period_p99=_percentile(periods, 0.99),
            jitter_p50=_percentile(jitter, 0.5), jitter_p99=_percentile(jitter, 0.99),
            jitter_max=jitter[-1] if jitter else math.nan,
            duration_p50=_percentile(durations, 0.5), duration_p99=_percentile(durations, 0.99),
            last_error=self.last_error,
        )


def _limits(duration: Optional[float], passes: Optional[int]) -> None:
    if duration is not None and not duration >= 0:
        raise ValueError(f"duration must be >= 0, got {duration!r}")
    if passes is not None and (isinstance(passes, bool) or not isinstance(passes, int) or passes < 0):
        raise ValueError(f"passes must be an int >= 0, got {passes!r}")


class _LoopBase:
    """What the blocking and the asyncio scan loops share: options, schedule, stats."""

    def __init__(self, client: Any, plan: ScanPlan, rate_hz: float,
                 callback: Optional[Callable[[ScanResult], Any]],
                 on_error: Optional[Callable[[BaseException], Any]],
                 reuse_buffer: bool, tolerance: Optional[float]) -> None:
        self.client = client
        self.callback = callback
        self.on_error = on_error
        self.reuse_buffer = reuse_buffer
        self._sched = _Schedule(plan, rate_hz, tolerance)
        self.plan = plan
        self._buffer = plan.new_buffer() if reuse_buffer else None

    @property
    def period(self) -> float:
        """Seconds between passes."""
        return self._sched.period

    @property
    def stats(self) -> ScanStats:
        """Counters and timing so far (a snapshot)."""
        return self._sched.stats()


class ScanLoop(_LoopBase):
    """Scan ``plan`` on a blocking ``client`` at ``rate_hz`` passes per second.

    ``callback(result)`` is called with each good pass's :class:`~mmpfast.result.ScanResult`.
    By default every pass gets a fresh buffer, so a result stays valid after
    the next pass; ``reuse_buffer=True`` scans into one buffer (no allocation
    per pass: use each result before the next pass starts).  ``on_error(exc)``
    is called for each failed pass.  ``tolerance`` (seconds) is how late a
    pass may start before it counts as late (default: min(1 ms, period / 10)).
    """

    def __init__(self, client: Any, plan: ScanPlan, rate_hz: float, *,
                 callback: Optional[Callable[[ScanResult], Any]] = None,
                 on_error: Optional[Callable[[BaseException], Any]] = None,
                 reuse_buffer: bool = False, tolerance: Optional[float] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(client, plan, rate_hz, callback, on_error, reuse_buffer, tolerance)
        self._clock = clock
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask the loop to end after the current pass (thread-safe; wakes a sleeping loop)."""
        self._stop.set()

    def _one(self) -> Optional[ScanResult]:
        sched, clock = self._sched, self._clock
        began = clock()
        sched.begin(began)
        buf = self._buffer if self._buffer is not None else self.plan.new_buffer()
        try:
            self.client.scan_into(self.plan, buf)
        except MmpError as exc:
            sched.finish(began, clock(), exc)
            log.debug("scan pass failed: %r", exc)
            if self.on_error is not None:
                self.on_error(exc)
            return None
        res = self.plan.result(buf)
        sched.finish(began, clock(), None)
        if self.callback is not None:
            self.callback(res)
        return res

    def _wait(self, until: float) -> bool:
        """Sleep until ``until``; False when stopped."""
        delay = until - self._clock()
        if delay > 0:
            return not self._stop.wait(delay)
        return not self._stop.is_set()

    def iter(self, duration: Optional[float] = None, passes: Optional[int] = None) -> Iterator[ScanResult]:
        """Yield each good pass's result until ``duration`` seconds or ``passes``
        passes (failed ones included) are over, or ``stop()`` is called."""
        _limits(duration, passes)
        self._stop.clear()
        sched = self._sched
        sched.anchor()
        end = None
        done = 0
        while not self._stop.is_set():
            if passes is not None and done >= passes:
                return
            due = sched.due(self._clock())
            if end is None and duration is not None:
                end = due + duration
            if end is not None and due >= end:
                return
            if not self._wait(due):
                return
            res = self._one()
            done += 1
            if res is not None:
                yield res

    def __iter__(self) -> Iterator[ScanResult]:
        return self.iter()

    def run(self, duration: Optional[float] = None, passes: Optional[int] = None) -> ScanStats:
        """Scan until ``duration`` seconds or ``passes`` passes are over (or
        ``stop()``); with neither, until ``stop()``.  Returns the stats."""
        for _ in self.iter(duration, passes):
            pass
        return self.stats


class AsyncScanLoop(_LoopBase):
    """The asyncio twin of :class:`ScanLoop` for an ``AsyncClient``.

    ``callback`` may be a plain function or a coroutine function.
    """

    def __init__(self, client: Any, plan: ScanPlan, rate_hz: float, *,
                 callback: Optional[Callable[[ScanResult], Any]] = None,
                 on_error: Optional[Callable[[BaseException], Any]] = None,
                 reuse_buffer: bool = False, tolerance: Optional[float] = None) -> None:
        super().__init__(client, plan, rate_hz, callback, on_error, reuse_buffer, tolerance)
        self._stopped = False
        self._wake: Optional[asyncio.Event] = None

    def stop(self) -> None:
        """End the loop after the current pass (call from the loop's thread)."""
        self._stopped = True
        if self._wake is not None:
            self._wake.set()

    async def _call(self, fn: Callable[..., Any], arg: Any) -> None:
        out = fn(arg)
        if inspect.isawaitable(out):
            await out

    async def _one(self, clock: Callable[[], float]) -> Optional[ScanResult]:
        sched = self._sched
        began = clock()
        sched.begin(began)
        buf = self._buffer if self._buffer is not None else self.plan.new_buffer()
        try:
            await self.client.scan_into(self.plan, buf)
        except MmpError as exc:
            sched.finish(began, clock(), exc)
            log.debug("scan pass failed: %r", exc)
            if self.on_error is not None:
                await self._call(self.on_error, exc)
            return None
        res = self.plan.result(buf)
        sched.finish(began, clock(), None)
        if self.callback is not None:
            await self._call(self.callback, res)
        return res

    async def iter(self, duration: Optional[float] = None, passes: Optional[int] = None) -> AsyncIterator[ScanResult]:
        """Async generator of good results (see ``ScanLoop.iter``)."""
        _limits(duration, passes)
        self._stopped = False
        self._wake = asyncio.Event()
        clock = asyncio.get_running_loop().time
        sched = self._sched
        sched.anchor()
        end = None
        done = 0
        while not self._stopped:
            if passes is not None and done >= passes:
                return
            due = sched.due(clock())
            if end is None and duration is not None:
                end = due + duration
            if end is not None and due >= end:
                return
            delay = due - clock()
            if delay > 0:
                try:
                    await asyncio.wait_for(self._wake.wait(), delay)
                except asyncio.TimeoutError:
                    pass
                if self._stopped:
                    return
            res = await self._one(clock)
            done += 1
            if res is not None:
                yield res

    def __aiter__(self) -> AsyncIterator[ScanResult]:
        return self.iter()

    async def run(self, duration: Optional[float] = None, passes: Optional[int] = None) -> ScanStats:
        """Scan until ``duration`` seconds or ``passes`` passes are over (or ``stop()``)."""
        async for _ in self.iter(duration, passes):
            pass
        return self.stats
