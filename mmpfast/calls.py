"""The public calls of ``Client`` and ``AsyncClient``, written once (sans-I/O).

Every public client call is built here exactly once: an ``op_*`` function
checks the arguments (``ValueError`` out of range, ``TypeError`` for a wrong
type, before anything is sent) and returns an ``mmpfast.engine.Operation``:
the block reads or block writes the call needs and a ``finish`` that builds its
return value.  The clients hand the operation to their transport, which drives
it with ``mmpfast.engine.exchange``.  The typed methods of both clients are
generated from one table (``tools/gen_client_api.py``); ``step`` is the
client's ``max_block``.

This module imports no ``socket``, ``select``, ``time`` or ``asyncio``.
All values are big-endian on the wire.
"""
from __future__ import annotations

import codecs
import math
import operator
import sys
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Tuple, TypeVar, Union

from . import codec, memmap
from .engine import Operation, chunk, nothing, ranges_op, read_op, single_read, single_write, write_chunks
from .errors import MmpProtocolError
from .plan import ScanPlan, ScanResult
from .protocol import MAX_ADDRESS, MAX_DATA_LENGTH, MAX_PORT, TL_MODULO
from .records import AnalogChannel, DigitalChannel, Status

__all__ = ["DEFAULT_ENCODING", "Values", "Buffer", "check_options", "check_endpoint"]

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
T = TypeVar("T")


# =============================================================================
# Argument checks
# =============================================================================
def _as_int(name: str, value: object) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not bool")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an int, not {type(value).__name__}") from None


def _point(module: object, channel: object) -> Tuple[int, int]:
    return _as_int("module", module), _as_int("channel", channel)


#: (module, channel) -> address, for the per-point calls (filled on first use; the
#: addresses themselves come from memmap)
_DIGITAL_STATE: Dict[Tuple[int, int], int] = {}
_ANALOG_VALUE: Dict[Tuple[int, int], int] = {}


def _digital_state_address(module: object, channel: object) -> int:
    if type(module) is int and type(channel) is int:
        address = _DIGITAL_STATE.get((module, channel))
        if address is not None:
            return address
    m, c = _point(module, channel)
    address = _DIGITAL_STATE[m, c] = memmap.digital_read_address(m, c) + memmap.DIG_STATE
    return address


def _analog_value_address(module: object, channel: object) -> int:
    if type(module) is int and type(channel) is int:
        address = _ANALOG_VALUE.get((module, channel))
        if address is not None:
            return address
    m, c = _point(module, channel)
    address = _ANALOG_VALUE[m, c] = memmap.analog_read_address(m, c) + memmap.ANA_VALUE
    return address


def _check_span(address: object, length: object) -> Tuple[int, int]:
    a = _as_int("address", address)
    n = _as_int("length", length)
    if not 0 <= a <= MAX_ADDRESS:
        raise ValueError(f"address 0x{a:X} out of range 0..0xFFFFFFFF")
    if n < 0:
        raise ValueError(f"length {n} is negative")
    if a + n - 1 > MAX_ADDRESS:
        raise ValueError(f"{n} bytes from 0x{a:08X} run past 0xFFFFFFFF")
    return a, n


def _byte_view(obj: object, name: str, writable: bool = False) -> memoryview:
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


def _check_state(state: object) -> int:
    if isinstance(state, bool):
        return int(state)
    if isinstance(state, int):
        if state in (0, 1):
            return int(state)
        raise ValueError(f"state must be 0, 1, False or True, not {state}")
    raise TypeError(f"state must be a bool, not {type(state).__name__}")


def _check_finite(value: object) -> float:
    if isinstance(value, (str, bytes)) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise TypeError(f"value must be a real number, not {type(value).__name__}")
    f = float(value)
    if not math.isfinite(f):
        raise ValueError(f"{f!r} is not a finite number; analog outputs take finite values")
    return f


def _check_encoding(encoding: object) -> str:
    if not isinstance(encoding, str):
        raise TypeError(f"encoding must be a str, not {type(encoding).__name__}")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r}") from None
    return encoding


