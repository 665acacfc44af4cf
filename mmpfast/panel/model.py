"""What the panel shows, and how one scan pass becomes the page's changes (no I/O).

A :class:`Layout` lists the rack's modules.  A known rack (the simulator's,
or ``--modules`` on the command line, in the ``mmpfast sim --modules``
syntax) gives each module its kind (``di``, ``do``, ``ai``, ``ao``) and
channel count.  An unknown rack (a real device without ``--modules``) is 16
modules of kind ``"unknown"`` with 32 channels each: every channel is shown
both as a digital state and as an analog value, all read from the packed
areas (PROTOCOL.md §3.6), plus the module quality mask so that absent
modules can be dimmed.

:meth:`Layout.plan` builds the :class:`~mmpfast.ScanPlan` of one pass.
Point names are the page's keys:

* ``d:M:C`` digital state (0/1), ``a:M:C`` analog value (float),
  ``n:M:C`` digital feature value (counter, uint32) of a known digital module;
* ``p:M`` the 16 bytes of the module's packed digital record (states,
  quality mask, on-latch mask, off-latch mask; uint32 BE each) of a known
  digital module, sent to the page as ``lo:M``, ``lf:M``, ``qm:M`` masks;
* ``mq`` the module quality mask (8 bytes, modules 63..32 word then 31..0
  word), sent as ``mq``: the 31..0 word (bit m = module m absent or not good);
* ``si:I`` / ``sf:I`` scratch-pad int32 / float32 at logical index I.

:func:`snapshot` turns a :class:`~mmpfast.ScanResult` into ``{key: value}``
and :func:`changes` lists what differs from the previous snapshot, as the
JSON-ready ``[key, value]`` pairs the page applies (analog and float values
as ``repr(float)`` strings, the text of the page's ``data-value``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from .. import memmap
from ..plan import ScanPlan
from ..protocol import MAX_BLOCK

__all__ = ["ModuleView", "Layout", "snapshot", "changes", "KINDS", "SNAP_CHANNELS"]

#: module kinds the page knows ("unknown": a real rack whose layout was not given)
KINDS = ("di", "do", "ai", "ao", "unknown")
#: channels per module on a SNAP PAC rack (point p = 4 * module + channel)
SNAP_CHANNELS = memmap.SNAP_CHANNELS
_UNKNOWN_CHANNELS = memmap.PACKED_VALUES_CHANNELS
_WORDS = 4      # uint32 words of a packed digital module record


@dataclass(frozen=True)
class ModuleView:
    """One rack slot as the page shows it."""

    index: int          #: slot 0..15
    kind: str           #: one of ``KINDS``
    channels: int       #: channels shown

    @property
    def digital(self) -> bool:
        """The module's channels show as lamps."""
        return self.kind in ("di", "do", "unknown")

    @property
    def analog(self) -> bool:
        """The module's channels show as numbers."""
        return self.kind in ("ai", "ao", "unknown")

    @property
    def output(self) -> bool:
        """Writable through the device's write areas (or unknown: maybe)."""
        return self.kind in ("do", "ao", "unknown")

    def as_json(self) -> Dict[str, Any]:
        return {"index": self.index, "kind": self.kind, "channels": self.channels}


