"""Point kinds of a scan: what each named value reads and how it decodes (no I/O).

A point is a small object that knows the address ranges it reads
(``ranges``: ``(address, length)`` pairs in value order) and how its value
is built from those bytes (``fields()``: codec gather fields plus an
optional maker).  The planner (:mod:`mmpfast.plan`) places the ranges in
the result buffer (``segments``); the result (:mod:`mmpfast.result`)
decodes every point through one :class:`mmpfast.codec.GatherLayout`, the
same code path on both codecs.

Adding a kind means subclassing :class:`Point` (or :class:`RecordPoint`
for a fixed-layout record) and saying which fields it reads; nothing else
in the planner or the result changes.  A kind whose read changes the device
(read-and-clear) says so with ``side_effects``; the planner itself decides
from the addresses (``memmap.read_has_side_effects``), so a raw read of such
an area is kept apart too, and the two must agree (the planner checks).

Field codes (big-endian on the wire): ``"i"`` int32, ``"I"`` uint32, ``"f"``
float32, ``"q"`` int64, ``"Q"`` uint64, ``"?"`` uint32 != 0, ``"b"`` one bit
of a uint32 (arg: bit number), ``"y"`` raw bytes (arg: length).
"""
from __future__ import annotations

import struct
from typing import Any, Callable, ClassVar, List, Optional, Sequence, Tuple, Union

from .records import AnalogChannel, DigitalChannel, DigitalCounts
from . import memmap

__all__ = ["Point", "Bit", "Flag", "Scalar", "Run", "Raw", "Formatted", "RecordPoint",
           "DigitalChannelPoint", "AnalogChannelPoint", "SnapDigitalChannelPoint",
           "SnapAnalogChannelPoint", "ClearDigitalPoint", "element_size"]

#: a point's value recipe: (code, byte offset in the point's own bytes, arg)
Field = Tuple[str, int, int]
Maker = Optional[Callable[..., Any]]


def element_size(code: str) -> int:
    """Bytes of one big-endian element of typecode ``code`` (standard sizes)."""
    return struct.calcsize(">" + code)


def _width(code: str, arg: int) -> int:
    return arg if code == "y" else element_size("I" if code in "?b" else code)


class Point:
    """One named value of a scan plan (base class of the point kinds).

    ``ranges``: the ``(address, length)`` reads it needs, in value order;
    ``segments``: after planning, the matching ``(start, end)`` byte ranges
    of the result buffer, merged where contiguous; ``layout``: after
    planning, the point's own one-item ``GatherLayout``.
    """

    __slots__ = ("name", "ranges", "segments", "layout")
    #: True when reading the point changes the device (read-and-clear)
    side_effects: ClassVar[bool] = False

    def __init__(self, name: str, ranges: Sequence[Tuple[int, int]]) -> None:
        self.name = name
        self.ranges: Tuple[Tuple[int, int], ...] = tuple(ranges)
        self.segments: Tuple[Tuple[int, int], ...] = ()
        self.layout: Any = None

    def fields(self) -> Tuple[Maker, Tuple[Field, ...]]:
        """``(maker, fields)``: the value is the one field when ``maker`` is
        None, a list of the fields when it is ``list``, else ``maker(*fields)``."""
        raise NotImplementedError

    def placed(self) -> Tuple[Maker, str, List[int], List[int]]:
        """``(maker, codes, buffer offsets, args)`` of the fields, after planning."""
        maker, fields = self.fields()
        codes = "".join(code for code, _, _ in fields)
        return maker, codes, [self._offset(vo, _width(code, arg)) for code, vo, arg in fields], \
            [arg for _, _, arg in fields]

    def _offset(self, value_offset: int, width: int) -> int:
        """Buffer offset of the point's bytes [value_offset, +width) (one segment)."""
        pos = 0
        for a, b in self.segments:
            if pos <= value_offset < pos + (b - a):
                if value_offset + width > pos + (b - a):
                    raise AssertionError(f"{self.name}: a field straddles two buffer segments")
                return a + value_offset - pos
            pos += b - a
        raise AssertionError(f"{self.name}: field at {value_offset} outside the point")

    def data(self, mv: memoryview) -> Union[memoryview, bytes]:
        """The point's bytes in buffer ``mv`` (a view when contiguous)."""
        segs = self.segments
        if len(segs) == 1:
            a, b = segs[0]
            return mv[a:b]
        return b"".join([mv[a:b] for a, b in segs])

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {', '.join(f'0x{a:08X}+{n}' for a, n in self.ranges)}>"


