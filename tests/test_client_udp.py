"""Both clients over UDP (``transport="udp"``) against the simulator, directly and through a
relay that drops, delays, duplicates or adds answer datagrams (tools/udp_soak.py's ``UdpRelay``)."""
from __future__ import annotations

import logging
import math
import socket
import threading
import time
from typing import Any, Iterator, List

import pytest

from mmpfast import (AsyncClient, Client, MmpConnectionError, MmpError, MmpNakError, MmpTimeoutError,
                     ScanPlan, WriteOutcomeUnknown, codec, memmap)

from conftest import load_tool
from scripted_server import AsyncAdapter

sim_mod = pytest.importorskip("mmpfast.sim")
Simulator = sim_mod.Simulator
udp_soak = load_tool("udp_soak")
UdpRelay = udp_soak.UdpRelay

DI, DO, AI, AO = 0, 1, 2, 3
KINDS = ["blocking", "asyncio"]


@pytest.fixture(scope="module")
def sim() -> Iterator[Any]:
    with Simulator(port=0) as s:
        yield s


@pytest.fixture(scope="module")
def tcp(sim: Any) -> Iterator[Client]:
    """A TCP client: the independent check of what UDP writes left in the simulator."""
    with Client(sim.host, sim.port, timeout=2.0) as c:
        yield c


def make(kind: str, host: str, port: int, **kw: Any) -> Any:
    kw.setdefault("timeout", 2.0)
    if kind == "blocking":
        return Client(host, port, transport="udp", **kw)
    return AsyncAdapter(AsyncClient(host, port, transport="udp", **kw))


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client(kind: str, sim: Any) -> Iterator[Any]:
    c = make(kind, sim.host, sim.port, pipeline=4)
    yield c
    c.close()


@pytest.fixture
def relay(sim: Any) -> Iterator[Any]:
    r = UdpRelay((sim.host, sim.port))
    yield r
    r.close()


# ------------------------------------------------------------------------ arguments
@pytest.mark.parametrize("cls", [Client, AsyncClient])
def test_transport_argument(cls: Any) -> None:
    assert cls("127.0.0.1", 2001).transport == "tcp"
    assert cls("127.0.0.1", 2001, transport="udp").transport == "udp"
    with pytest.raises(ValueError, match="sctp"):
        cls("127.0.0.1", 2001, transport="sctp")
    with pytest.raises(TypeError):
        cls("127.0.0.1", 2001, transport=17)
    with pytest.raises(ValueError, match="UDP datagram"):
        cls("127.0.0.1", 2001, transport="udp", max_block=65535)


# ------------------------------------------------------------------------ every call
def test_every_call_over_udp(client: Any, sim: Any, tcp: Client) -> None:
    st = client.status()
    assert st.part_number == tcp.status().part_number and st.mac.count(":") == 5
    up = client.uptime_ms()
    assert isinstance(up, int) and up >= st.uptime_ms
    client.powerup_clear()
    assert client.status().powerup_clear_needed is False
    sim.set_digital(DI, 5, True)
    assert client.read_digital(DI, 5) is True
    sim.set_digital(DI, 5, False)
    assert client.read_digital(DI, 5) is False
    client.write_digital(DO, 3, True)
    assert sim.get_digital(DO, 3) is True
    assert client.read_digital_channel(DO, 3).state is True
    client.write_digital(DO, 3, False)
    assert sim.get_digital(DO, 3) is False
    sim.set_analog(AI, 1, 3.5)
    assert client.read_analog(AI, 1) == 3.5
    assert client.read_analog_channel(AI, 1).value == 3.5
    client.write_analog(AO, 0, -2.25)
    assert sim.get_analog(AO, 0) == -2.25
    client.write_scratchpad_int32(10, [1, -2, 3])
    assert client.read_scratchpad_int32(10, 3) == [1, -2, 3] == tcp.read_scratchpad_int32(10, 3)
    client.write_scratchpad_float(20, [0.5, -1.5])
    assert client.read_scratchpad_float(20, 2) == [0.5, -1.5]
    client.write_scratchpad_int64(5, [2 ** 40, -7])
    assert client.read_scratchpad_int64(5, 2) == [2 ** 40, -7] == tcp.read_scratchpad_int64(5, 2)
    client.write_scratchpad_string(3, "über udp")
    assert client.read_scratchpad_string(3) == "über udp" == tcp.read_scratchpad_string(3)
    address = memmap.scratchpad_int32_address(100)
    client.write(address, b"\x01\x02\x03\x04")
    assert client.read(address, 4) == b"\x01\x02\x03\x04" == tcp.read(address, 4)
    with pytest.raises(MmpNakError) as nak:
        client.read(0x00000010, 4)
    assert nak.value.address == 0x10
    assert client.uptime_ms() >= up        # a NAK leaves the client usable