def _check_errors(errors: object) -> str:
    if not isinstance(errors, str):
        raise TypeError(f"errors must be a str, not {type(errors).__name__}")
    try:
        codecs.lookup_error(errors)
    except LookupError:
        raise ValueError(f"unknown error handler {errors!r}") from None
    return errors


def _u32(raw: memoryview, offset: int) -> int:
    return int.from_bytes(raw[offset:offset + 4], "big")


def check_options(timeout: object, max_block: object, pipeline: object) -> Tuple[float, int, int]:
    """Validate client options: ``timeout`` seconds > 0, ``max_block`` 8..65535 bytes, ``pipeline`` 1..64."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    t = float(timeout)
    if not (t > 0 and math.isfinite(t)):
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    mb = _as_int("max_block", max_block)
    if not 8 <= mb <= MAX_DATA_LENGTH:
        raise ValueError(f"max_block {mb} out of range 8..{MAX_DATA_LENGTH}")
    pl = _as_int("pipeline", pipeline)
    if not 1 <= pl <= TL_MODULO:
        raise ValueError(f"pipeline {pl} out of range 1..{TL_MODULO}")
    return t, mb, pl


def check_endpoint(host: object, port: object) -> Tuple[str, int]:
    """Validate a controller's address: ``host`` a non-empty str, ``port`` 0..65535 (TCP)."""
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, not {type(host).__name__}")
    if not host:
        raise ValueError("host must not be empty")
    p = _as_int("port", port)
    if not 0 < p <= MAX_PORT:
        raise ValueError(f"port {p} out of range 1..{MAX_PORT}")
    return host, p


# =============================================================================
# The public calls, written once for both clients (``step`` is the client's max_block)
# =============================================================================
def op_read(step: int, address: object, length: object) -> Operation[bytes]:
    a, n = _check_span(address, length)
    buf = bytearray(n)
    return read_op(a, n, step, buf, lambda: bytes(buf))


def op_read_into(step: int, address: object, buffer: object) -> Operation[None]:
    mv = _byte_view(buffer, "buffer", writable=True)
    a, n = _check_span(address, mv.nbytes)
    return read_op(a, n, step, mv, nothing)


def op_write(step: int, address: object, data: object) -> Operation[None]:
    mv = _byte_view(data, "data")
    a, n = _check_span(address, mv.nbytes)
    if n == 0:
        return Operation(nothing, chunks=[])
    payload = memoryview(bytes(mv))     # a private copy: the caller may reuse its buffer
    return Operation(nothing, chunks=write_chunks(a, payload, step))


def op_uptime_ms(step: int) -> Operation[int]:
    buf = bytearray(4)
    return single_read(memmap.STATUS_UPTIME_MS, 4, buf, lambda: int.from_bytes(buf, "big"), True)


def op_status(step: int) -> Operation[Status]:
    n = memmap.STATUS_BLOCK_LENGTH
    buf = bytearray(n)

    def finish() -> Status:
        raw = memoryview(buf)
        b = memmap.STATUS_READ_BASE
        fw = memmap.STATUS_FIRMWARE_VERSION - b
        pn = memmap.STATUS_PART_NUMBER - b
        mac = memmap.STATUS_MAC_ETH0 - b
        ip = memmap.STATUS_IP_ETH0 - b
        return Status(
            uptime_ms=_u32(raw, memmap.STATUS_UPTIME_MS - b),
            firmware=memmap.format_firmware(bytes(raw[fw:fw + 4])),
            part_number=memmap.decode_zstring(bytes(raw[pn:pn + memmap.PART_NUMBER_LENGTH])),
            mac=memmap.format_mac(bytes(raw[mac:mac + memmap.MAC_LENGTH])),
            ip=memmap.format_ip(bytes(raw[ip:ip + memmap.IP_LENGTH])),
            serial=_u32(raw, memmap.STATUS_SERIAL_NUMBER - b),
            last_error=_u32(raw, memmap.STATUS_LAST_ERROR - b),
            powerup_clear_needed=_u32(raw, memmap.STATUS_PUC_FLAG - b) != 0,
        )
    return read_op(memmap.STATUS_READ_BASE, n, step, buf, finish)


