"""SNAP PAC point and bank areas (docs/protocol.md §3.7), for ``profile="snap"``.

The legacy 64 points are p = 4*module + channel (module 0..15, channel
0..3; ``memmap.snap_point``); channels 4 and above of a module have no
point here.  Every area shows the same I/O model as the EPIC areas:

* read areas (kept by a mirror after each channel change): digital bank
  0xF0400000 (state, on-latch, off-latch, active-counter masks, pulse
  complete 0, counters at +0x100), analog bank 0xF0600000 (EU, counts 0.0,
  min, max), digital point 0xF0800000 + 0x40*p (state, on-latch, off-latch,
  counter active, feature value), analog point 0xF0A00000 + 0x40*p (EU,
  counts 0.0, min, max);
* command areas: the digital point write words (0xF0900000 + 0x40*p: +0 turn
  on, +4 turn off, +8 activate counter, +0x0C deactivate counter) and the
  digital bank write masks (0xF0500000: +0 turn on, +8 turn off, +0x10
  activate, +0x18 deactivate) act when written with a non-zero word / bit
  and read back 0 [INF].  Turn on/off act on ``do`` channels only; activate
  / deactivate set the feature of any digital channel to counter / none
  (deactivate only when it was counter); on other points they have no
  effect [INF];
* analog writes: +0 of the analog point write record (0xF0B00000 + 0x40*p)
  and the EU words of the analog bank write (0xF0700000 + 4*p) set an
  ``ao`` channel's value; every other byte, and other points, are stored
  with no effect; both read back what was last written [INF];
* read-and-clear: digital 0xF0F00000 (+4*p counts, +0x100 on-latch, +0x200
  off-latch) and analog 0xF0F80000 (+4*p min, +0x100 max) return the value,
  then clear each word the read touched (min/max to the current value) [INF].
"""
from __future__ import annotations

from typing import Iterator, Tuple

from .. import memmap as mm
from .iomodel import IOModel
from .regions import F32, U32, U64, Region, Regions, records, touches

__all__ = ["SnapRoom"]

_N = mm.SNAP_CHANNELS
_STRIDE = mm.SNAP_POINT_STRIDE
_MASKS = (mm.SNAP_BANK_STATE, mm.SNAP_BANK_ON_LATCH, mm.SNAP_BANK_OFF_LATCH, mm.SNAP_BANK_ACTIVE_COUNTER)
_BANK_CMDS = (mm.SNAP_BANK_TURN_ON, mm.SNAP_BANK_TURN_OFF, mm.SNAP_BANK_ACTIVATE_COUNTER,
              mm.SNAP_BANK_DEACTIVATE_COUNTER)
_POINT_CMDS = (mm.SNAP_DIG_TURN_ON, mm.SNAP_DIG_TURN_OFF, mm.SNAP_DIG_ACTIVATE_COUNTER,
               mm.SNAP_DIG_DEACTIVATE_COUNTER)