def test_large_reads_and_writes_chunked_and_pipelined(kind: str, sim: Any, tcp: Client) -> None:
    c = make(kind, sim.host, sim.port, pipeline=8, max_block=512)
    try:
        values = [(i * 2654435761) & 0x7FFFFFFF for i in range(3000)]     # 12,000 bytes: 24 chunks
        c.write_scratchpad_int32(0, values)
        assert tcp.read_scratchpad_int32(0, 3000) == values
        buf = bytearray(12000)
        assert c.read_into(memmap.scratchpad_int32_address(0), buf) is None
        assert buf[:4096] == b"".join(v.to_bytes(4, "big") for v in values[:1024])   # area 1
        assert buf == tcp.read(memmap.scratchpad_int32_address(0), 12000)
        assert c.read_scratchpad_int32(0, 3000) == values
    finally:
        c.close()


def test_scan_with_pipeline(client: Any, sim: Any) -> None:
    sim.set_digital(DI, 7, True)
    sim.set_analog(AI, 0, 1.25)
    client.write_scratchpad_int32(0, [11, 22, 33])
    plan = ScanPlan()
    plan.add_digital(DI, 7, name="d")
    plan.add_analog(AI, 0, name="a")
    plan.add_scratchpad_int32(0, 3, name="i")
    plan.add_scratchpad_float(20, 2, name="f")
    client.write_scratchpad_float(20, [0.5, 8.0])
    res = client.scan(plan)
    assert res["d"] is True and res["a"] == 1.25 and list(res["i"]) == [11, 22, 33]
    assert list(res["f"]) == [0.5, 8.0]
    buf = plan.new_buffer()
    sim.set_digital(DI, 7, False)
    assert client.scan_into(plan, buf) is None
    assert plan.result(buf)["d"] is False


# ------------------------------------------------------------------------ the resend rule
def test_read_answer_dropped_is_sent_again_once(kind: str, sim: Any, relay: Any) -> None:
    relay.on_answer = lambda n, d: [] if n == 1 else [d]
    sim.set_analog(AI, 2, 7.75)
    c = make(kind, relay.host, relay.port, timeout=1.0)
    try:
        t0 = time.monotonic()
        assert c.read_analog(AI, 2) == 7.75
        assert time.monotonic() - t0 < 1.0
    finally:
        c.close()
    assert len(relay.requests) == 2
    assert relay.requests[0] == relay.requests[1]            # the same bytes, the same tl
    assert codec.decode_frame(relay.requests[0]).address == \
        memmap.analog_read_address(AI, 2) + memmap.ANA_VALUE


def test_write_answer_dropped_is_unknown_never_resent(kind: str, sim: Any, tcp: Client, relay: Any) -> None:
    relay.on_answer = lambda n, d: []
    c = make(kind, relay.host, relay.port, timeout=0.4)
    try:
        t0 = time.monotonic()
        with pytest.raises(WriteOutcomeUnknown) as info:
            c.write_scratchpad_int32(40, [4242])
        assert time.monotonic() - t0 < 0.4 + 0.3
        assert info.value.address == memmap.scratchpad_int32_address(40)
        assert len(relay.requests) == 1
        assert tcp.read_scratchpad_int32(40, 1) == [4242]        # it landed; its answer did not
        with pytest.raises(WriteOutcomeUnknown):
            c.write_digital(DO, 9, True)
        assert len(relay.requests) == 2
    finally:
        c.close()


