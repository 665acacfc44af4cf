"""Scan planning: many points in, few block reads out (sans-I/O).

A :class:`ScanPlan` collects points (digital states, analog values, whole
channels, scratch-pad runs, raw ranges, status fields), maps each one to the
cheapest place in the memory map that holds it, and turns the lot into a
short list of block reads (sorted by address, read-and-clear ones last).  It
never touches a socket or the clock.

Cost model
----------
See :mod:`mmpfast.coverage`: a request costs ``request_cost`` (G) bytes, a
byte read costs one; ranges of one memory-map area are read as one request
when the gap between them is smaller than G and the request fits
``max_block``; reads that change the device are never merged with anything
they did not ask for.  With ``custom_area=True`` the same model decides which
scattered 4-byte words to gather through the device's custom area.

Read-and-clear
--------------
A point whose read changes the device (``add_clear_digital``, or an
``add_raw`` range in a read-and-clear area) is read by requests of its own,
placed LAST in ``plan.requests``: ``plan.clear_from`` is the index of the
first of them (``len(plan.requests)`` when there is none) and
``plan.side_effects[i]`` is True for those requests.  A request layer must
send each of them at most once per pass, whatever fails (a lost answer means
the counts are gone), and should send them only after the plain requests.

Custom area
-----------
With ``custom_area=True`` the plan may gather scattered words through the
custom scatter-gather area (PROTOCOL.md §3.8).  ``plan.custom_addresses`` is
the address list that must be written to 0xF0D50000 (uint32 BE each, entry
i at 0xF0D50000 + 4*i) before the plan is scanned; ``plan.custom_writes``
gives those writes as ``(address, data)`` blocks.  Both are empty when the
cost model found no gain (the plan then needs no preparation), and always
when the plan itself reads the custom area (``add_raw`` there).  The gathered
words are read by ordinary requests at 0xF0D60000 inside ``plan.requests``
(before ``clear_from``: read-and-clear points are never gathered).

Buffer layout
-------------
The result buffer is the concatenation of the data of ``plan.requests`` in
order: request ``i`` lands at ``plan.offsets[i]`` and is ``plan.lengths[i]``
bytes long.  The bytes are the device's own, big-endian; a
:class:`~mmpfast.result.ScanResult` converts them only when asked.

Points and decoding
-------------------
Each point is an object of :mod:`mmpfast.points` (its ranges and its gather
fields).  Freezing places every point's ranges in the buffer and builds the
decoding once: one :class:`mmpfast.codec.GatherLayout` for the whole plan
(``values()``) and one per point (``res[name]``), with whichever codec is
loaded; the plan and its layouts are immutable from then on.
"""
from __future__ import annotations

import bisect
import operator
import struct
import threading
from array import array
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from . import codec, coverage, memmap
from .points import (AnalogChannelPoint, Bit, ClearDigitalPoint, DigitalChannelPoint, Flag, Formatted, Point,
                     Raw, Run, Scalar, SnapAnalogChannelPoint, SnapDigitalChannelPoint, element_size)
from .protocol import MAX_BLOCK, MAX_DATA_LENGTH
from .result import ScanResult

__all__ = ["ScanPlan", "ScanResult", "DEFAULT_REQUEST_COST", "STATUS_FIELDS"]

#: Bytes of gap worth reading to save one request: 1 ms at 100 Mbit/s.
DEFAULT_REQUEST_COST = 12_500