def _points(address: int, length: int, base: int) -> Iterator[Tuple[int, int]]:
    """``(array, p)`` for each 4-byte word touched by the range in consecutive
    arrays of 64 words (one per point) from ``base``."""
    start = max(address - base, 0)
    end = address + length - base
    for w in range(start // 4, (end - 1) // 4 + 1):
        yield divmod(w, mm.SNAP_POINTS)


class SnapRoom:
    """Installs the §3.7 areas on their regions and mirrors the I/O into them."""

    def __init__(self, regions: Regions, io: IOModel) -> None:
        self._io = io
        at = regions.at
        self._dbr = at(mm.SNAP_DIGITAL_BANK_READ)
        self._abr = at(mm.SNAP_ANALOG_BANK_READ)
        self._dpr = at(mm.SNAP_DIGITAL_READ)
        self._apr = at(mm.SNAP_ANALOG_READ)
        self._drc = at(mm.SNAP_DIGITAL_READ_CLEAR)
        self._arc = at(mm.SNAP_ANALOG_READ_CLEAR)
        self._dbw = at(mm.SNAP_DIGITAL_BANK_WRITE)
        self._dpw = at(mm.SNAP_DIGITAL_WRITE)
        self._abw = at(mm.SNAP_ANALOG_BANK_WRITE)
        self._apw = at(mm.SNAP_ANALOG_WRITE)
        self._dbw.post_write = self._bank_commands
        self._dpw.post_write = self._point_commands
        self._abw.post_write = self._analog_bank_write
        self._apw.post_write = self._analog_point_write
        self._drc.post_read = self._clear_digital
        self._arc.post_read = self._clear_analog
        io.mirrors.add(self._mirror)

    # ---------------------------------------------------------------- mirror
    def _mirror(self, kind: str, m: int, c: int) -> None:
        if c >= _N:
            return
        p = _N * m + c
        s = self._io.state
        if kind == "digital":
            st, on, off, cnt = s.d_state[m][c], s.d_on[m][c], s.d_off[m][c], s.d_count[m][c]
            active = 1 if s.d_feature[m][c] == mm.FEATURE_COUNTER else 0
            mir = self._io.mirrors
            for field, mask in zip(_MASKS, (mir.p_state, mir.p_on, mir.p_off, mir.p_counter)):
                U64.pack_into(self._dbr.buf, field, mask)
            U32.pack_into(self._dbr.buf, mm.SNAP_BANK_COUNTERS + 4 * p, cnt)
            mm.DIGITAL_CHANNEL_STRUCT.pack_into(self._dpr.buf, _STRIDE * p, st, on, off, active, cnt, 0)
            for field, v in ((mm.SNAP_READ_CLEAR_COUNTS, cnt), (mm.SNAP_READ_CLEAR_ON_LATCH, on),
                             (mm.SNAP_READ_CLEAR_OFF_LATCH, off)):
                U32.pack_into(self._drc.buf, field + 4 * p, v)
        else:
            v, lo, hi = s.a_value[m][c], s.a_min[m][c], s.a_max[m][c]
            for field, x in ((mm.SNAP_BANK_VALUE, v), (mm.SNAP_BANK_COUNTS, 0.0),
                             (mm.SNAP_BANK_MINIMUM, lo), (mm.SNAP_BANK_MAXIMUM, hi)):
                F32.pack_into(self._abr.buf, field + 4 * p, x)
            mm.ANALOG_CHANNEL_STRUCT.pack_into(self._apr.buf, _STRIDE * p, v, 0.0, lo, hi, 0)
            F32.pack_into(self._arc.buf, mm.SNAP_READ_CLEAR_MINIMUM + 4 * p, lo)
            F32.pack_into(self._arc.buf, mm.SNAP_READ_CLEAR_MAXIMUM + 4 * p, hi)

    # ---------------------------------------------------------------- commands
    def _command(self, which: int, p: int) -> None:
        """Apply command ``which`` (0 on, 1 off, 2 activate, 3 deactivate) to point p."""
        m, c = divmod(p, _N)
        io = self._io
        if which < 2:
            if io.has(m, c, "do"):
                io.set_digital(m, c, which == 0)
        elif io.has(m, c, "digital"):
            if which == 2:
                io.set_feature(m, c, mm.FEATURE_COUNTER)
            elif io.state.d_feature[m][c] == mm.FEATURE_COUNTER:
                io.set_feature(m, c, mm.FEATURE_NONE)

    def _bank_commands(self, address: int, length: int) -> None:
        r = self._dbw
        for which, field in enumerate(_BANK_CMDS):
            a = r.first + field
            if touches(address - a, address + length - a, 0, 8):
                mask = U64.unpack_from(r.buf, field)[0]
                U64.pack_into(r.buf, field, 0)
                for p in range(mm.SNAP_POINTS):
                    if mask >> p & 1:
                        self._command(which, p)

    def _point_commands(self, address: int, length: int) -> None:
        r = self._dpw
        for m, c, lo, hi in records(r.first, address, length, _N * _STRIDE, _STRIDE, _STRIDE, channels=_N):
            rec = _STRIDE * (_N * m + c)
            for which, field in enumerate(_POINT_CMDS):
                if touches(lo, hi, field):
                    word = U32.unpack_from(r.buf, rec + field)[0]
                    U32.pack_into(r.buf, rec + field, 0)
                    if word:
                        self._command(which, _N * m + c)

    def _set_ao(self, p: int, region: Region, offset: int) -> None:
        m, c = divmod(p, _N)
        if self._io.has(m, c, "ao"):
            self._io.set_analog(m, c, float(F32.unpack_from(region.buf, offset)[0]))

    def _analog_bank_write(self, address: int, length: int) -> None:
        for array, p in _points(address, length, self._abw.first):
            if array == 0:
                self._set_ao(p, self._abw, mm.SNAP_BANK_VALUE + 4 * p)

    def _analog_point_write(self, address: int, length: int) -> None:
        r = self._apw
        for m, c, lo, hi in records(r.first, address, length, _N * _STRIDE, _STRIDE, 4, channels=_N):
            self._set_ao(_N * m + c, r, _STRIDE * (_N * m + c) + mm.SNAP_ANA_VALUE)

    # ---------------------------------------------------------------- read-and-clear
    def _clear_digital(self, address: int, length: int) -> None:
        for array, p in _points(address, length, self._drc.first):
            m, c = divmod(p, _N)
            if array < 3 and self._io.has(m, c, "digital"):
                self._io.clear_digital(m, c, array == 0, array == 1, array == 2)

    def _clear_analog(self, address: int, length: int) -> None:
        for array, p in _points(address, length, self._arc.first):
            m, c = divmod(p, _N)
            if array < 2 and self._io.has(m, c, "analog"):
                self._io.clear_minmax(m, c, array == 0, array == 1)

