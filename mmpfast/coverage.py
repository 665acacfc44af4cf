"""From byte ranges to block reads: coalescing, read-and-clear apart, and the
custom scatter-gather choice (docs/protocol.md §3.8).  Pure arithmetic, no I/O.

Cost model
----------
A separate request costs about one round trip; reading a byte costs one
byte of transfer time.  Costs are in bytes: ``cost`` (G) is how many
unwanted gap bytes are worth reading to save one request, so a set of
requests costs ``G * requests + bytes read``.

Coalescing (:func:`cover`, :func:`block_reads`)
    Ranges are grouped by memory-map area (a request spanning two areas is
    refused by the device, §3.9) and by whether reading them changes the
    device (read-and-clear, calc-and-set: ``memmap.read_has_side_effects``).
    Within a group, two ranges are read as one request when the gap between
    them is smaller than G, the gap holds no side-effect bytes, and the
    request fits ``max_block``; longer ranges split into address-contiguous
    requests.  In a side-effect group every gap holds side-effect bytes, so
    only touching or overlapping ranges share a request: no byte that no
    point asked for is ever read (and so cleared) there.

Custom area (:func:`choose_gathered`)
    A point is *gatherable* when each of its ranges is whole aligned 4-byte
    words inside one known area, outside the custom area itself, with no side
    effects, 1024 words at most: the device can then return its words
    through the custom data area (0xF0D60000 + 4*i) once the address list
    (0xF0D50000 + 4*i) names them.  Gathered words are read by block reads
    of at most ``min(max_block, 1024)`` bytes (256 entries, the SDK's
    per-transaction limit), so an entry costs ``4 * (1 + G / that)`` bytes
    with the request overhead shared out.

    The decision is taken per point, within each block read ``R`` of the
    plan without the custom area.  Let ``O`` be the points of R that cannot
    be gathered.  A gatherable point ``p`` of R is to be gathered when
    block-reading it together with ``O`` costs more than its entries: when
    ``cost(O + p) - cost(O) > 4 * words(p) * (1 + G / that)`` (``cost`` of the
    block reads covering those points).  The points of R to be gathered,
    ``P``, form a group: it saves ``gain = (G + len R) - cost(R without P)``
    and costs ``4 * words(P) * (1 + G / that)``.  The groups with a positive
    difference are taken best value per word first while the list holds at
    most 1024 words; then, with the exact custom-area cost
    ``G * ceil(4 E / that) + 4 E`` for E words, a group whose gain does not
    pay for its share (the cost drop from leaving it out) is left out again,
    worst first.  Finally the planner compares the exact cost of the whole
    plan with and without the custom area and keeps the custom area only
    when it is strictly cheaper.  A point is never split between the two
    ways: it is either wholly gathered or wholly block-read.
"""
from __future__ import annotations

import bisect
from typing import Dict, Hashable, List, Optional, Sequence, Set, Tuple

from . import memmap

__all__ = ["cover", "block_reads", "requests_cost", "gatherable", "custom_read_size", "choose_gathered",
           "gathered_plan", "touches_custom_area"]

Range = Tuple[int, int]
#: a range to read: (address, length, outside the known map)
Read = Tuple[int, int, bool]

_WORD = memmap.CUSTOM_AREA_ENTRY_SIZE
_CUSTOM_FIRST = memmap.CUSTOM_AREA_ADDRESSES
_CUSTOM_LAST = memmap.CUSTOM_AREA_DATA + _WORD * memmap.CUSTOM_AREA_ENTRIES - 1


