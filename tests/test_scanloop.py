"""ScanLoop / AsyncScanLoop against a fake client (timing, errors, stop, iteration)."""
from __future__ import annotations

import asyncio
import struct
import threading
import time
from typing import Any, List

import pytest

from mmpfast.errors import MmpConnectionError, MmpTimeoutError
from mmpfast.plan import ScanPlan, ScanResult
from mmpfast.scanloop import AsyncScanLoop, ScanLoop


def make_plan() -> ScanPlan:
    p = ScanPlan()
    p.add_scratchpad_int32(0, name="n")
    return p


class FakeClient:
    """Writes the pass number into the buffer; fails on the listed passes."""

    def __init__(self, fail: Any = (), delay: float = 0.0) -> None:
        self.calls = 0
        self.fail = set(fail)
        self.delay = delay
        self.buffers: List[int] = []

    def scan_into(self, plan: ScanPlan, buffer: Any) -> None:
        self.calls += 1
        self.buffers.append(id(buffer))
        if self.delay:
            time.sleep(self.delay)
        if self.calls in self.fail:
            raise MmpConnectionError("link down")
        buffer[0:4] = struct.pack(">i", self.calls)


class AsyncFakeClient(FakeClient):
    async def scan_into(self, plan: ScanPlan, buffer: Any) -> None:  # type: ignore[override]
        if self.delay:
            await asyncio.sleep(self.delay)
        FakeClient.scan_into(self, plan, buffer)


def test_runs_passes_at_rate_with_callback() -> None:
    got: List[int] = []
    client = FakeClient()
    loop = ScanLoop(client, make_plan(), 200.0, callback=lambda r: got.append(r["n"]))
    t0 = time.monotonic()
    stats = loop.run(passes=10)
    took = time.monotonic() - t0
    assert got == list(range(1, 11))
    assert stats.passes == 10 and stats.ok == 10 and stats.errors == 0
    # 10 passes at 200 Hz: 9 periods of 5 ms, absolute schedule
    assert 0.040 <= took < 0.5
    assert 0.004 < stats.period_p50 < 0.010
    assert 150 < stats.rate_hz < 250
    # lateness against the absolute schedule: ordered percentiles, the median under two periods
    assert stats.jitter_p50 <= stats.jitter_p99 <= stats.jitter_max
    assert stats.jitter_p50 < 0.010, stats


def test_results_keep_their_own_buffer_unless_reused() -> None:
    client = FakeClient()
    results = list(ScanLoop(client, make_plan(), 1000.0).iter(passes=3))
    assert [r["n"] for r in results] == [1, 2, 3]
    assert len(set(client.buffers)) == 3
    client2 = FakeClient()
    loop = ScanLoop(client2, make_plan(), 1000.0, reuse_buffer=True)
    seen = [r["n"] for r in loop.iter(passes=3)]
    assert seen == [1, 2, 3] and len(set(client2.buffers)) == 1


def test_errors_counted_and_schedule_kept() -> None:
    errors: List[BaseException] = []
    client = FakeClient(fail={2, 3})
    loop = ScanLoop(client, make_plan(), 500.0, on_error=errors.append)
    results = list(loop.iter(passes=6))
    stats = loop.stats
    assert [r["n"] for r in results] == [1, 4, 5, 6]
    assert stats.passes == 6 and stats.ok == 4 and stats.errors == 2
    assert isinstance(stats.last_error, MmpConnectionError) and len(errors) == 2


def test_other_exceptions_propagate() -> None:
    class Broken(FakeClient):
        def scan_into(self, plan: ScanPlan, buffer: Any) -> None:
            raise ZeroDivisionError
    with pytest.raises(ZeroDivisionError):
        ScanLoop(Broken(), make_plan(), 100.0).run(passes=1)


def test_overrun_counts_late_and_skipped_without_bursting() -> None:
    client = FakeClient(delay=0.025)          # each pass takes 2.5 periods of 10 ms
    loop = ScanLoop(client, make_plan(), 100.0)
    t0 = time.monotonic()
    stats = loop.run(passes=4)
    took = time.monotonic() - t0
    assert stats.passes == 4
    assert stats.skipped >= 3                   # slots 1, 4, 7 ... were dropped, not run back to back
    assert stats.late >= 2 and stats.jitter_max >= 0.004
    assert took < 0.5


def test_duration_and_stop() -> None:
    client = FakeClient()
    loop = ScanLoop(client, make_plan(), 100.0)
    stats = loop.run(duration=0.1)
    assert 8 <= stats.passes <= 11        # slots at 0, 10, ..., 90 ms
    loop2 = ScanLoop(FakeClient(), make_plan(), 50.0)
    timer = threading.Timer(0.05, loop2.stop)
    timer.start()
    t0 = time.monotonic()
    loop2.run()                            # until stop()
    timer.join(2)
    assert time.monotonic() - t0 < 1.0 and loop2.stats.passes >= 1


def test_stop_from_callback_and_iterator_break() -> None:
    holder: List[ScanLoop] = []

    def cb(res: ScanResult) -> None:
        if res["n"] == 3:
            holder[0].stop()
    loop = ScanLoop(FakeClient(), make_plan(), 1000.0, callback=cb)
    holder.append(loop)
    assert loop.run().passes == 3
    for i, res in enumerate(ScanLoop(FakeClient(), make_plan(), 1000.0)):
        if i == 2:
            break
    assert res["n"] == 3


def test_argument_checks() -> None:
    with pytest.raises(ValueError):
        ScanLoop(FakeClient(), make_plan(), 0)
    with pytest.raises(ValueError):
        ScanLoop(FakeClient(), make_plan(), float("inf"))
    with pytest.raises(TypeError):
        ScanLoop(FakeClient(), make_plan(), "10")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ScanLoop(FakeClient(), object(), 10)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ScanLoop(FakeClient(), make_plan(), 10).run(passes=-1)


def test_async_loop() -> None:
    async def main() -> None:
        got: List[int] = []

        async def cb(res: ScanResult) -> None:
            got.append(res["n"])
        client = AsyncFakeClient(fail={2})
        loop = AsyncScanLoop(client, make_plan(), 200.0, callback=cb)
        stats = await loop.run(passes=5)
        assert got == [1, 3, 4, 5]
        assert stats.passes == 5 and stats.errors == 1 and 150 < stats.rate_hz < 250
        seen = []
        loop2 = AsyncScanLoop(AsyncFakeClient(), make_plan(), 500.0)
        async for res in loop2:
            seen.append(res["n"])
            if len(seen) == 3:
                loop2.stop()
        assert seen == [1, 2, 3]
        loop3 = AsyncScanLoop(AsyncFakeClient(), make_plan(), 20.0)
        asyncio.get_running_loop().call_later(0.03, loop3.stop)
        t0 = time.monotonic()
        await loop3.run()
        assert time.monotonic() - t0 < 0.5
    asyncio.run(main())


def test_timeout_error_is_a_failed_pass() -> None:
    class Slow(FakeClient):
        def scan_into(self, plan: ScanPlan, buffer: Any) -> None:
            raise MmpTimeoutError("no answer")
    stats = ScanLoop(Slow(), make_plan(), 1000.0).run(passes=2)
    assert stats.errors == 2 and stats.ok == 0
