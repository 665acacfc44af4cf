"""The scan engine end to end on the simulator: a scan decodes every point
exactly as reading that point alone; loops and the UDP stream on loopback."""
from __future__ import annotations

import asyncio
import random
import struct
import time
from typing import Any, Dict, Iterator, List, Tuple

import pytest

import mmpfast
from mmpfast import memmap
from mmpfast.scanloop import AsyncScanLoop, ScanLoop
from mmpfast.stream import StreamReceiver, configure_stream, disable_stream

sim_mod = pytest.importorskip("mmpfast.sim")


@pytest.fixture
def sim() -> Iterator[Any]:
    with sim_mod.Simulator(port=0) as s:
        yield s


def randomize(sim: Any, rng: random.Random) -> None:
    """Random states, values and scratch-pad contents."""
    for m, spec in enumerate(sim.memory.rack):
        if spec is None:
            continue
        for c in range(spec.channels):
            if spec.digital:
                sim.set_digital(m, c, rng.random() < 0.5)
            else:
                sim.set_analog(m, c, rng.uniform(-1e4, 1e4))
    sim.memory.write(memmap.scratchpad_int32_address(1000),
                     struct.pack(">60i", *[rng.randint(-2**31, 2**31 - 1) for _ in range(60)]))
    sim.memory.write(memmap.scratchpad_float_address(5),
                     struct.pack(">10f", *[rng.uniform(-1, 1) for _ in range(10)]))
    sim.memory.write(memmap.scratchpad_int64_address(7),
                     struct.pack(">4q", *[rng.randint(-2**63, 2**63 - 1) for _ in range(4)]))


def build_plan(rng: random.Random) -> Tuple[mmpfast.ScanPlan, List[Tuple[str, str, Tuple[int, ...]]]]:
    plan = mmpfast.ScanPlan()
    points: List[Tuple[str, str, Tuple[int, ...]]] = []
    for m in range(16):
        for c in range(32):
            points.append((plan.add_digital(m, c), "digital", (m, c)))
            points.append((plan.add_analog(m, c), "analog", (m, c)))
    for _ in range(10):          # channels beyond the packed areas: read slots
        m, c = rng.randrange(16), rng.randrange(32, 64)
        if f"digital[{m}][{c}]" not in plan:
            points.append((plan.add_digital(m, c), "digital", (m, c)))
            points.append((plan.add_analog(m, c), "analog", (m, c)))
    for m, c in [(0, 1), (1, 3), (8, 31)]:
        points.append((plan.add_digital_channel(m, c), "digital_channel", (m, c)))
    for m, c in [(2, 0), (10, 15)]:
        points.append((plan.add_analog_channel(m, c), "analog_channel", (m, c)))
    points.append((plan.add_scratchpad_int32(1000, 60), "int32", (1000, 60)))
    points.append((plan.add_scratchpad_float(5, 10), "float", (5, 10)))
    points.append((plan.add_scratchpad_int64(7, 4), "int64", (7, 4)))
    points.append((plan.add_status("firmware"), "firmware", ()))
    return plan, points


def read_alone(c: Any, kind: str, args: Tuple[int, ...]) -> Any:
    if kind == "digital":
        return c.read_digital(*args)
    if kind == "analog":
        return c.read_analog(*args)
    if kind == "digital_channel":
        return c.read_digital_channel(*args)
    if kind == "analog_channel":
        return c.read_analog_channel(*args)
    if kind == "firmware":
        return c.status().firmware
    return getattr(c, f"read_scratchpad_{kind}")(*args)


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("pipeline", [1, 8])
def test_scan_equals_reading_each_point_alone(sim: Any, seed: int, pipeline: int) -> None:
    rng = random.Random(seed)
    randomize(sim, rng)
    plan, points = build_plan(rng)
    with mmpfast.Client(sim.host, sim.port, pipeline=pipeline) as c:
        before = sim.stats.frames_in
        res = c.scan(plan)
        assert sim.stats.frames_in - before == len(plan.requests)    # one frame per planned request
        values = res.values()
        assert len(values) == len(points)
        for name, kind, args in points:
            alone = read_alone(c, kind, args)
            assert res[name] == alone, name
            assert values[name] == alone, name
        # scan_into reuses one buffer
        buf = plan.new_buffer()
        sim.set_digital(0, 5, not values["digital[0][5]"])
        c.scan_into(plan, buf)
        assert plan.result(buf)["digital[0][5]"] is (not values["digital[0][5]"])
    # the full rack's states and values: 3 requests, not 1024
    assert sum(1 for a, _ in plan.requests if 0xF1001000 <= a < 0xF1001840) == 3


def test_scan_sees_changes_and_arrays(sim: Any) -> None:
    plan = mmpfast.ScanPlan()
    plan.add_digital(0, 7, name="in7")
    plan.add_analog(2, 1, name="temp")
    plan.add_scratchpad_float(1020, 8, name="table")
    plan.add_status("uptime_ms")
    with mmpfast.Client(sim.host, sim.port) as c:
        c.write_scratchpad_float(1020, [0.5 * i for i in range(8)])
        for state, value in [(True, 21.5), (False, -3.25)]:
            sim.set_digital(0, 7, state)
            sim.set_analog(2, 1, value)
            res = c.scan(plan)
            assert res["in7"] is state and res["temp"] == value
            assert list(res.array("table")) == [0.5 * i for i in range(8)]
            assert res["uptime_ms"] == res.values()["uptime_ms"] and res["uptime_ms"] >= 0


