"""Records of the issue-14 calls decoded from hand-built big-endian bytes (no I/O)."""
from __future__ import annotations

import dataclasses
from array import array

import pytest

from mmpfast.records import DigitalCounts, PointConfig, minmax_from_bytes

# EPIC point configuration, PROTOCOL.md §3.6, written out field by field
EPIC_CONFIG = bytes.fromhex(
    "00000064"      # +0x00 module type 100
    "00000100"      # +0x04 point type 0x100
    "00000001"      # +0x08 feature 1 (counter)
    "3F800000"      # +0x0C offset 1.0
    "C0200000"      # +0x10 gain -2.5
    "42C80000"      # +0x14 high scale 100.0
    "00000000"      # +0x18 low scale 0.0
    "DEADBEEF"      # +0x1C reserved, ignored
    "3F000000"      # +0x20 filter weight 0.5
    "41200000"      # +0x24 watchdog value 10.0
    "00000002"      # +0x28 watchdog enable (non-zero = True)
    "00000000"      # +0x2C reserved
) + b"Pump 1\0" + b"\xff" * (51 - 7)     # +0x30 51-byte S-ZT name; bytes after the NUL ignored


def test_epic_point_config() -> None:
    assert len(EPIC_CONFIG) == 0x63
    cfg = PointConfig.from_bytes(EPIC_CONFIG)
    assert cfg == PointConfig(module_type=100, point_type=0x100, feature=1, offset=1.0, gain=-2.5,
                              high_scale=100.0, low_scale=0.0, filter_weight=0.5, watchdog_value=10.0,
                              watchdog_enabled=True, name="Pump 1")
    assert cfg.watchdog_enabled is True and isinstance(cfg.offset, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.feature = 2  # type: ignore[misc]


def test_snap_point_config_and_name_edges() -> None:
    fixed = bytes.fromhex("00000000" "00000180" "00000000" + "00000000" * 4 + "00000000" * 3
                          + "00000000" + "00000000")
    assert len(fixed) == 0x30
    full = PointConfig.from_bytes(fixed + b"ABCDEFGHIJKLMNOP")      # 16-byte name, no NUL
    assert (full.point_type, full.feature, full.watchdog_enabled, full.name) == (0x180, 0, False,
                                                                                 "ABCDEFGHIJKLMNOP")
    assert PointConfig.from_bytes(fixed).name == ""                   # the fixed fields alone
    assert PointConfig.from_bytes(bytearray(fixed + b"\0" * 16)).name == ""
    assert PointConfig.from_bytes(memoryview(fixed + b"Tank\0").cast("B")).name == "Tank"
    with pytest.raises(ValueError):
        PointConfig.from_bytes(fixed[:-1])
    with pytest.raises(TypeError):
        PointConfig.from_bytes("text")


def test_digital_counts() -> None:
    counts = DigitalCounts.from_bytes(bytes.fromhex("0000012C" "00000001" "00000000"))
    assert counts == (300, True, False) and counts.feature_value == 300
    value, on, off = counts                                           # used as a tuple
    assert (value, on, off) == (300, True, False) and on is True and off is False
    # the whole 0x18-byte EPIC record: reserved words after +0x0C are ignored
    rec = DigitalCounts.from_bytes(bytes.fromhex("FFFFFFFF" "00000000" "80000000") + b"\x55" * 12)
    assert rec == DigitalCounts(0xFFFFFFFF, False, True)
    assert DigitalCounts.from_bytes(array("I", [0, 0, 0])) == (0, False, False)
    with pytest.raises(ValueError):
        DigitalCounts.from_bytes(bytes(11))
    with pytest.raises(TypeError):
        DigitalCounts.from_bytes(12)


def test_minmax() -> None:
    assert minmax_from_bytes(bytes.fromhex("BF800000" "42280000")) == (-1.0, 42.0)
    lo, hi = minmax_from_bytes(bytes.fromhex("7F800000" "FF800000" "00000000"))   # + reserved word
    assert lo == float("inf") and hi == float("-inf")
    with pytest.raises(ValueError):
        minmax_from_bytes(bytes(7))