def op_powerup_clear(step: int) -> Operation[None]:
    data = memoryview(memmap.OP_POWERUP_CLEAR.to_bytes(4, "big"))
    return Operation(nothing, chunks=[(memmap.STATUS_WRITE_OPERATION, data)])


def op_read_digital(step: int, module: object, channel: object) -> Operation[bool]:
    buf = bytearray(4)
    return single_read(_digital_state_address(module, channel), 4, buf, lambda: any(buf), True)


def op_write_digital(step: int, module: object, channel: object, state: object) -> Operation[None]:
    m, c = _point(module, channel)
    s = _check_state(state)
    address = memmap.digital_write_address(m, c)
    return single_write(address, memoryview(s.to_bytes(4, "big")))


def op_read_digital_channel(step: int, module: object, channel: object) -> Operation[DigitalChannel]:
    m, c = _point(module, channel)
    address = memmap.digital_read_address(m, c)
    n = memmap.DIGITAL_CHANNEL_LENGTH
    buf = bytearray(n)

    def finish() -> DigitalChannel:
        state, on, off, ftype, fvalue, quality = memmap.DIGITAL_CHANNEL_STRUCT.unpack(buf)
        return DigitalChannel(state != 0, on != 0, off != 0, ftype, fvalue, quality)
    return read_op(address, n, step, buf, finish)


def op_read_analog(step: int, module: object, channel: object) -> Operation[float]:
    buf = bytearray(4)
    return single_read(_analog_value_address(module, channel), 4, buf,
                        lambda: float(codec.unpack_be(buf, "f")[0]), True)


def op_write_analog(step: int, module: object, channel: object, value: object) -> Operation[None]:
    m, c = _point(module, channel)
    f = _check_finite(value)
    address = memmap.analog_write_address(m, c) + memmap.ANA_WRITE_VALUE
    return single_write(address, memoryview(codec.pack_be(f, "f")))


def op_read_analog_channel(step: int, module: object, channel: object) -> Operation[AnalogChannel]:
    m, c = _point(module, channel)
    address = memmap.analog_read_address(m, c)
    n = memmap.ANALOG_CHANNEL_LENGTH
    buf = bytearray(n)

    def finish() -> AnalogChannel:
        value, _counts, lo, hi, quality = memmap.ANALOG_CHANNEL_STRUCT.unpack(buf)
        return AnalogChannel(value, lo, hi, quality)
    return read_op(address, n, step, buf, finish)


def _element_step(step: int, size: int) -> int:
    return step - step % size


def _sp_read(step: int, kind: str, typecode: str, size: int, index: object, count: object) -> Operation[Any]:
    i = _as_int("index", index)
    n = _as_int("count", count)
    runs = memmap.scratchpad_runs(kind, i, n)
    buf = bytearray(size * n)
    estep = _element_step(step, size)
    ranges: List[Tuple[int, int]] = []
    offsets: List[int] = []
    lengths: List[int] = []
    for run in runs:
        base = (run.first - runs[0].first) * size
        r, o, ln = chunk(run.address, run.elements * size, estep)
        ranges += r
        offsets += [base + x for x in o]
        lengths += ln
    return Operation(lambda: codec.unpack_be(buf, typecode), ranges=ranges, offsets=offsets,
                     lengths=lengths, dest=buf)


def _sp_write(step: int, kind: str, typecode: str, size: int, index: object, values: object) -> Operation[None]:
    i = _as_int("index", index)
    if isinstance(values, (str, bytes, bytearray)):
        raise TypeError(f"values must be a number or a sequence of numbers, not {type(values).__name__}")
    data = memoryview(codec.pack_be(values, typecode))  # type: ignore[arg-type]  # checks every value
    count = data.nbytes // size
    runs = memmap.scratchpad_runs(kind, i, count)
    estep = _element_step(step, size)
    chunks: List[Tuple[int, memoryview]] = []
    for run in runs:
        base = (run.first - runs[0].first) * size
        chunks += write_chunks(run.address, data[base:base + run.elements * size], estep)
    return Operation(nothing, chunks=chunks)