def test_one_plan_shared_by_clients_in_threads(sim: Any) -> None:
    """A frozen plan is built once: scans from several threads share its
    offsets, lengths and layouts and decode the same values."""
    import threading
    plan, _ = build_plan(random.Random(3))
    randomize(sim, random.Random(3))
    plan.freeze()
    offsets, lengths, layout = plan.offsets, plan.lengths, plan._layout
    got: List[Dict[str, Any]] = []
    errors: List[BaseException] = []

    def run() -> None:
        try:
            with mmpfast.Client(sim.host, sim.port, pipeline=8) as c:
                buf = plan.new_buffer()
                for _ in range(5):
                    c.scan_into(plan, buf)
                    res = plan.result(buf)
                    values = res.values()
                    assert all(values[n] == res[n] for n in ("digital[3][4]", "analog[15][31]", "firmware"))
                got.append(values)
        except BaseException as exc:   # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and len(got) == 3
    assert got[0] == got[1] == got[2]
    assert plan.offsets is offsets and plan.lengths is lengths and plan._layout is layout


def test_scanloop_on_simulator(sim: Any) -> None:
    plan = mmpfast.ScanPlan()
    plan.add_digital(0, 0, name="in0")
    got: List[bool] = []
    with mmpfast.Client(sim.host, sim.port) as c:
        loop = ScanLoop(c, plan, 100.0, callback=lambda r: got.append(r["in0"]))
        sim.set_digital(0, 0, True)
        stats = loop.run(passes=5)
    assert got == [True] * 5 and stats.ok == 5 and stats.errors == 0


def test_scanloop_survives_connection_loss(sim: Any) -> None:
    """The connection drops mid-loop (resets, then clean closes): the failed
    passes are counted, the schedule holds, and the client reconnects on its
    own on the next pass."""
    from mmpfast.sim.faults import Fault, FaultProxy
    plan = mmpfast.ScanPlan()
    plan.add_digital(0, 0, name="in0")
    sim.set_digital(0, 0, True)
    with FaultProxy(sim.host, sim.port) as proxy, \
            mmpfast.Client(proxy.host, proxy.port, timeout=1.0) as c:
        # the client retries an idempotent read once on a new connection: fault both tries
        proxy.queue_faults([None, None, Fault.reset(), Fault.reset(), None, Fault.close(), Fault.close()])
        got: List[bool] = []
        loop = ScanLoop(c, plan, 100.0, callback=lambda r: got.append(r["in0"]))
        t0 = time.monotonic()
        st = loop.run(passes=8)
        took = time.monotonic() - t0
        assert proxy.connections >= 5
    assert st.passes == 8 and st.errors == 2 and st.ok == 6 and got == [True] * 6
    assert isinstance(st.last_error, mmpfast.MmpConnectionError)
    assert took < 0.07 + 0.5        # 8 slots at 10 ms: the failures did not stall the schedule


def test_async_scan_and_loop(sim: Any) -> None:
    plan = mmpfast.ScanPlan()
    plan.add_analog(2, 0, name="a")
    plan.add_digital(1, 2, name="d")
    sim.set_analog(2, 0, 7.5)
    sim.set_digital(1, 2, True)

    async def main() -> None:
        async with mmpfast.AsyncClient(sim.host, sim.port, pipeline=4) as c:
            res = await c.scan(plan)
            assert res.values() == {"a": 7.5, "d": True}
            got: List[Dict[str, Any]] = []
            loop = AsyncScanLoop(c, plan, 100.0, callback=lambda r: got.append(r.values()))
            stats = await loop.run(passes=3)
            assert stats.ok == 3 and got == [{"a": 7.5, "d": True}] * 3
    asyncio.run(main())


def test_stream_end_to_end(sim: Any) -> None:
    """Configure the simulator's stream through the client, receive it on loopback."""
    sim.set_digital(0, 3, True)
    sim.set_digital(0, 2, False)
    sim.set_digital(1, 2, True)                 # stream point 4 * 1 + 2
    with StreamReceiver("127.0.0.1", 0, timeout=2.0) as rx, \
            mmpfast.Client(sim.host, sim.port) as c:
        configure_stream(c, rx.port, 10, ["127.0.0.1"])
        try:
            pkt = rx.recv()
            assert pkt.state(3) is True and pkt.state(2) is False and pkt.state(6) is True
            assert pkt.state_mask == int.from_bytes(c.read(memmap.STREAM_READ_AREA + 0x200, 8), "big")
            deadline = time.monotonic() + 2.0
            sim.set_digital(0, 2, True)
            while not pkt.state(2) and time.monotonic() < deadline:
                pkt = rx.recv()
            assert pkt.state(2) is True
        finally:
            disable_stream(c)
