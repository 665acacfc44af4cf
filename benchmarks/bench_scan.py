"""Scan-engine benchmarks (pytest-benchmark).

Run from the repository root::

    python -m pytest benchmarks/bench_scan.py -o python_files='bench_*.py' \
        -m "not slow" --benchmark-json=bench_scan.json -p no:cacheprovider
    python benchmarks/chart.py bench_scan.json bench_scan.png

``-m slow`` runs the 10-second ScanLoop case alone.  What is measured:

* ``round trips``: requests and pipelined round trips per full-rack pass
  (16 modules x 32 channels, states and values) next to the theoretical
  minimum (the wanted bytes over ``max_block``; one round trip when every
  request fits one pipeline window); frames are counted by the simulator.
* ``full rack, 1 ms latency``: one pass with mmpfast (one pipelined plan)
  against optommp 0.7 (one request per point, 1024 of them; one pass only).
* ``scattered points``: a pass of packed points, status words and 200
  scattered scratch-pad entries, coalesced block reads against the custom
  area (requests per pass in ``extra_info``).
* ``decode``: CPU per pass with no I/O at all, on a recorded response
  stream: ``scatter_read_responses`` + ``ScanResult.values()`` (and the
  array path), once with the compiled codec and once with the pure one.
* ``scanloop``: ScanLoop at 100 Hz for 10 s (marked ``slow``): achieved
  rate and p99 jitter.

Every ratio is stored in ``extra_info`` (and printed by the summary case).
"""
from __future__ import annotations

import importlib
import math
import random
import socket
import struct
from typing import Any, Dict, Iterator

import pytest
from conftest import stat

import mmpfast
from mmpfast import plan as plan_mod
from mmpfast.plan import ScanPlan

LATENCY = 0.001          # device answer time per request, seconds
PIPELINE = 8
RESULTS: Dict[str, float] = {}
CODECS = {"cython": "mmpfast._codec", "python": "mmpfast._codec_py"}


def full_rack_plan() -> ScanPlan:
    p = ScanPlan()
    for m in range(16):
        for c in range(32):
            p.add_digital(m, c)
            p.add_analog(m, c)
    return p.freeze()


def theoretical_min_requests(p: ScanPlan) -> int:
    """Fewest requests that can carry the wanted bytes (per memory-map area)."""
    per_area: Dict[int, set] = {}
    for pt in p._points:
        for a, n in pt.ranges:
            area = mmpfast.memmap.find_area(a, n)
            per_area.setdefault(area.first if area else a, set()).update(range(a, a + n))
    return sum(math.ceil(len(b) / p.max_block) for b in per_area.values())


@pytest.fixture(scope="module")
def sim() -> Iterator[Any]:
    from mmpfast.sim import Simulator
    with Simulator(port=0, latency=LATENCY) as s:
        rng = random.Random(1)
        for m, spec in enumerate(s.memory.rack):
            if spec is None:
                continue
            for c in range(spec.channels):
                if spec.digital:
                    s.set_digital(m, c, rng.random() < 0.5)
                else:
                    s.set_analog(m, c, rng.uniform(-100, 100))
        yield s


# ----------------------------------------------------------------------------- round trips
def test_round_trips_full_rack(benchmark: Any, sim: Any) -> None:
    benchmark.group = "round trips per full-rack pass (1 ms latency)"
    p = full_rack_plan()
    with mmpfast.Client(sim.host, sim.port, pipeline=PIPELINE) as c:
        c.scan(p)
        before = sim.stats.frames_in
        c.scan(p)                                     # one pass, frames counted by the simulator
        frames = sim.stats.frames_in - before
        benchmark.pedantic(c.scan, args=(p,), rounds=10, iterations=1)
    minimum = theoretical_min_requests(p)
    info = dict(points=1024, requests_per_pass=len(p.requests), frames_per_pass=frames,
                theoretical_min_requests=minimum,
                round_trips_per_pass=math.ceil(len(p.requests) / PIPELINE),
                theoretical_min_round_trips=1, optommp_requests_per_pass=1024)
    benchmark.extra_info.update(info)
    print("\nround trips:", info)
    assert frames == len(p.requests) == minimum


