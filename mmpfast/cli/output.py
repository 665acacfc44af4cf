"""Output formatting of the ``mmpfast`` commands: float32 values as the
shortest text that names them, JSON lines, durations, uptimes, two-column
tables and hex dumps."""
from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any, Dict, Iterable, List, Optional, TextIO, Tuple

__all__ = ["fmt_f32", "f32_value", "print_json", "fmt_uptime", "fmt_seconds", "table", "hexdump",
           "show", "say"]


def fmt_f32(value: float) -> str:
    """Shortest text that reads back as the same float32 (``3.1415927`` not ``3.141592741...``)."""
    from .. import codec
    if not math.isfinite(value):
        return str(value)
    want = codec.pack_be(value, "f")
    for digits in range(6, 10):
        text = f"{value:.{digits}g}"
        if codec.pack_be(float(text), "f") == want:
            return text
    return repr(value)


def f32_value(value: float) -> float:
    """A float32 read from the device as the shortest float that names it
    (3.14159, not 3.141590118408203): what ``--json`` prints."""
    return float(fmt_f32(value)) if math.isfinite(value) else value


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def print_json(obj: Any, stream: Optional[TextIO] = None) -> None:
    """One JSON object on one line (non-finite floats as the strings "NaN"/"Infinity")."""
    print(json.dumps(_jsonable(obj), separators=(", ", ": ")), file=stream or sys.stdout, flush=True)


def fmt_uptime(ms: int) -> str:
    """``"83456 ms (00:01:23.456)"``; days when longer than one."""
    s, milli = divmod(ms, 1000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    d, h = divmod(h, 24)
    clock = f"{h:02d}:{m:02d}:{s:02d}.{milli:03d}"
    return f"{ms} ms ({d} d {clock})" if d else f"{ms} ms ({clock})"


def fmt_seconds(sec: float) -> str:
    """A duration with a readable unit (``"412 us"``, ``"3.20 ms"``, ``"1.18 s"``)."""
    if not math.isfinite(sec):
        return "-"
    if sec < 1e-6:
        return f"{sec * 1e9:.0f} ns"
    if sec < 1e-5:
        return f"{sec * 1e6:.2f} us"
    if sec < 1e-3:
        return f"{sec * 1e6:.0f} us"
    if sec < 1.0:
        return f"{sec * 1e3:.2f} ms"
    return f"{sec:.2f} s"


def table(rows: Iterable[Tuple[str, str]], indent: str = "") -> List[str]:
    """Two columns, the first padded to its widest entry."""
    rows = list(rows)
    width = max((len(k) for k, _ in rows), default=0)
    return [f"{indent}{k.ljust(width)}  {v}" for k, v in rows]


def hexdump(address: int, data: bytes) -> List[str]:
    """16 bytes a line: address, hex bytes, printable ASCII."""
    lines = []
    for off in range(0, len(data), 16):
        chunk = data[off:off + 16]
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"0x{address + off:08X}  {chunk.hex(' ').ljust(47)}  {text}")
    return lines


def show(v: Any) -> str:
    """A point value as text: on/off, shortest float32, or ``str``."""
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, float):
        return fmt_f32(v)
    return str(v)


def say(args: argparse.Namespace, text: str, obj: Dict[str, Any]) -> None:
    """Print ``obj`` as JSON under ``--json``, ``text`` otherwise."""
    if args.json:
        print_json(obj)
    else:
        print(text, flush=True)
