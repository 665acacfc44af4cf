"""Scan plans several test files share (the benchmarks keep their own: they never import tests)."""
from __future__ import annotations

from mmpfast import ScanPlan


def scattered_plan(custom_area: bool) -> ScanPlan:
    """Packed points, scattered status words and 200 scattered scratch-pad entries: without
    the custom area 71 block reads, with it one gather read (tests/test_plan_devices.py)."""
    p = ScanPlan(custom_area=custom_area)
    for m in range(4):
        for c in range(8):
            p.add_analog(m, c)                          # packed values 0xF1001000.., 416 bytes
    for c in range(8):
        p.add_digital(0, c)                             # one packed states word 0xF1001800
    for field in ("powerup_clear_needed", "last_error", "unit_type", "serial"):
        p.add_status(field)                             # 0xF0300004 .. 0xF030014F: one request
    for k in range(100):                                # 90 indexes = 360 bytes apart: three per
        p.add_scratchpad_int32(1024 + 90 * k)           # 1024-byte request, 34 requests each
        p.add_scratchpad_float(1024 + 90 * k)
    return p
