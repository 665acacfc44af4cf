"""The simulated I/O: digital and analog channels, latches, counters, read-and-clear.

``IOState`` holds each channel's truth (16 modules x 64 channel positions);
``IOModel`` applies the device's rules to it and has ``Mirrors`` rewrite
every area that shows a changed channel:

* a rising edge sets the on-latch and counts when the feature is 1
  (counter); a falling edge sets the off-latch;
* analog min/max follow every value since the last clear;
* EPIC write slots: +0 of a ``do`` channel's digital write slot sets its
  state (non-zero = on), +0 of an ``ao`` channel's analog write slot its
  value; every other byte, and writes to other channels, are only stored;
* EPIC read-and-clear: a read returns the record, then clears every field
  it touched (even partly): counter and latches to 0, min and max to the
  current value [INF];
* reset to defaults: outputs off / 0.0, counters, latches, min/max cleared.

Call everything here with the memory lock held (``Memory`` takes it).
"""
from __future__ import annotations

from typing import List, Optional, Sequence

from .. import memmap
from .mirrors import FEATURE_COUNTER, FEATURE_NONE, Mirrors
from .rack import ModuleSpec
from .regions import F32, U32, Regions, records, touches

__all__ = ["IOState", "IOModel"]

_MODULES = memmap.MAX_MODULES
_CHANNELS = memmap.MAX_CHANNELS


class IOState:
    """The truth of every channel position: ``x[module][channel]`` grids and
    per-module 32-bit masks (bit c = channel c) kept by ``Mirrors``."""

    def __init__(self, rack: Sequence[Optional[ModuleSpec]]) -> None:
        def grid(v: object) -> List[list]:  # type: ignore[type-arg]
            return [[v] * _CHANNELS for _ in range(_MODULES)]

        self.d_state = grid(0)
        self.d_on = grid(0)
        self.d_off = grid(0)
        self.d_feature = grid(FEATURE_NONE)
        self.d_count = grid(0)
        self.a_value = grid(0.0)
        self.a_min = grid(0.0)
        self.a_max = grid(0.0)
        self.quality = grid(0)
        self.m_state = [0] * _MODULES
        self.m_on = [0] * _MODULES
        self.m_off = [0] * _MODULES
        self.m_counter = [0] * _MODULES
        self.m_quality = [0] * _MODULES
        for m, spec in enumerate(rack):
            if spec is None:
                self.quality[m] = [memmap.QUALITY_MODULE_NOT_DETECTED] * _CHANNELS
                self.m_quality[m] = 0xFFFFFFFF


