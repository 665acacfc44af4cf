"""Argument checks of ``codec.GatherLayout``, shared by both codecs (no I/O).

Both the compiled ``mmpfast._codec`` and the pure ``mmpfast._codec_py``
check a layout description here, so they accept and refuse exactly the same
input with the same messages; only the decoding itself is theirs.
"""
from __future__ import annotations

import operator
from typing import Any, Dict, Iterable, List, Tuple

__all__ = ["LAYOUT_CODES", "LAYOUT_WIDTH", "layout_spec"]

#: layout field codes: the gather codes plus "y" (``args[j]`` raw bytes)
LAYOUT_CODES = "?IQbfiqy"
LAYOUT_WIDTH: Dict[str, int] = {"i": 4, "I": 4, "f": 4, "?": 4, "b": 4, "q": 8, "Q": 8}
LAYOUT_MAX = 1 << 62


def _layout_ints(name: str, seq: object) -> List[int]:
    """``seq`` as a list of ints (TypeError names the argument)."""
    try:
        items = list(seq)  # type: ignore[call-overload]
    except (TypeError, NotImplementedError):
        raise TypeError(f"{name} must be a sequence of ints") from None
    out: List[int] = []
    for v in items:
        try:
            out.append(operator.index(v))
        except TypeError:
            raise TypeError(f"{name} must hold ints, not {type(v).__name__}") from None
    return out


def layout_spec(keys: Iterable[Any], codes: object, offsets: object, args: object, counts: object,
                 makers: Any) -> Tuple[Tuple[Any, ...], str, List[int], List[int], List[int],
                                         Tuple[Any, ...], int]:
    """Check a layout's description; returns it normalized plus the bytes it needs."""
    try:
        ks = tuple(keys)
    except TypeError:
        raise TypeError("keys must be a sequence") from None
    if isinstance(codes, str):
        cs = str(codes)
    elif isinstance(codes, bytes):
        cs = codes.decode("latin-1")
    else:
        raise TypeError(f"codes must be a str or bytes, not {type(codes).__name__}")
    offs = _layout_ints("offsets", offsets)
    nf = len(cs)
    if len(offs) != nf:
        raise ValueError(f"{nf} codes but {len(offs)} offsets")
    arg = [0] * nf if args is None else _layout_ints("args", args)
    if len(arg) != nf:
        raise ValueError(f"{nf} codes but {len(arg)} args")
    ni = len(ks)
    cnt = [1] * ni if counts is None else _layout_ints("counts", counts)
    if len(cnt) != ni:
        raise ValueError(f"{ni} keys but {len(cnt)} counts")
    mks: Tuple[Any, ...]
    if makers is None:
        mks = (None,) * ni
    else:
        try:
            mks = tuple(makers)
        except TypeError:
            raise TypeError("makers must be a sequence") from None
    if len(mks) != ni:
        raise ValueError(f"{ni} keys but {len(mks)} makers")
    total = 0
    for i in range(ni):
        if cnt[i] < 1:
            raise ValueError(f"counts[{i}] is {cnt[i]}, every item needs at least one field")
        if mks[i] is None:
            if cnt[i] != 1:
                raise ValueError(f"item {i} has {cnt[i]} fields but no maker")
        elif not callable(mks[i]):
            raise TypeError(f"makers[{i}] must be None or callable, not {type(mks[i]).__name__}")
        total += cnt[i]
    if total != nf:
        raise ValueError(f"counts add up to {total} fields, codes give {nf}")
    size = 0
    for j in range(nf):
        c = cs[j]
        if c not in LAYOUT_CODES:
            raise ValueError(f"codes[{j}] is {c!r}, not one of {LAYOUT_CODES!r}")
        if not 0 <= offs[j] <= LAYOUT_MAX:
            raise ValueError(f"offsets[{j}] {offs[j]} out of range 0..{LAYOUT_MAX}")
        if c == "b":
            if not 0 <= arg[j] <= 31:
                raise ValueError(f"args[{j}] {arg[j]} out of range 0..31 (a bit number)")
        elif not 0 <= arg[j] <= LAYOUT_MAX:
            raise ValueError(f"args[{j}] {arg[j]} out of range 0..{LAYOUT_MAX}")
        end = offs[j] + (arg[j] if c == "y" else LAYOUT_WIDTH[c])
        if end > size:
            size = end
    return ks, cs, offs, arg, cnt, mks, size
