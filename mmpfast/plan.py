"""Scan planning: many points in, few block reads out (sans-I/O).

A :class:`ScanPlan` collects points (digital states, analog values, whole
channels, scratch-pad runs, raw ranges, status fields), maps each one to the
cheapest place in the memory map that holds it, and turns the lot into a
short, sorted list of block reads.  It never touches a socket or the clock.

Cost model
----------
A separate request costs about one round trip; reading a byte costs one
byte of transfer time.  The planner expresses a request's cost in bytes:
``request_cost`` (G) is how many unwanted gap bytes it is worth reading to
save one request.  The default, 12 500 bytes, is 1 ms of round trip at
100 Mbit/s (100e6 / 8 * 1e-3).  Two ranges are read as one request only
when the gap between them is smaller than G, both lie in the same
memory-map area (a request spanning two areas is refused by the device,
PROTOCOL.md §3.9), the merged request fits ``max_block`` bytes, and the gap
holds no read-and-clear or calc-and-set bytes (reading those would change
the device).  Ranges longer than ``max_block`` are split into several
address-contiguous requests.

Buffer layout
-------------
The result buffer is the concatenation of the data of ``plan.requests`` in
order: request ``i`` lands at ``plan.offsets[i]`` and is ``plan.lengths[i]``
bytes long.  The bytes are the device's own, big-endian; a
:class:`ScanResult` converts them (through ``mmpfast.codec``) only when asked.
"""
from __future__ import annotations

import bisect
import operator
import threading
from array import array
from typing import (Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union)

from . import codec, memmap
from .records import AnalogChannel, DigitalChannel
from .protocol import MAX_BLOCK, MAX_DATA_LENGTH

__all__ = ["ScanPlan", "ScanResult", "DEFAULT_REQUEST_COST", "STATUS_FIELDS"]

#: Bytes of gap worth reading to save one request: 1 ms at 100 Mbit/s.
DEFAULT_REQUEST_COST = 12_500

_SIZES = {"i": 4, "I": 4, "f": 4, "q": 8, "Q": 8}

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


class _Point:
    """One named point: the address ranges it needs and how to decode them.

    ``kind`` is one of ``bit`` (uint32 word, ``arg`` = bit number), ``bool``
    (uint32, non-zero), ``scalar`` (one element of typecode ``code``),
    ``run`` (``count`` elements of ``code``; a number when ``count`` is 1, a
    list otherwise), ``raw`` (bytes), ``fmt`` (``arg(bytes)``), ``digital_channel``
    / ``analog_channel`` (record).  ``ranges`` are (address, length) pairs in
    value order; after freezing, ``segments`` are the matching (start, end)
    byte ranges of the result buffer, merged where contiguous.
    """

    __slots__ = ("name", "kind", "code", "count", "arg", "ranges", "segments")

    def __init__(self, name: str, kind: str, ranges: List[Tuple[int, int]],
                 code: Optional[str] = None, count: int = 1, arg: Any = None) -> None:
        self.name = name
        self.kind = kind
        self.code = code
        self.count = count
        self.arg = arg
        self.ranges = ranges
        self.segments: Tuple[Tuple[int, int], ...] = ()

    @property
    def start(self) -> int:
        return self.segments[0][0]

    def data(self, mv: memoryview) -> Union[memoryview, bytes]:
        """The point's bytes in buffer ``mv`` (a view when contiguous)."""
        segs = self.segments
        if len(segs) == 1:
            a, b = segs[0]
            return mv[a:b]
        return b"".join([mv[a:b] for a, b in segs])

    def decode(self, mv: memoryview) -> Any:
        """Decode this point alone from buffer ``mv`` (big-endian, via the codec)."""
        kind = self.kind
        if kind == "raw":
            return bytes(self.data(mv))
        if kind == "fmt":
            return self.arg(bytes(self.data(mv)))
        if kind == "digital_channel":
            return _digital_record(codec.unpack_be(self.data(mv), "I"))
        if kind == "analog_channel":
            d = self.data(mv)
            return _analog_record(codec.unpack_be(d[:16], "f"), codec.unpack_be(d[16:20], "I")[0])
        values = codec.unpack_be(self.data(mv), self.code or "I")
        if kind == "bit":
            return (int(values[0]) >> self.arg) & 1 == 1
        if kind == "bool":
            return values[0] != 0
        if kind == "run" and self.count != 1:
            return values
        return values[0]


