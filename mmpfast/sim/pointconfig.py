"""Point configuration (PROTOCOL.md §3.6): 0xF0100000 + 0x3000*m + 0xC0*c.

Writing the feature word (+0x08) of an existing digital channel sets its
feature (1 = counter: rising edges count); the word always reads back the
channel's feature (``Mirrors`` keeps it).  Other bytes are stored.
"""
from __future__ import annotations

from .. import memmap
from .iomodel import IOModel
from .regions import Regions, records, touches

__all__ = ["PointConfigRoom"]

_FEATURE = memmap.POINT_CONFIG_FEATURE


class PointConfigRoom:
    """Installs the point configuration rules."""

    def __init__(self, regions: Regions, io: IOModel) -> None:
        self._io = io
        self._r = regions.at(memmap.EPIC_POINT_CONFIG)
        self._r.post_write = self._written

    def _written(self, address: int, length: int) -> None:
        r = self._r
        for m, c, lo, hi in records(r.first, address, length, memmap.POINT_CONFIG_MODULE_STRIDE,
                                    memmap.POINT_CONFIG_CHANNEL_STRIDE, memmap.POINT_CONFIG_CHANNEL_STRIDE):
            if touches(lo, hi, _FEATURE) and self._io.has(m, c, "digital"):
                off = (memmap.EPIC_POINT_CONFIG + memmap.POINT_CONFIG_MODULE_STRIDE * m
                       + memmap.POINT_CONFIG_CHANNEL_STRIDE * c + _FEATURE)
                self._io.set_feature(m, c, r.u32(off))