# ----------------------------------------------------------------------------- custom area
def scattered_plan(custom_area: bool) -> ScanPlan:
    """Packed points, scattered status words and 200 scattered scratch-pad entries."""
    p = ScanPlan(custom_area=custom_area)
    for m in range(4):
        for c in range(4):
            p.add_digital(m, c)
            p.add_analog(m, c)
    for field in ("powerup_clear_needed", "last_error", "serial", "unit_type", "firmware"):
        p.add_status(field)
    for k in range(100):
        p.add_scratchpad_int32(1024 + 90 * k)
        p.add_scratchpad_float(1024 + 90 * k)
    return p.freeze()


@pytest.mark.parametrize("custom_area", [False, True], ids=["block reads", "custom area"])
def test_scattered_points(benchmark: Any, sim: Any, custom_area: bool) -> None:
    """One pass of scattered points (pipeline 1, 1 ms latency): coalesced block reads
    against the custom scatter-gather area (after ``prepare``)."""
    benchmark.group = "scattered points: 200 scratch-pad entries, status words, packed points"
    p = scattered_plan(custom_area)
    with mmpfast.Client(sim.host, sim.port) as c:
        c.prepare(p)
        before = sim.stats.frames_in
        c.scan(p)
        frames = sim.stats.frames_in - before
        benchmark.pedantic(c.scan, args=(p,), rounds=5, iterations=1)
    benchmark.extra_info.update(requests_per_pass=len(p.requests), frames_per_pass=frames,
                                custom_entries=len(p.custom_addresses))
    RESULTS[f"scattered_{'custom' if custom_area else 'blocks'}"] = stat(benchmark, "mean")
    print(f"\nscattered points, custom_area={custom_area}: {len(p.requests)} request(s) per pass")
    assert frames == len(p.requests)


# ----------------------------------------------------------------------------- full rack
def test_full_rack_mmpfast(benchmark: Any, sim: Any) -> None:
    benchmark.group = "full-rack scan, 1 ms latency"
    benchmark.extra_info["impl"] = "mmpfast"
    p = full_rack_plan()
    with mmpfast.Client(sim.host, sim.port, pipeline=PIPELINE) as c:
        res = benchmark.pedantic(lambda: c.scan(p).values(), rounds=20, iterations=1, warmup_rounds=1)
    assert len(res) == 1024
    RESULTS["mmpfast_full_rack"] = stat(benchmark, "mean")


def _optommp_client(host: str, port: int) -> Any:
    import optommp
    o = optommp.O22MMP.__new__(optommp.O22MMP)     # its __init__ hard-codes port 2001
    o.sock = socket.create_connection((host, port))
    o.tlabel = 0
    return o


def test_full_rack_optommp(benchmark: Any, sim: Any) -> None:
    benchmark.group = "full-rack scan, 1 ms latency"
    benchmark.extra_info["impl"] = "optommp 0.7"
    o = _optommp_client(sim.host, sim.port)

    def one_pass() -> Dict[str, Any]:
        out = {}
        for m in range(16):
            for c in range(32):
                out[f"digital[{m}][{c}]"] = o.GetDigitalPointState(m, c)
                out[f"analog[{m}][{c}]"] = o.GetAnalogPointValue(m, c)
        return out
    try:
        res = benchmark.pedantic(one_pass, rounds=1, iterations=1)
    finally:
        o.close()
    assert len(res) == 1024
    RESULTS["optommp_full_rack"] = stat(benchmark, "mean")
    if "mmpfast_full_rack" in RESULTS:
        ratio = RESULTS["optommp_full_rack"] / RESULTS["mmpfast_full_rack"]
        benchmark.extra_info["speedup_vs_mmpfast"] = ratio
        print(f"\nfull rack: mmpfast {RESULTS['mmpfast_full_rack'] * 1e3:.2f} ms, "
              f"optommp {RESULTS['optommp_full_rack'] * 1e3:.1f} ms, ratio {ratio:.0f}x")


# ----------------------------------------------------------------------------- decode CPU
def _recorded(p: ScanPlan, seed: int = 7) -> bytes:
    """The response stream a device would send for one pass (tl from 0)."""
    from mmpfast import codec
    rng = random.Random(seed)
    out = []
    for i, (_, n) in enumerate(p.requests):
        data = bytes(rng.getrandbits(8) for _ in range(n))
        out.append(codec.encode_read_block_response(i % 64, data))
    return b"".join(out)