def op_read_scratchpad_int32(step: int, index: object, count: object) -> Operation[List[int]]:
    return _sp_read(step, "int32", "i", 4, index, count)


def op_write_scratchpad_int32(step: int, index: object, values: object) -> Operation[None]:
    return _sp_write(step, "int32", "i", 4, index, values)


def op_read_scratchpad_float(step: int, index: object, count: object) -> Operation[List[float]]:
    return _sp_read(step, "float", "f", 4, index, count)


def op_write_scratchpad_float(step: int, index: object, values: object) -> Operation[None]:
    return _sp_write(step, "float", "f", 4, index, values)


def op_read_scratchpad_int64(step: int, index: object, count: object) -> Operation[List[int]]:
    return _sp_read(step, "int64", "q", 8, index, count)


def op_write_scratchpad_int64(step: int, index: object, values: object) -> Operation[None]:
    return _sp_write(step, "int64", "q", 8, index, values)


def op_read_scratchpad_string(step: int, slot: object, encoding: object, errors: object) -> Operation[str]:
    s = _as_int("slot", slot)
    enc = _check_encoding(encoding)
    err = _check_errors(errors)
    address = memmap.scratchpad_string_address(s)
    hdr = memmap.SCRATCHPAD_STRING_LENGTH_BYTES
    n = memmap.SCRATCHPAD_STRING_STRIDE
    buf = bytearray(n)

    def finish() -> str:
        length = int.from_bytes(buf[:hdr], "big")
        if length > memmap.SCRATCHPAD_STRING_MAX:
            raise MmpProtocolError(
                f"string slot {s}: length word {length} exceeds {memmap.SCRATCHPAD_STRING_MAX}")
        return bytes(buf[hdr:hdr + length]).decode(enc, err)
    return read_op(address, n, step, buf, finish)


def op_write_scratchpad_string(step: int, slot: object, text: object, encoding: object) -> Operation[None]:
    s = _as_int("slot", slot)
    enc = _check_encoding(encoding)
    address = memmap.scratchpad_string_address(s)
    if isinstance(text, str):
        raw = text.encode(enc)
    elif isinstance(text, (bytes, bytearray, memoryview)):
        raw = bytes(text)
    else:
        raise TypeError(f"text must be str or bytes, not {type(text).__name__}")
    if len(raw) > memmap.SCRATCHPAD_STRING_MAX:
        raise ValueError(f"{len(raw)} bytes do not fit a {memmap.SCRATCHPAD_STRING_MAX}-byte string slot")
    data = memoryview(len(raw).to_bytes(memmap.SCRATCHPAD_STRING_LENGTH_BYTES, "big") + raw)
    return Operation(nothing, chunks=write_chunks(address, data, step))


def _check_plan(plan: object) -> ScanPlan:
    if not isinstance(plan, ScanPlan):
        raise TypeError(f"plan must be a mmpfast.ScanPlan, not {type(plan).__name__}")
    return plan


def _scan_op(p: ScanPlan, dest: Any, finish: Callable[[], T]) -> Operation[T]:
    return ranges_op(p.requests, p.offsets, p.lengths, dest, finish)


def op_scan_into(step: int, plan: object, buffer: object) -> Operation[None]:
    p = _check_plan(plan)
    if type(buffer) is bytearray:       # the common case, checked without a memoryview
        size: int = len(buffer)
        dest: Any = buffer
    else:
        dest = _byte_view(buffer, "buffer", writable=True)
        size = dest.nbytes
    need = p.buffer_size
    if size < need:
        raise ValueError(f"buffer holds {size} bytes, the plan needs {need}")
    return _scan_op(p, dest, nothing)


def op_scan(step: int, plan: object) -> Operation[ScanResult]:
    p = _check_plan(plan)
    buf = p.new_buffer()
    if len(buf) < p.buffer_size:
        raise ValueError("plan.new_buffer() is smaller than plan.buffer_size")
    return _scan_op(p, buf, lambda: p.result(buf))
