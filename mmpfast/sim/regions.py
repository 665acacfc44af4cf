"""The simulator's address space: one ``Region`` per area of ``memmap.AREAS``.

A region owns the bytes of its area (a ``bytearray`` allocated on first
write) and up to five behaviour hooks that the other rooms of the simulator
install.  The request handler calls them in this order:

* ``check_read(address, length) -> bool`` / ``check_write(address, data) -> bool``:
  the area's own rule; ``False`` refuses the request (the handler answers
  rcode 5 and nothing changes);
* ``pre_read(address, length)``: refresh the bytes before they are copied
  (uptime, date and time);
* ``post_read(address, length)``: side effects of reading (read-and-clear);
* ``post_write(address, length)``: side effects of the bytes just stored.

``read_bytes`` may replace the plain copy for areas whose content is
computed (the custom scatter-gather data area).

Pure data: no locking here (``Memory`` holds the one lock) and no rcodes.
"""
from __future__ import annotations

import struct
from bisect import bisect_right
from typing import Callable, Iterator, List, Optional, Tuple

from .. import memmap

__all__ = ["Region", "Regions", "records", "touches", "U16", "U32", "U64", "F32"]

U16 = struct.Struct(">H")
U32 = struct.Struct(">I")
U64 = struct.Struct(">Q")
F32 = struct.Struct(">f")

ReadHook = Callable[[int, int], None]
WriteHook = Callable[[int, int], None]


class Region:
    """One area of ``memmap.AREAS`` with its storage and behaviour hooks."""

    __slots__ = ("area", "first", "last", "writable", "_buf", "check_read", "check_write",
                 "pre_read", "post_read", "post_write", "read_bytes")

    def __init__(self, area: memmap.Area) -> None:
        self.area = area
        self.first = area.first
        self.last = area.last
        self.writable = area.writable
        self._buf: Optional[bytearray] = None
        self.check_read: Optional[Callable[[int, int], bool]] = None
        self.check_write: Optional[Callable[[int, memoryview], bool]] = None
        self.pre_read: Optional[ReadHook] = None
        self.post_read: Optional[ReadHook] = None
        self.post_write: Optional[WriteHook] = None
        self.read_bytes: Optional[Callable[[int, int], bytes]] = None

    @property
    def buf(self) -> bytearray:
        """The area's bytes (allocated, zeroed, on first use)."""
        b = self._buf
        if b is None:
            b = self._buf = bytearray(self.last - self.first + 1)
        return b

    def read(self, address: int, length: int) -> bytes:
        """The stored bytes, no hooks (zeros for an area never written)."""
        b = self._buf
        if b is None:
            return bytes(length)
        off = address - self.first
        return bytes(b[off:off + length])

    def read_hooked(self, address: int, length: int) -> bytes:
        """Read as a request does: ``pre_read``, the bytes (or ``read_bytes``),
        then ``post_read`` (call with the lock held, after the checks)."""
        if self.pre_read is not None:
            self.pre_read(address, length)
        out = self.read_bytes(address, length) if self.read_bytes is not None else self.read(address, length)
        if self.post_read is not None:
            self.post_read(address, length)
        return out

    def store(self, address: int, data: memoryview) -> None:
        """Store ``data`` at ``address``, no hooks."""
        off = address - self.first
        self.buf[off:off + len(data)] = data

    def u32(self, address: int) -> int:
        """The uint32 BE stored at ``address``."""
        return int(U32.unpack_from(self.buf, address - self.first)[0])

    def put_u32(self, address: int, value: int) -> None:
        """Store ``value`` as uint32 BE at ``address``."""
        U32.pack_into(self.buf, address - self.first, value & 0xFFFFFFFF)


class Regions:
    """Every region, sorted by address, with the lookups the handler needs."""

    def __init__(self) -> None:
        self._regions: List[Region] = [Region(a) for a in sorted(memmap.AREAS, key=lambda a: a.first)]
        self._firsts = [r.first for r in self._regions]

    def __iter__(self) -> Iterator[Region]:
        return iter(self._regions)

    def at(self, address: int) -> Region:
        """The region holding ``address`` (a documented address; asserts otherwise)."""
        i = bisect_right(self._firsts, address) - 1
        r = self._regions[i]
        assert i >= 0 and r.first <= address <= r.last, hex(address)
        return r

    def locate(self, address: int, length: int) -> Optional[Region]:
        """The region holding all of ``[address, address + length)``, or ``None``."""
        i = bisect_right(self._firsts, address) - 1
        if i < 0:
            return None
        r = self._regions[i]
        if address + length - 1 > r.last:
            return None
        return r

    def area_of(self, address: int, length: int) -> Optional[memmap.Area]:
        """The ``memmap.Area`` holding ``[address, address+length)`` (agrees with ``memmap.find_area``)."""
        r = self.locate(address, max(length, 1))
        return None if r is None else r.area


def records(first: int, address: int, length: int, module_stride: int, record_stride: int,
            record_size: int, modules: int = memmap.MAX_MODULES,
            channels: int = memmap.MAX_CHANNELS) -> Iterator[Tuple[int, int, int, int]]:
    """``(module, channel, lo, hi)`` for each record of an area of per-module
    records (record of (m, c) at ``first + module_stride*m + record_stride*c``)
    touched by ``[address, address+length)``; ``lo``/``hi`` are the touched
    byte offsets inside the record (``hi`` exclusive, at most ``record_size``).
    Only modules below ``modules`` and channels below ``channels``."""
    start = max(address - first, 0)
    end = address - first + length
    for m, lo_m, hi_m in _spans(start, end, module_stride, modules):
        for c, lo, hi in _spans(lo_m, hi_m, record_stride, channels):
            if lo < record_size:
                yield m, c, lo, min(hi, record_size)


def _spans(start: int, end: int, stride: int, count: int) -> Iterator[Tuple[int, int, int]]:
    """``(i, lo, hi)`` for each stride-sized cell i < count that ``[start, end)``
    touches; ``lo``/``hi`` are offsets inside the cell."""
    if end <= start:
        return
    for i in range(start // stride, min((end - 1) // stride, count - 1) + 1):
        base = i * stride
        yield i, max(start, base) - base, min(end, base + stride) - base


def touches(lo: int, hi: int, field: int, size: int = 4) -> bool:
    """True when the byte range ``[lo, hi)`` overlaps ``[field, field + size)``."""
    return lo < field + size and field < hi


def f32(value: float) -> float:
    """``value`` rounded to float32 (``ValueError`` when it does not fit)."""
    try:
        return float(F32.unpack(F32.pack(value))[0])
    except OverflowError:
        raise ValueError(f"{value!r} does not fit a float32") from None
