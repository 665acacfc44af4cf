"""The mirror areas: every byte the I/O model shows in more than one place.

The I/O state (``IOState``) is the one truth; after each change of a
channel the model calls ``Mirrors.digital(m, c)`` or ``Mirrors.analog(m, c)``
and this room rewrites that channel's bytes in every area that shows it:

1. EPIC digital / analog read slots (0xF01E0000 / 0xF0260000);
2. EPIC read-and-clear records (0xF02E0000 digital, 0xF01D4000 analog min/max);
3. packed values (0xF1001000: analog EU / digital counter, channels 0..31)
   and packed digital states (0xF1001800);
4. packed digital per module (0xF1001900: states, quality, on, off masks);
5. module quality mask (0xF1002000) and channel quality (0xF1002080),
   written once (quality only changes with the rack);
6. the streaming read area (0xF1000000), through the legacy 64-point map
   p = 4*module + channel (``memmap.snap_point``): channels 4 and above are
   not among the 64 points and do not appear there [INF];

plus any extra mirror registered with ``add`` (the point configuration's
feature word, the SNAP PAC point and bank areas),
called with ``(kind, m, c)`` where kind is ``"digital"`` or ``"analog"``.
"""
from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Callable, List, Optional, Sequence

from .. import memmap
from .rack import ModuleSpec
from .regions import F32, U32, U64, Regions

if TYPE_CHECKING:  # pragma: no cover
    from .iomodel import IOState

__all__ = ["Mirrors", "FEATURE_COUNTER", "FEATURE_NONE"]

FEATURE_NONE = memmap.FEATURE_NONE
FEATURE_COUNTER = memmap.FEATURE_COUNTER

_MINMAX = struct.Struct(">ff")
_DIG_CLEAR = struct.Struct(">III")          # feature value, on-latch, off-latch
_PACKED_MODULE = struct.Struct(">IIII")     # states, quality, on-latches, off-latches
_STREAM_MASKS = struct.Struct(">QQQQ")      # state, on-latch, off-latch, active counter
_QUALITY_EMPTY = memmap.QUALITY_MODULE_NOT_DETECTED
_SNAP = memmap.SNAP_CHANNELS

ExtraMirror = Callable[[str, int, int], None]


def _slot_off(m: int, c: int) -> int:
    return memmap.MODULE_STRIDE * m + memmap.SLOT_SIZE * c