def _digital_record(w: Sequence[Any]) -> Any:
    return DigitalChannel(state=w[0] != 0, on_latch=w[1] != 0, off_latch=w[2] != 0,
                          feature_type=w[3], feature_value=w[4], quality=w[5])


def _analog_record(f: Sequence[Any], quality: Any) -> Any:
    return AnalogChannel(value=f[0], minimum=f[2], maximum=f[3], quality=quality)


class _Decoder:
    """Precomputed bulk decoding of every point of a frozen plan (used by
    ``ScanResult.values()``): one ``codec.unpack_be`` call per element type."""

    def __init__(self, points: Sequence[_Point]) -> None:
        # 1. element spans per typecode, in buffer coordinates
        spans: Dict[str, List[Tuple[int, int]]] = {}
        for p in points:
            if p.kind in ("bit", "bool", "scalar", "run"):
                code = p.code or "I"
                spans.setdefault(code, []).extend(p.segments)
            elif p.kind == "digital_channel":
                spans.setdefault("I", []).append((p.start, p.start + 24))
            elif p.kind == "analog_channel":
                spans.setdefault("f", []).append((p.start, p.start + 16))
                spans.setdefault("I", []).append((p.start + 16, p.start + 20))
        # 2. merge into runs; remember each run's first element index
        self.runs: List[Tuple[str, Tuple[Tuple[int, int], ...]]] = []
        self._index: Dict[str, Tuple[List[int], List[int], List[int]]] = {}
        for code, lst in spans.items():
            size = _SIZES[code]
            lst = sorted(set(lst))
            runs: List[List[int]] = []
            for a, b in lst:
                if runs:
                    ra, rb = runs[-1]
                    if ra <= a <= rb and (a - ra) % size == 0:
                        if b > rb:
                            runs[-1][1] = b
                        continue
                runs.append([a, b])
            starts, firsts, ends = [], [], []
            n = 0
            for a, b in runs:
                starts.append(a)
                firsts.append(n)
                ends.append(b)
                n += (b - a) // size
            self.runs.append((code, tuple((a, b) for a, b in runs)))
            self._index[code] = (starts, firsts, ends)

        def idx(code: str, off: int) -> int:
            starts, firsts, ends = self._index[code]
            size = _SIZES[code]
            # the run holding off with matching alignment (runs may overlap when misaligned)
            r = bisect.bisect_right(starts, off) - 1
            while r >= 0:
                if off < ends[r] and (off - starts[r]) % size == 0:
                    return firsts[r] + (off - starts[r]) // size
                r -= 1
            raise AssertionError("element not covered")  # pragma: no cover

        # 3. groups
        scalar: Dict[str, Tuple[List[str], List[int]]] = {}
        bools: Tuple[List[str], List[int]] = ([], [])
        bits: Tuple[List[str], List[int], List[int]] = ([], [], [])
        other: List[Tuple[str, Callable[[Dict[str, List[Any]], memoryview], Any]]] = []
        for p in points:
            k = p.kind
            if k == "scalar" or (k == "run" and p.count == 1):
                code = p.code or "I"
                g = scalar.setdefault(code, ([], []))
                g[0].append(p.name)
                g[1].append(idx(code, p.start))
            elif k == "bool":
                bools[0].append(p.name)
                bools[1].append(idx("I", p.start))
            elif k == "bit":
                bits[0].append(p.name)
                bits[1].append(idx("I", p.start))
                bits[2].append(p.arg)
            elif k == "run":
                code = p.code or "I"
                first = idx(code, p.start)
                if len(p.segments) == 1:
                    other.append((p.name, _slicer(code, first, first + p.count)))
                else:   # value-order pieces may sit apart in the buffer
                    pieces = []
                    for a, b in p.segments:
                        i0 = idx(code, a)
                        pieces.append((i0, i0 + (b - a) // _SIZES[code]))
                    other.append((p.name, _joiner(code, pieces)))
            elif k == "digital_channel":
                other.append((p.name, _digital_maker(idx("I", p.start))))
            elif k == "analog_channel":
                other.append((p.name, _analog_maker(idx("f", p.start), idx("I", p.start + 16))))
            else:
                other.append((p.name, _single(p)))
        self.scalar = [(code, _getter(i)) for code, (n, i) in scalar.items()]
        self.bools = _getter(bools[1]) if bools[0] else None
        self.bits = (_getter(bits[1]), tuple(1 << c for c in bits[2])) if bits[0] else None
        self.other = [fn for _, fn in other]
        # the flat value list is built group by group; ``order`` puts it back
        # in insertion order (one C-level itemgetter call)
        flat = [n for names, _ in scalar.values() for n in names] + bools[0] + bits[0] + [n for n, _ in other]
        position = {n: i for i, n in enumerate(flat)}
        self.names = tuple(p.name for p in points)
        perm = [position[n] for n in self.names]
        self.order = None if perm == list(range(len(perm))) else _getter(perm)

    def decode_all(self, mv: memoryview) -> Dict[str, Any]:
        unpack = codec.unpack_be
        lists: Dict[str, List[Any]] = {}
        for code, runs in self.runs:
            if len(runs) == 1:
                a, b = runs[0]
                lists[code] = unpack(mv[a:b], code)
            else:
                lists[code] = unpack(b"".join([mv[a:b] for a, b in runs]), code)
        flat: List[Any] = []
        for code, get in self.scalar:
            flat.extend(get(lists[code]))
        if self.bools is not None:
            flat.extend(map(bool, self.bools(lists["I"])))
        if self.bits is not None:
            get, masks = self.bits
            flat.extend(map(bool, map(operator.and_, get(lists["I"]), masks)))
        for fn in self.other:
            flat.append(fn(lists, mv))
        ordered: Sequence[Any] = flat if self.order is None else self.order(flat)
        return dict(zip(self.names, ordered))


_GATHER_KIND = {"scalar": None, "bool": "?", "bit": "b"}


def _gatherable(p: _Point) -> bool:
    """True for a point that is one element at one offset (one ``codec.gather_be`` entry)."""
    return p.kind in _GATHER_KIND or (p.kind == "run" and p.count == 1)


class _GatherDecoder:
    """Precomputed decoding of every point of a frozen plan (``ScanResult.values()``).

    Points that are one element (``scalar``, ``bool``, ``bit``, count-1
    ``run``) are decoded by one ``codec.gather_be`` call from their byte
    offsets, codes and bit numbers, computed here once.  The others
    (multi-element runs, channel records, raw and formatted fields) go
    through a :class:`_Decoder` of their own and are merged back in
    insertion order.  With the pure codec every point goes through one
    :class:`_Decoder` instead (faster there, same values).
    """

    def __init__(self, points: Sequence[_Point]) -> None:
        self.names = tuple(p.name for p in points)
        gathered = [p for p in points if _gatherable(p)]
        rest = [p for p in points if not _gatherable(p)]
        self.offsets = array("q", [p.start for p in gathered])
        self.codes = "".join([_GATHER_KIND.get(p.kind) or p.code or "I" for p in gathered]).encode("ascii")
        bits = [p.arg if p.kind == "bit" else 0 for p in gathered]
        self.bits: Optional["array[int]"] = array("q", bits) if any(p.kind == "bit" for p in gathered) else None
        self.rest = _Decoder(rest) if rest else None
        self._points = tuple(points)
        self._grouped: Optional[_Decoder] = None
        # values come as gathered + rest; ``order`` puts them back in insertion order
        position = {n: i for i, n in enumerate([p.name for p in gathered] + [p.name for p in rest])}
        perm = [position[n] for n in self.names]
        self.order = None if perm == list(range(len(perm))) else _getter(perm)

    def decode_all(self, mv: memoryview) -> Dict[str, Any]:
        if codec.IMPLEMENTATION != "cython":
            # the pure gather_be costs a few Python operations per element; the
            # grouped bulk path (struct over whole runs + itemgetter) is ~4x
            # faster there, so the pure codec keeps it
            grouped = self._grouped
            if grouped is None:
                grouped = self._grouped = _Decoder(self._points)   # built once (idempotent)
            return grouped.decode_all(mv)
        return self.gather_all(mv)

    def gather_all(self, mv: memoryview) -> Dict[str, Any]:
        """Every point decoded, the single-element ones by one ``codec.gather_be`` call."""
        values = codec.gather_be(mv, self.offsets, self.codes, self.bits)
        if self.rest is None:
            return dict(zip(self.names, values))
        values.extend(self.rest.decode_all(mv).values())
        ordered: Sequence[Any] = values if self.order is None else self.order(values)
        return dict(zip(self.names, ordered))


def _getter(indexes: Sequence[int]) -> Callable[[Sequence[Any]], Sequence[Any]]:
    if len(indexes) == 1:
        i = indexes[0]
        return lambda seq: (seq[i],)
    return operator.itemgetter(*indexes)


def _slicer(code: str, a: int, b: int) -> Callable[[Dict[str, List[Any]], memoryview], Any]:
    return lambda lists, mv: lists[code][a:b]


def _joiner(code: str, pieces: List[Tuple[int, int]]) -> Callable[[Dict[str, List[Any]], memoryview], Any]:
    def join(lists: Dict[str, List[Any]], mv: memoryview) -> List[Any]:
        seq = lists[code]
        out: List[Any] = []
        for a, b in pieces:
            out.extend(seq[a:b])
        return out
    return join


def _digital_maker(i: int) -> Callable[[Dict[str, List[Any]], memoryview], Any]:
    return lambda lists, mv: _digital_record(lists["I"][i:i + 6])


def _analog_maker(fi: int, qi: int) -> Callable[[Dict[str, List[Any]], memoryview], Any]:
    return lambda lists, mv: _analog_record(lists["f"][fi:fi + 4], lists["I"][qi])


def _single(p: _Point) -> Callable[[Dict[str, List[Any]], memoryview], Any]:
    return lambda lists, mv: p.decode(mv)


class ScanPlan:
    """A set of points to read, planned into few block reads.

    ``max_block`` caps the ``data_length`` of one request (bytes, 1..65535);
    ``request_cost`` is the cost model's G: the number of unwanted bytes worth
    reading to save one request (see the module docstring).

    Add points with the ``add_*`` methods; each returns the point's name.
    The plan freezes when first used (``requests``, ``offsets``, ``lengths``,
    ``buffer_size``, ``new_buffer``, ``result`` or ``freeze()``); adding
    afterwards raises ``RuntimeError``.  A frozen plan is immutable and may be
    shared by many threads, clients and tasks.
    """

    def __init__(self, max_block: int = MAX_BLOCK, *, request_cost: int = DEFAULT_REQUEST_COST) -> None:
        self.max_block = _check_int("max_block", max_block, 1, MAX_DATA_LENGTH)
        self.request_cost = _check_int("request_cost", request_cost, 0, 1 << 40)
        self._points: List[_Point] = []
        self._by_name: Dict[str, _Point] = {}
        self._unchecked: set[int] = set()      # ids of raw points outside the known map
        self._lock = threading.Lock()
        self._frozen = False
        self._requests: Tuple[Tuple[int, int], ...] = ()
        self._offsets = array("q")
        self._lengths = array("q")
        self._buffer_size = 0
        self._decoder: Optional[_GatherDecoder] = None
        self._batches: Dict[int, Tuple[Tuple[Tuple[Tuple[int, int], ...], "array[int]", "array[int]"], ...]] = {}

    # ------------------------------------------------------------------ adding
    def _add(self, name: Optional[str], default: str, kind: str, ranges: List[Tuple[int, int]],
             code: Optional[str] = None, count: int = 1, arg: Any = None) -> str:
        if name is None:
            name = default
        elif not isinstance(name, str):
            raise TypeError(f"name must be a str, not {type(name).__name__}")
        with self._lock:
            if self._frozen:
                raise RuntimeError("the plan is frozen (it has been used); build a new ScanPlan")
            if name in self._by_name:
                raise ValueError(f"duplicate point name {name!r}")
            p = _Point(name, kind, ranges, code, count, arg)
            self._points.append(p)
            self._by_name[name] = p
        return name

    def add_digital(self, module: int, channel: int, name: Optional[str] = None) -> str:
        """A digital state (``bool``).  Channels 0..31 come from the packed
        states word at 0xF1001800 + 4·module (bit ``channel``), others from
        the state word of the channel's read slot."""
        m, c = memmap.check_point(module, channel)
        default = f"digital[{m}][{c}]"
        if c < 32:
            return self._add(name, default, "bit", [(memmap.packed_state_address(m), 4)], "I", arg=c)
        addr = memmap.digital_read_address(m, c) + memmap.DIG_STATE
        return self._add(name, default, "bool", [(addr, 4)], "I")

    def add_analog(self, module: int, channel: int, name: Optional[str] = None) -> str:
        """An analog value in engineering units (``float``, float32 BE on the
        wire).  Channels 0..31 come from the packed values at 0xF1001000 +
        0x80·module + 4·channel, others from the channel's read slot."""
        m, c = memmap.check_point(module, channel)
        default = f"analog[{m}][{c}]"
        if c < memmap.PACKED_VALUES_CHANNELS:
            addr = memmap.packed_value_address(m, c)
        else:
            addr = memmap.analog_read_address(m, c) + memmap.ANA_VALUE
        return self._add(name, default, "scalar", [(addr, 4)], "f")

    def add_digital_counter(self, module: int, channel: int, name: Optional[str] = None) -> str:
        """A digital channel's feature value (counter, ``int``, uint32 BE):
        packed values area for channels 0..31, the read slot otherwise."""
        m, c = memmap.check_point(module, channel)
        default = f"counter[{m}][{c}]"
        if c < memmap.PACKED_VALUES_CHANNELS:
            addr = memmap.packed_value_address(m, c)
        else:
            addr = memmap.digital_read_address(m, c) + memmap.DIG_FEATURE_VALUE
        return self._add(name, default, "scalar", [(addr, 4)], "I")

    def add_digital_channel(self, module: int, channel: int, name: Optional[str] = None) -> str:
        """A whole digital channel: its value is a ``DigitalChannel`` record
        (state, latches, feature type/value, quality) from the read slot."""
        m, c = memmap.check_point(module, channel)
        addr = memmap.digital_read_address(m, c)
        return self._add(name, f"digital_channel[{m}][{c}]", "digital_channel",
                         [(addr, memmap.DIGITAL_CHANNEL_LENGTH)])

    def add_analog_channel(self, module: int, channel: int, name: Optional[str] = None) -> str:
        """A whole analog channel: its value is an ``AnalogChannel`` record
        (value, minimum, maximum, quality) from the read slot."""
        m, c = memmap.check_point(module, channel)
        addr = memmap.analog_read_address(m, c)
        return self._add(name, f"analog_channel[{m}][{c}]", "analog_channel",
                         [(addr, memmap.ANALOG_CHANNEL_LENGTH)])

    def _add_scratchpad(self, kind: str, code: str, index: int, count: int, name: Optional[str]) -> str:
        if isinstance(count, bool) or not isinstance(count, int):
            try:
                count = operator.index(count)
            except TypeError:
                raise TypeError(f"count must be an int, not {type(count).__name__}") from None
        runs = memmap.scratchpad_runs(kind, index, count)
        size = _SIZES[code]
        i = runs[0].first
        default = f"scratchpad_{kind}[{i}]" if count == 1 else f"scratchpad_{kind}[{i}:{i + count}]"
        return self._add(name, default, "run", [(r.address, r.elements * size) for r in runs], code, count)

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
        name = self._add(name, f"raw[0x{a:08X}:{n}]", "raw", [(a, n)])
        if area is None:
            self._unchecked.add(id(self._by_name[name]))
        return name

    def add_status(self, field: str, name: Optional[str] = None) -> str:
        """A status-area field by name (see ``STATUS_FIELDS``): e.g.
        ``"uptime_ms"`` (int), ``"firmware"`` (str), ``"powerup_clear_needed"`` (bool)."""
        if not isinstance(field, str):
            raise TypeError(f"field must be a str, not {type(field).__name__}")
        try:
            addr, length, kind, arg = STATUS_FIELDS[field]
        except KeyError:
            raise ValueError(f"unknown status field {field!r}; known: {', '.join(STATUS_FIELDS)}") from None
        if kind == "int":
            return self._add(name, field, "scalar", [(addr, length)], arg)
        if kind == "bool":
            return self._add(name, field, "bool", [(addr, length)], "I")
        return self._add(name, field, "fmt", [(addr, length)], arg=arg)

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
        groups: Dict[Any, List[Tuple[int, int]]] = {}
        for p in self._points:
            for a, n in p.ranges:
                if id(p) in self._unchecked:
                    key: Any = ("unchecked", a, n)
                else:
                    area = memmap.find_area(a, n)
                    key = area.first if area is not None else ("unchecked", a, n)
                groups.setdefault(key, []).append((a, a + n))
        reqs: List[Tuple[int, int]] = []
        for key, intervals in groups.items():
            reqs.extend(_cover(intervals, self.max_block, self.request_cost))
        reqs.sort()
        offsets = array("q")
        lengths = array("q")
        pos = 0
        for _, n in reqs:
            offsets.append(pos)
            lengths.append(n)
            pos += n
        starts = [a for a, _ in reqs]
        for p in self._points:
            segs: List[List[int]] = []
            for a, n in p.ranges:
                r = bisect.bisect_right(starts, a) - 1
                ra, rn = reqs[r]
                b = offsets[r] + (a - ra)
                # a range split at max_block continues in the next (address-contiguous) requests
                assert ra <= a and (a + n <= ra + rn or reqs[r + 1][0] == ra + rn)
                if segs and segs[-1][1] == b:
                    segs[-1][1] = b + n
                else:
                    segs.append([b, b + n])
            p.segments = tuple((s, e) for s, e in segs)
        self._requests = tuple(reqs)
        self._offsets = offsets
        self._lengths = lengths
        self._buffer_size = pos
        self._decoder = _GatherDecoder(self._points)

    @property
    def requests(self) -> Tuple[Tuple[int, int], ...]:
        """The block reads of one pass, ``(address, length)``, sorted by address."""
        self.freeze()
        return self._requests

    @property
    def offsets(self) -> "array[int]":
        """``array('q')``: where request i's data starts in the result buffer (a copy)."""
        self.freeze()
        return array("q", self._offsets)

    @property
    def lengths(self) -> "array[int]":
        """``array('q')``: the data length of request i (a copy)."""
        self.freeze()
        return array("q", self._lengths)

    @property
    def buffer_size(self) -> int:
        """Bytes of the result buffer (the sum of the request lengths)."""
        self.freeze()
        return self._buffer_size

    def batches(self, window: int) -> Tuple[Tuple[Tuple[Tuple[int, int], ...], "array[int]", "array[int]"], ...]:
        """The requests cut into pipeline windows of at most ``window``
        requests: ``(ranges, offsets, lengths)`` per window (cached; treat as
        read-only).  Handy for ``codec.encode_read_blocks`` /
        ``codec.scatter_read_responses`` once per window."""
        w = _check_int("window", window, 1, 1 << 30)
        self.freeze()
        got = self._batches.get(w)
        if got is None:
            out = []
            for i in range(0, len(self._requests), w):
                out.append((self._requests[i:i + w], self._offsets[i:i + w], self._lengths[i:i + w]))
            got = self._batches[w] = tuple(out)
        return got

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
        return f"<ScanPlan {len(self._points)} points, {state}>"


def _cover(intervals: List[Tuple[int, int]], mb: int, cost: int) -> List[Tuple[int, int]]:
    """Requests (address, length) covering ``intervals`` ([start, end) pairs
    of one area): touching ranges join; a gap is read when it is cheaper than
    a request (``gap < cost``), holds no side-effect bytes and the request
    stays within ``mb`` bytes; long ranges split at ``mb``."""
    intervals = sorted(intervals)
    merged: List[List[int]] = []
    for s, e in intervals:
        if merged and s <= merged[-1][1]:
            if e > merged[-1][1]:
                merged[-1][1] = e
        else:
            merged.append([s, e])
    out: List[Tuple[int, int]] = []
    cur_s = cur_e = -1
    for s, e in merged:
        if cur_s >= 0:
            gap = s - cur_e
            mergeable = gap < cost and not memmap.read_has_side_effects(cur_e, gap)
            if mergeable and e - cur_s <= mb:
                cur_e = e
                continue
            if mergeable and cur_s + mb > s:
                # fill the current request up to mb when that saves a request
                # for the rest of this range
                fill = -(-(e - cur_s - mb) // mb)
                alone = -(-(e - s) // mb)
                if fill < alone:
                    out.append((cur_s, mb))
                    s = cur_s + mb
                    cur_s = -1
            if cur_s >= 0:
                out.append((cur_s, cur_e - cur_s))
        while e - s > mb:
            out.append((s, mb))
            s += mb
        cur_s, cur_e = s, e
    if cur_s >= 0:
        out.append((cur_s, cur_e - cur_s))
    return out


class ScanResult:
    """The data of one scan pass, decoded only when asked.

    ``buffer`` is a memoryview of the raw big-endian bytes (layout: the
    plan's requests back to back).  ``res[name]`` decodes one point,
    ``values()`` all of them (one ``codec.gather_be`` call for the
    single-element points with the compiled codec),
    ``array(name)`` / ``into(name, dest)`` convert a scratch-pad run to native
    numbers with one ``codec.unpack_be_into`` call.
    """

    __slots__ = ("plan", "buffer")

    def __init__(self, plan: ScanPlan, buffer: Any) -> None:
        plan.freeze()
        mv = memoryview(buffer)
        if mv.ndim != 1 or mv.format != "B":
            mv = mv.cast("B")
        size = plan._buffer_size
        if mv.nbytes < size:
            raise ValueError(f"buffer holds {mv.nbytes} bytes, the plan needs {size}")
        self.plan = plan
        self.buffer = mv[:size] if mv.nbytes != size else mv

    def _point(self, name: str) -> _Point:
        try:
            return self.plan._by_name[name]
        except (KeyError, TypeError):
            raise KeyError(name) from None

    def __getitem__(self, name: str) -> Any:
        return self._point(name).decode(self.buffer)

    def get(self, name: str, default: Any = None) -> Any:
        """``res[name]``, or ``default`` when the plan has no such point."""
        p = self.plan._by_name.get(name)
        return default if p is None else p.decode(self.buffer)

    def values(self) -> Dict[str, Any]:
        """Every point decoded: ``{name: value}`` in the order the points were added."""
        decoder = self.plan._decoder
        assert decoder is not None
        return decoder.decode_all(self.buffer)

    def raw(self, name: str) -> bytes:
        """The point's undecoded bytes (big-endian, as the device sent them)."""
        return bytes(self._point(name).data(self.buffer))

    def _run(self, name: str) -> _Point:
        p = self._point(name)
        if p.kind != "run":
            raise TypeError(f"{name!r} is not a scratch-pad run")
        return p

    def array(self, name: str) -> "array[Any]":
        """A scratch-pad run as a native ``array`` (``'i'``, ``'f'`` or ``'q'``)."""
        p = self._run(name)
        code = p.code or "I"
        out = array(code, bytes(p.count * _SIZES[code]))
        self.into(name, out)
        return out

    def into(self, name: str, dest: Any) -> int:
        """Convert a scratch-pad run into ``dest`` (any writable buffer of
        native elements: ``array``, numpy array, bytearray); returns the count."""
        p = self._run(name)
        code = p.code or "I"
        if len(p.segments) == 1:
            a, b = p.segments[0]
            return int(codec.unpack_be_into(self.buffer[a:b], dest, code))
        # a run crossing scratch-pad areas whose halves are apart in the buffer
        mv = memoryview(dest)
        if mv.ndim != 1 or mv.format != "B":
            mv = mv.cast("B")
        size = _SIZES[code]
        if mv.nbytes < p.count * size:
            raise ValueError(f"dest holds {mv.nbytes} bytes, {p.count * size} needed")
        pos = n = 0
        for a, b in p.segments:
            k = int(codec.unpack_be_into(self.buffer[a:b], mv[pos:], code))
            pos += k * size
            n += k
        return n

    def __len__(self) -> int:
        return len(self.plan._points)

    def __contains__(self, name: object) -> bool:
        return name in self.plan._by_name

    def __iter__(self) -> Iterator[str]:
        return iter(self.plan._by_name)

    def keys(self) -> Tuple[str, ...]:
        """The point names."""
        return self.plan.names

    def items(self) -> List[Tuple[str, Any]]:
        """``(name, value)`` pairs (decoded with ``values()``)."""
        return list(self.values().items())

    def __repr__(self) -> str:
        return f"<ScanResult {len(self)} points, {self.buffer.nbytes} bytes>"