# Status fields a plan can read (all inside the status read area, so a plan
# reads any set of them with one request): name -> (address, length, kind, arg).
# kind "int": arg is the codec typecode; "bool": uint32, non-zero = True;
# "fmt": arg formats the raw bytes.
STATUS_FIELDS: Dict[str, Tuple[int, int, str, Any]] = {
    "memmap_revision": (memmap.STATUS_MEMMAP_REVISION, 4, "int", "I"),
    "powerup_clear_needed": (memmap.STATUS_PUC_FLAG, 4, "bool", None),
    "busy": (memmap.STATUS_BUSY_FLAG, 4, "bool", None),
    "last_error": (memmap.STATUS_LAST_ERROR, 4, "int", "i"),
    "last_error_address": (memmap.STATUS_LAST_ERROR_ADDRESS, 4, "int", "I"),
    "firmware": (memmap.STATUS_FIRMWARE_VERSION, 4, "fmt", memmap.format_firmware),
    "unit_type": (memmap.STATUS_UNIT_TYPE, 4, "int", "I"),
    "mac": (memmap.STATUS_MAC_ETH0, memmap.MAC_LENGTH, "fmt", memmap.format_mac),
    "ip": (memmap.STATUS_IP_ETH0, memmap.IP_LENGTH, "fmt", memmap.format_ip),
    "part_number": (memmap.STATUS_PART_NUMBER, memmap.PART_NUMBER_LENGTH, "fmt", memmap.decode_zstring),
    "watchdog_ms": (memmap.STATUS_WATCHDOG_MS, 4, "int", "I"),
    "uptime_ms": (memmap.STATUS_UPTIME_MS, 4, "int", "I"),
    "serial": (memmap.STATUS_SERIAL_NUMBER, 4, "int", "I"),
    "uptime_ms_64": (memmap.STATUS_UPTIME_MS_64, 8, "int", "Q"),
}


