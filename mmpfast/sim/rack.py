"""The simulated groov EPIC rack: which module sits in which slot.

A rack has up to ``memmap.MAX_MODULES`` (16) slots.  Each slot is empty
(``None``) or holds a module of one kind with 1..32 channels:

* ``"di"`` digital input, ``"do"`` digital output,
* ``"ai"`` analog input, ``"ao"`` analog output.

Specs are accepted as ``ModuleSpec`` objects, ``(kind, channels)`` tuples,
``"kind:channels"`` strings, a bare ``"kind"`` (default channel count of
that kind) or ``None`` / ``"-"`` / ``"none"`` / ``"empty"`` for an empty slot.
The point configuration shows each module's ``module_type`` and its
channels' ``point_type`` (codes in ``POINT_TYPES``).
A list shorter than 16 leaves the remaining slots empty.

The default rack (``DEFAULT_LAYOUT``) is::

    slot  0 di 32     slot  4 di 24     slot  8 di 32     slot 12 di 16
    slot  1 do 16     slot  5 do 16     slot  9 do 32     slot 13 do 8
    slot  2 ai  8     slot  6 ai 12     slot 10 ai 16     slot 14 (empty)
    slot  3 ao  4     slot  7 ao  8     slot 11 ao  4     slot 15 (empty)
"""
from __future__ import annotations

from typing import Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

from .. import memmap

KINDS = ("di", "do", "ai", "ao")
DIGITAL_KINDS = frozenset({"di", "do"})
ANALOG_KINDS = frozenset({"ai", "ao"})
OUTPUT_KINDS = frozenset({"do", "ao"})
#: most channels a simulated module may have (the packed areas hold 32 per module)
MAX_MODULE_CHANNELS = memmap.PACKED_VALUES_CHANNELS
#: channel count used when a spec names only the kind
DEFAULT_CHANNELS = {"di": 32, "do": 16, "ai": 8, "ao": 4}
#: point type codes shown in the point configuration: digital in 0x100 and out 0x180
#: (docs/protocol.md §3.7); analog in 0x200 and out 0x280 follow the same pattern [INF]
POINT_TYPES = {"di": 0x100, "do": 0x180, "ai": 0x200, "ao": 0x280}
_EMPTY_WORDS = frozenset({"", "-", "none", "empty", "x"})


class ModuleSpec(NamedTuple):
    """One module: ``kind`` in ``KINDS`` and ``channels`` in 1..32."""

    kind: str
    channels: int

    @property
    def digital(self) -> bool:
        """True for ``di`` and ``do`` modules."""
        return self.kind in DIGITAL_KINDS

    @property
    def analog(self) -> bool:
        """True for ``ai`` and ``ao`` modules."""
        return self.kind in ANALOG_KINDS

    @property
    def output(self) -> bool:
        """True for ``do`` and ``ao`` modules (writable through the write slots)."""
        return self.kind in OUTPUT_KINDS

    @property
    def point_type(self) -> int:
        """The point type code of its channels (``POINT_TYPES``)."""
        return POINT_TYPES[self.kind]

    @property
    def module_type(self) -> int:
        """The module type code: ``point_type << 16 | channels`` [INF]."""
        return (POINT_TYPES[self.kind] << 16) | self.channels


SpecLike = Union[None, str, ModuleSpec, Tuple[str, int], Sequence[object]]

DEFAULT_LAYOUT: Tuple[Optional[ModuleSpec], ...] = (
    ModuleSpec("di", 32), ModuleSpec("do", 16), ModuleSpec("ai", 8), ModuleSpec("ao", 4),
    ModuleSpec("di", 24), ModuleSpec("do", 16), ModuleSpec("ai", 12), ModuleSpec("ao", 8),
    ModuleSpec("di", 32), ModuleSpec("do", 32), ModuleSpec("ai", 16), ModuleSpec("ao", 4),
    ModuleSpec("di", 16), ModuleSpec("do", 8), None, None,
)


def parse_module(spec: SpecLike) -> Optional[ModuleSpec]:
    """One module spec (see the module docstring) as a ``ModuleSpec`` or ``None``."""
    if spec is None:
        return None
    if isinstance(spec, str):
        text = spec.strip().lower()
        if text in _EMPTY_WORDS:
            return None
        kind, sep, count = text.partition(":")
        kind = kind.strip()
        if kind not in KINDS:
            raise ValueError(f"unknown module kind {kind!r} (expected one of {', '.join(KINDS)})")
        if not sep:
            return ModuleSpec(kind, DEFAULT_CHANNELS[kind])
        try:
            n = int(count)
        except ValueError:
            raise ValueError(f"bad channel count in module spec {spec!r}") from None
        return _checked(kind, n)
    if isinstance(spec, (tuple, list)):
        if len(spec) != 2:
            raise ValueError(f"module spec must be (kind, channels), got {spec!r}")
        k_obj, n_obj = spec
        if not isinstance(k_obj, str) or k_obj.lower() not in KINDS:
            raise ValueError(f"unknown module kind {k_obj!r} (expected one of {', '.join(KINDS)})")
        if isinstance(n_obj, bool) or not isinstance(n_obj, int):
            raise TypeError(f"channel count must be an int, not {type(n_obj).__name__}")
        return _checked(k_obj.lower(), n_obj)
    raise TypeError(f"module spec must be None, a string or (kind, channels), not {type(spec).__name__}")


def _checked(kind: str, n: int) -> ModuleSpec:
    if not 1 <= n <= MAX_MODULE_CHANNELS:
        raise ValueError(f"channel count {n} out of range 1..{MAX_MODULE_CHANNELS}")
    return ModuleSpec(kind, n)


def parse_modules(specs: Union[None, str, Iterable[SpecLike]]) -> List[Optional[ModuleSpec]]:
    """A full rack (``memmap.MAX_MODULES`` entries) from a list of specs.

    ``None`` gives ``DEFAULT_LAYOUT``.  A string is split at commas
    (``"di:32,do:16,-,ai:8"``), as the ``sim --modules`` option takes it.
    """
    if specs is None:
        return list(DEFAULT_LAYOUT)
    if isinstance(specs, str):
        items: List[SpecLike] = [s for s in specs.split(",")]
        if specs.strip() == "":
            items = []
    else:
        items = list(specs)
    if len(items) > memmap.MAX_MODULES:
        raise ValueError(f"a rack holds at most {memmap.MAX_MODULES} modules, got {len(items)}")
    rack = [parse_module(s) for s in items]
    rack.extend([None] * (memmap.MAX_MODULES - len(rack)))
    return rack


def format_rack(rack: Sequence[Optional[ModuleSpec]]) -> str:
    """The ``--modules`` text of a rack (``"di:32,do:16,-"``), trailing empty slots dropped."""
    parts = ["-" if m is None else f"{m.kind}:{m.channels}" for m in rack]
    while parts and parts[-1] == "-":
        parts.pop()
    return ",".join(parts)