def cover(intervals: List[Tuple[int, int]], mb: int, cost: int) -> List[Range]:
    """Requests (address, length) covering ``intervals`` ([start, end) pairs
    of one group): touching ranges join; a gap is read when it is cheaper than
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
    out: List[Range] = []
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


def _group(address: int, length: int, unchecked: bool) -> Hashable:
    """The coalescing group of a range: its area and whether reading it has side
    effects; a range outside the known map is a group of its own."""
    area = None if unchecked else memmap.find_area(address, length)
    if area is None:
        return ("unchecked", address, length)
    return (area.first, memmap.read_has_side_effects(address, length))


def block_reads(reads: Sequence[Read], mb: int, cost: int) -> Tuple[List[Range], List[Range]]:
    """``(plain, clearing)``: the requests covering ``reads``, each list sorted by
    address; ``clearing`` holds the requests whose read changes the device."""
    groups: Dict[Hashable, List[Tuple[int, int]]] = {}
    for a, n, unchecked in reads:
        groups.setdefault(_group(a, n, unchecked), []).append((a, a + n))
    plain: List[Range] = []
    clearing: List[Range] = []
    for key, intervals in groups.items():
        # the whole group decides: a range that only partly overlaps a read-and-clear area
        # is a clearing read in every request it is cut into (sent last, never repeated)
        side_effects = any(memmap.read_has_side_effects(s, e - s) for s, e in intervals)
        for a, n in cover(intervals, mb, cost):
            (clearing if side_effects else plain).append((a, n))
    plain.sort()
    clearing.sort()
    return plain, clearing


def requests_cost(requests: Sequence[Range], cost: int) -> int:
    """The cost model's price of ``requests``: ``cost`` per request plus every byte."""
    return sum(cost + n for _, n in requests)


def gatherable(ranges: Sequence[Range], unchecked: bool = False) -> bool:
    """True when the custom area can gather these ranges (see the module docstring)."""
    words = 0
    for a, n in ranges:
        if unchecked or n <= 0 or a % _WORD or n % _WORD:
            return False
        if memmap.find_area(a, n) is None or memmap.read_has_side_effects(a, n):
            return False
        if touches_custom_area(a, n):
            return False
        words += n // _WORD
    return 0 < words <= memmap.CUSTOM_AREA_ENTRIES


def touches_custom_area(a: int, n: int) -> bool:
    """True when ``[a, a + n)`` touches the custom area's address list or data."""
    return a <= _CUSTOM_LAST and _CUSTOM_FIRST <= a + n - 1


def custom_read_size(mb: int) -> int:
    """Bytes of one custom-area data read at most: ``min(mb, 1024)`` rounded down
    to whole entries (0 when ``mb`` cannot hold one entry)."""
    return min(mb, memmap.CUSTOM_AREA_MAX_READ) // _WORD * _WORD


