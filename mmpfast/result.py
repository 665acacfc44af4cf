"""The data of one scan pass, decoded only when asked (no I/O).

A :class:`ScanResult` wraps the result buffer of a frozen
:class:`~mmpfast.plan.ScanPlan`: the plan's block reads back to back, the
device's own big-endian bytes.  Every decode goes through the plan's
precomputed :class:`mmpfast.codec.GatherLayout` objects (one for the whole
plan, one per point), built once when the plan froze, with the codec that
was loaded then: ``values()`` is one compiled call on the compiled codec,
and the pure codec runs the same call.
"""
from __future__ import annotations

from array import array
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Tuple

from .points import Point, Run, element_size

if TYPE_CHECKING:   # the plan imports this module; no import at run time
    import mmpfast.plan

__all__ = ["ScanResult"]


class ScanResult:
    """The data of one scan pass, decoded only when asked.

    ``buffer`` is a memoryview of the raw big-endian bytes (layout: the
    plan's requests back to back).  ``res[name]`` decodes one point,
    ``values()`` all of them in one codec call, ``array(name)`` /
    ``into(name, dest)`` convert a scratch-pad run to native numbers with
    one ``codec.unpack_be_into`` call.
    """

    __slots__ = ("plan", "buffer")

    def __init__(self, plan: "mmpfast.plan.ScanPlan", buffer: Any) -> None:
        plan.freeze()
        mv = memoryview(buffer)
        if mv.ndim != 1 or mv.format != "B":
            mv = mv.cast("B")
        size = plan.buffer_size
        if mv.nbytes < size:
            raise ValueError(f"buffer holds {mv.nbytes} bytes, the plan needs {size}")
        self.plan = plan
        self.buffer = mv[:size] if mv.nbytes != size else mv

    def _point(self, name: str) -> Point:
        try:
            return self.plan._by_name[name]
        except (KeyError, TypeError):
            raise KeyError(name) from None

    def __getitem__(self, name: str) -> Any:
        return self._point(name).layout.decode_list(self.buffer)[0]

    def get(self, name: str, default: Any = None) -> Any:
        """``res[name]``, or ``default`` when the plan has no such point."""
        p = self.plan._by_name.get(name)
        return default if p is None else p.layout.decode_list(self.buffer)[0]

    def values(self) -> Dict[str, Any]:
        """Every point decoded: ``{name: value}`` in the order the points were added."""
        result: Dict[str, Any] = self.plan._layout.decode(self.buffer)
        return result

    def raw(self, name: str) -> bytes:
        """The point's undecoded bytes (big-endian, as the device sent them)."""
        return bytes(self._point(name).data(self.buffer))

    def _run(self, name: str) -> Run:
        p = self._point(name)
        if not isinstance(p, Run):
            raise TypeError(f"{name!r} is not a scratch-pad run")
        return p

    def array(self, name: str) -> "array[Any]":
        """A scratch-pad run as a native ``array`` (``'i'``, ``'f'`` or ``'q'``)."""
        p = self._run(name)
        out = array(p.code, bytes(p.count * element_size(p.code)))
        self.into(name, out)
        return out

    def into(self, name: str, dest: Any) -> int:
        """Convert a scratch-pad run into ``dest`` (any writable buffer of
        native elements: ``array``, numpy array, bytearray); returns the count."""
        p = self._run(name)
        unpack_into = self.plan._codec.unpack_be_into
        if len(p.segments) == 1:
            a, b = p.segments[0]
            return int(unpack_into(self.buffer[a:b], dest, p.code))
        # a run crossing scratch-pad areas whose halves are apart in the buffer
        mv = memoryview(dest)
        if mv.ndim != 1 or mv.format != "B":
            mv = mv.cast("B")
        size = element_size(p.code)
        if mv.nbytes < p.count * size:
            raise ValueError(f"dest holds {mv.nbytes} bytes, {p.count * size} needed")
        pos = n = 0
        for a, b in p.segments:
            k = int(unpack_into(self.buffer[a:b], mv[pos:], p.code))
            pos += k * size
            n += k
        return n

    def __len__(self) -> int:
        return len(self.plan._by_name)

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
