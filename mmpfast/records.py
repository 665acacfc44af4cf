"""Result records shared by the scan planner and the clients (no I/O).

Every record is a frozen dataclass of native Python values: integers are
unsigned unless stated, floats are IEEE-754 single precision widened to
Python ``float``, and the wire order they were decoded from is big-endian.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Status", "DigitalChannel", "AnalogChannel"]


@dataclass(frozen=True)
class Status:
    """The controller's status area, read in one block (PROTOCOL.md §3.2)."""

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