class IOModel:
    """The rack's channels and the rules that change them."""

    def __init__(self, regions: Regions, rack: List[Optional[ModuleSpec]]) -> None:
        self.rack = rack
        self.state = IOState(rack)
        self.mirrors = Mirrors(regions, self.state, rack)
        self._regions = regions
        at = regions.at
        self._dw = at(memmap.EPIC_DIGITAL_WRITE)
        self._aw = at(memmap.EPIC_ANALOG_WRITE)
        self._dw.post_write = self._digital_write
        self._aw.post_write = self._analog_write
        at(memmap.EPIC_ANALOG_READ_CLEAR).post_read = self._clear_analog_records
        at(memmap.EPIC_DIGITAL_READ_CLEAR).post_read = self._clear_digital_records

    def init(self) -> None:
        """Write the initial state into every mirror area."""
        self.mirrors.init()

    # ---------------------------------------------------------------- lookups
    def spec(self, module: int, channel: int, family: str) -> ModuleSpec:
        """The module of an existing ``family`` ("digital"/"analog") channel;
        ``ValueError``/``TypeError`` for anything else."""
        m, c = memmap.check_point(module, channel)
        spec = self.rack[m]
        if spec is None:
            raise ValueError(f"slot {m} is empty")
        if (family == "digital") != spec.digital:
            raise ValueError(f"module {m} is {spec.kind}, not a {family} module")
        if c >= spec.channels:
            raise ValueError(f"module {m} has {spec.channels} channels; channel {c} does not exist")
        return spec

    def has(self, m: int, c: int, kind_test: str) -> bool:
        """True when (m, c) exists and its module is ``digital``/``analog``/``do``/``ao``."""
        spec = self.rack[m] if 0 <= m < _MODULES else None
        if spec is None or c >= spec.channels:
            return False
        if kind_test == "digital":
            return spec.digital
        if kind_test == "analog":
            return spec.analog
        return spec.kind == kind_test

    # ---------------------------------------------------------------- changes
    def set_digital(self, m: int, c: int, state: bool) -> None:
        """New state of a digital channel (edges set latches and count)."""
        s = self.state
        new = 1 if state else 0
        if new == s.d_state[m][c]:
            return
        s.d_state[m][c] = new
        if new:
            s.d_on[m][c] = 1
            if s.d_feature[m][c] == FEATURE_COUNTER:
                s.d_count[m][c] = (s.d_count[m][c] + 1) & 0xFFFFFFFF
        else:
            s.d_off[m][c] = 1
        self.mirrors.digital(m, c)

    def set_latch(self, m: int, c: int, on: bool) -> None:
        """Set the on-latch (``on``) or the off-latch of a digital channel, as an edge
        would, without changing its state or counter."""
        s = self.state
        if on:
            s.d_on[m][c] = 1
        else:
            s.d_off[m][c] = 1
        self.mirrors.digital(m, c)

    def pulse(self, m: int, c: int, n: int) -> None:
        """``n`` (>= 1) pulses on a digital channel: each is a change of state and a
        change back, so the state ends as it was, both latches set and, when the
        feature is counter, the counter counts ``n`` rising edges (wrapping at 2**32).
        The areas are rewritten once, so a reader sees the pulses as one change."""
        s = self.state
        s.d_on[m][c] = 1
        s.d_off[m][c] = 1
        if s.d_feature[m][c] == FEATURE_COUNTER:
            s.d_count[m][c] = (s.d_count[m][c] + n) & 0xFFFFFFFF
        self.mirrors.digital(m, c)

    def set_analog(self, m: int, c: int, value: float) -> None:
        """New value of an analog channel (float32 already); min/max follow."""
        s = self.state
        s.a_value[m][c] = value
        if not value >= s.a_min[m][c]:
            s.a_min[m][c] = value
        if not value <= s.a_max[m][c]:
            s.a_max[m][c] = value
        self.mirrors.analog(m, c)

    def set_feature(self, m: int, c: int, feature: int) -> None:
        """Feature code of a digital channel (1 = counter: rising edges count)."""
        self.state.d_feature[m][c] = int(feature) & 0xFFFFFFFF
        self.mirrors.digital(m, c)

    def clear_digital(self, m: int, c: int, count: bool, on: bool, off: bool) -> None:
        """Clear the counter and/or latches of an existing digital channel."""
        s = self.state
        if count:
            s.d_count[m][c] = 0
        if on:
            s.d_on[m][c] = 0
        if off:
            s.d_off[m][c] = 0
        self.mirrors.digital(m, c)

    def clear_minmax(self, m: int, c: int, minimum: bool, maximum: bool) -> None:
        """Reset min and/or max of an existing analog channel to its current value."""
        s = self.state
        v = s.a_value[m][c]
        if minimum:
            s.a_min[m][c] = v
        if maximum:
            s.a_max[m][c] = v
        self.mirrors.analog(m, c)

    def reset_to_defaults(self) -> None:
        """Outputs off / 0.0; counters, latches and min/max cleared."""
        s = self.state
        for m, spec in enumerate(self.rack):
            if spec is None:
                continue
            for c in range(spec.channels):
                if spec.digital:
                    if spec.output:
                        s.d_state[m][c] = 0
                    self.clear_digital(m, c, True, True, True)
                else:
                    if spec.output:
                        s.a_value[m][c] = 0.0
                    self.clear_minmax(m, c, True, True)

    # ---------------------------------------------------------------- EPIC area hooks
    def _digital_write(self, address: int, length: int) -> None:
        r = self._dw
        for m, c, lo, hi in records(r.first, address, length, memmap.MODULE_STRIDE, memmap.SLOT_SIZE, 4):
            if self.has(m, c, "do"):
                word = U32.unpack_from(r.buf, memmap.MODULE_STRIDE * m + memmap.SLOT_SIZE * c)[0]
                self.set_digital(m, c, word != 0)

    def _analog_write(self, address: int, length: int) -> None:
        r = self._aw
        for m, c, lo, hi in records(r.first, address, length, memmap.MODULE_STRIDE, memmap.SLOT_SIZE, 4):
            if self.has(m, c, "ao"):
                off = memmap.MODULE_STRIDE * m + memmap.SLOT_SIZE * c
                self.set_analog(m, c, float(F32.unpack_from(r.buf, off)[0]))

    def _clear_analog_records(self, address: int, length: int) -> None:
        for m, c, lo, hi in records(memmap.EPIC_ANALOG_READ_CLEAR, address, length,
                                    memmap.ANALOG_READ_CLEAR_MODULE_STRIDE,
                                    memmap.ANALOG_READ_CLEAR_CHANNEL_STRIDE, 8):
            if self.has(m, c, "analog"):
                self.clear_minmax(m, c, touches(lo, hi, 0), touches(lo, hi, 4))

    def _clear_digital_records(self, address: int, length: int) -> None:
        for m, c, lo, hi in records(memmap.EPIC_DIGITAL_READ_CLEAR, address, length,
                                    memmap.DIGITAL_READ_CLEAR_MODULE_STRIDE,
                                    memmap.DIGITAL_READ_CLEAR_CHANNEL_STRIDE, 12):
            if self.has(m, c, "digital"):
                self.clear_digital(m, c, touches(lo, hi, 0), touches(lo, hi, 4), touches(lo, hi, 8))