def _check_int(name: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            v = operator.index(value)  # type: ignore[arg-type]
        except TypeError:
            raise TypeError(f"{name} must be an int, not {type(value).__name__}") from None
        if isinstance(value, bool):
            raise TypeError(f"{name} must be an int, not bool")
    else:
        v = int(value)
    if not lo <= v <= hi:
        raise ValueError(f"{name} {v} out of range {lo}..{hi}")
    return v


class ScanPlan:
    """A set of points to read, planned into few block reads.

    ``max_block`` caps the ``data_length`` of one request (bytes, 1..65535);
    ``device`` is ``"epic"`` (groov EPIC channel slots and packed areas) or
    ``"snap"`` (SNAP PAC: module 0..15, channel 0..3, point p = 4*module +
    channel, the §3.7 point and bank areas); a client scanning the plan must be
    of the same device.  ``custom_area=True`` lets the planner gather scattered
    words through the custom area (see the module docstring; the client must
    ``prepare`` the plan).  ``request_cost`` is the cost model's G: the number
    of unwanted bytes worth reading to save one request.

    Add points with the ``add_*`` methods; each returns the point's name.
    The plan freezes when first used (``requests``, ``offsets``, ``lengths``,
    ``buffer_size``, ``new_buffer``, ``result`` or ``freeze()``); adding
    afterwards raises ``RuntimeError``.  A frozen plan is immutable and may be
    shared by many threads, clients and tasks.
    """

    def __init__(self, max_block: int = MAX_BLOCK, *, device: str = "epic", custom_area: bool = False,
                 request_cost: int = DEFAULT_REQUEST_COST) -> None:
        self.max_block = _check_int("max_block", max_block, 1, MAX_DATA_LENGTH)
        self._device = memmap.check_device(device)
        if not isinstance(custom_area, bool):
            raise TypeError(f"custom_area must be a bool, not {type(custom_area).__name__}")
        self.custom_area = custom_area
        self.request_cost = _check_int("request_cost", request_cost, 0, 1 << 40)
        self._points: List[Point] = []
        self._by_name: Dict[str, Point] = {}
        self._lock = threading.Lock()
        self._frozen = False
        self._requests: Tuple[Tuple[int, int], ...] = ()
        self._offsets = array("q")
        self._lengths = array("q")
        self._buffer_size = 0
        self._clear_from = 0
        self._side_effects: Tuple[bool, ...] = ()
        self._custom: Tuple[int, ...] = ()
        self._custom_writes: Tuple[Tuple[int, bytes], ...] = ()
        self._codec: Any = codec        # the codec the layouts were built with (set at freeze)
        self._layout: Any = None        # codec.GatherLayout of every point (set at freeze)

    # ------------------------------------------------------------------ adding
    @staticmethod
    def _name(name: Optional[str], default: str) -> str:
        if name is None:
            return default
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, not {type(name).__name__}")
        return name

    def _add(self, point: Point) -> str:
        """Add a point object (a kind of :mod:`mmpfast.points`, built by an
        ``add_*`` method and owned by this plan from now on); returns its name."""
        if not isinstance(point, Point):
            raise TypeError(f"point must be a mmpfast.points.Point, not {type(point).__name__}")
        if point.side_effects and not all(memmap.read_has_side_effects(a, n) for a, n in point.ranges):
            raise ValueError(f"{point!r} says reading it changes the device, but its ranges do not")
        name = point.name
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, not {type(name).__name__}")
        with self._lock:
            if self._frozen:
                raise RuntimeError("the plan is frozen (it has been used); build a new ScanPlan")
            if name in self._by_name:
                raise ValueError(f"duplicate point name {name!r}")
            self._points.append(point)
            self._by_name[name] = point
        return name

    def _point(self, module: int, channel: int) -> Tuple[int, int]:
        return memmap.check_device_point(module, channel, self._device)

    def _value_address(self, m: int, c: int, snap_bank: Callable[[int, int], int],
                       read_slot: Callable[[int, int], int], field: int) -> int:
        """Where a channel's 32-bit value is read: SNAP ``snap_bank(m, c)``; EPIC
        the packed values area for channels 0..31, else ``field`` in the read slot."""
        if self._device == "snap":
            return snap_bank(m, c)
        if c < memmap.PACKED_VALUES_CHANNELS:
            return memmap.packed_value_address(m, c)
        return read_slot(m, c) + field

    def _channel_record(self, module: int, channel: int, name: Optional[str], kind: str,
                        snap: Callable[[str, int], Point], snap_address: Callable[[int, int], int],
                        epic: Callable[[str, int], Point], epic_address: Callable[[int, int], int]) -> str:
        """A whole-channel record point: ``snap`` at ``snap_address(m, c)`` on SNAP,
        ``epic`` at ``epic_address(m, c)`` on EPIC; default name ``kind[m][c]``."""
        m, c = self._point(module, channel)
        name = self._name(name, f"{kind}[{m}][{c}]")
        if self._device == "snap":
            return self._add(snap(name, snap_address(m, c)))
        return self._add(epic(name, epic_address(m, c)))

    def add_digital(self, module: int, channel: int, name: Optional[str] = None) -> str:
        """A digital state (``bool``).  EPIC: channels 0..31 come from the packed
        states word at 0xF1001800 + 4·module (bit ``channel``), others from the
        state word of the channel's read slot.  SNAP: bit p of the digital
        bank's 8-byte state mask at 0xF0400000."""
        m, c = self._point(module, channel)
        name = self._name(name, f"digital[{m}][{c}]")
        if self._device == "snap":
            return self._add(Bit(name, *memmap.snap_bank_state_word(m, c)))
        if c < 32:
            return self._add(Bit(name, memmap.packed_state_address(m), c))
        return self._add(Flag(name, memmap.digital_read_address(m, c) + memmap.DIG_STATE))

    def add_analog(self, module: int, channel: int, name: Optional[str] = None) -> str:
        """An analog value in engineering units (``float``, float32 BE on the
        wire).  EPIC: channels 0..31 come from the packed values at 0xF1001000
        + 0x80·module + 4·channel, others from the channel's read slot.  SNAP:
        the analog bank, 0xF0600000 + 4·p."""
        m, c = self._point(module, channel)
        addr = self._value_address(m, c, memmap.snap_bank_value_address,
                                   memmap.analog_read_address, memmap.ANA_VALUE)
        return self._add(Scalar(self._name(name, f"analog[{m}][{c}]"), addr, "f"))

    def add_digital_counter(self, module: int, channel: int, name: Optional[str] = None) -> str:
        """A digital channel's feature value (counter, ``int``, uint32 BE).
        EPIC: packed values area for channels 0..31, the read slot otherwise.
        SNAP: the digital bank's counters, 0xF0400100 + 4·p."""
        m, c = self._point(module, channel)
        addr = self._value_address(m, c, memmap.snap_bank_counter_address,
                                   memmap.digital_read_address, memmap.DIG_FEATURE_VALUE)
        return self._add(Scalar(self._name(name, f"counter[{m}][{c}]"), addr, "I"))

    def add_digital_channel(self, module: int, channel: int, name: Optional[str] = None) -> str:
        """A whole digital channel: its value is a ``DigitalChannel`` record
        (state, latches, feature type/value, quality) from the read slot
        (SNAP: the point read record 0xF0800000 + 0x40·p, see
        ``points.SnapDigitalChannelPoint``)."""
        return self._channel_record(module, channel, name, "digital_channel",
                                    SnapDigitalChannelPoint, memmap.snap_digital_read_address,
                                    DigitalChannelPoint, memmap.digital_read_address)

    def add_analog_channel(self, module: int, channel: int, name: Optional[str] = None) -> str:
        """A whole analog channel: its value is an ``AnalogChannel`` record
        (value, minimum, maximum, quality) from the read slot (SNAP: the point
        read record 0xF0A00000 + 0x40·p, quality 0)."""
        return self._channel_record(module, channel, name, "analog_channel",
                                    SnapAnalogChannelPoint, memmap.snap_analog_read_address,
                                    AnalogChannelPoint, memmap.analog_read_address)

    def add_clear_digital(self, module: int, channel: int, name: Optional[str] = None) -> str:
        """A digital read-and-clear: its value is ``DigitalCounts`` (feature value,
        on-latch, off-latch), which the device clears as it answers.  EPIC: 12
        bytes at 0xF02E0000 + 0x600·module + 0x18·channel; SNAP: 0xF0F00000 + 4·p,
        + 0x100, + 0x200.  Its requests come last in ``requests`` (from
        ``clear_from``) and must never be sent twice."""
        m, c = self._point(module, channel)
        return self._add(ClearDigitalPoint(self._name(name, f"clear_digital[{m}][{c}]"),
                                           memmap.read_clear_digital_requests(m, c, device=self._device)))

    def _add_scratchpad(self, kind: str, code: str, index: int, count: int, name: Optional[str]) -> str:
        if isinstance(count, bool) or not isinstance(count, int):
            try:
                count = operator.index(count)
            except TypeError:
                raise TypeError(f"count must be an int, not {type(count).__name__}") from None
        runs = memmap.scratchpad_runs(kind, index, count)
        size = element_size(code)
        i = runs[0].first
        default = f"scratchpad_{kind}[{i}]" if count == 1 else f"scratchpad_{kind}[{i}:{i + count}]"
        return self._add(Run(self._name(name, default),
                                  [(r.address, r.elements * size) for r in runs], code, count))

    def add_scratchpad_int32(self, index: int, count: int = 1, name: Optional[str] = None) -> str:
        """``count`` int32 scratch-pad values from logical ``index`` (0..10239).
        The value is an ``int`` when ``count`` is 1, else a ``list``;
        ``ScanResult.array(name)`` gives an ``array('i')``."""
        return self._add_scratchpad("int32", "i", index, count, name)

    def add_scratchpad_float(self, index: int, count: int = 1, name: Optional[str] = None) -> str:
        """``count`` float32 scratch-pad values from logical ``index`` (0..10239)."""
        return self._add_scratchpad("float", "f", index, count, name)

    def add_scratchpad_int64(self, index: int, count: int = 1, name: Optional[str] = None) -> str:
        """``count`` int64 scratch-pad values (big-endian, stride 8) from ``index`` (0..1023)."""
        return self._add_scratchpad("int64", "q", index, count, name)

    def add_raw(self, address: int, length: int, name: Optional[str] = None, *,
                check_area: bool = True) -> str:
        """``length`` raw bytes from ``address`` (its value is ``bytes``).

        The range must lie inside one area of the memory map
        (``memmap.AREAS``), else ``ValueError``; ``check_area=False`` accepts
        ranges the map does not know (they are then never merged with others).
        """
        a = _check_int("address", address, 0, 0xFFFFFFFF)
        n = _check_int("length", length, 1, MAX_DATA_LENGTH)
        if a + n - 1 > 0xFFFFFFFF:
            raise ValueError(f"range 0x{a:08X}+{n} runs past the end of the address space")
        area = memmap.find_area(a, n)
        if area is None and check_area:
            raise ValueError(f"range 0x{a:08X}+{n} is not inside one area of the memory map")
        return self._add(Raw(self._name(name, f"raw[0x{a:08X}:{n}]"), a, n, unchecked=area is None))

    def add_status(self, field: str, name: Optional[str] = None) -> str:
        """A status-area field by name (see ``STATUS_FIELDS``): e.g.
        ``"uptime_ms"`` (int), ``"firmware"`` (str), ``"powerup_clear_needed"`` (bool)."""
        if not isinstance(field, str):
            raise TypeError(f"field must be a str, not {type(field).__name__}")
        try:
            addr, length, kind, arg = STATUS_FIELDS[field]
        except KeyError:
            raise ValueError(f"unknown status field {field!r}; known: {', '.join(STATUS_FIELDS)}") from None
        name = self._name(name, field)
        if kind == "int":
            return self._add(Scalar(name, addr, arg))
        if kind == "bool":
            return self._add(Flag(name, addr))
        return self._add(Formatted(name, addr, length, arg))

    # ------------------------------------------------------------------ planning
    def freeze(self) -> "ScanPlan":
        """Plan the requests now (idempotent); returns the plan."""
        if not self._frozen:
            with self._lock:
                if not self._frozen:
                    self._plan()
                    self._frozen = True
        return self

    @property
    def frozen(self) -> bool:
        """True once the plan has been used (no more points may be added)."""
        return self._frozen

    def _plan(self) -> None:
        mb, cost = self.max_block, self.request_cost
        specs = [(p.ranges, isinstance(p, Raw) and p.unchecked) for p in self._points]
        reads: List[Sequence[Tuple[int, int]]] = [r for r, _ in specs]
        plain, clearing = coverage.block_reads([(a, n, u) for r, u in specs for a, n in r], mb, cost)
        if self.custom_area:
            chosen = coverage.choose_gathered(specs, mb, cost)
            if chosen:
                g_reads, g_plain, g_clearing, addrs = coverage.gathered_plan(specs, chosen, mb, cost)
                if coverage.requests_cost(g_plain + g_clearing, cost) < coverage.requests_cost(plain + clearing, cost):
                    reads, plain, clearing, self._custom = g_reads, g_plain, g_clearing, addrs
        reqs = plain + clearing
        offsets = array("q")
        lengths = array("q")
        pos = 0
        for _, n in reqs:
            offsets.append(pos)
            lengths.append(n)
            pos += n
        parts = ((plain, 0, [a for a, _ in plain]), (clearing, len(plain), [a for a, _ in clearing]))
        for p, ranges in zip(self._points, reads):
            segs: List[List[int]] = []
            for a, n in ranges:
                part, first, starts = parts[memmap.read_has_side_effects(a, n)]
                r = bisect.bisect_right(starts, a) - 1
                ra, rn = part[r]
                b = offsets[first + r] + (a - ra)
                # a range split at max_block continues in the next (address-contiguous) requests
                assert ra <= a and (a + n <= ra + rn or part[r + 1][0] == ra + rn)
                if segs and segs[-1][1] == b:
                    segs[-1][1] = b + n
                else:
                    segs.append([b, b + n])
            p.segments = tuple((s, e) for s, e in segs)
        self._requests = tuple(reqs)
        self._clear_from = len(plain)
        self._side_effects = tuple(i >= len(plain) for i in range(len(reqs)))
        if self._custom:
            size = coverage.custom_read_size(mb)
            data = struct.pack(f">{len(self._custom)}I", *self._custom)
            self._custom_writes = tuple((memmap.CUSTOM_AREA_ADDRESSES + k, data[k:k + size])
                                        for k in range(0, len(data), size))
        self._offsets = offsets
        self._lengths = lengths
        self._buffer_size = pos
        self._build_layouts()

    def _build_layouts(self) -> None:
        """The plan-wide and per-point ``GatherLayout`` objects (once, at freeze)."""
        cdc = codec
        keys: List[str] = []
        codes: List[str] = []
        offsets: List[int] = []
        args: List[int] = []
        counts: List[int] = []
        makers: List[Any] = []
        for p in self._points:
            maker, pcodes, poffs, pargs = p.placed()
            p.layout = cdc.GatherLayout((p.name,), pcodes, poffs, pargs, (len(pcodes),), (maker,))
            keys.append(p.name)
            codes.append(pcodes)
            offsets.extend(poffs)
            args.extend(pargs)
            counts.append(len(pcodes))
            makers.append(maker)
        self._codec = cdc
        self._layout = cdc.GatherLayout(keys, "".join(codes), offsets, args, counts, makers)

    @property
    def requests(self) -> Tuple[Tuple[int, int], ...]:
        """The block reads of one pass, ``(address, length)``, sorted by address."""
        self.freeze()
        return self._requests

    @property
    def offsets(self) -> "array[int]":
        """``array('q')``: where request i's data starts in the result buffer.

        The same object on every access (no allocation per scan pass), shared
        by every user of the plan: treat it as read-only."""
        if not self._frozen:
            self.freeze()
        return self._offsets

    @property
    def lengths(self) -> "array[int]":
        """``array('q')``: the data length of request i (bytes; the same
        shared object on every access: treat it as read-only)."""
        if not self._frozen:
            self.freeze()
        return self._lengths

    @property
    def device(self) -> str:
        """``"epic"`` or ``"snap"``: the device whose memory map the plan reads."""
        return self._device

    @property
    def clear_from(self) -> int:
        """Index in ``requests`` of the first read-and-clear request (they are all
        last); ``len(requests)`` when the plan has none.  Requests from this
        index change the device when read: send each at most once per pass."""
        self.freeze()
        return self._clear_from

    @property
    def side_effects(self) -> Tuple[bool, ...]:
        """Per request: True when reading it changes the device (``i >= clear_from``)."""
        self.freeze()
        return self._side_effects

    @property
    def custom_addresses(self) -> Tuple[int, ...]:
        """The custom-area address list the plan needs (entry i = 32-bit address
        written as uint32 BE at 0xF0D50000 + 4*i); ``()`` when the plan does not
        use the custom area (then it needs no preparation)."""
        self.freeze()
        return self._custom

    @property
    def custom_writes(self) -> Tuple[Tuple[int, bytes], ...]:
        """``custom_addresses`` as block writes ``(address, data)``: uint32 BE
        entries from 0xF0D50000, at most ``min(max_block, 1024)`` bytes each."""
        self.freeze()
        return self._custom_writes

    @property
    def buffer_size(self) -> int:
        """Bytes of the result buffer (the sum of the request lengths)."""
        self.freeze()
        return self._buffer_size

    def new_buffer(self) -> bytearray:
        """A zeroed buffer of ``buffer_size`` bytes for ``scan_into``."""
        self.freeze()
        return bytearray(self._buffer_size)

    def result(self, buffer: Any) -> "ScanResult":
        """Wrap a filled buffer (any bytes-like of at least ``buffer_size`` bytes)."""
        self.freeze()
        return ScanResult(self, buffer)

    # ------------------------------------------------------------------ introspection
    @property
    def names(self) -> Tuple[str, ...]:
        """Point names in the order they were added."""
        return tuple(self._by_name)

    def __len__(self) -> int:
        return len(self._points)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __repr__(self) -> str:
        state = f"{len(self._requests)} requests, {self._buffer_size} bytes" if self._frozen else "not frozen"
        return f"<ScanPlan {self._device} {len(self._points)} points, {state}>"

