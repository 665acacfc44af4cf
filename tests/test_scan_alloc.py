"""scan_into in a loop allocates nothing that stays: tracemalloc over 1,000 passes
against an out-of-process simulator (its allocations are not traced here)."""
from __future__ import annotations

import asyncio
import gc
import tracemalloc
from typing import Any, Iterator

import pytest

import mmpfast
from mmpfast.sim import SimulatorProcess

PASSES = 1000


@pytest.fixture(scope="module")
def sim() -> Iterator[Any]:
    with SimulatorProcess() as s:
        yield s


def _plan() -> mmpfast.ScanPlan:
    plan = mmpfast.ScanPlan()
    for m in range(4):
        for ch in range(8):
            plan.add_digital(m, ch)
            plan.add_analog(m + 4, ch % 4, name=f"a{m}.{ch}") if ch < 4 else None
    plan.add_scratchpad_float(0, 10240, name="floats")         # 40 KiB: many requests
    plan.add_scratchpad_int32(0, 10240, name="ints")           # 40 KiB more
    return plan


def _measure(run_pass: Any, buffer_size: int, window: int) -> None:
    """``window``: bytes one pipeline window of answers takes (pipeline x (16 + max_block))."""
    run_pass()                                  # the first pass may size buffers once
    gc.collect()
    tracemalloc.start()
    try:
        for _ in range(200):                    # the interpreter's free lists settle under tracing
            run_pass()
        gc.collect()
        tracemalloc.reset_peak()
        start, _ = tracemalloc.get_traced_memory()
        for _ in range(PASSES):
            run_pass()
        end, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    net, transient = end - start, peak - start
    # nothing accumulates pass after pass (one object kept per pass would be >= 28 KB here;
    # the interpreter's free lists may still take a few KB), and what one pass holds at once
    # is small
    assert net < 8192, f"{net} bytes kept over {PASSES} passes"
    # (the asyncio transport holds a window's answers as whole frames while it splits them)
    bound = 4096 + 4 * window
    assert transient < bound < buffer_size // 2, f"peak {transient} bytes above the start"


@pytest.mark.parametrize("pipeline", [8])
def test_blocking_scan_into_keeps_nothing(sim: Any, pipeline: int) -> None:
    plan = _plan()
    buf = plan.new_buffer()
    assert plan.buffer_size > 65536 and len(plan.requests) >= 3
    with mmpfast.Client(sim.host, sim.port, pipeline=pipeline) as c:
        _measure(lambda: c.scan_into(plan, buf), plan.buffer_size, pipeline * (16 + c.max_block))
        assert plan.result(buf)["floats"] == c.read_scratchpad_float(0, 10240)


def test_async_scan_into_keeps_nothing(sim: Any) -> None:
    plan = _plan()
    buf = plan.new_buffer()
    loop = asyncio.new_event_loop()
    c = mmpfast.AsyncClient(sim.host, sim.port, pipeline=8)
    try:
        _measure(lambda: loop.run_until_complete(c.scan_into(plan, buf)), plan.buffer_size,
                 8 * (16 + c.max_block))
        assert plan.result(buf)["floats"] == loop.run_until_complete(c.read_scratchpad_float(0, 10240))
    finally:
        loop.run_until_complete(c.close())
        loop.close()
