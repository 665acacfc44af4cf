"""The custom scatter-gather area (docs/protocol.md §3.8).

A client writes up to 1024 memory-map addresses (uint32 BE, the low 32
bits) to the address list at 0xF0D50000 + 4*i (plain storage); a read of
the data area 0xF0D60000 + 4*i then returns, for each entry i it touches,
the 4 bytes at address-list entry i exactly as a read of that address
would return them: status words are fresh, and a read-and-clear address is
cleared by it [INF].  Entries are gathered in order, so an address listed
twice is read twice (a read-and-clear one returns 0 the second time).  A
read that touches only part of an entry gathers the whole entry and
returns the bytes asked for.

Refusals (the handler answers rcode 5 and nothing is read or cleared)
[INF]: a read touching an entry whose 4 bytes are not inside one mapped
area (an entry never written holds address 0, which is not mapped), or
whose address lies in the data area itself; any write to the data area.
"""
from __future__ import annotations

from typing import Optional, Tuple

from .. import memmap
from .regions import Region, Regions

__all__ = ["CustomArea"]

_SIZE = memmap.CUSTOM_AREA_ENTRY_SIZE


class CustomArea:
    """Installs the gather rules on the custom data region."""

    def __init__(self, regions: Regions) -> None:
        self._regions = regions
        self._list = regions.at(memmap.CUSTOM_AREA_ADDRESSES)
        self._data = regions.at(memmap.CUSTOM_AREA_DATA)
        self._data.check_write = lambda address, data: False
        self._data.check_read = self._readable
        self._data.read_bytes = self._gather

    def _entries(self, address: int, length: int) -> range:
        first = (address - self._data.first) // _SIZE
        return range(first, (address + length - 1 - self._data.first) // _SIZE + 1)

    def _source(self, i: int) -> Tuple[int, Optional[Region]]:
        target = self._list.u32(memmap.CUSTOM_AREA_ADDRESSES + _SIZE * i)
        region = self._regions.locate(target, _SIZE)
        if region is self._data or (region is not None and region.check_read is not None
                                    and not region.check_read(target, _SIZE)):
            region = None
        return target, region

    def _readable(self, address: int, length: int) -> bool:
        return all(self._source(i)[1] is not None for i in self._entries(address, length))

    def _gather(self, address: int, length: int) -> bytes:
        entries = self._entries(address, length)
        out = bytearray()
        for i in entries:
            target, region = self._source(i)
            assert region is not None       # _readable ran first
            out += region.read_hooked(target, _SIZE)
        start = address - (self._data.first + _SIZE * entries[0])
        return bytes(out[start:start + length])