def test_read_and_clear_never_resent(kind: str, sim: Any, relay: Any) -> None:
    relay.on_answer = lambda n, d: []
    address = memmap.READ_SIDE_EFFECT_RANGES[0][0]
    assert memmap.read_has_side_effects(address, 4)
    c = make(kind, relay.host, relay.port, timeout=0.3)
    try:
        with pytest.raises(MmpTimeoutError):
            c.read(address, 4)
    finally:
        c.close()
    assert len(relay.requests) == 1


def test_both_answers_lost_is_timeout_after_two_sends(kind: str, sim: Any, relay: Any) -> None:
    relay.on_answer = lambda n, d: []
    c = make(kind, relay.host, relay.port, timeout=0.3)
    try:
        t0 = time.monotonic()
        with pytest.raises(MmpTimeoutError):
            c.read_digital(DI, 1)
        assert 0.25 < time.monotonic() - t0 < 0.6
    finally:
        c.close()
    assert len(relay.requests) == 2 and relay.requests[0] == relay.requests[1]


def test_late_first_answer_is_dropped(kind: str, sim: Any, relay: Any) -> None:
    """The first answer comes after the resend's: one is taken, the other dropped, and the
    next call is not confused by it."""
    held: List[bytes] = []

    def hook(n: int, d: bytes) -> List[bytes]:
        if n == 1:
            held.append(d)
            return []
        if n == 2:
            return [d] + held
        return [d]
    relay.on_answer = hook
    sim.set_analog(AI, 3, 1.5)
    c = make(kind, relay.host, relay.port, timeout=1.0)
    try:
        assert c.read_analog(AI, 3) == 1.5
        time.sleep(0.05)                     # the late copy is now queued at the client
        sim.set_analog(AI, 3, 2.5)
        assert c.read_analog(AI, 3) == 2.5
    finally:
        c.close()
    assert len(relay.requests) == 3


# ------------------------------------------------------------------------ stale and foreign datagrams
def _with_tl(frame: bytes, tl: int) -> bytes:
    b = bytearray(frame)
    b[2] = (b[2] & 0x03) | (tl << 2)
    return bytes(b)


