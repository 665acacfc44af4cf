"""Argument checks of the client calls and options, and their shared types (no I/O).

Each check raises ``TypeError`` for a value of the wrong type and
``ValueError`` for one out of range, before anything is sent; the message
names the argument.  Used by ``mmpfast.calls`` (the calls) and
``mmpfast.policy`` (the client options).
"""
from __future__ import annotations

import codecs
import math
import operator
import sys
from typing import TYPE_CHECKING, Any, Iterable, Tuple, Union

from .protocol import HEADER_BLOCK, MAX_ADDRESS, MAX_DATA_LENGTH, MAX_PORT, TL_MODULO

__all__ = ["DEFAULT_ENCODING", "Number", "Values", "Buffer", "as_int", "point", "check_span", "byte_view",
           "check_state", "check_finite", "check_encoding", "check_errors", "check_feature", "u32",
           "check_options", "check_endpoint", "TRANSPORTS", "MAX_UDP_BLOCK", "check_transport"]

#: Text encoding of scratch-pad strings unless a call says otherwise.  UTF-8
#: is a superset of the ASCII that Opto 22's tools write; the 128-byte limit
#: counts encoded bytes.
DEFAULT_ENCODING = "utf-8"

Number = Union[int, float]
#: one number or a sequence of numbers (scratch-pad writes)
Values = Union[Number, Iterable[Number]]

if sys.version_info >= (3, 12):
    from collections.abc import Buffer
elif TYPE_CHECKING:
    from typing_extensions import Buffer
else:
    Buffer = Any   #: any object supporting the buffer protocol (bytes, bytearray, memoryview, array, numpy)


def as_int(name: str, value: object) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not bool")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an int, not {type(value).__name__}") from None


def point(module: object, channel: object) -> Tuple[int, int]:
    return as_int("module", module), as_int("channel", channel)


def check_span(address: object, length: object) -> Tuple[int, int]:
    a = as_int("address", address)
    n = as_int("length", length)
    if not 0 <= a <= MAX_ADDRESS:
        raise ValueError(f"address 0x{a:X} out of range 0..0xFFFFFFFF")
    if n < 0:
        raise ValueError(f"length {n} is negative")
    if a + n - 1 > MAX_ADDRESS:
        raise ValueError(f"{n} bytes from 0x{a:08X} run past 0xFFFFFFFF")
    return a, n


def byte_view(obj: object, name: str, writable: bool = False) -> memoryview:
    try:
        mv = memoryview(obj)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must support the buffer protocol, not {type(obj).__name__}") from None
    if not mv.c_contiguous:
        raise TypeError(f"{name} must be C-contiguous")
    if writable and mv.readonly:
        raise TypeError(f"{name} must be writable")
    if mv.format != "B" or mv.ndim != 1:
        mv = mv.cast("B")
    return mv


def check_state(state: object) -> int:
    if isinstance(state, bool):
        return int(state)
    if isinstance(state, int):
        if state in (0, 1):
            return int(state)
        raise ValueError(f"state must be 0, 1, False or True, not {state}")
    raise TypeError(f"state must be a bool, not {type(state).__name__}")


def check_finite(value: object) -> float:
    if isinstance(value, (str, bytes)) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise TypeError(f"value must be a real number, not {type(value).__name__}")
    f = float(value)
    if not math.isfinite(f):
        raise ValueError(f"{f!r} is not a finite number; analog outputs take finite values")
    return f


def check_encoding(encoding: object) -> str:
    if not isinstance(encoding, str):
        raise TypeError(f"encoding must be a str, not {type(encoding).__name__}")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r}") from None
    return encoding


def check_errors(errors: object) -> str:
    if not isinstance(errors, str):
        raise TypeError(f"errors must be a str, not {type(errors).__name__}")
    try:
        codecs.lookup_error(errors)
    except LookupError:
        raise ValueError(f"unknown error handler {errors!r}") from None
    return errors


def u32(raw: memoryview, offset: int) -> int:
    return int.from_bytes(raw[offset:offset + 4], "big")


def check_options(timeout: object, max_block: object, pipeline: object) -> Tuple[float, int, int]:
    """Validate client options: ``timeout`` seconds > 0, ``max_block`` 8..65535 bytes, ``pipeline`` 1..64."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    t = float(timeout)
    if not (t > 0 and math.isfinite(t)):
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    mb = as_int("max_block", max_block)
    if not 8 <= mb <= MAX_DATA_LENGTH:
        raise ValueError(f"max_block {mb} out of range 8..{MAX_DATA_LENGTH}")
    pl = as_int("pipeline", pipeline)
    if not 1 <= pl <= TL_MODULO:
        raise ValueError(f"pipeline {pl} out of range 1..{TL_MODULO}")
    return t, mb, pl


def check_endpoint(host: object, port: object) -> Tuple[str, int]:
    """Validate a controller's address: ``host`` a non-empty str, ``port`` 0..65535 (TCP)."""
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, not {type(host).__name__}")
    if not host:
        raise ValueError("host must not be empty")
    p = as_int("port", port)
    if not 0 < p <= MAX_PORT:
        raise ValueError(f"port {p} out of range 1..{MAX_PORT}")
    return host, p


def check_feature(feature: object) -> int:
    """A point feature code: an int 0..0xFFFFFFFF (written as uint32 BE)."""
    f = as_int("feature", feature)
    if not 0 <= f <= 0xFFFFFFFF:
        raise ValueError(f"feature {f} out of range 0..0xFFFFFFFF")
    return f


#: the transports a client speaks
TRANSPORTS = ("tcp", "udp")
#: largest ``max_block`` over UDP: a 16-byte header plus the data must fit one IPv4 datagram
MAX_UDP_BLOCK = 65507 - HEADER_BLOCK


def check_transport(transport: object) -> str:
    """``"tcp"`` or ``"udp"``; anything else is ``ValueError`` (a non-str ``TypeError``)."""
    if not isinstance(transport, str):
        raise TypeError(f"transport must be a str, not {type(transport).__name__}")
    if transport not in TRANSPORTS:
        raise ValueError(f"transport must be 'tcp' or 'udp', not {transport!r}")
    return transport