@pytest.mark.parametrize("impl", list(CODECS))
def test_decode_full_rack_values(benchmark: Any, impl: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """scatter + values() of a full-rack pass (1024 Python values out)."""
    benchmark.group = "decode: scatter + values(), full rack"
    benchmark.extra_info["impl"] = impl
    mod = importlib.import_module(CODECS[impl])
    monkeypatch.setattr(plan_mod, "codec", mod)
    p = full_rack_plan()
    stream = _recorded(p)
    buf = p.new_buffer()
    offsets, lengths = p.offsets, p.lengths

    def decode() -> Dict[str, Any]:
        mod.scatter_read_responses(stream, buf, offsets, lengths, 0)
        return p.result(buf).values()
    out = benchmark(decode)
    assert len(out) == 1024
    RESULTS[f"values_{impl}"] = stat(benchmark, "mean")


@pytest.mark.parametrize("impl", list(CODECS))
def test_decode_scratchpad_array(benchmark: Any, impl: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """scatter + array of 4096 float32 (4 areas' worth of requests, no per-value objects)."""
    from array import array
    benchmark.group = "decode: scatter + into(array), 4096 floats"
    benchmark.extra_info["impl"] = impl
    mod = importlib.import_module(CODECS[impl])
    monkeypatch.setattr(plan_mod, "codec", mod)
    p = ScanPlan()
    name = p.add_scratchpad_float(1024, 4096)
    stream = _recorded(p)
    buf = p.new_buffer()
    dest = array("f", bytes(4 * 4096))
    offsets, lengths = p.offsets, p.lengths

    def decode() -> int:
        mod.scatter_read_responses(stream, buf, offsets, lengths, 0)
        return p.result(buf).into(name, dest)
    assert benchmark(decode) == 4096
    RESULTS[f"array_{impl}"] = stat(benchmark, "mean")


@pytest.mark.parametrize("impl", list(CODECS))
def test_decode_scatter_only(benchmark: Any, impl: str) -> None:
    """scatter_read_responses alone for the full-rack stream (3 responses)."""
    benchmark.group = "decode: scatter only, full rack"
    benchmark.extra_info["impl"] = impl
    mod = importlib.import_module(CODECS[impl])
    p = full_rack_plan()
    stream = _recorded(p)
    buf = p.new_buffer()
    offsets, lengths = p.offsets, p.lengths
    assert benchmark(mod.scatter_read_responses, stream, buf, offsets, lengths, 0) == len(stream)
    RESULTS[f"scatter_{impl}"] = stat(benchmark, "mean")


# ----------------------------------------------------------------------------- scan loop
@pytest.mark.slow
def test_scanloop_100hz_10s(benchmark: Any, sim: Any) -> None:
    from mmpfast.scanloop import ScanLoop
    benchmark.group = "ScanLoop 100 Hz x 10 s (1 ms latency)"
    p = full_rack_plan()
    with mmpfast.Client(sim.host, sim.port, pipeline=PIPELINE) as c:
        loop = ScanLoop(c, p, 100.0, reuse_buffer=True)
        stats = benchmark.pedantic(loop.run, kwargs=dict(duration=10.0), rounds=1, iterations=1)
    info = dict(passes=stats.passes, errors=stats.errors, late=stats.late, skipped=stats.skipped,
                rate_hz=stats.rate_hz, period_p50_ms=stats.period_p50 * 1e3,
                period_p99_ms=stats.period_p99 * 1e3, jitter_p50_ms=stats.jitter_p50 * 1e3,
                jitter_p99_ms=stats.jitter_p99 * 1e3, pass_p99_ms=stats.duration_p99 * 1e3)
    benchmark.extra_info.update(info)
    print("\nscanloop:", {k: round(v, 3) if isinstance(v, float) else v for k, v in info.items()})
    assert stats.errors == 0 and 95 <= stats.rate_hz <= 105


# ----------------------------------------------------------------------------- summary
def test_summary(benchmark: Any) -> None:
    """Print the ratios measured above (the chart recomputes them from the JSON)."""
    benchmark.group = "summary"
    ratios = {}
    pairs = [("full rack optommp / mmpfast", "optommp_full_rack", "mmpfast_full_rack"),
             ("decode values() python / cython", "values_python", "values_cython"),
             ("decode array python / cython", "array_python", "array_cython"),
             ("scatter python / cython", "scatter_python", "scatter_cython"),
             ("scattered points block reads / custom area", "scattered_blocks", "scattered_custom")]
    for label, a, b in pairs:
        if a in RESULTS and b in RESULTS:
            ratios[label] = RESULTS[a] / RESULTS[b]
    benchmark.extra_info.update(ratios)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    print("\nratios:", {k: round(v, 1) for k, v in ratios.items()})