def test_stale_and_foreign_datagrams_are_dropped(kind: str, sim: Any, relay: Any,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    def hook(n: int, d: bytes) -> List[bytes]:
        f = codec.decode_frame(d)
        wrong_tl = _with_tl(codec.encode_read_block_response(0, b"\xde\xad\xbe\xef"), (f.tl + 1) % 64)
        wrong_tcode = codec.encode_write_response(f.tl)
        wrong_size = codec.encode_read_block_response(f.tl, b"\x00" * 8)
        return [b"garbage!", wrong_tl, wrong_tcode, wrong_size, b"\x00\x00", d, d]   # and a duplicate
    relay.on_answer = hook
    c = make(kind, relay.host, relay.port, timeout=1.0)
    try:
        with caplog.at_level(logging.DEBUG, logger="mmpfast.udp"):
            for v in (1.25, -3.0, 99.5):
                sim.set_analog(AI, 4, v)
                assert c.read_analog(AI, 4) == v
        assert len(relay.requests) == 3                # nothing was sent twice
    finally:
        c.close()
    dropped = [r for r in caplog.records if r.name == "mmpfast.udp" and "dropped" in r.getMessage()]
    assert len(dropped) >= 5 * 3
    assert any("tl" in r.getMessage() for r in dropped)
    assert any("tcode 2" in r.getMessage() for r in dropped)
    assert any("not one frame" in r.getMessage() for r in dropped)


def test_foreign_source_address_is_ignored(kind: str, sim: Any, relay: Any) -> None:
    """A well-formed answer from another address (same tl and tcode, wrong data) never reaches
    the client: its UDP socket is connected to the controller's address."""
    forger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def hook(n: int, d: bytes) -> List[bytes]:
        f = codec.decode_frame(d)
        addr = relay._client
        forger.sendto(codec.encode_read_block_response(f.tl, b"\x00\x00\x00\x00"), addr)
        time.sleep(0.05)
        return [d]
    relay.on_answer = hook
    sim.set_digital(DI, 11, True)
    c = make(kind, relay.host, relay.port, timeout=1.0)
    try:
        assert c.read_digital(DI, 11) is True
    finally:
        c.close()
        forger.close()


def test_pipelined_answers_in_any_order(kind: str, sim: Any, tcp: Client, relay: Any) -> None:
    held: List[bytes] = []
    lock = threading.Lock()

    def hook(n: int, d: bytes) -> List[bytes]:
        with lock:
            held.append(d)
            if len(held) < 4:
                return []
            out = held[::-1]
            held.clear()
            return out
    values = list(range(1000, 1000 + 4 * 64))
    tcp.write_scratchpad_int32(200, values)
    relay.on_answer = hook
    c = make(kind, relay.host, relay.port, timeout=1.0, pipeline=4, max_block=256)
    try:
        assert c.read_scratchpad_int32(200, len(values)) == values       # 4 chunks, answers reversed
    finally:
        c.close()
    assert len(relay.requests) == 4
    assert len({codec.decode_frame(r).tl for r in relay.requests}) == 4


def test_timeout_without_a_device(kind: str) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))            # a silent peer: takes datagrams, answers none
    try:
        c = make(kind, "127.0.0.1", s.getsockname()[1], timeout=0.2)
        try:
            with pytest.raises(MmpTimeoutError):
                c.uptime_ms()
            with pytest.raises(WriteOutcomeUnknown):
                c.write_scratchpad_int32(0, [1])
        finally:
            c.close()
        s.settimeout(0.5)
        seen = [s.recv(100) for _ in range(3)]      # the read twice, the write once
        assert [codec.decode_frame(x).tcode for x in seen] == [5, 5, 1]
        s.settimeout(0.1)
        with pytest.raises(socket.timeout):
            s.recv(100)
    finally:
        s.close()


# ------------------------------------------------------------------------ the soak, short
def test_udp_soak_short() -> None:
    rep = udp_soak.run(3.0, 10, timeout=0.2)
    assert rep["ok"], rep
    for row in rep["clients"]:
        assert row["writes"] > 10 and row["reads"] > 20
        assert row["writes_unknown"] > 0                          # some acknowledgements were lost
        assert row["writes_sent_twice"] == 0 and row["write_requests_seen"] == row["writes"]
        assert row["reads_wrong"] == 0 and not row["untyped"]
        assert row["answers_dropped"] == row["answers"] // 10
        assert row["read_requests_seen"] > row["reads"]          # dropped read answers were sent again
        assert math.isfinite(rep["seconds"])


# ------------------------------------------------------------------------ through the simulator's UDP fault proxy
faults = pytest.importorskip("mmpfast.sim.faults")
UdpFault = faults.UdpFault


@pytest.fixture
def proxy(sim: Any) -> Iterator[Any]:
    with faults.UdpFaultProxy(sim.host, sim.port) as p:
        yield p


def test_proxy_resend_rule(kind: str, sim: Any, tcp: Client, proxy: Any) -> None:
    sim.set_digital(DI, 20, True)
    c = make(kind, proxy.host, proxy.port, timeout=0.5)
    try:
        proxy.next_answer(UdpFault.drop())
        assert c.read_digital(DI, 20) is True
        assert proxy.up_by_tcode == {5: 2} and proxy.dropped == 1
        proxy.next_answer(UdpFault.drop())
        with pytest.raises(WriteOutcomeUnknown):
            c.write_scratchpad_float(30, [6.5])
        assert proxy.up_by_tcode == {5: 2, 1: 1}
        assert tcp.read_scratchpad_float(30, 1) == [6.5]
        proxy.next_answer(UdpFault.delay(0.4))             # past the resend time, before the deadline
        sim.set_digital(DI, 20, False)
        assert c.read_digital(DI, 20) is False
        time.sleep(0.45)                                    # the delayed first answer arrives now
        sim.set_digital(DI, 20, True)
        assert c.read_digital(DI, 20) is True               # and is not taken for this one
        assert proxy.up_by_tcode == {5: 5, 1: 1}
    finally:
        c.close()


