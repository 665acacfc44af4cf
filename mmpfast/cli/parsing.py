"""Command-line text to values: integers (decimal or ``0x`` hex), floats, on/off
states, ``HOST[:PORT]`` and module lists.  Every refusal is a ``UsageError``
(exit status 2), raised before anything is sent."""
from __future__ import annotations

import ipaddress
from typing import Dict, List, Optional, Tuple

from .. import memmap
from .errors import UsageError

__all__ = ["DEFAULT_PORT", "parse_int", "parse_float", "parse_state", "parse_host",
           "parse_module_spec"]

#: the OptoMMP TCP port a HOST without ``:PORT`` means
DEFAULT_PORT = 2001


def parse_int(text: str, what: str, lo: int = -(1 << 63), hi: int = (1 << 64) - 1) -> int:
    """An integer from decimal or ``0x``/``0o``/``0b`` text (``UsageError`` otherwise)."""
    try:
        value = int(text, 0)
    except ValueError:
        try:
            value = int(text, 10)       # "010": int(x, 0) refuses leading zeros
        except ValueError:
            raise UsageError(f"{what} must be an integer, got {text!r}") from None
    if not lo <= value <= hi:
        raise UsageError(f"{what} {value} out of range {lo}..{hi}")
    return value


def parse_float(text: str, what: str) -> float:
    """A float from text (``nan`` and ``inf`` accepted; the client or device decides)."""
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"{what} must be a number, got {text!r}") from None


_ON = {"on", "1", "true", "yes", "high"}
_OFF = {"off", "0", "false", "no", "low"}


def parse_state(text: str) -> bool:
    """``on``/``1``/``true`` -> True, ``off``/``0``/``false`` -> False."""
    t = text.strip().lower()
    if t in _ON:
        return True
    if t in _OFF:
        return False
    raise UsageError(f"state must be on or off (1/0, true/false), got {text!r}")


def is_ip_address(text: str, version: Optional[int] = None) -> bool:
    """True when ``text`` is an IP address literal (of ``version`` 4 or 6 when given)."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return version is None or address.version == version


def parse_host(text: str, port: Optional[int] = None) -> Tuple[str, int]:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` -> ``(host, port)``.

    A bare IPv6 address (``::1``) is a host without a port; any other text
    with more than one colon (``host:port:junk``) is a ``UsageError``.
    ``port`` is the ``--port`` option (``None`` when not given); a port in
    the text and a different ``--port`` is a ``UsageError``.
    """
    text = text.strip()
    given: Optional[str] = None
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise UsageError(f"bad host {text!r} (use [address]:port for IPv6)")
        given = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, given = text.split(":")
    elif ":" in text and not is_ip_address(text, 6):
        raise UsageError(f"bad host {text!r} (use host:port, or [address]:port for IPv6)")
    else:
        host = text                      # a name, IPv4, or a bare IPv6 address
    if not host:
        raise UsageError(f"bad host {text!r}")
    if given is not None:
        p = parse_int(given, "port", 1, 0xFFFF)
        if port is not None and port != p:
            raise UsageError(f"port {p} in {text!r} disagrees with --port {port}")
        return host, p
    return host, DEFAULT_PORT if port is None else port


_KIND_WORDS = {"d": "digital", "di": "digital", "do": "digital", "digital": "digital",
               "a": "analog", "ai": "analog", "ao": "analog", "analog": "analog",
               "b": "both", "both": "both"}


def parse_module_spec(text: str, default_kind: str = "both") -> List[Tuple[int, str]]:
    """``"0-3,8"`` or ``"0-1:d,2-3:a"`` -> sorted ``[(module, kind), ...]``.

    ``kind`` is ``"digital"`` or ``"analog"``; an item without ``:kind``
    takes ``default_kind`` (``"both"`` gives one entry of each kind).
    """
    out: Dict[Tuple[int, str], None] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        rng, _, kind_text = item.partition(":")
        kind = _KIND_WORDS.get(kind_text.strip().lower() or default_kind)
        if kind is None:
            raise UsageError(f"unknown module kind {kind_text!r} in {item!r} (use d or a)")
        first, dash, last = rng.partition("-")
        lo = parse_int(first, "module", 0, memmap.MAX_MODULES - 1)
        hi = parse_int(last, "module", 0, memmap.MAX_MODULES - 1) if dash else lo
        if hi < lo:
            raise UsageError(f"module range {rng!r} runs backwards")
        for m in range(lo, hi + 1):
            for k in (("digital", "analog") if kind == "both" else (kind,)):
                out[(m, k)] = None
    if not out:
        raise UsageError("no modules given (e.g. --modules 0-3,8)")
    return sorted(out, key=lambda mk: (mk[0], mk[1] != "digital"))