def _custom_cost(words: int, size: int, cost: int) -> int:
    return 0 if words == 0 else cost * -(-(_WORD * words) // size) + _WORD * words


class _Group:
    __slots__ = ("points", "words", "gain")

    def __init__(self, points: List[int], words: int, gain: int) -> None:
        self.points = points
        self.words = words
        self.gain = gain


def choose_gathered(points: Sequence[Tuple[Sequence[Range], bool]], mb: int, cost: int) -> Set[int]:
    """Indexes of the points worth gathering through the custom area.

    ``points[i]`` is ``(ranges, unchecked)`` of point i.  Only gatherable
    points are chosen, at most 1024 distinct words in all; points with the
    same ranges share their words.  The rule is the module docstring's;
    the caller still compares the exact cost of the two whole plans.  Nothing
    is chosen when a point reads the custom area itself (its address list is
    then the user's) or when ``mb`` is below one entry (4 bytes).
    """
    size = custom_read_size(mb)
    if size == 0 or any(touches_custom_area(a, n) for ranges, _ in points for a, n in ranges):
        return set()      # too small a block, or the plan reads the custom area itself
    reads = [(a, n, unchecked) for ranges, unchecked in points for a, n in ranges]
    plain, _ = block_reads(reads, mb, cost)
    starts = [a for a, _ in plain]

    def request_of(a: int, n: int) -> Optional[int]:
        r = bisect.bisect_right(starts, a) - 1
        if r >= 0 and starts[r] <= a and a + n <= starts[r] + plain[r][1]:
            return r
        return None      # a side-effect range, or one split over several requests

    members: Dict[int, Tuple[List[int], List[Read]]] = {}
    for i, (ranges, unchecked) in enumerate(points):
        where = {request_of(a, n) for a, n in ranges}
        if len(where) == 1 and None not in where and gatherable(ranges, unchecked):
            r = where.pop()
            assert r is not None
            members.setdefault(r, ([], []))[0].append(i)
            continue
        for a, n in ranges:
            r = request_of(a, n)
            if r is not None:
                members.setdefault(r, ([], []))[1].append((a, n, unchecked))
    per_word = 1.0 + cost / size
    groups: List[Tuple[float, _Group]] = []
    for r, (cands, others) in members.items():
        if not cands:
            continue
        base = requests_cost(block_reads(others, mb, cost)[0], cost)
        moving: List[int] = []
        kept = list(others)
        for i in cands:
            ranges, unchecked = points[i]
            mine = [(a, n, unchecked) for a, n in ranges]
            extra = requests_cost(block_reads(others + mine, mb, cost)[0], cost) - base
            if extra > _WORD * per_word * sum(n // _WORD for _, n in ranges):
                moving.append(i)
            else:
                kept.extend(mine)
        if not moving:
            continue
        gain = cost + plain[r][1] - requests_cost(block_reads(kept, mb, cost)[0], cost)
        distinct = {tuple(points[i][0]) for i in moving}
        words = sum(n // _WORD for ranges in distinct for _, n in ranges)
        net = gain - _WORD * words * per_word
        if net > 0:
            groups.append((net / words, _Group(moving, words, gain)))
    groups.sort(key=lambda g: -g[0])
    taken: List[_Group] = []
    total = 0
    for _, g in groups:
        if total + g.words <= memmap.CUSTOM_AREA_ENTRIES:
            taken.append(g)
            total += g.words
    for g in reversed(list(taken)):            # worst value per word first
        if g.gain < _custom_cost(total, size, cost) - _custom_cost(total - g.words, size, cost):
            taken.remove(g)
            total -= g.words
    return {i for g in taken for i in g.points}


def gathered_plan(specs: Sequence[Tuple[Sequence[Range], bool]], chosen: Set[int], mb: int, cost: int) -> Tuple[
        List[Sequence[Range]], List[Range], List[Range], Tuple[int, ...]]:
    """The requests with the ``chosen`` points gathered: ``(reads, plain, clearing,
    addresses)``: each point's reads (a chosen point's are custom data ranges),
    the plain requests (the custom data reads included, at most
    :func:`custom_read_size` bytes each), the clearing requests, and the custom
    address list.  Points get entries in address order; points reading the
    same ranges share them."""
    reads: List[Sequence[Range]] = [r for r, _ in specs]
    entry_of: Dict[Tuple[Range, ...], int] = {}
    addrs: List[int] = []
    for i in sorted(chosen, key=lambda i: (tuple(specs[i][0]), i)):
        key = tuple(specs[i][0])
        k = entry_of.get(key)
        if k is None:
            k = entry_of[key] = len(addrs)
            for a, n in key:
                addrs.extend(range(a, a + n, _WORD))
        moved = []
        for _, n in key:
            moved.append((memmap.custom_data_address(k), n))
            k += n // _WORD
        reads[i] = tuple(moved)
    plain, clearing = block_reads([(a, n, u) for i, (r, u) in enumerate(specs) if i not in chosen for a, n in r],
                                  mb, cost)
    size = custom_read_size(mb)
    total = _WORD * len(addrs)
    plain = sorted(plain + [(memmap.CUSTOM_AREA_DATA + k, min(size, total - k)) for k in range(0, total, size)])
    return reads, plain, clearing, tuple(addrs)