@pytest.mark.parametrize("fault", ["duplicate", "tl", "tcode", "garbage"])
def test_proxy_foreign_and_duplicate_answers(kind: str, sim: Any, proxy: Any, fault: str) -> None:
    c = make(kind, proxy.host, proxy.port, timeout=1.0)
    try:
        for v in (2.0, -4.5, 8.25):
            proxy.next_answer(UdpFault.duplicate(0.0) if fault == "duplicate" else UdpFault.foreign(fault))
            sim.set_analog(AI, 5, v)
            assert c.read_analog(AI, 5) == v
            proxy.next_answer(UdpFault.duplicate(0.0) if fault == "duplicate" else UdpFault.foreign(fault))
            c.write_scratchpad_int32(50, [int(v * 4)])
            assert c.read_scratchpad_int32(50, 1) == [int(v * 4)]
        assert proxy.up_by_tcode == {5: 6, 1: 3}           # nothing sent twice
        assert (proxy.duplicates if fault == "duplicate" else proxy.foreign) == 6
    finally:
        c.close()


def test_closed_port_is_a_typed_error(kind: str) -> None:
    """Nothing listens: the ICMP port-unreachable comes back as MmpConnectionError for a read and,
    for a write that has been sent, WriteOutcomeUnknown (never resent); each at once."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    c = make(kind, "127.0.0.1", port, timeout=1.0)
    try:
        t0 = time.monotonic()
        with pytest.raises(MmpConnectionError):
            c.uptime_ms()
        with pytest.raises(WriteOutcomeUnknown) as info:
            c.write(memmap.scratchpad_int32_address(0), b"\x00\x00\x00\x01")
        assert info.value.address == memmap.scratchpad_int32_address(0)
        with pytest.raises(MmpConnectionError):
            c.read_digital(DI, 0)
        assert time.monotonic() - t0 < 0.9
    finally:
        c.close()


# ------------------------------------------------------------------------ issue 14 calls over UDP
def test_read_clear_point_config_and_custom_area_over_udp(kind: str) -> None:
    """The calls beyond the packed areas work over datagrams as over TCP: read-and-clear
    returns then clears, the point configuration decodes, a custom-area plan scans after
    prepare() on this client (and not before)."""
    with Simulator(port=0) as s:
        c = make(kind, s.host, s.port)
        try:
            s.set_feature(DI, 5, 1)                  # counter feature
            s.pulse(DI, 5, 3)
            counts = c.read_clear_digital(DI, 5)
            assert (counts.feature_value, counts.on_latch, counts.off_latch) == (3, True, True)
            again = c.read_clear_digital(DI, 5)
            assert (again.feature_value, again.on_latch, again.off_latch) == (0, False, False)
            cfg = c.read_point_config(DI, 5)
            assert cfg.feature == 1 and cfg.module_type == s.memory.rack[DI].module_type

            plan = ScanPlan(custom_area=True)
            names = [plan.add_scratchpad_int32(1024 + 90 * k) for k in range(50)]
            assert plan.custom_addresses
            for k in range(50):
                c.write_scratchpad_int32(1024 + 90 * k, 3 * k - 20)
            with pytest.raises(MmpError, match="prepare"):
                c.scan(plan)
            c.prepare(plan)
            res = c.scan(plan)
            assert [res[n] for n in names] == [3 * k - 20 for k in range(50)]
        finally:
            c.close()


def test_snap_device_over_udp(kind: str) -> None:
    with Simulator(port=0, profile="snap", puc_required=False) as s:
        c = make(kind, s.host, s.port, device="snap")
        try:
            s.set_digital(DI, 2, True)
            assert c.read_digital(DI, 2) is True and c.read_digital(DI, 1) is False
            c.write_digital(DO, 3, True)
            assert s.memory.get_digital(DO, 3) is True
        finally:
            c.close()
