"""A user's script, as mypy --strict sees it (checked by tests/test_typing.py).

Lines ending in ``# reveal: T`` must reveal exactly T; lines ending in
``# error: code`` must be flagged with that error code; nothing else may be.
"""
from __future__ import annotations

import array

import mmpfast


def blocking(host: str) -> None:
    plan = mmpfast.ScanPlan()
    plan.add_digital(0, 1)
    with mmpfast.Client(host, 2001, timeout=1.0, device="snap") as c:
        reveal_type(c.read(0xF0D81000, 8))  # reveal: bytes
        reveal_type(c.read_into(0xF0D81000, array.array("B", bytes(8))))  # reveal: None
        reveal_type(c.write(0xF0D81000, b"abcd"))  # reveal: None
        reveal_type(c.uptime_ms())  # reveal: int
        reveal_type(c.status())  # reveal: mmpfast.records.Status
        reveal_type(c.powerup_clear())  # reveal: None
        reveal_type(c.read_digital(1, 8))  # reveal: bool
        reveal_type(c.write_digital(1, 8, True))  # reveal: None
        reveal_type(c.read_digital_channel(1, 8))  # reveal: mmpfast.records.DigitalChannel
        reveal_type(c.read_analog(6, 2))  # reveal: float
        reveal_type(c.write_analog(6, 2, 1.5))  # reveal: None
        reveal_type(c.read_analog_channel(6, 2))  # reveal: mmpfast.records.AnalogChannel
        reveal_type(c.read_scratchpad_int32(0, 4))  # reveal: list[int]
        reveal_type(c.write_scratchpad_int32(0, [1, 2]))  # reveal: None
        reveal_type(c.read_scratchpad_float(0))  # reveal: list[float]
        reveal_type(c.write_scratchpad_float(0, 2.5))  # reveal: None
        reveal_type(c.read_scratchpad_int64(0, 2))  # reveal: list[int]
        reveal_type(c.write_scratchpad_int64(0, (1, 2)))  # reveal: None
        reveal_type(c.read_scratchpad_string(0, encoding="ascii"))  # reveal: str
        reveal_type(c.write_scratchpad_string(0, "hi"))  # reveal: None
        reveal_type(c.scan(plan))  # reveal: mmpfast.plan.ScanResult
        reveal_type(c.scan_into(plan, plan.new_buffer()))  # reveal: None
        reveal_type(c.timeout)  # reveal: float
        reveal_type(c.device)  # reveal: str
        reveal_type(c.read_clear_digital(0, 2))  # reveal: tuple[int, bool, bool, fallback=mmpfast.records.DigitalCounts]
        reveal_type(c.read_clear_analog_minmax(2, 0))  # reveal: tuple[float, float]
        reveal_type(c.read_point_config(0, 2))  # reveal: mmpfast.records.PointConfig
        reveal_type(c.write_point_feature(0, 2, 1))  # reveal: None
        reveal_type(c.prepare(plan))  # reveal: None
        counts: mmpfast.DigitalCounts = c.read_clear_digital(0, 2)
        config: mmpfast.PointConfig = c.read_point_config(0, 2)
        reveal_type(counts.feature_value + int(config.watchdog_enabled))  # reveal: int
        c.write_point_feature(0, 2, "counter")  # error: arg-type
        c.write_digital(1, "yes")  # error: call-arg
        s: str = c.uptime_ms()  # error: assignment
        c.read_analog("1", 2)  # error: arg-type
        c.scan("plan")  # error: arg-type


async def asynchronous(host: str) -> None:
    async with mmpfast.AsyncClient(host) as c:
        reveal_type(c.read_digital)  # reveal: def (module: int, channel: int) -> typing.Coroutine[Any, Any, bool]
        reveal_type(await c.read_digital(1, 8))  # reveal: bool
        reveal_type(await c.read(0, 4))  # reveal: bytes
        reveal_type(await c.status())  # reveal: mmpfast.records.Status
        reveal_type(await c.read_scratchpad_float(0, 2))  # reveal: list[float]
        reveal_type(await c.write_digital(1, 8, False))  # reveal: None
        reveal_type(await c.read_clear_analog_minmax(2, 0))  # reveal: tuple[float, float]
        reveal_type(await c.read_point_config(0, 2))  # reveal: mmpfast.records.PointConfig
        n: int = await c.read_analog(6, 2)  # error: assignment
        await c.write_scratchpad_int32(0)  # error: call-arg
