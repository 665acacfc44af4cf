"""Logging: a NullHandler on "mmpfast", frame hex dumps on "mmpfast.frames" at DEBUG only."""
from __future__ import annotations

import logging

import pytest

import mmpfast
from mmpfast import memmap
from mmpfast.sim import Simulator


def test_package_logger_has_a_null_handler() -> None:
    assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("mmpfast").handlers)


def test_frames_are_dumped_at_debug_only(caplog: pytest.LogCaptureFixture) -> None:
    with Simulator() as sim, mmpfast.Client(sim.host, sim.port) as c:
        sim.memory.write(memmap.scratchpad_int32_address(0), b"\x00\x00\x00\x2a")
        with caplog.at_level(logging.INFO, logger="mmpfast.frames"):
            c.read_scratchpad_int32(0)
        assert not [r for r in caplog.records if r.name == "mmpfast.frames"]
        with caplog.at_level(logging.DEBUG, logger="mmpfast.frames"):
            tl = c._conn.tl
            assert c.read_scratchpad_int32(0) == [42]
            c.write_scratchpad_int32(1, 7)
    dumps = [r.getMessage() for r in caplog.records if r.name == "mmpfast.frames"]
    request = f"00 00 {tl << 2:02x} 50 00 00 ff ff f0 d8 10 00 00 04 00 00"
    answer = f"00 00 {tl << 2:02x} 70 00 00 00 00 00 00 00 00 00 04 00 00 00 00 00 2a"
    assert f"sent {request}" in dumps                       # the client's side
    assert f"received {answer}" in dumps
    assert f"sim received {request}; answered {answer}" in dumps   # the simulator's side
    assert any(m.startswith("sent ") and " 10 00 00 ff ff f0 d8 10 04 00 04 00 00 00 00 00 07" in m
               for m in dumps)                              # the write block, value 7 at index 1
