"""The public calls of ``Client`` and ``AsyncClient``, written once (sans-I/O).

Every public client call is built here exactly once: an ``op_*`` function
checks the arguments (``mmpfast.checks``: ``ValueError`` out of range,
``TypeError`` for a wrong type, before anything is sent) and returns an
``mmpfast.engine.Operation``: the block reads or block writes the call needs
and a ``finish`` that builds its return value.  The clients hand the operation
to their transport, which drives it with ``mmpfast.engine.exchange``.  The
typed methods of both clients are generated from one table
(``tools/gen_client_api.py``); ``step`` is the client's ``max_block``,
``device`` its ``device`` (``"epic"`` or ``"snap"``).

Devices: on ``"epic"`` a point is a channel slot of the groov EPIC areas
(module 0..15, channel 0..63, docs/protocol.md §3.6); on ``"snap"`` it is the SNAP
PAC legacy point p = 4·module + channel (module 0..15, channel 0..3) of the
§3.7 point areas.  Every address comes from ``mmpfast.memmap``.

This module imports no ``socket``, ``select``, ``time`` or ``asyncio``.
All values are big-endian on the wire.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Tuple, TypeVar

from . import codec, memmap
from .checks import (DEFAULT_ENCODING, Buffer, Values, as_int, byte_view, check_encoding, check_errors,
                     check_feature, check_finite, check_span, check_state, point, u32)
from .engine import (Connection, Operation, chunk, nothing, ranges_op, read_op, single_read, single_write,
                     write_chunks)
from .errors import MmpProtocolError
from .plan import ScanPlan, ScanResult
from .records import AnalogChannel, DigitalChannel, DigitalCounts, PointConfig, Status, minmax_from_bytes

__all__ = ["DEFAULT_ENCODING", "Values", "Buffer"]

T = TypeVar("T")

#: end (exclusive) of the custom area's address list
_CUSTOM_LIST_END = memmap.CUSTOM_AREA_ADDRESSES + memmap.CUSTOM_AREA_ENTRIES * memmap.CUSTOM_AREA_ENTRY_SIZE


# =============================================================================
# The public calls, written once for both clients (``step`` is the client's max_block)
# =============================================================================
def op_read(step: int, address: object, length: object) -> Operation[bytes]:
    a, n = check_span(address, length)
    buf = bytearray(n)
    return read_op(a, n, step, buf, lambda: bytes(buf))


def op_read_into(step: int, address: object, buffer: object) -> Operation[None]:
    mv = byte_view(buffer, "buffer", writable=True)
    a, n = check_span(address, mv.nbytes)
    return read_op(a, n, step, mv, nothing)


def op_write(step: int, address: object, data: object) -> Operation[None]:
    mv = byte_view(data, "data")
    a, n = check_span(address, mv.nbytes)
    if n == 0:
        return Operation(nothing, chunks=[])
    payload = memoryview(bytes(mv))     # a private copy: the caller may reuse its buffer
    op = Operation(nothing, chunks=write_chunks(a, payload, step))
    if a < _CUSTOM_LIST_END and a + n > memmap.CUSTOM_AREA_ADDRESSES:
        op.custom = ()                  # the custom-area address list is no longer known
    return op


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
            uptime_ms=u32(raw, memmap.STATUS_UPTIME_MS - b),
            firmware=memmap.format_firmware(bytes(raw[fw:fw + 4])),
            part_number=memmap.decode_zstring(bytes(raw[pn:pn + memmap.PART_NUMBER_LENGTH])),
            mac=memmap.format_mac(bytes(raw[mac:mac + memmap.MAC_LENGTH])),
            ip=memmap.format_ip(bytes(raw[ip:ip + memmap.IP_LENGTH])),
            serial=u32(raw, memmap.STATUS_SERIAL_NUMBER - b),
            last_error=u32(raw, memmap.STATUS_LAST_ERROR - b),
            powerup_clear_needed=u32(raw, memmap.STATUS_PUC_FLAG - b) != 0,
        )
    return read_op(memmap.STATUS_READ_BASE, n, step, buf, finish)


def op_powerup_clear(step: int) -> Operation[None]:
    data = memoryview(memmap.OP_POWERUP_CLEAR.to_bytes(4, "big"))
    return Operation(nothing, chunks=[(memmap.STATUS_WRITE_OPERATION, data)])


# -----------------------------------------------------------------------------
# Points: EPIC channel slots, or SNAP PAC points (see the module docstring)
# -----------------------------------------------------------------------------
def _address_lookup(of: Dict[str, Callable[[int, int], int]]) -> Callable[[str, object, object], int]:
    """``lookup(device, module, channel)`` -> ``of[device](m, c)``, remembered per device and
    (module, channel), so the arguments are checked and the address computed once."""
    cache: Dict[str, Dict[Tuple[int, int], int]] = {device: {} for device in of}

    def lookup(device: str, module: object, channel: object) -> int:
        known = cache[device]
        if type(module) is int and type(channel) is int:
            address = known.get((module, channel))
            if address is not None:
                return address
        m, c = point(module, channel)
        address = known[m, c] = of[device](m, c)
        return address
    return lookup


#: the address of a point's state (digital) or value (analog), per device
_digital_state_address = _address_lookup({
    "epic": lambda m, c: memmap.digital_read_address(m, c) + memmap.DIG_STATE,
    "snap": lambda m, c: memmap.snap_digital_read_address(m, c) + memmap.SNAP_DIG_STATE,
})
_analog_value_address = _address_lookup({
    "epic": lambda m, c: memmap.analog_read_address(m, c) + memmap.ANA_VALUE,
    "snap": lambda m, c: memmap.snap_analog_read_address(m, c) + memmap.SNAP_ANA_VALUE,
})


def op_read_digital(step: int, device: str, module: object, channel: object) -> Operation[bool]:
    buf = bytearray(4)
    return single_read(_digital_state_address(device, module, channel), 4, buf, lambda: any(buf), True)


def op_write_digital(step: int, device: str, module: object, channel: object,
                     state: object) -> Operation[None]:
    m, c = point(module, channel)
    s = check_state(state)
    if device == "snap":      # command words: non-zero at +0 turns on, at +4 turns off
        base = memmap.snap_digital_write_address(m, c)
        address = base + (memmap.SNAP_DIG_TURN_ON if s else memmap.SNAP_DIG_TURN_OFF)
        return single_write(address, memoryview(b"\0\0\0\x01"))
    address = memmap.digital_write_address(m, c)
    return single_write(address, memoryview(s.to_bytes(4, "big")))


def op_read_digital_channel(step: int, device: str, module: object,
                            channel: object) -> Operation[DigitalChannel]:
    m, c = point(module, channel)
    if device == "snap":
        address = memmap.snap_digital_read_address(m, c)
        n = memmap.SNAP_DIG_FEATURE_VALUE + 4
        sbuf = bytearray(n)

        def snap_finish() -> DigitalChannel:
            raw = memoryview(sbuf)
            return DigitalChannel(u32(raw, memmap.SNAP_DIG_STATE) != 0, u32(raw, memmap.SNAP_DIG_ON_LATCH) != 0,
                                  u32(raw, memmap.SNAP_DIG_OFF_LATCH) != 0,
                                  u32(raw, memmap.SNAP_DIG_COUNTER_ACTIVE),
                                  u32(raw, memmap.SNAP_DIG_FEATURE_VALUE), memmap.QUALITY_GOOD)
        return read_op(address, n, step, sbuf, snap_finish)
    address = memmap.digital_read_address(m, c)
    n = memmap.DIGITAL_CHANNEL_LENGTH
    buf = bytearray(n)

    def finish() -> DigitalChannel:
        state, on, off, ftype, fvalue, quality = memmap.DIGITAL_CHANNEL_STRUCT.unpack(buf)
        return DigitalChannel(state != 0, on != 0, off != 0, ftype, fvalue, quality)
    return read_op(address, n, step, buf, finish)


def op_read_analog(step: int, device: str, module: object, channel: object) -> Operation[float]:
    buf = bytearray(4)
    return single_read(_analog_value_address(device, module, channel), 4, buf,
                       lambda: float(codec.unpack_be(buf, "f")[0]), True)


def op_write_analog(step: int, device: str, module: object, channel: object,
                    value: object) -> Operation[None]:
    m, c = point(module, channel)
    f = check_finite(value)
    if device == "snap":
        address = memmap.snap_analog_write_address(m, c) + memmap.SNAP_ANA_VALUE
    else:
        address = memmap.analog_write_address(m, c) + memmap.ANA_WRITE_VALUE
    return single_write(address, memoryview(codec.pack_be(f, "f")))


def op_read_analog_channel(step: int, device: str, module: object,
                           channel: object) -> Operation[AnalogChannel]:
    m, c = point(module, channel)
    if device == "snap":
        address = memmap.snap_analog_read_address(m, c)
        n = memmap.SNAP_ANA_MAXIMUM + 4
        sbuf = bytearray(n)

        def snap_finish() -> AnalogChannel:
            v = codec.unpack_be(sbuf, "f")
            return AnalogChannel(v[memmap.SNAP_ANA_VALUE // 4], v[memmap.SNAP_ANA_MINIMUM // 4],
                                 v[memmap.SNAP_ANA_MAXIMUM // 4], memmap.QUALITY_GOOD)
        return read_op(address, n, step, sbuf, snap_finish)
    address = memmap.analog_read_address(m, c)
    n = memmap.ANALOG_CHANNEL_LENGTH
    buf = bytearray(n)

    def finish() -> AnalogChannel:
        value, _counts, lo, hi, quality = memmap.ANALOG_CHANNEL_STRUCT.unpack(buf)
        return AnalogChannel(value, lo, hi, quality)
    return read_op(address, n, step, buf, finish)


def _clearing_read(step: int, requests: Tuple[Tuple[int, int], ...],
                   finish: Callable[[bytearray], T]) -> Operation[T]:
    """The reads ``requests`` (each chunked at ``step``) joined in one buffer; every one of
    them changes the device, so the operation is never repeated (``clear_from`` 0)."""
    ranges: List[Tuple[int, int]] = []
    offsets: List[int] = []
    lengths: List[int] = []
    pos = 0
    for address, length in requests:
        r, o, ln = chunk(address, length, step)
        ranges += r
        offsets += [pos + x for x in o]
        lengths += ln
        pos += length
    buf = bytearray(pos)
    return ranges_op(ranges, offsets, lengths, buf, lambda: finish(buf), clear_from=0)


def op_read_clear_digital(step: int, device: str, module: object, channel: object) -> Operation[DigitalCounts]:
    m, c = point(module, channel)
    return _clearing_read(step, memmap.read_clear_digital_requests(m, c, device=device), DigitalCounts.from_bytes)


def op_read_clear_analog_minmax(step: int, device: str, module: object,
                                channel: object) -> Operation[Tuple[float, float]]:
    m, c = point(module, channel)
    return _clearing_read(step, memmap.read_clear_analog_requests(m, c, device=device), minmax_from_bytes)


def op_read_point_config(step: int, device: str, module: object, channel: object) -> Operation[PointConfig]:
    m, c = point(module, channel)
    address, n = memmap.point_config_request(m, c, device=device)
    buf = bytearray(n)
    return read_op(address, n, step, buf, lambda: PointConfig.from_bytes(buf), True)


def op_write_point_feature(step: int, device: str, module: object, channel: object,
                           feature: object) -> Operation[None]:
    m, c = point(module, channel)
    f = check_feature(feature)
    return single_write(memmap.point_feature_address(m, c, device=device), memoryview(f.to_bytes(4, "big")))


def _element_step(step: int, size: int) -> int:
    return step - step % size


def _sp_read(step: int, kind: str, typecode: str, size: int, index: object, count: object) -> Operation[Any]:
    i = as_int("index", index)
    n = as_int("count", count)
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
    i = as_int("index", index)
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
    s = as_int("slot", slot)
    enc = check_encoding(encoding)
    err = check_errors(errors)
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
    s = as_int("slot", slot)
    enc = check_encoding(encoding)
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


def _check_plan(plan: object, device: str) -> ScanPlan:
    if not isinstance(plan, ScanPlan):
        raise TypeError(f"plan must be a mmpfast.ScanPlan, not {type(plan).__name__}")
    if plan.device != device:
        raise ValueError(f"the plan reads a {plan.device!r} memory map and the client talks to "
                         f"a {device!r} device")
    return plan


def _scan_op(p: ScanPlan, dest: Any, finish: Callable[[], T]) -> Operation[T]:
    return ranges_op(p.requests, p.offsets, p.lengths, dest, finish, p.clear_from, p.custom_addresses or None)


def op_scan_into(step: int, device: str, plan: object, buffer: object) -> Operation[None]:
    p = _check_plan(plan, device)
    if type(buffer) is bytearray:       # the common case, checked without a memoryview
        size: int = len(buffer)
        dest: Any = buffer
    else:
        dest = byte_view(buffer, "buffer", writable=True)
        size = dest.nbytes
    need = p.buffer_size
    if size < need:
        raise ValueError(f"buffer holds {size} bytes, the plan needs {need}")
    return _scan_op(p, dest, nothing)


def op_scan(step: int, device: str, plan: object) -> Operation[ScanResult]:
    p = _check_plan(plan, device)
    buf = p.new_buffer()
    if len(buf) < p.buffer_size:
        raise ValueError("plan.new_buffer() is smaller than plan.buffer_size")
    return _scan_op(p, buf, lambda: p.result(buf))


def op_prepare(step: int, device: str, conn: Connection, plan: object) -> Operation[None]:
    p = _check_plan(plan, device)
    addresses = p.custom_addresses
    if not addresses:
        return Operation(nothing, chunks=[])       # nothing to prepare, nothing sent
    estep = _element_step(step, memmap.CUSTOM_AREA_ENTRY_SIZE)
    chunks: List[Tuple[int, memoryview]] = []
    for address, data in p.custom_writes:
        chunks += write_chunks(address, memoryview(data), estep)

    def finish() -> None:
        conn.custom = addresses         # acknowledged: this connection now has the plan's list
    op = Operation(finish, chunks=chunks)
    op.custom = addresses
    return op