class Layout:
    """The modules of one rack and the scratch-pad values the panel shows.

    ``device`` is ``"epic"`` or ``"snap"``; ``scratchpad`` is how many int32
    and how many float32 scratch-pad values (from index 0) the table shows.
    """

    def __init__(self, modules: Sequence[ModuleView], *, device: str = "epic",
                 scratchpad: int = 0, known: bool = True) -> None:
        if device not in ("epic", "snap"):
            raise ValueError(f"device must be 'epic' or 'snap', not {device!r}")
        if isinstance(scratchpad, bool) or not isinstance(scratchpad, int):
            raise TypeError("scratchpad must be an int")
        if not 0 <= scratchpad <= 256:
            raise ValueError(f"scratchpad {scratchpad} out of range 0..256")
        self.modules: Tuple[ModuleView, ...] = tuple(modules)
        self.device = device
        self.scratchpad = scratchpad
        self.known = known
        self._by_index = {m.index: m for m in self.modules}

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_rack(cls, rack: Sequence[Any], *, device: str = "epic", scratchpad: int = 0) -> "Layout":
        """From a rack of ``ModuleSpec``-like entries (``.kind``, ``.channels``) or ``None``
        (as ``mmpfast.sim.rack.parse_modules`` returns; ``Simulator.memory.rack``)."""
        mods = [ModuleView(i, str(s.kind), int(s.channels)) for i, s in enumerate(rack) if s is not None]
        return cls(mods, device=device, scratchpad=scratchpad)

    @classmethod
    def from_spec(cls, spec: Union[None, str], *, device: str = "epic", scratchpad: int = 0) -> "Layout":
        """From a ``--modules`` text (``"di:32,do:16,-,ai:8"``); ``None``: the unknown rack."""
        if spec is None:
            return cls.unknown(device=device, scratchpad=scratchpad)
        from ..sim.rack import parse_modules   # pure parsing (no sockets): the simulator's syntax
        rack = parse_modules(spec)
        if device == "snap":
            for i, s in enumerate(rack):
                if s is not None and s.channels > SNAP_CHANNELS:
                    raise ValueError(f"module {i}: a SNAP PAC module has at most {SNAP_CHANNELS} channels")
        return cls.from_rack(rack, device=device, scratchpad=scratchpad)

    @classmethod
    def unknown(cls, *, device: str = "epic", scratchpad: int = 0) -> "Layout":
        """Every slot, each channel read both as a digital state and an analog value."""
        n = SNAP_CHANNELS if device == "snap" else _UNKNOWN_CHANNELS
        mods = [ModuleView(i, "unknown", n) for i in range(memmap.MAX_MODULES)]
        return cls(mods, device=device, scratchpad=scratchpad, known=False)

    # ------------------------------------------------------------------ queries
    def module(self, index: int) -> Optional[ModuleView]:
        """The module in slot ``index`` (``None`` for an empty or unknown slot number)."""
        return self._by_index.get(index)

    def writable(self, kind: str, module: int, channel: int) -> bool:
        """True when (module, channel) is an output of family ``kind`` ("digital"/"analog")."""
        m = self._by_index.get(module)
        if m is None or not (0 <= channel < m.channels) or not m.output:
            return False
        return m.digital if kind == "digital" else m.analog

    def input(self, kind: str, module: int, channel: int) -> bool:
        """True when (module, channel) is an input of family ``kind`` on a known rack."""
        m = self._by_index.get(module)
        if m is None or not (0 <= channel < m.channels):
            return False
        return m.kind == ("di" if kind == "digital" else "ai")

    def as_json(self) -> Dict[str, Any]:
        return {"device": self.device, "known": self.known, "scratchpad": self.scratchpad,
                "modules": [m.as_json() for m in self.modules]}

    # ------------------------------------------------------------------ the plan
    def plan(self, max_block: int = MAX_BLOCK) -> "ScanPlan":
        """The frozen ``ScanPlan`` of one pass (names as in the module docstring)."""
        plan = ScanPlan(max_block, device=self.device)
        for m in self.modules:
            i = m.index
            if m.digital:
                for c in range(m.channels):
                    plan.add_digital(i, c, name=f"d:{i}:{c}")
            if m.analog:
                for c in range(m.channels):
                    plan.add_analog(i, c, name=f"a:{i}:{c}")
            if self.device == "epic" and m.kind in ("di", "do"):
                for c in range(min(m.channels, memmap.PACKED_VALUES_CHANNELS)):
                    plan.add_digital_counter(i, c, name=f"n:{i}:{c}")
                plan.add_raw(memmap.PACKED_DIGITAL_MODULE + memmap.PACKED_DIGITAL_MODULE_STRIDE * i,
                             _WORDS * 4, name=f"p:{i}")
        if self.device == "epic" and not self.known:
            plan.add_raw(memmap.MODULE_QUALITY_MASK, 8, name="mq")
        if self.scratchpad:
            plan.add_scratchpad_int32(0, self.scratchpad, name="si")
            plan.add_scratchpad_float(0, self.scratchpad, name="sf")
        return plan.freeze()


def _u32(raw: bytes, i: int) -> int:
    return int.from_bytes(raw[4 * i:4 * i + 4], "big")


def snapshot(values: Dict[str, Any]) -> Dict[str, Any]:
    """The page's ``{key: value}`` from ``ScanResult.values()`` of a :meth:`Layout.plan`.

    Digital states become 0/1, packed module records and the module quality
    mask become ints, scratch-pad runs become one key per index.
    """
    out: Dict[str, Any] = {}
    for name, v in values.items():
        head = name[0]
        if head == "d":
            out[name] = 1 if v else 0
        elif head == "p":
            raw = bytes(v)
            m = name[2:]
            out["qm:" + m] = _u32(raw, 1)
            out["lo:" + m] = _u32(raw, 2)
            out["lf:" + m] = _u32(raw, 3)
        elif name == "mq":
            raw = bytes(v)
            out["mq"] = _u32(raw, 1)        # the word of modules 31..0
        elif name == "si" or name == "sf":
            seq = v if isinstance(v, list) else [v]
            for i, x in enumerate(seq):
                out[f"{name}:{i}"] = x
        else:
            out[name] = v
    return out


def _wire(key: str, v: Any) -> Any:
    if isinstance(v, float):
        return repr(v)
    return v


def changes(prev: Optional[Dict[str, Any]], cur: Dict[str, Any]) -> List[List[Any]]:
    """``[key, value]`` pairs of ``cur`` that differ from ``prev`` (all of them when
    ``prev`` is None); floats as ``repr`` strings (NaN equals NaN here)."""
    if prev is None:
        return [[k, _wire(k, v)] for k, v in cur.items()]
    out: List[List[Any]] = []
    get = prev.get
    for k, v in cur.items():
        p = get(k)
        if p != v:
            if isinstance(v, float) and isinstance(p, float) and math.isnan(v) and math.isnan(p):
                continue
            out.append([k, _wire(k, v)])
    return out
