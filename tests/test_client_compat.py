"""mmpfast.compat.O22MMP: optommp 0.7's method names and return types, correct results."""
from __future__ import annotations

import inspect
import socket
import struct
from typing import Any, Iterator

import pytest

from mmpfast import MmpNakError, memmap
from mmpfast.compat import O22MMP

from scripted_server import ScriptedServer


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as s:
        yield s


@pytest.fixture
def mmp(server: ScriptedServer) -> Iterator[O22MMP]:
    m = O22MMP(server.host, server.port)
    yield m
    m.close()


def _optommp(server: ScriptedServer) -> Any:
    """optommp's O22MMP on our server (its constructor hard-codes port 2001)."""
    optommp = pytest.importorskip("optommp")
    o = optommp.O22MMP.__new__(optommp.O22MMP)
    o.sock = socket.create_connection((server.host, server.port), timeout=2.0)
    o.tlabel = 0
    return o


def test_every_optommp_method_exists_with_its_arguments() -> None:
    optommp = pytest.importorskip("optommp")
    for name, fn in inspect.getmembers(optommp.O22MMP, inspect.isfunction):
        if name.startswith("_"):
            continue
        ours = getattr(O22MMP, name)
        theirs = list(inspect.signature(fn).parameters)
        assert list(inspect.signature(ours).parameters)[:len(theirs)] == theirs, name


def test_same_results_as_optommp_where_it_works(server: ScriptedServer, mmp: O22MMP) -> None:
    m = server.memory
    m.write(0xF01E1200, b"\x00\x00\x00\x01")
    m.write(0xF0262040, struct.pack(">f", 2.5))
    m.write(0xF0D81000 + 4 * 7, struct.pack(">i", 200))
    o = _optommp(server)
    try:
        for call, args in [("GetDigitalPointState", (1, 8)), ("GetAnalogPointValue", (2, 1)),
                           ("GetScratchPadIntegerArea", (7,))]:
            theirs = getattr(o, call)(*args)
            ours = getattr(mmp, call)(*args)
            assert (type(ours), ours) == (type(theirs), theirs), call
    finally:
        o.close()
    assert mmp.GetDigitalPointState(1, 8) == 1


def test_fixed_bugs(server: ScriptedServer, mmp: O22MMP) -> None:
    m = server.memory
    assert mmp.SetScratchPadIntegerArea(2000, -123456) == 0
    assert m.read(0xF0DA0000 + 4 * (2000 - 1024), 4) == struct.pack(">i", -123456)
    assert mmp.GetScratchPadIntegerArea(2000) == -123456
    assert mmp.GetScratchPadIntegerArea(10240) == "index out of bounds"
    assert mmp.GetScratchPadFloatArea(-1) == "index out of bounds"
    assert mmp.SetScratchPadFloatArea(5000, -1.25) == 0
    assert mmp.GetScratchPadFloatArea(5000) == -1.25
    text = "x" * 128
    assert mmp.SetScratchPadStringArea(9, text) == 0
    assert m.read(0xF0D83000 + 0x82 * 9, 2) == b"\x00\x80"
    assert mmp.GetScratchPadStringArea(9) == text
    assert mmp.SetScratchPadStringArea(9, "short") == 0
    assert mmp.GetScratchPadStringArea(9) == "short"
    assert mmp.SetScratchPadStringArea(9, "y" * 129) == "string must be at most 128 bytes"
    m.write(memmap.STATUS_LAST_ERROR, b"\x00\x00\xe0\x05")
    assert mmp.LastError() == 0xE005
    m.write(memmap.STATUS_MAC_ETH0, bytes.fromhex("00A03D0A0DFE"))
    assert mmp.MACAddressE0() == "00-A0-3D-0A-0D-FE"
    m.write(memmap.STATUS_FIRMWARE_VERSION, bytes([3, 6, 2, 1]))
    assert mmp.FirmwareVersion() == "R3.6b"
    m.write(memmap.STATUS_PART_NUMBER, b"GRV-EPIC-PR1\x00")
    assert mmp.UnitDescription() == b"GRV-EPIC-PR1"
    assert mmp.SetAnalogPointValue(0, 2, 12.0) == 0
    assert m.read(0xF02A0080, 4) == struct.pack(">f", 12.0)
    assert mmp.SetDigitalPointState(1, 8, 1) == 0
    assert m.read(0xF0221200, 4) == b"\x00\x00\x00\x01"
    server.nak[0xF0221240] = 5
    assert mmp.SetDigitalPointState(1, 9, 1) == 0xE005
    with pytest.raises(MmpNakError):
        server.nak[0xF01E1200] = 5
        mmp.GetDigitalPointState(1, 8)


def test_raw_helpers(server: ScriptedServer, mmp: O22MMP) -> None:
    server.memory.write(0xF0D81000, struct.pack(">2i", -8, 300))
    assert mmp.ReadRawOffset("F0D81000", 8, "2i") == "-8, 300"
    assert mmp.ReadRawOffset(0xF0D81000, 4, "i") == "-8"
    resp = mmp.ReadBlock(0xF0D81000, 300)
    assert len(resp) == 316 and resp[3] == 0x70 and resp[16:20] == struct.pack(">i", -8)
    assert mmp.UnpackWriteResponse(mmp.WriteBlock(0xF0D81010, [0, 0, 1, 0])) == 0
    assert server.memory.read(0xF0D81010, 4) == b"\x00\x00\x01\x00"
    assert mmp.PackInteger(-2) == [0xFF, 0xFF, 0xFF, 0xFE]
    assert mmp.PackInteger(70000) == [0, 1, 0x11, 0x70]
    assert mmp.PackFloat(1.5) == [0x3F, 0xC0, 0, 0]
    assert bytes(mmp.BuildReadBlockRequest(0xF030010C, 4)) == bytes.fromhex(
        "0000005000 00FFFFF030010C00040000".replace(" ", ""))
    req = mmp.BuildWriteBlockRequest(0xF0D81000, list(range(300)) and [1] * 300)
    assert req[12:14] == (300).to_bytes(2, "big") and len(req) == 316
