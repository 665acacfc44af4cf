"""The scratch pad's rules (docs/protocol.md §3.5): bit masks and string slots.

Numeric scratch-pad areas are plain storage.  Two parts have behaviour:

* the bit set-on / set-off masks (0xF0D80400 / 0xF0D80408) set and clear
  bits of the 64-bit word at 0xF0D80000 and read back as zero [INF];
* the 64 string slots at 0xF0D83000 + 0x82*k (a uint16 BE length word, then
  128 data bytes): (1) a write that touches a slot's length word stores the
  length written, and a length above 128 refuses the whole write (the area
  rule ``check_write``; the handler answers rcode 5, nothing applied);
  (2) a write that touches only data bytes stores them and sets the length
  to the smaller of the end of the written range (measured from slot + 2)
  and the position of the first NUL in the slot's data up to that end [INF].
"""
from __future__ import annotations

from typing import Iterator, Tuple

from .. import memmap
from .regions import U64, Regions

__all__ = ["ScratchPad"]

_S = memmap.SCRATCHPAD_STRINGS
_STRIDE = memmap.SCRATCHPAD_STRING_STRIDE
_LEN = memmap.SCRATCHPAD_STRING_LENGTH_BYTES
_STRING_END = _S + memmap.SCRATCHPAD_STRING_SLOTS * _STRIDE


def _slots(address: int, n: int) -> Iterator[Tuple[int, int, int]]:
    """``(slot base, first written address, end of written range)`` of each
    string slot touched by ``[address, address + n)``."""
    end = address + n
    lo, hi = max(address, _S), min(end, _STRING_END)
    if lo >= hi:
        return
    for k in range((lo - _S) // _STRIDE, (hi - 1 - _S) // _STRIDE + 1):
        base = _S + k * _STRIDE
        yield base, max(address, base), min(end, base + _STRIDE)


class ScratchPad:
    """Installs the bit-mask and string-slot rules on their regions."""

    def __init__(self, regions: Regions) -> None:
        self._masks = regions.at(memmap.SCRATCHPAD_BITS_SET_ON)
        self._bits = regions.at(memmap.SCRATCHPAD_BITS)
        self._strings = regions.at(_S)
        self._masks.post_write = self._apply_bit_masks
        self._strings.check_write = self._check_string_write
        self._strings.post_write = self._apply_string_lengths

    def _apply_bit_masks(self, address: int, length: int) -> None:
        b = self._masks.buf
        on = U64.unpack_from(b, memmap.SCRATCHPAD_BITS_SET_ON - self._masks.first)[0]
        off = U64.unpack_from(b, memmap.SCRATCHPAD_BITS_SET_OFF - self._masks.first)[0]
        b[:] = bytes(len(b))
        bits = self._bits.buf
        cur = U64.unpack_from(bits, 0)[0]
        U64.pack_into(bits, 0, (cur | on) & ~off & 0xFFFFFFFFFFFFFFFF)

    def _check_string_write(self, address: int, data: memoryview) -> bool:
        """False when the write would store a string length above 128."""
        r = self._strings
        for base, wlo, whi in _slots(address, len(data)):
            if wlo < base + _LEN:
                word = bytearray(r.read(base, _LEN))
                for a in range(wlo, min(whi, base + _LEN)):
                    word[a - base] = data[a - address]
                if int.from_bytes(word, "big") > memmap.SCRATCHPAD_STRING_MAX:
                    return False
        return True

    def _apply_string_lengths(self, address: int, length: int) -> None:
        r = self._strings
        b = r.buf
        for base, wlo, whi in _slots(address, length):
            if wlo >= base + _LEN:          # data only: the length follows the data
                dstart = base + _LEN - r.first
                written = whi - (base + _LEN)
                nul = b.find(0, dstart, dstart + written)
                r.store(base, memoryview((written if nul < 0 else nul - dstart).to_bytes(_LEN, "big")))
