"""Fault injection: both clients through ``mmpfast.sim.FaultProxy``.

Every case runs once on the blocking ``Client`` and once on the
``AsyncClient`` (one test body, the asyncio client driven to completion per
call).  Each fault must end in its typed error within the call's deadline,
never in a wrong value, and the next call on the same client must succeed
with the right value.  Lost or garbled write acknowledgements must end in
``WriteOutcomeUnknown`` with the write sent exactly once (counted at the
proxy and at the simulator).

What the protocol cannot detect, stated plainly: OptoMMP frames carry no
checksum.  A corrupted *data* byte in a frame that still frames correctly
is indistinguishable from a real value, so it is returned (TCP's own
checksum is the only guard on the wire).  Header fields that carry no
meaning for a response (destination_ID, source_ID, reserved bits,
extended_tcode) are not checked either; corrupting them cannot change a
value.  A corrupted rcode nibble reads as a NAK.  Every other header field
(tl, tcode, data_length) is checked and a corruption is ``MmpProtocolError``.
"""
from __future__ import annotations

import socket
import struct
import time
from typing import Any, Iterator, List, Optional, Sequence, Tuple

import pytest

from mmpfast import (AsyncClient, Client, MmpConnectionError, MmpNakError, MmpProtocolError,
                     MmpTimeoutError, ScanPlan, WriteOutcomeUnknown, memmap)
from mmpfast.sim import Fault, FaultProxy, Simulator

from scripted_server import AsyncAdapter

TIMEOUT = 0.5
#: scheduling slack allowed beyond the deadline (shared 2-core machine)
MARGIN = 0.3

INDEX = 5                       # scratch-pad int32 index the read cases use
VALUE = 0x12345678
RAW = struct.pack(">i", VALUE)

TCODE_WRITE = 1
TCODE_READ = 5


@pytest.fixture
def rig() -> Iterator[Tuple[Simulator, FaultProxy]]:
    with Simulator() as sim, FaultProxy(sim.host, sim.port) as proxy:
        sim.memory.write(memmap.scratchpad_int32_address(INDEX), RAW)
        yield sim, proxy


