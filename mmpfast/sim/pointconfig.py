"""Point configuration (docs/protocol.md §3.6, §3.7).

EPIC records at 0xF0100000 + 0x3000*m + 0xC0*c (channels 0..63, 51-byte
name); with ``profile="snap"`` also the SNAP records at 0xF0C00000 + 0x40*p,
p = 4*m + c (channels 0..3, 16-byte name).  Fields (big-endian):
+0x00 module type (UI, read-only), +0x04 point type (UI), +0x08 feature
(UI), +0x0C offset, +0x10 gain, +0x14 high scale, +0x18 low scale, +0x20
filter weight, +0x24 watchdog value (F), +0x28 watchdog enable (UI),
+0x30 name (S-ZT).

* Module and point type come from the rack (``ModuleSpec.module_type`` /
  ``point_type``); an empty slot, and a channel beyond a module's count,
  has an all-zero record [INF].
* Defaults of an existing channel [INF]: offset 0.0, gain 1.0, high/low
  scale 10.0/-10.0 for analog channels (0.0/0.0 for digital), filter
  weight 0.0, watchdog value 0.0, watchdog off, empty name.
* Writes are stored (the whole area is writable) with two rules: the
  module type word keeps the rack's value (a write to it is accepted and
  has no effect) [INF]; a write that touches the feature word of an
  existing digital channel sets its feature (1 = counter: rising edges
  count from then on).  The feature word always reads the channel's
  feature, however it was set.  Other fields have no effect on the I/O.
"""
from __future__ import annotations

from functools import partial
from typing import List, NamedTuple

from .. import memmap
from .iomodel import IOModel
from .regions import Region, Regions, records, touches

__all__ = ["PointConfigRoom"]


class _Layout(NamedTuple):
    base: int
    module_stride: int
    channel_stride: int
    channels: int
    name_length: int


EPIC_LAYOUT = _Layout(memmap.EPIC_POINT_CONFIG, memmap.POINT_CONFIG_MODULE_STRIDE,
                      memmap.POINT_CONFIG_CHANNEL_STRIDE, memmap.MAX_CHANNELS,
                      memmap.POINT_CONFIG_NAME_LENGTH)
SNAP_LAYOUT = _Layout(memmap.SNAP_POINT_CONFIG, memmap.SNAP_CHANNELS * memmap.SNAP_POINT_STRIDE,
                      memmap.SNAP_POINT_STRIDE, memmap.SNAP_CHANNELS,
                      memmap.SNAP_POINT_CONFIG_NAME_LENGTH)

_ANALOG_SCALE = (10.0, -10.0)


class PointConfigRoom:
    """Installs the point configuration records and rules on one or two layouts."""

    def __init__(self, regions: Regions, io: IOModel, snap: bool) -> None:
        self._io = io
        self._layouts: List[_Layout] = [EPIC_LAYOUT] + ([SNAP_LAYOUT] if snap else [])
        self._regions: List[Region] = []
        for lay in self._layouts:
            r = regions.at(lay.base)
            r.post_write = partial(self.written, r, lay)
            self._regions.append(r)
            self._init(r, lay)
        io.mirrors.add(self._feature_mirror)

    @staticmethod
    def _record(lay: _Layout, m: int, c: int) -> int:
        return lay.base + lay.module_stride * m + lay.channel_stride * c

    def _init(self, r: Region, lay: _Layout) -> None:
        for m, spec in enumerate(self._io.rack):
            if spec is None:
                continue
            scale = _ANALOG_SCALE if spec.analog else (0.0, 0.0)
            for c in range(min(spec.channels, lay.channels)):
                rec = self._record(lay, m, c)
                memmap.POINT_CONFIG_STRUCT.pack_into(
                    r.buf, rec - r.first, spec.module_type, spec.point_type,
                    self._io.state.d_feature[m][c] if spec.digital else 0,
                    0.0, 1.0, scale[0], scale[1], 0.0, 0.0, 0)

    def _feature_mirror(self, kind: str, m: int, c: int) -> None:
        if kind != "digital":
            return
        ft = self._io.state.d_feature[m][c]
        for r, lay in zip(self._regions, self._layouts):
            if c < lay.channels:
                r.put_u32(self._record(lay, m, c) + memmap.POINT_CONFIG_FEATURE, ft)

    def written(self, r: Region, lay: _Layout, address: int, length: int) -> None:
        """Apply the rules to the records a write touched."""
        for m, c, lo, hi in records(lay.base, address, length, lay.module_stride,
                                    lay.channel_stride, lay.channel_stride, channels=lay.channels):
            spec = self._io.rack[m]
            rec = self._record(lay, m, c)
            if touches(lo, hi, memmap.POINT_CONFIG_MODULE_TYPE):
                kept = spec.module_type if spec is not None and c < spec.channels else 0
                r.put_u32(rec + memmap.POINT_CONFIG_MODULE_TYPE, kept)
            if touches(lo, hi, memmap.POINT_CONFIG_FEATURE) and self._io.has(m, c, "digital"):
                self._io.set_feature(m, c, r.u32(rec + memmap.POINT_CONFIG_FEATURE))