class Mirrors:
    """Writes the I/O state into the mirror areas (call with the memory lock held)."""

    def __init__(self, regions: Regions, state: "IOState", rack: Sequence[Optional[ModuleSpec]]) -> None:
        self.state = state
        self.rack = rack
        at = regions.at
        self._dr = at(memmap.EPIC_DIGITAL_READ)
        self._ar = at(memmap.EPIC_ANALOG_READ)
        self._drc = at(memmap.EPIC_DIGITAL_READ_CLEAR)
        self._arc = at(memmap.EPIC_ANALOG_READ_CLEAR)
        self._pk = at(memmap.PACKED_VALUES)
        self._pkm = at(memmap.PACKED_DIGITAL_MODULE)
        self._mq = at(memmap.MODULE_QUALITY_MASK)
        self._cq = at(memmap.CHANNEL_QUALITY)
        self._stream = at(memmap.STREAM_READ_AREA)
        self._extra: List[ExtraMirror] = []
        # 64-bit masks of the legacy points (bit p = 4*m + c)
        self.p_state = self.p_on = self.p_off = self.p_counter = 0

    def add(self, mirror: ExtraMirror) -> None:
        """Also call ``mirror(kind, m, c)`` after each channel change."""
        self._extra.append(mirror)

    def init(self) -> None:
        """Write every channel of the rack once (and the empty slots' quality)."""
        mask = 0
        for m, spec in enumerate(self.rack):
            if spec is None:
                mask |= 1 << m
                for c in range(memmap.MAX_CHANNELS):
                    U32.pack_into(self._cq.buf, memmap.CHANNEL_QUALITY_MODULE_STRIDE * m + 4 * c, _QUALITY_EMPTY)
                    U32.pack_into(self._dr.buf, _slot_off(m, c) + memmap.DIG_QUALITY, _QUALITY_EMPTY)
                    U32.pack_into(self._ar.buf, _slot_off(m, c) + memmap.ANA_QUALITY, _QUALITY_EMPTY)
                self.module_words(m)
            elif spec.digital:
                for c in range(spec.channels):
                    self.digital(m, c)
            else:
                for c in range(spec.channels):
                    self.analog(m, c)
        U64.pack_into(self._mq.buf, 0, mask)

    def module_words(self, m: int) -> None:
        """The per-module packed words of module ``m``."""
        s = self.state
        U32.pack_into(self._pk.buf, memmap.PACKED_DIGITAL_STATES - self._pk.first + 4 * m, s.m_state[m])
        _PACKED_MODULE.pack_into(self._pkm.buf, memmap.PACKED_DIGITAL_MODULE_STRIDE * m,
                                 s.m_state[m], s.m_quality[m], s.m_on[m], s.m_off[m])

    def digital(self, m: int, c: int) -> None:
        """Every mirror of digital channel (m, c)."""
        s = self.state
        st, on, off = s.d_state[m][c], s.d_on[m][c], s.d_off[m][c]
        ft, cnt, q = s.d_feature[m][c], s.d_count[m][c], s.quality[m][c]
        memmap.DIGITAL_CHANNEL_STRUCT.pack_into(self._dr.buf, _slot_off(m, c), st, on, off, ft, cnt, q)
        _DIG_CLEAR.pack_into(self._drc.buf, memmap.DIGITAL_READ_CLEAR_MODULE_STRIDE * m
                             + memmap.DIGITAL_READ_CLEAR_CHANNEL_STRIDE * c, cnt, on, off)
        if c < memmap.PACKED_VALUES_CHANNELS:
            U32.pack_into(self._pk.buf, memmap.PACKED_VALUES_MODULE_STRIDE * m + 4 * c, cnt)
        bit = 1 << c
        keep = ~bit
        s.m_state[m] = (s.m_state[m] & keep) | (bit if st else 0)
        s.m_on[m] = (s.m_on[m] & keep) | (bit if on else 0)
        s.m_off[m] = (s.m_off[m] & keep) | (bit if off else 0)
        s.m_counter[m] = (s.m_counter[m] & keep) | (bit if ft == FEATURE_COUNTER else 0)
        s.m_quality[m] = (s.m_quality[m] & keep) | (bit if q else 0)
        self.module_words(m)
        if c < _SNAP:
            p = _SNAP * m + c
            pbit = 1 << p
            pkeep = ~pbit
            self.p_state = (self.p_state & pkeep) | (pbit if st else 0)
            self.p_on = (self.p_on & pkeep) | (pbit if on else 0)
            self.p_off = (self.p_off & pkeep) | (pbit if off else 0)
            self.p_counter = (self.p_counter & pkeep) | (pbit if ft == FEATURE_COUNTER else 0)
            U32.pack_into(self._stream.buf, memmap.STREAM_OFF_COUNTERS + 4 * p, cnt)
            _STREAM_MASKS.pack_into(self._stream.buf, memmap.STREAM_OFF_STATE_MASK,
                                    self.p_state, self.p_on, self.p_off, self.p_counter)
        for extra in self._extra:
            extra("digital", m, c)

    def analog(self, m: int, c: int) -> None:
        """Every mirror of analog channel (m, c)."""
        s = self.state
        v, lo, hi = s.a_value[m][c], s.a_min[m][c], s.a_max[m][c]
        memmap.ANALOG_CHANNEL_STRUCT.pack_into(self._ar.buf, _slot_off(m, c), v, 0.0, lo, hi, s.quality[m][c])
        _MINMAX.pack_into(self._arc.buf, memmap.ANALOG_READ_CLEAR_MODULE_STRIDE * m
                          + memmap.ANALOG_READ_CLEAR_CHANNEL_STRIDE * c, lo, hi)
        if c < memmap.PACKED_VALUES_CHANNELS:
            F32.pack_into(self._pk.buf, memmap.PACKED_VALUES_MODULE_STRIDE * m + 4 * c, v)
        if c < _SNAP:
            F32.pack_into(self._stream.buf, memmap.STREAM_OFF_ANALOG + 4 * (_SNAP * m + c), v)
        for extra in self._extra:
            extra("analog", m, c)
