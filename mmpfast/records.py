"""Result records shared by the scan planner and the clients (no I/O).

Every record is a frozen dataclass of native Python values: integers are
unsigned unless stated, floats are IEEE-754 single precision widened to
Python ``float``, and the wire order they were decoded from is big-endian.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Tuple

from . import memmap

__all__ = ["Status", "DigitalChannel", "AnalogChannel", "DigitalCounts", "PointConfig", "minmax_from_bytes"]


@dataclass(frozen=True)
class Status:
    """The controller's status area, read in one block (docs/protocol.md §3.2)."""

    uptime_ms: int              #: milliseconds since power-up (uint32, wraps after 49.7 days)
    firmware: str               #: e.g. ``"R3.6b"``
    part_number: str            #: unit description, NULs and blanks stripped
    mac: str                    #: Ethernet 0, ``"00:A0:3D:0A:0D:FE"``
    ip: str                     #: Ethernet 0, dotted
    serial: int                 #: serial number
    last_error: int             #: ``0xE000 | n`` of the last NAK, 0 when none
    powerup_clear_needed: bool  #: True until a power-up clear is written


@dataclass(frozen=True)
class DigitalChannel:
    """One EPIC digital channel (the first 0x18 bytes of its read slot)."""

    state: bool
    on_latch: bool
    off_latch: bool
    feature_type: int
    feature_value: int          #: uint32 (counter counts for the counter feature)
    quality: int                #: 0 = good, 30 = module not detected


@dataclass(frozen=True)
class AnalogChannel:
    """One EPIC analog channel (value, minimum and maximum in engineering units)."""

    value: float
    minimum: float
    maximum: float
    quality: int


def _view(buf: Any, need: int, what: str) -> memoryview:
    """A flat byte view of ``buf`` holding at least ``need`` bytes."""
    try:
        mv = memoryview(buf)
    except TypeError:
        raise TypeError(f"{what} needs a bytes-like object, not {type(buf).__name__}") from None
    if mv.ndim != 1 or mv.format != "B":
        mv = mv.cast("B")
    if mv.nbytes < need:
        raise ValueError(f"{what} needs {need} bytes, got {mv.nbytes}")
    return mv


class DigitalCounts(NamedTuple):
    """A digital read-and-clear: the values the device returned, then cleared.

    Decoded from three uint32 BE words (``memmap.DIGITAL_COUNTS_STRUCT``):
    feature value (counter counts), on-latch, off-latch (non-zero = set).
    """

    feature_value: int          #: uint32
    on_latch: bool
    off_latch: bool

    @classmethod
    def from_bytes(cls, buf: Any) -> "DigitalCounts":
        """Decode the first 12 bytes of ``buf`` (EPIC record 0xF02E0000 + ..., or
        the three SNAP words joined in order); ``ValueError`` when shorter."""
        mv = _view(buf, memmap.DIGITAL_COUNTS_LENGTH, "DigitalCounts")
        value, on, off = memmap.DIGITAL_COUNTS_STRUCT.unpack_from(mv)
        return cls(value, on != 0, off != 0)


def minmax_from_bytes(buf: Any) -> Tuple[float, float]:
    """``(minimum, maximum)`` from the first 8 bytes of an analog read-and-clear
    (two float32 BE, ``memmap.MINMAX_STRUCT``); ``ValueError`` when shorter."""
    lo, hi = memmap.MINMAX_STRUCT.unpack_from(_view(buf, memmap.MINMAX_LENGTH, "minimum/maximum"))
    return float(lo), float(hi)


@dataclass(frozen=True)
class PointConfig:
    """A point's configuration record (docs/protocol.md §3.6 EPIC, §3.7 SNAP PAC).

    Integers are uint32 BE, floats float32 BE widened to ``float``; the
    watchdog enable is a boolean32; the name is NUL-terminated text.
    """

    module_type: int            #: read-only, from the module in the slot
    point_type: int             #: e.g. 0x100 digital input, 0x180 digital output (SNAP)
    feature: int                #: 0 none, 1 counter, 2 on-time totalizer, 8 frequency, ...
    offset: float
    gain: float
    high_scale: float
    low_scale: float
    filter_weight: float
    watchdog_value: float
    watchdog_enabled: bool
    name: str                   #: "" when unnamed

    @classmethod
    def from_bytes(cls, buf: Any) -> "PointConfig":
        """Decode a configuration read from its first byte (``memmap.point_config_request``
        gives the read: 0x63 bytes on EPIC, 0x40 on SNAP).  The fixed fields are
        ``memmap.POINT_CONFIG_STRUCT`` at +0x00; the name is the NUL-terminated text
        from ``memmap.POINT_CONFIG_NAME`` (+0x30) to the end of ``buf`` (empty when
        ``buf`` stops there).  ``ValueError`` when ``buf`` is shorter than 0x30 bytes."""
        mv = _view(buf, memmap.POINT_CONFIG_NAME, "PointConfig")
        (module_type, point_type, feature, offset, gain, high, low, filt, wd_value,
         wd_enabled) = memmap.POINT_CONFIG_STRUCT.unpack_from(mv)
        name = memmap.decode_zstring(bytes(mv[memmap.POINT_CONFIG_NAME:]))
        return cls(module_type, point_type, feature, offset, gain, high, low, filt, wd_value,
                   wd_enabled != 0, name)