class Bit(Point):
    """Bit ``bit`` (0 = least significant) of a uint32 word: ``bool``."""

    __slots__ = ("bit",)

    def __init__(self, name: str, address: int, bit: int) -> None:
        super().__init__(name, ((address, 4),))
        self.bit = bit

    def fields(self) -> Tuple[Maker, Tuple[Field, ...]]:
        return None, (("b", 0, self.bit),)


class Flag(Point):
    """A uint32 read as a flag (non-zero = ``True``)."""

    __slots__ = ()

    def __init__(self, name: str, address: int) -> None:
        super().__init__(name, ((address, 4),))

    def fields(self) -> Tuple[Maker, Tuple[Field, ...]]:
        return None, (("?", 0, 0),)


class Scalar(Point):
    """One element of typecode ``code`` (``int`` or ``float``)."""

    __slots__ = ("code",)

    def __init__(self, name: str, address: int, code: str) -> None:
        super().__init__(name, ((address, element_size(code)),))
        self.code = code

    def fields(self) -> Tuple[Maker, Tuple[Field, ...]]:
        return None, ((self.code, 0, 0),)


class Run(Point):
    """``count`` elements of typecode ``code`` over address-contiguous
    ``ranges``: a number when ``count`` is 1, else a ``list``."""

    __slots__ = ("code", "count")

    def __init__(self, name: str, ranges: Sequence[Tuple[int, int]], code: str, count: int) -> None:
        super().__init__(name, ranges)
        self.code = code
        self.count = count

    def fields(self) -> Tuple[Maker, Tuple[Field, ...]]:
        size = element_size(self.code)
        fields = tuple((self.code, size * k, 0) for k in range(self.count))
        return (None if self.count == 1 else list), fields


class Raw(Point):
    """``length`` bytes from ``address``, undecoded (``bytes``).  ``unchecked``:
    the range lies outside the known memory map (the planner never merges it)."""

    __slots__ = ("unchecked",)

    def __init__(self, name: str, address: int, length: int, *, unchecked: bool = False) -> None:
        super().__init__(name, ((address, length),))
        self.unchecked = unchecked

    def fields(self) -> Tuple[Maker, Tuple[Field, ...]]:
        return None, (("y", 0, self.ranges[0][1]),)


class Formatted(Point):
    """``length`` bytes from ``address`` passed to ``fmt`` (e.g. a MAC address as ``str``)."""

    __slots__ = ("fmt",)

    def __init__(self, name: str, address: int, length: int, fmt: Callable[[bytes], Any]) -> None:
        super().__init__(name, ((address, length),))
        self.fmt = fmt

    def fields(self) -> Tuple[Maker, Tuple[Field, ...]]:
        return self.fmt, (("y", 0, self.ranges[0][1]),)


class RecordPoint(Point):
    """A fixed-layout record read in one range: ``RECORD(*fields)``.

    Subclasses set ``LENGTH`` (bytes read), ``RECORD`` (the record class,
    from :mod:`mmpfast.records`) and ``FIELDS`` (``(code, offset, arg)`` in the
    record's positional order).
    """

    __slots__ = ()
    LENGTH: ClassVar[int]
    RECORD: ClassVar[Callable[..., Any]]
    FIELDS: ClassVar[Tuple[Field, ...]]

    def __init__(self, name: str, address: int) -> None:
        super().__init__(name, ((address, self.LENGTH),))

    def fields(self) -> Tuple[Maker, Tuple[Field, ...]]:
        return type(self).RECORD, self.FIELDS


