"""Timers precise to microseconds for the simulator's answer pacing.

asyncio's selector loops wait in whole milliseconds (epoll's timeout), so an
answer due 0.1 ms from now would wake 1 ms late.  ``new_event_loop()`` gives a
loop whose epoll selector waits the whole milliseconds, then the rest with
``select()`` on the epoll descriptor, and polls only the last 0.1 ms;
``_FineTimers`` schedules answers on any loop: a coarse timer ``FINE_WINDOW``
early, then, on a loop without precise waits, the loop is polled until the
answer is due (only while one is due within ``FINE_WINDOW``).
"""
from __future__ import annotations

import asyncio
import heapq
import itertools
import select
import selectors
import sys
import time
from typing import Callable, List, Optional, Tuple

__all__ = ["FINE_WINDOW", "new_event_loop", "has_precise_timers"]

#: seconds before its due time from which an answer is waited for finely (see the module docstring)
FINE_WINDOW = 0.002
#: the last part of a timeout the precise selector waits with select() (then polls _SPIN_TAIL)
_FINE_TAIL = 0.0003
_SPIN_TAIL = 0.0001


if sys.platform == "linux":
    class _PreciseEpollSelector(selectors.EpollSelector):
        """An epoll selector that waits with microsecond rather than millisecond precision.

        ``epoll_wait`` takes whole milliseconds (and the kernel adds ~50 µs of
        timer slack), so it waits the whole milliseconds of a timeout but the
        last ``_FINE_TAIL`` seconds; ``select()`` on the epoll descriptor itself
        (readable when any registered event is ready) waits the rest but the
        last ``_SPIN_TAIL`` seconds, which are polled.
        """

        def select(self, timeout: Optional[float] = None) -> List[Tuple[selectors.SelectorKey, int]]:
            if timeout is None or timeout <= 0:
                return super().select(timeout)
            deadline = time.monotonic() + timeout
            coarse_ms = int((timeout - _FINE_TAIL) * 1000.0)
            if coarse_ms >= 1:
                # (coarse_ms - 0.5) ms: epoll's rounding up then waits exactly coarse_ms
                ready = super().select((coarse_ms - 0.5) / 1000.0)
                if ready:
                    return ready
            remaining = deadline - time.monotonic()
            if remaining > _SPIN_TAIL:
                try:
                    readable, _, _ = select.select([self.fileno()], [], [], remaining - _SPIN_TAIL)
                except (ValueError, OSError):   # pragma: no cover - descriptor beyond FD_SETSIZE
                    return super().select(remaining)
                if readable:
                    return super().select(0)
            while True:
                ready = super().select(0)
                if ready or time.monotonic() >= deadline:
                    return ready

    _PRECISE_SELECTORS: Tuple[type, ...] = (_PreciseEpollSelector,)
else:   # pragma: no cover - kqueue and select() take sub-millisecond timeouts as they are
    _PRECISE_SELECTORS = tuple(getattr(selectors, name) for name in ("KqueueSelector", "SelectSelector")
                               if hasattr(selectors, name))


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new event loop whose timers keep sub-millisecond precision (on Linux: an epoll
    selector that waits the rest of a timeout finely); elsewhere ``asyncio.new_event_loop()``."""
    if sys.platform == "linux" and issubclass(selectors.DefaultSelector, selectors.EpollSelector):
        return asyncio.SelectorEventLoop(_PreciseEpollSelector())
    return asyncio.new_event_loop()


def has_precise_timers(loop: asyncio.AbstractEventLoop) -> bool:
    """True when ``loop``'s timers fire within microseconds of their time (its selector is known
    to wait sub-millisecond timeouts); otherwise the server polls the loop near a due time."""
    return isinstance(getattr(loop, "_selector", None), _PRECISE_SELECTORS)


class _Due:
    """A callback due at a loop time; ``cancel()`` stops it at any stage."""

    __slots__ = ("when", "callback", "cancelled", "handle")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False
        self.handle: Optional[asyncio.TimerHandle] = None

    def cancel(self) -> None:
        self.cancelled = True
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None


class _FineTimers:
    """Calls callbacks at loop times with sub-millisecond precision.

    With a precise loop this is ``loop.call_at``.  Otherwise a callback due
    later than ``FINE_WINDOW`` gets a coarse timer ``FINE_WINDOW`` early; from
    then on, until it is due, the loop runs zero-timeout iterations (one
    ``call_soon`` per iteration, shared by every waiting callback), so I/O on
    every connection goes on meanwhile.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.precise = has_precise_timers(loop)
        self._heap: List[Tuple[float, int, _Due]] = []
        self._seq = itertools.count()
        self._polling = False
        self.closed = False

    def call_at(self, when: float, callback: Callable[[], None]) -> _Due:
        due = _Due(when, callback)
        if self.precise:
            due.handle = self.loop.call_at(when, self._run, due)
        elif when - self.loop.time() > FINE_WINDOW:
            due.handle = self.loop.call_at(when - FINE_WINDOW, self._near, due)
        else:
            self._near(due)
        return due

    def _run(self, due: _Due) -> None:
        due.handle = None
        if not due.cancelled:
            due.callback()

    def _near(self, due: _Due) -> None:
        due.handle = None
        if due.cancelled or self.closed:
            return
        heapq.heappush(self._heap, (due.when, next(self._seq), due))
        if not self._polling:
            self._polling = True
            self.loop.call_soon(self._poll)

    def _poll(self) -> None:
        heap = self._heap
        now = self.loop.time()
        while heap and heap[0][0] <= now:
            due = heapq.heappop(heap)[2]
            if not due.cancelled:
                due.callback()
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
        if heap and not self.closed:
            self.loop.call_soon(self._poll)
        else:
            self._polling = False

    def close(self) -> None:
        self.closed = True
        self._heap.clear()