@pytest.fixture(params=["blocking", "asyncio"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_client(kind: str, host: str, port: int, **options: Any) -> Any:
    options.setdefault("timeout", TIMEOUT)
    if kind == "blocking":
        return Client(host, port, **options)
    return AsyncAdapter(AsyncClient(host, port, **options))


@pytest.fixture
def client(kind: str, rig: Tuple[Simulator, FaultProxy]) -> Iterator[Any]:
    _, proxy = rig
    c = make_client(kind, proxy.host, proxy.port)
    yield c
    c.close()


def timed(fn: Any, *args: Any) -> Tuple[Any, Optional[BaseException], float]:
    """Call ``fn``; return (value, exception, elapsed seconds)."""
    t0 = time.monotonic()
    try:
        value = fn(*args)
    except Exception as exc:     # noqa: BLE001 - the caller checks the type
        return None, exc, time.monotonic() - t0
    return value, None, time.monotonic() - t0


def recovers(c: Any, proxy: FaultProxy) -> None:
    """The next call on the same client succeeds with the right value."""
    assert proxy.pending_faults == 0
    assert c.read_scratchpad_int32(INDEX) == [VALUE]


# =============================================================================
# reads: every fault ends in its typed error, within the deadline
# =============================================================================
READ_FAULTS: List[Tuple[str, Sequence[Fault], type]] = [
    ("delay_past_deadline", [Fault.delay(TIMEOUT + 0.4)], MmpTimeoutError),
    ("drop", [Fault.drop()], MmpTimeoutError),
    # a dropped connection is repeated once for a plain read: two in a row fail
    ("cut_header_twice", [Fault.cut_header(), Fault.cut_header(2)], MmpConnectionError),
    ("cut_data_twice", [Fault.cut_data(), Fault.cut_data(1)], MmpConnectionError),
    ("reset_twice", [Fault.reset(), Fault.reset()], MmpConnectionError),
    ("close_twice", [Fault.close(), Fault.close()], MmpConnectionError),
    ("wrong_tl", [Fault.change_tl()], MmpProtocolError),
    ("wrong_tl_far", [Fault.change_tl(63)], MmpProtocolError),
    ("unknown_tcode", [Fault.unknown_tcode()], MmpProtocolError),
    ("corrupt_tl_byte", [Fault.corrupt(2, 0x04)], MmpProtocolError),
    ("corrupt_tcode_undefined", [Fault.corrupt(3, 0xF0)], MmpProtocolError),   # 7 -> 8
    ("corrupt_tcode_to_write_ack", [Fault.corrupt(3, 0x50)], MmpProtocolError),  # 7 -> 2
    ("corrupt_tcode_to_quadlet", [Fault.corrupt(3, 0x10)], MmpProtocolError),  # 7 -> 6
    ("corrupt_length_high", [Fault.corrupt(12, 0x01)], MmpProtocolError),   # 4 -> 260
    ("corrupt_length_zero", [Fault.corrupt(13, 0x04)], MmpProtocolError),   # 4 -> 0
    ("corrupt_length_plus1", [Fault.corrupt(13, 0x01)], MmpProtocolError),  # 4 -> 5
    ("corrupt_length_minus1", [Fault.corrupt(13, 0x07)], MmpProtocolError),  # 4 -> 3
    ("corrupt_rcode", [Fault.corrupt(6, 0x50)], MmpNakError),
]


@pytest.mark.parametrize("name,faults,error", READ_FAULTS, ids=[f[0] for f in READ_FAULTS])
def test_read_fault_is_typed_error_within_deadline(client: Any, rig: Tuple[Simulator, FaultProxy],
                                                   name: str, faults: Sequence[Fault],
                                                   error: type) -> None:
    sim, proxy = rig
    proxy.queue_faults(faults)
    value, exc, elapsed = timed(client.read_scratchpad_int32, INDEX)
    assert value is None, f"{name}: a value came back: {value!r}"
    assert type(exc) is error or (isinstance(exc, error) and not isinstance(exc, WriteOutcomeUnknown)), \
        f"{name}: {exc!r}"
    assert elapsed <= TIMEOUT + MARGIN, f"{name}: took {elapsed:.3f} s"
    if error is MmpNakError:
        assert exc.rcode == 5 and exc.address == memmap.scratchpad_int32_address(INDEX)  # type: ignore[union-attr]
    if error is MmpTimeoutError:
        assert elapsed >= TIMEOUT * 0.9     # a timeout is not reported early either
    # never repeated after a timeout; at most once after a drop
    assert proxy.up_by_tcode == {TCODE_READ: len(faults)}
    recovers(client, proxy)


@pytest.mark.parametrize("fault", [Fault.cut_header(), Fault.cut_header(1), Fault.cut_data(),
                                   Fault.cut_data(0), Fault.reset(), Fault.close()],
                         ids=["cut_header6", "cut_header1", "cut_data_half", "cut_data0", "reset", "close"])
def test_read_dropped_once_is_repeated_on_new_connection(client: Any, rig: Tuple[Simulator, FaultProxy],
                                                         fault: Fault) -> None:
    sim, proxy = rig
    proxy.next_response(fault)
    value, exc, elapsed = timed(client.read_scratchpad_int32, INDEX)
    assert exc is None and value == [VALUE]
    assert elapsed <= TIMEOUT + MARGIN
    assert proxy.up_by_tcode == {TCODE_READ: 2} and proxy.connections == 2
    recovers(client, proxy)


def test_read_and_clear_not_repeated_after_drop(client: Any, rig: Tuple[Simulator, FaultProxy]) -> None:
    sim, proxy = rig
    proxy.next_response(Fault.cut_data())
    with pytest.raises(MmpConnectionError):
        client.read(memmap.analog_read_clear_address(2, 0), 8)
    assert proxy.up_by_tcode == {TCODE_READ: 1}
    recovers(client, proxy)


# -- what the protocol cannot detect (documented, asserted) --------------------
@pytest.mark.parametrize("offset", [0, 1, 4, 5, 7, 8, 11, 14, 15])
def test_meaningless_header_fields_do_not_change_the_value(client: Any, rig: Tuple[Simulator, FaultProxy],
                                                           offset: int) -> None:
    """destination_ID, source_ID, reserved bytes and extended_tcode are not
    checked on responses; corrupting them cannot change what is returned."""
    sim, proxy = rig
    proxy.next_response(Fault.corrupt(offset, 0xA5))
    assert client.read_scratchpad_int32(INDEX) == [VALUE]
    recovers(client, proxy)


@pytest.mark.parametrize("data_byte", [0, 3])
def test_corrupt_data_bytes_are_undetectable(client: Any, rig: Tuple[Simulator, FaultProxy],
                                             data_byte: int) -> None:
    """OptoMMP has no checksum: a flipped data byte in a well-framed response
    comes back as a value.  This test pins that limitation down (it is the
    only way a wrong value can reach the caller, and only if the bytes were
    altered after TCP's own checksum)."""
    sim, proxy = rig
    proxy.next_response(Fault.corrupt(16 + data_byte, 0xFF))
    bad = bytearray(RAW)
    bad[data_byte] ^= 0xFF
    assert client.read_scratchpad_int32(INDEX) == [struct.unpack(">i", bytes(bad))[0]]
    recovers(client, proxy)


# =============================================================================
# connection refused
# =============================================================================
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused_then_device_comes_up(kind: str) -> None:
    port = _free_port()        # nothing listens there now
    c = make_client(kind, "127.0.0.1", port)
    try:
        value, exc, elapsed = timed(c.uptime_ms)
        assert isinstance(exc, MmpConnectionError) and isinstance(exc, ConnectionError), repr(exc)
        assert elapsed <= TIMEOUT + MARGIN
        value, exc, _ = timed(c.write_scratchpad_int32, 1, 5)
        # nothing was sent: a refused connect is a plain connection error, not an unknown outcome
        assert type(exc) is MmpConnectionError, repr(exc)
        try:
            sim = Simulator(port=port).start()
        except OSError:             # pragma: no cover - someone took the port meanwhile
            pytest.skip("port reused by another process")
        try:
            sim.memory.write(memmap.scratchpad_int32_address(INDEX), RAW)
            assert c.read_scratchpad_int32(INDEX) == [VALUE]
            assert sim.stats.by_tcode == {TCODE_READ: 1}      # the refused write never went out
        finally:
            sim.stop()
    finally:
        c.close()


# =============================================================================
# writes: a lost or garbled acknowledgement is WriteOutcomeUnknown, sent once
# =============================================================================
WRITE_FAULTS: List[Tuple[str, Fault]] = [
    ("drop", Fault.drop()),
    ("delay_past_deadline", Fault.delay(TIMEOUT + 0.4)),
    ("cut_header", Fault.cut_header()),
    ("cut_data", Fault.cut_data()),          # a 12-byte ack cut to 11 bytes
    ("reset", Fault.reset()),
    ("close", Fault.close()),
    ("wrong_tl", Fault.change_tl()),
    ("unknown_tcode", Fault.unknown_tcode()),
    ("corrupt_tcode", Fault.corrupt(3, 0x50)),    # 2 -> 7: a block-read response header
    ("corrupt_tl", Fault.corrupt(2, 0x08)),
]


@pytest.mark.parametrize("name,fault", WRITE_FAULTS, ids=[f[0] for f in WRITE_FAULTS])
def test_lost_write_ack_is_outcome_unknown_and_not_resent(client: Any, rig: Tuple[Simulator, FaultProxy],
                                                          name: str, fault: Fault) -> None:
    sim, proxy = rig
    proxy.next_response(fault)
    value, exc, elapsed = timed(client.write_scratchpad_int32, 7, -424242)
    assert isinstance(exc, WriteOutcomeUnknown), f"{name}: {exc!r}"
    assert exc.address == memmap.scratchpad_int32_address(7)
    assert isinstance(exc.__cause__, (MmpTimeoutError, MmpConnectionError, MmpProtocolError))
    assert elapsed <= TIMEOUT + MARGIN, f"{name}: took {elapsed:.3f} s"
    # sent once, at the proxy and at the device, and applied by the device
    assert proxy.up_by_tcode == {TCODE_WRITE: 1}
    assert sim.stats.by_tcode == {TCODE_WRITE: 1}
    assert sim.memory.read(memmap.scratchpad_int32_address(7), 4) == struct.pack(">i", -424242)
    assert client.read_scratchpad_int32(7) == [-424242]
    recovers(client, proxy)
    # and the client still writes normally afterwards
    client.write_scratchpad_int32(7, 1)
    assert sim.stats.by_tcode[TCODE_WRITE] == 2


def test_multi_chunk_write_stops_at_the_lost_ack(kind: str, rig: Tuple[Simulator, FaultProxy]) -> None:
    """A write in chunks: the chunk whose ack is lost is reported; later chunks are never sent."""
    sim, proxy = rig
    c = make_client(kind, proxy.host, proxy.port, max_block=16)
    try:
        proxy.queue_faults([None, Fault.drop()])
        values = list(range(100, 112))          # 48 bytes = 3 chunks of 16
        with pytest.raises(WriteOutcomeUnknown) as info:
            c.write_scratchpad_int32(20, values)
        assert info.value.address == memmap.scratchpad_int32_address(24)
        assert proxy.up_by_tcode == {TCODE_WRITE: 2}
        assert c.read_scratchpad_int32(20, 8) == values[:8]
        assert c.read_scratchpad_int32(28, 4) == [0, 0, 0, 0]     # third chunk never went out
    finally:
        c.close()


def test_corrupt_write_ack_rcode_reads_as_nak(client: Any, rig: Tuple[Simulator, FaultProxy]) -> None:
    """Limitation, documented: an rcode nibble altered on the way back reads as
    a NAK although the device applied the write (no checksum to tell)."""
    sim, proxy = rig
    proxy.next_response(Fault.corrupt(6, 0x50))
    with pytest.raises(MmpNakError) as info:
        client.write_scratchpad_int32(9, 99)
    assert info.value.rcode == 5
    assert proxy.up_by_tcode == {TCODE_WRITE: 1}
    assert client.read_scratchpad_int32(9) == [99]


# =============================================================================
# scans, pipeline 1 and 8
# =============================================================================
SCAN_N = 160                   # int32 values
SCAN_BASE = 100


def scan_plan() -> Tuple[ScanPlan, str]:
    plan = ScanPlan(max_block=64)
    name = plan.add_scratchpad_int32(SCAN_BASE, SCAN_N, name="block")
    plan.freeze()
    return plan, name


def fill_scan_values(sim: Simulator, salt: int) -> List[int]:
    values = [(i * 7919 + salt) * 65537 % 2**31 - 2**30 for i in range(SCAN_N)]
    sim.memory.write(memmap.scratchpad_int32_address(SCAN_BASE), struct.pack(f">{SCAN_N}i", *values))
    return values


SCAN_FAULTS: List[Tuple[str, Fault, Optional[type]]] = [
    ("drop", Fault.drop(), MmpTimeoutError),
    ("delay", Fault.delay(TIMEOUT + 0.4), MmpTimeoutError),
    ("wrong_tl", Fault.change_tl(), MmpProtocolError),
    ("unknown_tcode", Fault.unknown_tcode(), MmpProtocolError),
    ("corrupt_length", Fault.corrupt(13, 0x20), MmpProtocolError),
    ("corrupt_tcode", Fault.corrupt(3, 0xF0), MmpProtocolError),
    ("corrupt_rcode", Fault.corrupt(6, 0x50), MmpNakError),
    ("cut_header", Fault.cut_header(), None),      # read repeated on a new connection
    ("cut_data", Fault.cut_data(), None),
    ("reset", Fault.reset(), None),
]


@pytest.mark.parametrize("pipeline", [1, 8])
@pytest.mark.parametrize("name,fault,error", SCAN_FAULTS, ids=[f[0] for f in SCAN_FAULTS])
def test_scan_under_fault(kind: str, rig: Tuple[Simulator, FaultProxy], pipeline: int, name: str,
                          fault: Fault, error: Optional[type]) -> None:
    sim, proxy = rig
    plan, key = scan_plan()
    assert len(plan.requests) == 10
    values = fill_scan_values(sim, 1)
    c = make_client(kind, proxy.host, proxy.port, pipeline=pipeline)
    try:
        assert list(c.scan(plan)[key]) == values
        before = proxy.up_by_tcode[TCODE_READ]
        assert before == 10
        values = fill_scan_values(sim, 2)
        proxy.queue_faults([None] * 3 + [fault])     # the 4th response of the pass
        value, exc, elapsed = timed(c.scan, plan)
        assert elapsed <= TIMEOUT + MARGIN, f"{name}: took {elapsed:.3f} s"
        if error is None:
            assert exc is None, f"{name}: {exc!r}"
            assert list(value[key]) == values
        else:
            assert value is None and isinstance(exc, error), f"{name}: {exc!r}"
        if error is MmpNakError:
            assert exc.address == plan.requests[3][0]   # type: ignore[union-attr]
        values = fill_scan_values(sim, 3)
        buf = plan.new_buffer()
        c.scan_into(plan, buf)
        assert list(plan.result(buf)[key]) == values
        assert proxy.pending_faults == 0
    finally:
        c.close()


def test_scan_never_returns_partial_data(kind: str, rig: Tuple[Simulator, FaultProxy]) -> None:
    """A pass that fails leaves no half-filled result behind: scan() raises,
    and scan_into() callers see the error, not a mix of two passes."""
    sim, proxy = rig
    plan, key = scan_plan()
    fill_scan_values(sim, 4)
    c = make_client(kind, proxy.host, proxy.port, pipeline=8)
    try:
        for fault in (Fault.change_tl(), Fault.drop(), Fault.unknown_tcode()):
            proxy.queue_faults([None] * 9 + [fault])      # the very last response
            with pytest.raises((MmpProtocolError, MmpTimeoutError)):
                c.scan(plan)
        assert list(c.scan(plan)[key]) == fill_scan_values(sim, 4)
    finally:
        c.close()
