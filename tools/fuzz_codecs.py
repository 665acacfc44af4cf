#!/usr/bin/env python3
"""Differential fuzzing of the compiled and the pure OptoMMP codecs.

Every input is handed to ``mmpfast._codec`` (Cython) and to
``mmpfast._codec_py`` (pure reference).  Both must give the same result, or
raise the same exception class, and neither may raise anything but the
documented ``MmpProtocolError``, ``MmpNakError``, ``ValueError`` or
``TypeError`` (API.md, "Edge rules").  Results are compared in full:

* ``frame_length``: the int (or ``None``);
* ``decode_frame``: every attribute of the ``Frame``, ``bytes(data)`` included;
* ``scatter_read_responses``: the count consumed and the destination bytes
  afterwards, also after an exception;
* the encoders and ``encode_read_blocks``: the bytes built;
* ``unpack_be`` / ``pack_be`` / ``unpack_be_into`` / ``pack_be_from``: the
  values (floats by bit pattern), bytes, element counts and destinations.

Inputs that must not be written to are compared before and after each call.

Inputs come from random bytes, mutated golden frames (``frames.json``), and
random valid frames with edited length fields, handed over as many kinds of
buffer (bytes, bytearray, memoryviews and slices of them, ``array``, 2-D,
strided, numpy), plus random valid and invalid arguments for the encoders and
bulk helpers.  Case ``i`` of seed ``s`` is generated from its own
``random.Random`` seeded by ``(s, i)``, so ``--replay i`` rebuilds exactly
that input.

Usage (from the repository root)::

    python tools/fuzz_codecs.py --seconds 120 --seed 1
    python tools/fuzz_codecs.py --max-inputs 1000000 --seconds 3600 --seed 7
    python tools/fuzz_codecs.py --seed 7 --replay 123456

Exit status: 0 when every input agreed and nothing undocumented was raised,
1 on any disagreement or crash, 2 on a usage or setup error.
"""
from __future__ import annotations

import argparse
import faulthandler
import json
import math
import os
import random
import struct
import sys
import time
from array import array
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

REPO = Path(__file__).resolve().parent.parent
#: the golden vectors shipped in the repository; MMPFAST_VECTORS (as for the tests) or --vectors override
DEFAULT_VECTORS = Path(os.environ.get("MMPFAST_VECTORS") or REPO / "tests" / "vectors")

try:  # the package itself, or (not installed) the source tree beside this script
    import mmpfast  # noqa: F401
except ImportError:  # pragma: no cover - depends on how the script is started
    sys.path.append(str(REPO))   # appended: a PYTHONPATH entry (e.g. an ASAN build) still wins

from mmpfast import _codec_py as PURE  # noqa: E402
from mmpfast.errors import MmpNakError, MmpProtocolError  # noqa: E402
from mmpfast.protocol import HEADER_BLOCK, OFF_DATA_LENGTH, OFF_TCODE  # noqa: E402

try:
    import numpy as _np
except ImportError:  # pragma: no cover - numpy is a test extra, not a dependency
    _np = None

#: input kinds left out (--exclude), e.g. while a known finding is being fixed
EXCLUDE: set = set()

#: the exceptions the codecs may raise (API.md); anything else is a crash
DOCUMENTED = (MmpProtocolError, MmpNakError, ValueError, TypeError)

ENCODERS = ("encode_read_quadlet", "encode_read_block", "encode_write_quadlet", "encode_write_block",
            "encode_write_response", "encode_read_quadlet_response", "encode_read_block_response",
            "encode_read_blocks")
BULK = ("unpack_be", "pack_be", "unpack_be_into", "pack_be_from")
STREAM = ("frame_ends", "check_write_responses", "FrameSplitter")
FUNCTIONS = ("frame_length", "decode_frame", "scatter_read_responses") + ENCODERS + BULK + STREAM

#: generator name -> weight in the round-robin schedule
SCHEDULE_WEIGHTS = (("frame_length", 3), ("decode_frame", 4), ("scatter", 4),
                    ("encoder", 3), ("bulk", 2), ("stream", 3))


# ============================================================================ argument specs
class Lazy:
    """A recipe for a fresh argument object (each codec gets its own copy)."""

    __slots__ = ("make", "text", "raw")

    def __init__(self, make: Callable[[], Any], text: str, raw: Optional[bytes] = None) -> None:
        self.make = make
        self.text = text
        self.raw = raw

    def __repr__(self) -> str:
        return self.text


def _hex(raw: bytes, limit: int = 4096) -> str:
    h = raw.hex()
    if len(h) > limit:
        return f"{h[:limit]}...({len(raw)} bytes)"
    return h


class Idx:
    """Not an int, but has ``__index__``."""

    def __init__(self, v: Any) -> None:
        self.v = v

    def __index__(self) -> Any:
        return self.v

    def __repr__(self) -> str:
        return f"Idx({self.v!r})"


class SubInt(int):
    """An int subclass."""

    def __repr__(self) -> str:
        return f"SubInt({int(self)})"


class FloatLike:
    """Has ``__float__`` only."""

    def __init__(self, v: float) -> None:
        self.v = v

    def __float__(self) -> float:
        return self.v

    def __repr__(self) -> str:
        return f"FloatLike({self.v!r})"


def realize(x: Any) -> Any:
    return x.make() if isinstance(x, Lazy) else x


INT_EDGE = (0, 1, -1, 2, 3, 4, 7, 8, 15, 16, 63, 64, 65, 255, 256, 1023, 1024, 1025, 0xFFFF,
            0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x100000000, 2**63 - 1, 2**63, 2**64 - 1,
            2**64, -2**31, -2**31 - 1, -2**63, -2**63 - 1, 2**100, -2**100)


def weird_int(rng: random.Random, hi: int) -> Any:
    """Something in an int's place: int-likes (valid or not) and non-ints."""
    v = rng.choice((0, 1, hi, hi + 1, -1, rng.randint(0, max(hi, 0)), 2**64, -2**70))
    r = rng.randrange(14)
    if r == 0:
        return Idx(v)
    if r == 1:
        return SubInt(v)
    if r == 2:
        return bool(v & 1)
    if r == 3:
        return float(v) if abs(v) < 2**60 else float("nan")
    if r == 4:
        return str(v)
    if r == 5:
        return None
    if r == 6:
        return bytes([v & 0xFF])
    if r == 7:
        return Idx(1.5)                       # __index__ returning a non-int
    if r == 8:
        return [v]
    if r == 9 and _np is not None:
        t = rng.choice((_np.int64, _np.uint64, _np.int8, _np.uint16, _np.int32))
        info = _np.iinfo(t)
        return t(min(max(v, int(info.min)), int(info.max)))
    if r == 10 and _np is not None:
        return _np.float64(v & 0xFF)
    if r == 11:
        return complex(v & 0xFF, 0)
    if r == 12:
        return Idx(2**80)
    return rng.choice(INT_EDGE)


def gen_int(rng: random.Random, hi: int, p_bad: float = 0.12) -> Any:
    r = rng.random()
    if r < p_bad * 0.5:
        return rng.choice(INT_EDGE)
    if r < p_bad:
        return weird_int(rng, hi)
    if r < p_bad + 0.1:
        return rng.choice((0, hi))
    return rng.randint(0, hi)