class DigitalChannelPoint(RecordPoint):
    """A whole EPIC digital channel (read slot): ``DigitalChannel``."""

    __slots__ = ()
    LENGTH = memmap.DIGITAL_CHANNEL_LENGTH
    RECORD = DigitalChannel
    FIELDS = (("?", memmap.DIG_STATE, 0), ("?", memmap.DIG_ON_LATCH, 0), ("?", memmap.DIG_OFF_LATCH, 0),
              ("I", memmap.DIG_FEATURE_TYPE, 0), ("I", memmap.DIG_FEATURE_VALUE, 0),
              ("I", memmap.DIG_QUALITY, 0))


class AnalogChannelPoint(RecordPoint):
    """A whole EPIC analog channel (read slot): ``AnalogChannel``."""

    __slots__ = ()
    LENGTH = memmap.ANALOG_CHANNEL_LENGTH
    RECORD = AnalogChannel
    FIELDS = (("f", memmap.ANA_VALUE, 0), ("f", memmap.ANA_MINIMUM, 0), ("f", memmap.ANA_MAXIMUM, 0),
              ("I", memmap.ANA_QUALITY, 0))


def _snap_digital(state: bool, on: bool, off: bool, counter_active: int, value: int) -> DigitalChannel:
    return DigitalChannel(state, on, off, counter_active, value, memmap.QUALITY_GOOD)


def _snap_analog(value: float, minimum: float, maximum: float) -> AnalogChannel:
    return AnalogChannel(value, minimum, maximum, memmap.QUALITY_GOOD)


class SnapDigitalChannelPoint(RecordPoint):
    """A whole SNAP PAC digital point (0xF0800000 + 0x40·p): ``DigitalChannel`` whose
    ``feature_type`` is the point's counter-active word (1 = counting, the counter
    feature's code) and whose ``quality`` is 0 (SNAP PAC has no quality word)."""

    __slots__ = ()
    LENGTH = memmap.SNAP_DIG_FEATURE_VALUE + 4
    RECORD = _snap_digital
    FIELDS = (("?", memmap.SNAP_DIG_STATE, 0), ("?", memmap.SNAP_DIG_ON_LATCH, 0),
              ("?", memmap.SNAP_DIG_OFF_LATCH, 0), ("I", memmap.SNAP_DIG_COUNTER_ACTIVE, 0),
              ("I", memmap.SNAP_DIG_FEATURE_VALUE, 0))


class SnapAnalogChannelPoint(RecordPoint):
    """A whole SNAP PAC analog point (0xF0A00000 + 0x40·p): ``AnalogChannel`` with
    ``quality`` 0 (SNAP PAC has no quality word)."""

    __slots__ = ()
    LENGTH = memmap.SNAP_ANA_MAXIMUM + 4
    RECORD = _snap_analog
    FIELDS = (("f", memmap.SNAP_ANA_VALUE, 0), ("f", memmap.SNAP_ANA_MINIMUM, 0),
              ("f", memmap.SNAP_ANA_MAXIMUM, 0))


class ClearDigitalPoint(Point):
    """A digital read-and-clear (``DigitalCounts``): the device returns the feature
    value and latches, then clears them.  ``ranges`` are
    ``memmap.read_clear_digital_requests`` (one EPIC record or three SNAP words), whose
    bytes joined are ``memmap.DIGITAL_COUNTS_STRUCT``."""

    __slots__ = ()
    side_effects = True

    def fields(self) -> Tuple[Maker, Tuple[Field, ...]]:
        return DigitalCounts, (("I", memmap.DRC_FEATURE_VALUE, 0), ("?", memmap.DRC_ON_LATCH, 0),
                               ("?", memmap.DRC_OFF_LATCH, 0))