# ---------------------------------------------------------------------------- buffer kinds
_RO_OK = ("bytes", "mv", "mv_c", "array_b", "slice_ro")     # read-only or fine for inputs


def _np_ok() -> bool:
    return _np is not None


def buffer_spec(rng: random.Random, raw: bytes, *, writable: bool = False, p_odd: float = 0.05) -> Lazy:
    """``raw`` as one of many buffer kinds (a fresh object each time it is made).

    Kinds named in ``EXCLUDE`` are replaced by a bytearray.
    """
    spec = _buffer_spec(rng, raw, writable, p_odd)
    if EXCLUDE and spec.text.split("(")[0] in EXCLUDE:
        return Lazy(lambda: bytearray(raw), f"bytearray({_hex(raw)})", raw)
    return spec


def _buffer_spec(rng: random.Random, raw: bytes, writable: bool, p_odd: float) -> Lazy:
    """``raw`` as one of many buffer kinds (a fresh object each time it is made).

    ``writable`` favours writable kinds (destinations); ``p_odd`` is the share
    of kinds the codecs must refuse (non-contiguous, read-only dest, not a buffer).
    """
    n = len(raw)
    r = rng.random()
    h = _hex(raw)
    if r < p_odd:
        k = rng.randrange(9)
        if k == 0:
            inter = bytearray(2 * n)
            inter[::2] = raw
            return Lazy(lambda: memoryview(inter)[::2], f"strided_mv({h})", raw)
        if k == 1 and _np_ok():
            inter = bytearray(2 * n)
            inter[::2] = raw
            return Lazy(lambda: _np.frombuffer(bytearray(inter), dtype=_np.uint8)[::2], f"strided_np({h})", raw)
        if k == 2 and _np_ok() and n >= 4 and n % 2 == 0:
            return Lazy(lambda: _np.asfortranarray(_np.frombuffer(bytearray(raw), _np.uint8).reshape(2, n // 2)),
                        f"fortran_np({h})", raw)
        if k == 3:
            return Lazy(lambda: raw.hex(), f"str({h})", raw)
        if k == 4:
            return Lazy(lambda: None, "None", raw)
        if k == 5:
            return Lazy(lambda: list(raw), f"list({h})", raw)
        if k == 6:
            return Lazy(lambda: n, f"int({n})", raw)
        if k == 7 and _np_ok():
            return Lazy(lambda: _np.zeros(2, dtype="datetime64[s]"), "np_datetime64", raw)
        if writable:
            return Lazy(lambda: bytes(raw), f"bytes({h})", raw)       # read-only dest
        return Lazy(lambda: memoryview(bytes(raw)), f"mv({h})", raw)
    k = rng.randrange(16)
    if k <= 3:
        if writable:
            return Lazy(lambda: bytearray(raw), f"bytearray({h})", raw)
        return Lazy(lambda: bytes(raw), f"bytes({h})", raw)
    if k == 4:
        return Lazy(lambda: bytearray(raw), f"bytearray({h})", raw)
    if k == 5:
        if writable:
            return Lazy(lambda: memoryview(bytearray(raw)), f"mv_rw({h})", raw)
        return Lazy(lambda: memoryview(raw), f"mv({h})", raw)
    if k == 6:
        pre = rng.randrange(1, 9)
        post = rng.randrange(0, 9)
        blob = bytes(rng.getrandbits(8) for _ in range(pre)) + raw + bytes(post)
        return Lazy(lambda: memoryview(bytearray(blob))[pre:pre + n], f"slice[{pre}:{pre + n}]({_hex(blob)})", raw)
    if k == 7:
        return Lazy(lambda: array("B", raw), f"array_B({h})", raw)
    if k == 8:
        return Lazy(lambda: array("b", raw), f"array_b({h})", raw)
    if k == 9 and n % 4 == 0:
        code4 = rng.choice("IiHhf")

        def mk_i() -> array:
            a = array(code4)
            a.frombytes(raw)
            return a
        return Lazy(mk_i, f"array_{code4}({h})", raw)
    if k == 10 and n % 8 == 0:
        code8 = rng.choice("qQd")

        def mk_q() -> array:
            a = array(code8)
            a.frombytes(raw)
            return a
        return Lazy(mk_q, f"array_{code8}({h})", raw)
    if k == 11 and n >= 2 and n % 2 == 0:
        return Lazy(lambda: memoryview(bytearray(raw)).cast("B", shape=[2, n // 2]), f"mv2d({h})", raw)
    if k == 12 and not writable:
        return Lazy(lambda: memoryview(raw).cast("c"), f"mv_c({h})", raw)
    if k == 13 and _np_ok():
        if n % 4 == 0 and rng.random() < 0.5:
            dt = rng.choice(("<f4", ">u4", "<i4"))
            return Lazy(lambda: _np.frombuffer(bytearray(raw), dtype=dt), f"np_{dt}({h})", raw)
        return Lazy(lambda: _np.frombuffer(bytearray(raw), dtype=_np.uint8), f"np_u8({h})", raw)
    if k == 14 and _np_ok() and not writable:
        return Lazy(lambda: _np.frombuffer(raw, dtype=_np.uint8), f"np_u8_ro({h})", raw)
    if k == 14 and _np_ok() and n % 4 == 0:
        return Lazy(lambda: memoryview(_np.frombuffer(bytearray(raw), dtype=">u4")), f"mv_np_>u4({h})", raw)
    if k == 15 and n == 0:
        return Lazy(lambda: memoryview(bytearray(3))[1:1], "empty_slice", raw)
    return Lazy(lambda: bytearray(raw), f"bytearray({h})", raw)


def snapshot(obj: Any) -> Optional[bytes]:
    try:
        return memoryview(obj).tobytes()
    except (TypeError, ValueError, NotImplementedError):
        return None


# ============================================================================ cases
class Case:
    """One input: a codec function, its argument specs, and which args are destinations."""

    __slots__ = ("func", "args", "kwargs", "dest", "alias", "origin")

    def __init__(self, func: str, args: Sequence[Any], kwargs: Optional[Dict[str, Any]] = None,
                 dest: Optional[int] = None, origin: str = "", alias: Optional[Callable[[], Tuple[Any, Any]]] = None
                 ) -> None:
        self.func = func
        self.args = list(args)
        self.kwargs = kwargs or {}
        self.dest = dest
        self.origin = origin
        self.alias = alias      # builds (stream, dest) sharing memory, for scatter

    def describe(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        extra = " (stream aliases dest)" if self.alias else ""
        return f"{self.func}({', '.join(parts)}){extra}  [origin: {self.origin}]"


class Golden:
    """Golden frames (bytes) from frames.json, with the malformed ones apart."""

    def __init__(self, frames_json: Dict[str, Any]) -> None:
        self.frames = [bytes.fromhex(f["hex"]) for f in frames_json["frames"]]
        self.malformed = [bytes.fromhex(f["hex"]) for f in frames_json.get("malformed", [])]
        self.all = self.frames + self.malformed
        self.responses7 = [f for f in self.frames if f[OFF_TCODE] >> 4 == 7]


def rand_bytes(rng: random.Random, n: int) -> bytes:
    return rng.getrandbits(8 * n).to_bytes(n, "little") if n else b""


def rand_len(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.55:
        return rng.randrange(0, 21)
    if r < 0.9:
        return rng.randrange(0, 80)
    if r < 0.995:
        return rng.randrange(80, 1100)
    return rng.randrange(1100, 70000)


def mutate(rng: random.Random, raw: bytes, golden: Golden, rounds: int = 0) -> bytes:
    """Apply 1..4 random edits to a frame."""
    b = bytearray(raw)
    for _ in range(rounds or rng.randint(1, 4)):
        op = rng.randrange(12)
        n = len(b)
        if op == 0 and n:
            i = rng.randrange(n)
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1 and n:
            b[rng.randrange(n)] = rng.getrandbits(8)
        elif op == 2 and n:
            b[rng.randrange(n)] = rng.choice((0, 0xFF, 0x7F, 0x80))
        elif op == 3 and n:
            del b[rng.randrange(n + 1):]                        # truncate
        elif op == 4:
            b += rand_bytes(rng, rng.randrange(1, 20))            # extend
        elif op == 5 and n:
            del b[rng.randrange(n)]
        elif op == 6:
            b.insert(rng.randrange(n + 1), rng.getrandbits(8))
        elif op == 7:
            b += rng.choice(golden.all)                          # two frames back to back
        elif op == 8 and n > OFF_TCODE:
            b[OFF_TCODE] = (rng.randrange(16) << 4) | (b[OFF_TCODE] & 0x0F)
        elif op == 9 and n >= OFF_DATA_LENGTH + 2:
            v = rng.choice((0, 1, 0xFFFF, 0x8000, max(0, n - HEADER_BLOCK), n - HEADER_BLOCK + rng.randint(-3, 3),
                            rng.randrange(0x10000)))
            b[OFF_DATA_LENGTH:OFF_DATA_LENGTH + 2] = (v & 0xFFFF).to_bytes(2, "big")
        elif op == 10 and n > 2:
            b[2] = rng.getrandbits(8)                             # tl and rt bits
        elif op == 11 and n > 6:
            b[6] = rng.getrandbits(8)                             # rcode / address high
    return bytes(b)


def random_valid_frame(rng: random.Random) -> bytes:
    """A well-formed frame of any tcode, built by the pure reference encoder."""
    tl = rng.randrange(64)
    sid = rng.choice((0, rng.randrange(0x10000)))
    addr = rng.choice((0xF030010C, 0xF0D81000, rng.randrange(1 << 32)))
    rcode = rng.choice((0, 0, 0, rng.randrange(16)))
    t = rng.randrange(7)
    if t == 0:
        return PURE.encode_read_quadlet(tl, addr, sid)
    if t == 1:
        return PURE.encode_read_block(tl, addr, rng.randrange(0x10000), sid)
    if t == 2:
        return PURE.encode_write_quadlet(tl, addr, rand_bytes(rng, rng.randrange(5)), sid)
    if t == 3:
        return PURE.encode_write_block(tl, addr, rand_bytes(rng, rand_len(rng) % 2000), sid)
    if t == 4:
        return PURE.encode_write_response(tl, rcode, sid)
    if t == 5:
        return PURE.encode_read_quadlet_response(tl, rand_bytes(rng, rng.randrange(5)), rcode, sid)
    return PURE.encode_read_block_response(tl, rand_bytes(rng, rand_len(rng) % 2000), rcode, sid)


def edit_length(rng: random.Random, raw: bytes) -> bytes:
    """Edit the length field (and/or the real length) of a valid frame."""
    b = bytearray(raw)
    n = len(b)
    r = rng.randrange(5)
    if r <= 2 and n >= OFF_DATA_LENGTH + 2:
        real = n - HEADER_BLOCK
        v = rng.choice((real + 1, real - 1, real + rng.randint(-20, 20), 0, 0xFFFF, rng.randrange(0x10000),
                        real ^ 0x100, real ^ 0x1))
        b[OFF_DATA_LENGTH:OFF_DATA_LENGTH + 2] = (v & 0xFFFF).to_bytes(2, "big")
    elif r == 3:
        del b[rng.randrange(n + 1):]
    else:
        b += rand_bytes(rng, rng.randint(1, 8))
    if rng.random() < 0.3:
        b = bytearray(mutate(rng, bytes(b), _NO_GOLDEN, 1))
    return bytes(b)


_NO_GOLDEN = Golden({"frames": [{"hex": "00000420000000000000000000000000"}]})


def frame_input(rng: random.Random, golden: Golden) -> Tuple[bytes, str]:
    r = rng.random()
    if r < 0.25:
        raw = rand_bytes(rng, rand_len(rng) if rng.random() < 0.3 else rng.randrange(0, 24))
        if len(raw) > OFF_TCODE and rng.random() < 0.7:
            b = bytearray(raw)
            b[OFF_TCODE] = (rng.choice((0, 1, 2, 4, 5, 6, 7, 3, 8, 15)) << 4) | (b[OFF_TCODE] & 0xF)
            raw = bytes(b)
        return raw, "random"
    if r < 0.35:
        return rng.choice(golden.all), "golden"
    if r < 0.65:
        return mutate(rng, rng.choice(golden.all), golden), "mutated golden"
    if r < 0.8:
        return random_valid_frame(rng), "valid"
    return edit_length(rng, random_valid_frame(rng)), "valid, edited length"


def gen_frame_case(rng: random.Random, golden: Golden, func: str) -> Case:
    raw, origin = frame_input(rng, golden)
    return Case(func, [buffer_spec(rng, raw)], origin=origin)


# ---------------------------------------------------------------------------- scatter
_ARRAY_LIMITS = {"b": (-128, 127), "B": (0, 255), "h": (-2**15, 2**15 - 1), "H": (0, 2**16 - 1),
                 "i": (-2**31, 2**31 - 1), "I": (0, 2**32 - 1), "l": (-2**63, 2**63 - 1),
                 "q": (-2**63, 2**63 - 1), "Q": (0, 2**64 - 1)}
_NP_LIMITS = {"<i8": (-2**63, 2**63 - 1), "<u8": (0, 2**64 - 1), "<i4": (-2**31, 2**31 - 1),
              "<u4": (0, 2**32 - 1), "<u2": (0, 2**16 - 1), "<i2": (-2**15, 2**15 - 1), "|i1": (-128, 127),
              "|u1": (0, 255), ">i4": (-2**31, 2**31 - 1), ">u8": (0, 2**64 - 1)}


def int_sequence(rng: random.Random, values: List[Any]) -> Lazy:
    """``values`` in one of many containers (list, tuple, array, numpy, iterator, memoryview)."""
    text = repr(values)
    all_int = all(type(v) is int for v in values)
    r = rng.randrange(12) if rng.random() < 0.6 else 0        # mostly plain lists
    if r <= 3 or not all_int:
        if r == 1:
            return Lazy(lambda: tuple(values), f"tuple{text}")
        if r == 2 and rng.random() < 0.3:
            return Lazy(lambda: iter(list(values)), f"iter({text})")
        if r == 3 and rng.random() < 0.05:
            return Lazy(lambda: None, "None")
        return Lazy(lambda: list(values), text)
    if r <= 6:
        fits = [c for c, (lo, hi) in _ARRAY_LIMITS.items() if all(lo <= v <= hi for v in values)]
        if fits:
            code = rng.choice(fits)
            if r == 6:
                return Lazy(lambda: memoryview(array(code, values)), f"memoryview(array({code!r}, {text}))")
            return Lazy(lambda: array(code, values), f"array({code!r}, {text})")
        if rng.random() < 0.2:
            return Lazy(lambda: array("d", [float(v) for v in values]), f"array('d', {text})")
        return Lazy(lambda: list(values), text)
    if r <= 9 and _np_ok():
        fits = [d for d, (lo, hi) in _NP_LIMITS.items() if all(lo <= v <= hi for v in values)]
        if fits:
            dt = rng.choice(fits)
            return Lazy(lambda: _np.array(values, dtype=dt), f"np.array({text}, {dt!r})")
        return Lazy(lambda: list(values), text)
    if r == 10 and _np_ok() and values and len(values) % 2 == 0 and all(abs(v) < 2**62 for v in values):
        if rng.random() < 0.5:
            return Lazy(lambda: memoryview(_np.array(values, dtype="<i8").reshape(2, -1)), f"mv_np2d({text})")
        return Lazy(lambda: _np.array(values, dtype="<i8").reshape(2, -1), f"np2d({text})")
    if r == 10 and _np_ok() and all(abs(v) < 2**31 for v in values):
        return Lazy(lambda: memoryview(_np.array(values, dtype=">i4")), f"mv_np_>i4({text})")
    if r == 11 and _np_ok() and all(abs(v) < 2**50 for v in values):
        return Lazy(lambda: _np.array(values, dtype="<f8"), f"np_f8({text})")
    return Lazy(lambda: list(values), text)


def gen_scatter_case(rng: random.Random, golden: Golden) -> Case:
    r = rng.random()
    k = rng.choice((0, 1, 1, 2, 2, 3, 3, 4, 5, 6)) if r < 0.95 else rng.randrange(7, 70)
    first_tl = rng.choice((rng.randrange(64), 63, 62, 60, 0))
    lens = []
    for _ in range(k):
        x = rng.random()
        lens.append(rng.randrange(0, 33) if x < 0.8 else rng.randrange(33, 400) if x < 0.995 else
                    rng.choice((1024, 4096, 65535)))
    sid = rng.randrange(0x10000) if rng.random() < 0.2 else 0
    parts = []
    use_golden = golden.responses7 and rng.random() < 0.1
    if use_golden:                                   # golden responses renumbered to sequence
        picks = [rng.choice(golden.responses7) for _ in range(k)]
        for i, g in enumerate(picks):
            b = bytearray(g)
            b[2] = (((first_tl + i) % 64) << 2) | (b[2] & 3)
            parts.append(bytes(b))
            lens[i] = len(g) - HEADER_BLOCK
    else:
        for i, n in enumerate(lens):
            parts.append(PURE.encode_read_block_response((first_tl + i) % 64, rand_bytes(rng, n), 0, sid))
    stream = b"".join(parts)
    total = sum(lens)
    slack = rng.choice((0, 0, rng.randrange(0, 17), rng.randrange(0, 300)))
    size = total + slack
    # offsets: packed, packed with gaps, random (possibly overlapping)
    layout = rng.randrange(3)
    offs: List[Any] = []
    pos = 0
    for n in lens:
        if layout == 0:
            offs.append(pos)
            pos += n
        elif layout == 1:
            pos += rng.randrange(0, 5)
            offs.append(pos)
            pos += n
        else:
            offs.append(rng.randrange(0, max(1, size - n + 1)))
    size = max(size, pos)
    lens_v: List[Any] = list(lens)
    origin = "valid golden stream" if use_golden else "valid stream"
    if rng.random() < 0.1:
        stream += rand_bytes(rng, rng.randrange(1, 40))            # bytes after the last response
        origin += " + trailing"
    if rng.random() < 0.6:                                           # break something
        origin += ", edited:"
        for _ in range(rng.randint(1, 3)):
            m = rng.randrange(14)
            origin += f" m{m}"
            if m <= 3 and stream:
                b = bytearray(stream)
                starts = [sum(16 + x for x in lens[:j]) for j in range(k)] or [0]
                s = rng.choice(starts)
                field = rng.choice((2, 3, 6, 12, 13, rng.randrange(16)))
                if s + field < len(b):
                    b[s + field] = rng.getrandbits(8) if m != 1 else b[s + field] ^ (1 << rng.randrange(8))
                stream = bytes(b)
            elif m == 4:
                stream = stream[:rng.randrange(len(stream) + 1)]       # ends early
            elif m == 5 and lens_v:
                j = rng.randrange(len(lens_v))
                old = lens_v[j] if type(lens_v[j]) is int else 0
                lens_v[j] = rng.choice((old + 1, old - 1, -1, 65536, 2**63, 0))
            elif m == 6 and offs:
                j = rng.randrange(len(offs))
                offs[j] = rng.choice((-1, size, size - (lens[j] if j < k else 0) + 1, 2**63 - 1, 2**64, -2**63 - 1, 2**100))
            elif m == 7:
                if rng.random() < 0.5 and lens_v:
                    lens_v.pop()
                else:
                    offs.append(0)
            elif m == 8 and (offs or lens_v):
                tgt = offs if (offs and rng.random() < 0.5) or not lens_v else lens_v
                tgt[rng.randrange(len(tgt))] = weird_int(rng, 16)
            elif m == 9:
                first_tl = weird_int(rng, 63) if rng.random() < 0.5 else rng.choice((-1, 64, 2**70))
            elif m == 10:
                size = rng.randrange(0, size + 1)                      # dest too small
            elif m == 11:
                stream = mutate(rng, stream, golden) if stream else rand_bytes(rng, rng.randrange(40))
            elif m == 12:
                first_tl = (first_tl + rng.randrange(1, 64)) % 64 if isinstance(first_tl, int) else 0
            else:
                stream = rand_bytes(rng, rng.randrange(0, 60))
    dest_raw = rand_bytes(rng, size)
    alias = None
    if rng.random() < 0.03 and size >= len(stream) and isinstance(first_tl, int):
        # stream lives inside dest (the caller's choice): both codecs must still agree
        at = rng.randrange(0, size - len(stream) + 1)
        blob = bytearray(dest_raw)
        blob[at:at + len(stream)] = stream
        frozen = bytes(blob)
        ln = len(stream)

        def alias() -> Tuple[Any, Any]:
            d = bytearray(frozen)
            return memoryview(d)[at:at + ln], d
        origin += f", aliased at {at}"
        dest_raw = frozen
    args = [buffer_spec(rng, stream, p_odd=0.02), buffer_spec(rng, dest_raw, writable=True, p_odd=0.04),
            int_sequence(rng, offs), int_sequence(rng, lens_v), first_tl]
    return Case("scatter_read_responses", args, dest=1, origin=origin, alias=alias)


# ---------------------------------------------------------------------------- encoders
def _data_len(rng: random.Random, quadlet: bool) -> int:
    if quadlet:
        return rng.choice((0, 1, 2, 3, 4, 4, 4, 4, 5, 8))
    r = rng.random()
    if r < 0.995:
        return rand_len(rng) % 3000
    return rng.choice((65535, 65536))


def gen_encoder_case(rng: random.Random) -> Case:
    func = rng.choice(ENCODERS)
    tl = gen_int(rng, 63)
    sid = gen_int(rng, 0xFFFF)
    addr = gen_int(rng, 0xFFFFFFFF)
    rcode = gen_int(rng, 15, 0.2)
    if func == "encode_read_quadlet":
        names, vals = ["tl", "address", "source_id"], [tl, addr, sid]
    elif func == "encode_read_block":
        names, vals = ["tl", "address", "length", "source_id"], [tl, addr, gen_int(rng, 0xFFFF), sid]
    elif func in ("encode_write_quadlet", "encode_write_block"):
        q = func == "encode_write_quadlet"
        data = buffer_spec(rng, rand_bytes(rng, _data_len(rng, q)), p_odd=0.06)
        names, vals = ["tl", "address", "data", "source_id"], [tl, addr, data, sid]
    elif func == "encode_write_response":
        names, vals = ["tl", "rcode", "source_id"], [tl, rcode, sid]
    elif func in ("encode_read_quadlet_response", "encode_read_block_response"):
        q = func == "encode_read_quadlet_response"
        data = buffer_spec(rng, rand_bytes(rng, _data_len(rng, q)), p_odd=0.06)
        names, vals = ["tl", "data", "rcode", "source_id"], [tl, data, rcode, sid]
    else:
        names, vals = ["first_tl", "ranges", "source_id"], [tl, ranges_spec(rng), sid]
    return _call_shape(rng, func, names, vals)


def _call_shape(rng: random.Random, func: str, names: List[str], vals: List[Any]) -> Case:
    """Positional, keyword, defaults left out, or (rarely) a wrong call."""
    r = rng.random()
    required = {"encode_read_quadlet": 2, "encode_read_block": 3, "encode_write_quadlet": 3,
                "encode_write_block": 3, "encode_write_response": 1, "encode_read_quadlet_response": 2,
                "encode_read_block_response": 2, "encode_read_blocks": 2}.get(func, len(names))
    if r < 0.5:
        return Case(func, vals, origin="positional")
    if r < 0.7:
        cut = rng.randint(required, len(vals))
        return Case(func, vals[:cut], origin="defaults")
    if r < 0.95:
        cut = rng.randint(0, len(vals))
        return Case(func, vals[:cut], dict(zip(names[cut:], vals[cut:])), origin="keywords")
    if r < 0.975:
        return Case(func, vals + [0], origin="extra argument")
    return Case(func, vals[:required - 1] if required > 0 else [], origin="missing argument")


def ranges_spec(rng: random.Random) -> Lazy:
    r = rng.random()
    k = rng.choice((0, 1, 2, 3, 5, 8)) if r < 0.85 else rng.randrange(60, 140)  # > 64: grows the buffer
    pairs: List[Any] = []
    for _ in range(k):
        pairs.append((gen_int(rng, 0xFFFFFFFF, 0.03), gen_int(rng, 0xFFFF, 0.03)))
    plain = all(type(a) is int and type(b) is int for a, b in pairs)
    if rng.random() < 0.15 and pairs:
        j = rng.randrange(len(pairs))
        pairs[j] = rng.choice(([pairs[j][0], pairs[j][1]], (1,), (1, 2, 3), "ab", None, 5, b"\x01\x02",
                               {pairs[j][0]: 0, 7: 0} if isinstance(pairs[j][0], int) else (1, 2)))
        plain = False
    text = repr(pairs)
    c = rng.randrange(8)
    if c == 0:
        return Lazy(lambda: tuple(pairs), f"tuple{text}")
    if c == 1:
        return Lazy(lambda: (p for p in pairs), f"generator({text})")
    if c == 2 and plain and _np_ok():
        flat = [v for p in pairs for v in p]
        fits = [d for d, (lo, hi) in _NP_LIMITS.items() if all(lo <= v <= hi for v in flat)]
        if fits:
            dt = rng.choice(fits)
            shape = (len(pairs), 2) if rng.random() < 0.9 else (-1,)
            return Lazy(lambda: _np.array(flat, dtype=dt).reshape(shape), f"np.array({text}, {dt!r}).reshape{shape}")
    if c == 3 and plain and _np_ok() and rng.random() < 0.3:
        flat = [v for p in pairs for v in p]
        if all(abs(v) < 2**50 for v in flat):
            return Lazy(lambda: _np.array(flat, dtype="<f8").reshape(len(pairs), 2), f"np_f8({text})")
    if c == 4 and plain:
        flat = [v for p in pairs for v in p]
        if all(0 <= v < 2**63 for v in flat):
            return Lazy(lambda: array("q", flat), f"array('q', flat {text})")
    if c == 5 and plain and _np_ok() and pairs and rng.random() < 0.3:
        flat = [v for p in pairs for v in p]
        if all(0 <= v < 2**63 for v in flat):
            return Lazy(lambda: _np.array(flat, dtype="<i8").reshape(len(pairs), 2)[::-1],
                        f"np_reversed_view({text})")
    if c == 6 and rng.random() < 0.05:
        return Lazy(lambda: 12345, "12345")
    if c == 7 and plain and _np_ok() and rng.random() < 0.1:
        flat = [v for p in pairs for v in p]
        if all(0 <= v < 2**63 for v in flat):
            return Lazy(lambda: memoryview(_np.array(flat, dtype="<i8").reshape(len(pairs), 2)), f"mv_np2d({text})")
    return Lazy(lambda: list(pairs), text)


# ---------------------------------------------------------------------------- bulk helpers
TYPECODES = ("i", "I", "f", "q", "Q")
BAD_TYPECODES = ("d", "b", "", None, 1, b"i", "ii", "F", "l")


def _typecode(rng: random.Random) -> Any:
    return rng.choice(TYPECODES) if rng.random() < 0.93 else rng.choice(BAD_TYPECODES)


_F32_MAX = struct.unpack(">f", b"\x7f\x7f\xff\xff")[0]


def _value(rng: random.Random, tc: Any) -> Any:
    r = rng.random()
    if tc == "f":
        if r < 0.5:
            return struct.unpack(">f", rand_bytes(rng, 4))[0] if rng.random() < 0.5 else rng.uniform(-1e6, 1e6)
        if r < 0.8:
            return rng.choice((0.0, -0.0, math.inf, -math.inf, math.nan, _F32_MAX, -_F32_MAX,
                               _F32_MAX * (1 + 2**-25), _F32_MAX * (1 + 2**-23), 3.5e38, 1e300, 1e-50,
                               1.4e-45, 2**128, 2**1024, -2**1030, 7, True))
        if r < 0.9:
            return rng.choice((FloatLike(1.5), FloatLike(1e300), Idx(3), "1.0", b"1", None,
                               _np.float32(2.5) if _np_ok() else 2.5, _np.float64(1e39) if _np_ok() else 1e39,
                               complex(1, 0)))
        return rng.choice(INT_EDGE)
    lo, hi = {"i": (-2**31, 2**31 - 1), "I": (0, 2**32 - 1), "q": (-2**63, 2**63 - 1),
              "Q": (0, 2**64 - 1)}.get(tc, (0, 255))
    if r < 0.6:
        return rng.randint(lo, hi)
    if r < 0.85:
        return rng.choice((lo, hi, lo - 1, hi + 1, 0, -1, 2**100, -2**100) + INT_EDGE[:8])
    return weird_int(rng, hi)


def gen_bulk_case(rng: random.Random) -> Case:
    func = rng.choice(BULK)
    tc = _typecode(rng)
    size = 8 if tc in ("q", "Q") else 4
    if func in ("unpack_be", "pack_be_from", "unpack_be_into"):
        n = rng.randrange(0, 12) * size if rng.random() < 0.85 else rng.randrange(0, 40)
        if rng.random() < 0.01:
            n = rng.randrange(1000, 5000) * size
        raw = rand_bytes(rng, n)
        if func == "unpack_be" and tc == "f" and n and rng.random() < 0.3:   # NaN payloads
            b = bytearray(raw)
            for j in range(0, n - 3, 4):
                b[j] = rng.choice((0x7F, 0xFF))
                b[j + 1] |= 0x80
            raw = bytes(b)
        src = buffer_spec(rng, raw, p_odd=0.05)
        if func != "unpack_be_into":
            return Case(func, [src, tc], origin="bulk")
        dn = n + rng.choice((0, 0, 0, size, 1, -1, -size, 17))
        dn = max(dn, 0)
        if rng.random() < 0.03:                      # dest is the source buffer itself
            def alias() -> Tuple[Any, Any]:
                d = bytearray(raw)
                return d, d
            return Case(func, [src, buffer_spec(rng, raw, writable=True, p_odd=0.0), tc], dest=1,
                        origin="bulk, dest is src", alias=alias)
        dest = _bulk_dest(rng, dn, tc)
        return Case(func, [src, dest, tc], dest=1, origin="bulk")
    # pack_be
    r = rng.random()
    if r < 0.25:
        values: Any = _value(rng, tc)
        return Case(func, [values, tc], origin="bulk, one value")
    k = rng.randrange(0, 10) if rng.random() < 0.97 else rng.randrange(100, 2000)
    vals = [_value(rng, tc) if rng.random() < 0.98 else rng.choice(("x", None, [1])) for _ in range(k)]
    if rng.random() < 0.7:
        vals = [rng.randint(*{"i": (-2**31, 2**31 - 1), "I": (0, 2**32 - 1), "q": (-2**63, 2**63 - 1),
                              "Q": (0, 2**64 - 1)}[tc]) if tc in ("i", "I", "q", "Q") else
                (v if isinstance(v, float) else rng.uniform(-1e30, 1e30)) for v in vals]
    text = repr(vals)
    c = rng.randrange(6)
    if c == 0:
        seq: Any = Lazy(lambda: tuple(vals), f"tuple{text}")
    elif c == 1:
        seq = Lazy(lambda: iter(list(vals)), f"iter({text})")
    elif c == 2 and _np_ok() and all(type(v) is int for v in vals) and all(-2**63 <= v < 2**63 for v in vals):
        seq = Lazy(lambda: _np.array(vals, dtype=_np.int64), f"np.int64({text})")
    elif c == 3 and _np_ok() and all(type(v) is float for v in vals):
        seq = Lazy(lambda: _np.array(vals, dtype=_np.float64), f"np.float64({text})")
    elif c == 4 and rng.random() < 0.2:
        raw = rand_bytes(rng, k)
        seq = Lazy(lambda: raw, f"bytes({_hex(raw)})")
    elif c == 5 and _np_ok() and rng.random() < 0.1 and k % 2 == 0:
        seq = Lazy(lambda: memoryview(_np.arange(k, dtype="<i4").reshape(2, -1)), f"mv_np2d(arange({k}))")
    else:
        seq = Lazy(lambda: list(vals), text)
    return Case(func, [seq, tc], origin="bulk")


def _bulk_dest(rng: random.Random, nbytes: int, tc: Any) -> Lazy:
    raw = rand_bytes(rng, nbytes)
    if tc in TYPECODES and rng.random() < 0.3:
        size = 8 if tc in ("q", "Q") else 4
        if nbytes % size == 0:
            code = {"f": "f", "i": "i", "I": "I", "q": "q", "Q": "Q"}[tc]
            if _np_ok() and rng.random() < 0.5:
                dt = {"f": "<f4", "i": "<i4", "I": "<u4", "q": "<i8", "Q": "<u8"}[tc]
                return Lazy(lambda: _np.frombuffer(bytearray(raw), dtype=dt), f"np_{dt}({_hex(raw)})", raw)

            def mk() -> array:
                a = array(code)
                a.frombytes(raw)
                return a
            return Lazy(mk, f"array_{code}({_hex(raw)})", raw)
    return buffer_spec(rng, raw, writable=True, p_odd=0.05)


# ============================================================================ running
def _float_key(v: float) -> bytes:
    return struct.pack("<d", v)


# ---------------------------------------------------------------------------- stream framing
def _stream_of_frames(rng: random.Random, golden: Golden, acks: bool) -> Tuple[bytes, int, int, str]:
    """Frames back to back (write acknowledgements when ``acks``), maybe broken: (raw, count, first_tl, origin)."""
    k = rng.choice((0, 1, 1, 2, 3, 4, 8)) if rng.random() < 0.95 else rng.randrange(9, 70)
    first_tl = rng.choice((rng.randrange(64), 63, 0))
    parts = []
    for i in range(k):
        if acks:
            rcode = rng.choice((0, 0, 0, 0, rng.randrange(16)))
            parts.append(PURE.encode_write_response((first_tl + i) % 64, rcode, rng.randrange(0x10000)))
        elif rng.random() < 0.3 and golden.all:
            parts.append(rng.choice(golden.all))
        else:
            parts.append(random_valid_frame(rng))
    raw = b"".join(parts)
    origin = "acks" if acks else "frames"
    if rng.random() < 0.5 and raw:
        origin += ", mutated"
        raw = mutate(rng, raw, golden)
    if rng.random() < 0.2:
        origin += ", cut"
        raw = raw[:rng.randrange(len(raw) + 1)]
    if rng.random() < 0.1:
        origin += ", random tail"
        raw += rand_bytes(rng, rng.randrange(1, 30))
    return raw, k, first_tl, origin


def split_feed(mod: ModuleType, max_frame: Any, chunks: Sequence[Any]) -> Any:
    """Feed ``chunks`` to one ``FrameSplitter``: the frames of each feed, then what is pending."""
    sp = mod.FrameSplitter(max_frame)
    out = []
    for chunk in chunks:
        got = sp.feed(chunk)
        out.append(tuple((type(f).__name__, bytes(f)) for f in got))
    return (tuple(out), sp.pending, sp.max_frame)


def gen_stream_case(rng: random.Random, golden: Golden) -> Case:
    r = rng.random()
    if r < 0.35:
        raw, _k, _tl, origin = _stream_of_frames(rng, golden, acks=False)
        limit: Any = rng.choice((-1, -1, 0, 1, 2, rng.randrange(70)))
        if rng.random() < 0.05:
            limit = rng.choice((-2, True, 1.0, Idx(2), None, 2**70))
        return Case("frame_ends", [buffer_spec(rng, raw), limit], origin=origin)
    if r < 0.7:
        raw, k, tl, origin = _stream_of_frames(rng, golden, acks=True)
        count: Any = k if rng.random() < 0.85 else rng.choice((0, k + 1, max(0, k - 1), -1))
        first: Any = tl if rng.random() < 0.9 else gen_int(rng, 63, p_bad=0.5)
        if rng.random() < 0.05:
            count = rng.choice((True, 1.5, Idx(1), None, 2**40))
        return Case("check_write_responses", [buffer_spec(rng, raw), count, first], origin=origin)
    raw, _k, _tl, origin = _stream_of_frames(rng, golden, acks=rng.random() < 0.3)
    cuts = sorted(rng.randrange(len(raw) + 1) for _ in range(rng.choice((0, 1, 2, 3, 6))))
    pieces = [raw[a:b] for a, b in zip([0] + cuts, cuts + [len(raw)])]
    if rng.random() < 0.2:
        pieces = [raw[i:i + 1] for i in range(len(raw))]
    max_frame: Any = rng.choice((65551, 65551, 16, 12, 100, rng.randrange(0, 300)))
    if rng.random() < 0.05:
        max_frame = rng.choice((-1, 65552, True, "16", Idx(40)))
    chunks = [buffer_spec(rng, piece) for piece in pieces]
    return Case("FrameSplitter", [max_frame, Lazy(lambda: [realize(c) for c in chunks], repr(chunks))],
                origin=origin + f", {len(pieces)} pieces")


def normalize(func: str, res: Any) -> Any:
    """A comparable, hashable form of a codec result (type errors show up as differences)."""
    if func == "decode_frame":
        d = res.data
        return ("Frame", type(d).__name__, res.tcode, res.tl, res.source_id, res.rcode, res.address,
                getattr(res, "address_high", "missing"), res.data_length, d.tobytes(), d.nbytes,
                d.format, d.ndim, d.readonly, res.is_request,
                tuple(type(x).__name__ for x in (res.tcode, res.tl, res.source_id, res.rcode, res.address,
                                                 res.data_length)))
    if func == "unpack_be":
        return (type(res).__name__, tuple((type(v).__name__, _float_key(v) if isinstance(v, float) else v)
                                          for v in res))
    return (type(res).__name__, res)


class Outcome:
    __slots__ = ("kind", "value", "message", "dest", "inputs_changed")

    def __init__(self, kind: str, value: Any, message: str = "", dest: Optional[bytes] = None,
                 inputs_changed: bool = False) -> None:
        self.kind = kind            # "ok", "exc" (documented) or "crash"
        self.value = value
        self.message = message
        self.dest = dest
        self.inputs_changed = inputs_changed

    def key(self) -> Any:
        return (self.kind, self.value, self.dest, self.inputs_changed)

    def __repr__(self) -> str:
        v = self.value
        if self.kind == "ok" and isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], bytes):
            v = (v[0], _hex(v[1], 400))
        s = f"{self.kind}: {v!r}"
        if self.message:
            s += f" ({self.message})"
        if self.dest is not None:
            s += f"; dest after = {_hex(self.dest, 400)}"
        if self.inputs_changed:
            s += "; AN INPUT WAS MODIFIED"
        return s


def call(mod: ModuleType, case: Case) -> Outcome:
    """Run ``case`` on one codec with freshly built arguments."""
    args = [realize(a) for a in case.args]
    kwargs = {k: realize(v) for k, v in case.kwargs.items()}
    if case.alias is not None:
        args[0], args[1] = case.alias()     # (source, dest) sharing memory
    watched = [] if case.alias is not None else [
        (a, snapshot(a)) for i, a in enumerate(args) if i != case.dest and isinstance(case.args[i], Lazy)]
    dest_before = snapshot(args[case.dest]) if case.dest is not None and case.dest < len(args) else None
    fn = getattr(mod, case.func)
    if case.func == "FrameSplitter":
        fn = lambda *a: split_feed(mod, *a)  # noqa: E731
    try:
        res = fn(*args, **kwargs)
    except DOCUMENTED as e:
        extra: Any = type(e).__name__
        if isinstance(e, MmpNakError):
            extra = (extra, e.rcode, e.error_code, e.address)
        out = Outcome("exc", extra, str(e))
    except Exception as e:  # noqa: BLE001 - anything else is what we are looking for
        out = Outcome("crash", type(e).__name__, f"{e}"[:300])
    else:
        try:
            out = Outcome("ok", normalize(case.func, res))
        except Exception as e:  # noqa: BLE001
            out = Outcome("crash", "bad result", f"{type(e).__name__}: {e}")
    if case.dest is not None and case.dest < len(args):
        out.dest = snapshot(args[case.dest])
        # API.md: argument errors are raised before the first byte is written
        if (out.kind == "exc" and out.value in ("ValueError", "TypeError") and case.alias is None
                and out.dest != dest_before):
            out = Outcome("crash", "dest written before an argument error", out.message, out.dest)
    for obj, before in watched:
        if before is not None and snapshot(obj) != before:
            out.inputs_changed = True
    return out


class Finding:
    def __init__(self, index: int, case: Case, cy: Outcome, py: Outcome, what: str) -> None:
        self.index, self.case, self.cy, self.py, self.what = index, case, cy, py, what

    def report(self, seed: int) -> str:
        return (f"{self.what} at seed {seed} case {self.index}: {self.case.describe()}\n"
                f"    cython: {self.cy!r}\n    python: {self.py!r}\n"
                f"    replay: python tools/fuzz_codecs.py --seed {seed} --replay {self.index}")


class Fuzzer:
    """Generates case ``i`` of ``seed`` and checks the two codecs agree on it."""

    def __init__(self, cy: ModuleType, py: ModuleType, golden: Golden, seed: int,
                 generators: Optional[Sequence[str]] = None) -> None:
        self.cy, self.py, self.golden, self.seed = cy, py, golden, seed
        weights = [(g, w) for g, w in SCHEDULE_WEIGHTS if generators is None or g in generators]
        if not weights:
            raise ValueError(f"no generators selected from {[g for g, _ in SCHEDULE_WEIGHTS]}")
        self.schedule = [g for g, w in weights for _ in range(w)]
        self.inputs = 0
        self.per_function: Counter = Counter()
        self.outcomes: Counter = Counter()         # (function, outcome kind/class) -> count
        self.crashes: List[Finding] = []
        self.disagreements: List[Finding] = []
        self.message_diffs = 0
        self.first_message_diff = ""

    def case(self, index: int) -> Case:
        rng = random.Random(self.seed * 1_000_000_007 + index)
        g = self.schedule[index % len(self.schedule)]
        if g == "frame_length":
            return gen_frame_case(rng, self.golden, "frame_length")
        if g == "decode_frame":
            return gen_frame_case(rng, self.golden, "decode_frame")
        if g == "scatter":
            return gen_scatter_case(rng, self.golden)
        if g == "encoder":
            return gen_encoder_case(rng)
        if g == "stream":
            return gen_stream_case(rng, self.golden)
        return gen_bulk_case(rng)

    def check(self, index: int) -> Optional[Finding]:
        case = self.case(index)
        a = call(self.cy, case)
        b = call(self.py, case)
        self.inputs += 1
        self.per_function[case.func] += 1
        label = a.value if a.kind == "exc" else a.kind
        if isinstance(label, tuple):
            label = label[0]
        self.outcomes[(case.func, label)] += 1
        finding = None
        if a.kind == "crash" or b.kind == "crash" or a.inputs_changed or b.inputs_changed:
            finding = Finding(index, case, a, b, "CRASH (undocumented exception or modified input)")
            self.crashes.append(finding)
        elif a.key() != b.key():
            finding = Finding(index, case, a, b, "DISAGREEMENT")
            self.disagreements.append(finding)
        elif a.message != b.message:
            self.message_diffs += 1
            if not self.first_message_diff:
                self.first_message_diff = f"case {index}: cython {a.message!r} vs python {b.message!r}"
        return finding

    def run(self, seconds: float, max_inputs: Optional[int] = None, start: int = 0,
            progress: Optional[Callable[[str], None]] = None, max_findings: int = 20) -> None:
        deadline = time.monotonic() + seconds
        next_report = time.monotonic() + 30
        i = start
        while max_inputs is None or i - start < max_inputs:
            if (i & 127) == 0:
                now = time.monotonic()
                if now >= deadline:
                    break
                if progress is not None and now >= next_report:
                    next_report = now + 30
                    progress(f"... {self.inputs} inputs, {len(self.crashes)} crashes, "
                             f"{len(self.disagreements)} disagreements")
            f = self.check(i)
            if f is not None and progress is not None:
                progress(f.report(self.seed))
            if len(self.crashes) + len(self.disagreements) >= max_findings:
                break
            i += 1

    def summary(self) -> List[str]:
        lines = ["per-function inputs:"]
        for func in FUNCTIONS:
            n = self.per_function.get(func, 0)
            kinds = sorted(((k[1], c) for k, c in self.outcomes.items() if k[0] == func), key=lambda t: -t[1])
            detail = ", ".join(f"{name} {c}" for name, c in kinds)
            lines.append(f"  {func:30s} {n:9d}  ({detail})")
        if self.message_diffs:
            lines.append(f"exception messages differed (same class, not an error) in {self.message_diffs} "
                         f"inputs; first: {self.first_message_diff}")
        return lines


def load_codecs() -> Tuple[ModuleType, ModuleType]:
    import importlib
    cy = importlib.import_module("mmpfast._codec")
    return cy, PURE


def load_golden(vectors: Path) -> Golden:
    with open(vectors / "frames.json", encoding="utf-8") as fh:
        return Golden(json.load(fh))


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="Differential fuzzing of mmpfast._codec against mmpfast._codec_py.")
    ap.add_argument("--seconds", type=float, default=60.0, help="time budget (default 60)")
    ap.add_argument("--max-inputs", type=int, default=None, help="stop after this many inputs")
    ap.add_argument("--seed", type=int, default=None, help="seed (default: random, printed)")
    ap.add_argument("--start", type=int, default=0, help="first case index (to bisect a hard crash)")
    ap.add_argument("--vectors", type=Path, default=DEFAULT_VECTORS,
                    help="directory holding frames.json (default $MMPFAST_VECTORS, else tests/vectors)")
    ap.add_argument("--generators", default=None,
                    help="comma-separated subset of: " + ",".join(g for g, _ in SCHEDULE_WEIGHTS))
    ap.add_argument("--replay", type=int, action="append", default=[], help="rerun case INDEX verbosely")
    ap.add_argument("--require-codec-dir", type=Path, default=None,
                    help="fail unless mmpfast._codec was imported from this directory")
    ap.add_argument("--max-findings", type=int, default=20, help="stop after this many findings")
    ap.add_argument("--exclude", action="append", default=[],
                    help="leave out a buffer kind by its label (e.g. np_datetime64) while a known finding is fixed")
    opts = ap.parse_args(argv)

    faulthandler.enable()
    EXCLUDE.update(opts.exclude)
    seed = opts.seed if opts.seed is not None else random.SystemRandom().randrange(2**32)
    try:
        cy, py = load_codecs()
        golden = load_golden(opts.vectors)
    except (ImportError, OSError, ValueError) as e:
        print(f"setup error: {e}", file=sys.stderr)
        return 2
    cy_file = os.path.realpath(getattr(cy, "__file__", "?"))
    print(f"seed {seed}")
    print(f"cython codec: {cy_file}")
    print(f"python codec: {os.path.realpath(py.__file__)}")
    print(f"numpy: {'yes' if _np is not None else 'no'}; vectors: {opts.vectors / 'frames.json'}")
    if getattr(cy, "IMPLEMENTATION", None) != "cython":
        print("setup error: mmpfast._codec is not the compiled codec", file=sys.stderr)
        return 2
    if opts.require_codec_dir is not None:
        want = os.path.realpath(opts.require_codec_dir)
        if os.path.dirname(cy_file) != want and not cy_file.startswith(want + os.sep):
            print(f"setup error: mmpfast._codec came from {cy_file}, not from {want}", file=sys.stderr)
            return 2
    gens = opts.generators.split(",") if opts.generators else None
    try:
        fz = Fuzzer(cy, py, golden, seed, gens)
    except ValueError as e:
        print(f"setup error: {e}", file=sys.stderr)
        return 2

    if opts.replay:
        bad = 0
        for idx in opts.replay:
            case = fz.case(idx)
            a, b = call(cy, case), call(py, case)
            print(f"case {idx}: {case.describe()}\n    cython: {a!r}\n    python: {b!r}")
            bad += a.key() != b.key() or "crash" in (a.kind, b.kind) or a.inputs_changed or b.inputs_changed
        return 1 if bad else 0

    t0 = time.monotonic()
    fz.run(opts.seconds, opts.max_inputs, opts.start, progress=lambda s: print(s, flush=True),
           max_findings=opts.max_findings)
    dt = time.monotonic() - t0
    for line in fz.summary():
        print(line)
    print(f"RESULT seed {seed}: {fz.inputs} inputs tried in {dt:.1f} s "
          f"({fz.inputs / max(dt, 1e-9):.0f}/s), {len(fz.crashes)} crashes, "
          f"{len(fz.disagreements)} disagreements")
    return 1 if (fz.crashes or fz.disagreements) else 0


if __name__ == "__main__":
    sys.exit(main())
