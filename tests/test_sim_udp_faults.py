"""``UdpFaultProxy`` in front of the simulator's UDP endpoint, driven with raw UDP sockets:
every fault mode, the answers each client gets (bytes), and every counter exactly.  Request
and answer bytes are built by hand from PROTOCOL.md §1.2 (not with mmpfast's codec)."""
from __future__ import annotations

import random
import socket
import struct
import time
from typing import Iterator, List, Optional, Set

import pytest

from mmpfast.sim import Simulator, UdpFault, UdpFaultProxy
from mmpfast.sim.faults import GARBAGE

SCRATCH_INT32 = 0xF0D81000          # scratch pad int32 area 1 (PROTOCOL.md §3.5)


def read_block(tl: int, address: int, n: int) -> bytes:
    return bytes((0, 0, tl << 2, 0x50, 0, 0, 0xFF, 0xFF)) + address.to_bytes(4, "big") \
        + n.to_bytes(2, "big") + b"\x00\x00"


def read_quadlet(tl: int, address: int) -> bytes:
    return bytes((0, 0, tl << 2, 0x40, 0, 0, 0xFF, 0xFF)) + address.to_bytes(4, "big")


def write_block(tl: int, address: int, data: bytes) -> bytes:
    return bytes((0, 0, tl << 2, 0x10, 0, 0, 0xFF, 0xFF)) + address.to_bytes(4, "big") \
        + len(data).to_bytes(2, "big") + b"\x00\x00" + data


def write_ack(tl: int, rcode: int = 0) -> bytes:
    return bytes((0, 0, tl << 2, 0x20, 0, 0, rcode << 4, 0, 0, 0, 0, 0))


def block_answer(tl: int, data: bytes) -> bytes:
    return bytes((0, 0, tl << 2, 0x70, 0, 0, 0, 0, 0, 0, 0, 0)) + len(data).to_bytes(2, "big") \
        + b"\x00\x00" + data


def quadlet_answer(tl: int, data: bytes) -> bytes:
    return bytes((0, 0, tl << 2, 0x60, 0, 0, 0, 0, 0, 0, 0, 0)) + data


VALUE = struct.pack(">i", 0x01020304)


def answer(tl: int) -> bytes:
    """The answer to ``read_block(tl, SCRATCH_INT32, 4)`` once the fixture has stored VALUE."""
    return block_answer(tl, VALUE)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as s:
        s.memory.write(SCRATCH_INT32, VALUE)
        yield s


def client(proxy: UdpFaultProxy) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.connect(proxy.address)
    return s


def recv(s: socket.socket, timeout: float = 3.0) -> Optional[bytes]:
    s.settimeout(timeout)
    try:
        return s.recv(4096)
    except socket.timeout:
        return None


def drain(s: socket.socket, quiet: float = 0.5) -> List[bytes]:
    """Every datagram until none came for ``quiet`` seconds (bounded: at most 200)."""
    out: List[bytes] = []
    for _ in range(200):
        got = recv(s, quiet)
        if got is None:
            break
        out.append(got)
    return out


def settle(proxy: UdpFaultProxy, answers: int, timeout: float = 3.0) -> None:
    """Wait until the proxy has received ``answers`` answers from the device."""
    deadline = time.monotonic() + timeout
    while proxy.answers_in < answers and time.monotonic() < deadline:
        time.sleep(0.005)
    assert proxy.answers_in == answers


# ============================================================================ relaying
def test_passes_requests_and_answers_to_the_right_client(sim: Simulator) -> None:
    with UdpFaultProxy(sim.host, sim.port) as proxy, client(proxy) as a, client(proxy) as b:
        assert proxy.port != 0 and proxy.address == ("127.0.0.1", proxy.port)
        a.send(read_block(1, SCRATCH_INT32, 4))
        b.send(read_block(2, SCRATCH_INT32, 4))
        assert recv(a) == answer(1)
        assert recv(b) == answer(2)
        a.send(write_block(3, SCRATCH_INT32 + 4, b"\x00\x00\x00\x09"))
        assert recv(a) == write_ack(3)
        b.send(read_quadlet(4, SCRATCH_INT32 + 4))
        assert recv(b) == quadlet_answer(4, b"\x00\x00\x00\x09")
        assert drain(a, 0.1) == [] and drain(b, 0.1) == []
        assert (proxy.requests_in, proxy.frames_up, proxy.answers_in, proxy.frames_down) == (4, 4, 4, 4)
        assert proxy.up_by_tcode == {5: 2, 1: 1, 4: 1}
        assert (proxy.dropped, proxy.duplicates, proxy.foreign, proxy.faults_applied) == (0, 0, 0, 0)
        assert proxy.clients == 2
        assert sorted(proxy.request_log) == sorted([read_block(1, SCRATCH_INT32, 4), read_block(2, SCRATCH_INT32, 4),
                                                    write_block(3, SCRATCH_INT32 + 4, b"\x00\x00\x00\x09"),
                                                    read_quadlet(4, SCRATCH_INT32 + 4)])
    assert sim.stats.datagrams == 4 and sim.stats.datagrams_out == 4


def test_burst_from_a_new_client_keeps_its_order(sim: Simulator) -> None:
    with UdpFaultProxy(sim.host, sim.port) as proxy, client(proxy) as c:
        for tl in range(20):
            c.send(read_block(tl, SCRATCH_INT32, 4))
        assert drain(c) == [answer(tl) for tl in range(20)]
        assert list(proxy.request_log) == [read_block(tl, SCRATCH_INT32, 4) for tl in range(20)]


# ============================================================================ standing drop rules
def test_drop_every_kth_answer(sim: Simulator) -> None:
    with UdpFaultProxy(sim.host, sim.port, drop_every=3) as proxy, client(proxy) as c:
        got = []
        for tl in range(1, 10):
            c.send(read_block(tl, SCRATCH_INT32, 4))
            got.append(recv(c, 0.3 if tl % 3 == 0 else 3.0))
        assert got == [None if tl % 3 == 0 else answer(tl) for tl in range(1, 10)]
        assert (proxy.frames_up, proxy.answers_in, proxy.frames_down, proxy.dropped) == (9, 9, 6, 3)
        assert list(proxy.dropped_log) == [answer(3), answer(6), answer(9)]
    assert sim.stats.frames_in == 9 and sim.stats.frames_out == 9     # the device answered every one


def test_drop_by_tl_every_time(sim: Simulator) -> None:
    with UdpFaultProxy(sim.host, sim.port, drop_tls={5, 7}) as proxy, client(proxy) as c:
        for tl in (4, 5, 6, 7, 5, 8):
            c.send(read_block(tl, SCRATCH_INT32, 4))
        assert drain(c) == [answer(4), answer(6), answer(8)]
        assert (proxy.frames_up, proxy.frames_down, proxy.dropped) == (6, 3, 3)
        proxy.drop_tls = frozenset()                          # standing rules change at any time
        c.send(read_block(5, SCRATCH_INT32, 4))
        assert recv(c) == answer(5)


def test_drop_next_tl_then_the_resend_passes(sim: Simulator) -> None:
    """The one-resend rule: the first answer for tl 9 is lost, the same request sent again
    gets its answer; the device saw the read twice."""
    with UdpFaultProxy(sim.host, sim.port) as proxy, client(proxy) as c:
        proxy.drop_next_tl(9)
        c.send(read_block(8, SCRATCH_INT32, 4))
        assert recv(c) == answer(8)
        c.send(read_block(9, SCRATCH_INT32, 4))
        assert recv(c, 0.3) is None
        c.send(read_block(9, SCRATCH_INT32, 4))
        assert recv(c) == answer(9)
        proxy.drop_next_tl(10, count=2)
        for _ in range(3):
            c.send(read_block(10, SCRATCH_INT32, 4))
        assert drain(c) == [answer(10)]
        assert (proxy.frames_up, proxy.frames_down, proxy.dropped) == (6, 3, 3)
        assert proxy.up_by_tcode == {5: 6}
    assert sim.stats.by_tcode == {5: 6}


def test_drop_fraction_is_seeded(sim: Simulator) -> None:
    n, fraction, seed = 40, 0.25, 1234
    rng = random.Random(seed)
    lost = {i for i in range(1, n + 1) if rng.random() < fraction}
    assert 0 < len(lost) < n
    with UdpFaultProxy(sim.host, sim.port, drop_fraction=fraction, seed=seed) as proxy, client(proxy) as c:
        for tl in range(1, n + 1):                         # answer i is the answer to tl i
            c.send(read_block(tl, SCRATCH_INT32, 4))
        assert drain(c) == [answer(tl) for tl in range(1, n + 1) if tl not in lost]
        assert (proxy.answers_in, proxy.dropped, proxy.frames_down) == (n, len(lost), n - len(lost))
        assert [d[2] >> 2 for d in proxy.dropped_log] == sorted(lost)


def test_same_seed_same_drops_other_seed_other_drops(sim: Simulator) -> None:
    def run(seed: int) -> Set[int]:
        with UdpFaultProxy(sim.host, sim.port, drop_fraction=0.5, seed=seed) as proxy, client(proxy) as c:
            for tl in range(30):
                c.send(read_block(tl, SCRATCH_INT32, 4))
            got = {d[2] >> 2 for d in drain(c)}
            settle(proxy, 30)
            return set(range(30)) - got

    first = run(7)
    assert run(7) == first
    assert run(8) != first


def test_drop_fraction_draws_for_every_answer(sim: Simulator) -> None:
    """One value is drawn per answer even when a scripted fault decides it: the seeded drops
    stay on the same answer numbers."""
    rng = random.Random(99)
    lost = {i for i in range(1, 21) if rng.random() < 0.3}
    assert 1 not in lost                                   # answer 1 is the scripted one below
    with UdpFaultProxy(sim.host, sim.port, drop_fraction=0.3, seed=99) as proxy, client(proxy) as c:
        proxy.next_answer(UdpFault.drop())
        for tl in range(1, 21):
            c.send(read_block(tl, SCRATCH_INT32, 4))
        assert drain(c) == [answer(tl) for tl in range(2, 21) if tl not in lost]
        assert proxy.dropped == len(lost) + 1 and proxy.faults_applied == 1


def test_drop_requests(sim: Simulator) -> None:
    """A request lost on the way: the device never sees it (here a write, which is not applied)."""
    with UdpFaultProxy(sim.host, sim.port, drop_request_every=2) as proxy, client(proxy) as c:
        c.send(write_block(1, SCRATCH_INT32 + 8, b"\x00\x00\x00\x01"))
        assert recv(c) == write_ack(1)
        c.send(write_block(2, SCRATCH_INT32 + 12, b"\x00\x00\x00\x02"))
        assert recv(c, 0.3) is None
        c.send(read_block(3, SCRATCH_INT32 + 8, 8))
        assert recv(c) == block_answer(3, b"\x00\x00\x00\x01" + bytes(4))
        assert (proxy.requests_in, proxy.frames_up, proxy.requests_dropped) == (3, 2, 1)
        assert (proxy.answers_in, proxy.dropped) == (2, 0)
    assert sim.stats.by_tcode == {1: 1, 5: 1}


# ============================================================================ exactly once
def test_a_write_whose_answer_is_dropped_reached_the_device_once(sim: Simulator) -> None:
    with UdpFaultProxy(sim.host, sim.port) as proxy, client(proxy) as c:
        proxy.next_answer(UdpFault.drop())
        c.send(write_block(11, SCRATCH_INT32 + 16, b"\x00\x00\x00\x63"))
        assert recv(c, 0.3) is None
        settle(proxy, 1)
        assert proxy.up_by_tcode == {1: 1} and proxy.dropped == 1 and proxy.frames_down == 0
        assert list(proxy.dropped_log) == [write_ack(11)]
    assert sim.memory.read(SCRATCH_INT32 + 16, 4) == b"\x00\x00\x00\x63"
    assert sim.stats.by_tcode == {1: 1}


# ============================================================================ scripted faults
def test_scripted_queue_comes_before_the_standing_rules(sim: Simulator) -> None:
    with UdpFaultProxy(sim.host, sim.port, drop_every=1) as proxy, client(proxy) as c:
        proxy.queue_faults([None, UdpFault.duplicate()])
        assert proxy.pending_faults == 2
        for tl in (1, 2, 3):
            c.send(read_block(tl, SCRATCH_INT32, 4))
        assert drain(c) == [answer(1), answer(2), answer(2)]
        assert proxy.pending_faults == 0
        assert (proxy.frames_down, proxy.dropped, proxy.duplicates, proxy.faults_applied) == (3, 1, 1, 1)
        proxy.next_answer(None)
        proxy.clear_faults()
        c.send(read_block(4, SCRATCH_INT32, 4))
        assert recv(c, 0.3) is None                       # drop_every=1 again


def test_delay_standing_and_scripted(sim: Simulator) -> None:
    with UdpFaultProxy(sim.host, sim.port, delay=0.15) as proxy, client(proxy) as c:
        t0 = time.monotonic()
        c.send(read_block(1, SCRATCH_INT32, 4))
        assert recv(c) == answer(1)
        assert time.monotonic() - t0 >= 0.14
        proxy.delay = 0.0
        proxy.next_answer(UdpFault.delay(0.3))
        t0 = time.monotonic()
        c.send(read_block(2, SCRATCH_INT32, 4))
        c.send(read_block(3, SCRATCH_INT32, 4))
        assert recv(c) == answer(3)                      # the later answer is not held back
        assert recv(c) == answer(2)
        assert time.monotonic() - t0 >= 0.29
        assert (proxy.frames_down, proxy.dropped, proxy.faults_applied) == (3, 0, 1)


def test_delayed_answer_counted_when_sent(sim: Simulator) -> None:
    with UdpFaultProxy(sim.host, sim.port) as proxy, client(proxy) as c:
        proxy.next_answer(UdpFault.delay(0.4))
        c.send(read_block(1, SCRATCH_INT32, 4))
        settle(proxy, 1)
        assert proxy.frames_down == 0
        assert recv(c) == answer(1)
        assert proxy.frames_down == 1


def test_duplicate_now_and_later(sim: Simulator) -> None:
    with UdpFaultProxy(sim.host, sim.port) as proxy, client(proxy) as c:
        proxy.next_answer(UdpFault.duplicate(after=0.2))
        c.send(read_block(1, SCRATCH_INT32, 4))
        assert recv(c) == answer(1)
        c.send(read_block(2, SCRATCH_INT32, 4))           # the next exchange, then the stale copy
        assert recv(c) == answer(2)
        t0 = time.monotonic()
        assert recv(c) == answer(1)
        assert time.monotonic() - t0 < 0.5
        assert (proxy.answers_in, proxy.frames_down, proxy.duplicates) == (2, 3, 1)
    assert sim.stats.frames_in == 2


def test_foreign_wrong_tl_before_the_answer(sim: Simulator) -> None:
    with UdpFaultProxy(sim.host, sim.port) as proxy, client(proxy) as c:
        proxy.queue_faults([UdpFault.foreign("tl"), UdpFault.foreign("tl", tl=40), UdpFault.foreign("tl", tl=63)])
        c.send(read_block(5, SCRATCH_INT32, 4))
        c.send(write_block(6, SCRATCH_INT32 + 20, b"\x00\x00\x00\x01"))
        c.send(read_block(63, SCRATCH_INT32, 4))
        assert drain(c) == [answer(6), answer(5), write_ack(40), write_ack(6), answer(63), answer(63)]
        assert (proxy.foreign, proxy.frames_down, proxy.dropped, proxy.faults_applied) == (3, 3, 0, 3)


def test_foreign_wrong_tcode_before_the_answer(sim: Simulator) -> None:
    with UdpFaultProxy(sim.host, sim.port) as proxy, client(proxy) as c:
        proxy.queue_faults([UdpFault.foreign("tcode")] * 3)
        c.send(read_block(7, SCRATCH_INT32, 4))
        c.send(write_block(8, SCRATCH_INT32 + 24, b"\x00\x00\x00\x02"))
        c.send(read_quadlet(9, SCRATCH_INT32))
        assert drain(c) == [write_ack(7), answer(7),                          # read block -> write ack
                            quadlet_answer(8, bytes(4)), write_ack(8),        # write ack -> read quadlet
                            block_answer(9, bytes(4)), quadlet_answer(9, VALUE)]   # quadlet -> block
        assert (proxy.foreign, proxy.frames_down) == (3, 3)


def test_foreign_garbage_and_replace(sim: Simulator) -> None:
    with UdpFaultProxy(sim.host, sim.port) as proxy, client(proxy) as c:
        proxy.queue_faults([UdpFault.foreign("garbage"), UdpFault.foreign("garbage", data=b"\x00\x01"),
                            UdpFault.foreign("tl", replace=True)])
        for tl in (1, 2, 3):
            c.send(read_block(tl, SCRATCH_INT32, 4))
        assert GARBAGE == bytes.fromhex("de ad be ef 00 01 02")
        assert drain(c) == [GARBAGE, answer(1), b"\x00\x01", answer(2), answer(4)]
        assert (proxy.foreign, proxy.frames_down, proxy.dropped) == (3, 2, 1)
        assert list(proxy.dropped_log) == [answer(3)]


def test_inject_to_the_latest_client_or_an_address(sim: Simulator) -> None:
    with UdpFaultProxy(sim.host, sim.port) as proxy, client(proxy) as a, client(proxy) as b:
        with pytest.raises(RuntimeError):
            proxy.inject(b"early")                       # no client yet
        a.send(read_block(1, SCRATCH_INT32, 4))
        assert recv(a) == answer(1)
        proxy.inject(answer(1))                         # a stale copy, to a
        assert recv(a) == answer(1)
        proxy.inject(b"\x01\x02\x03", to=b.getsockname())
        assert recv(b) == b"\x01\x02\x03"
        assert proxy.foreign == 2 and proxy.frames_down == 1


# ============================================================================ lifecycle, arguments
def test_stop_with_answers_still_delayed_and_twice(sim: Simulator) -> None:
    proxy = UdpFaultProxy(sim.host, sim.port, delay=5.0).start()
    with client(proxy) as c:
        c.send(read_block(1, SCRATCH_INT32, 4))
        settle(proxy, 1)
        t0 = time.monotonic()
        proxy.stop()
        assert time.monotonic() - t0 < 2.0
        proxy.stop()
        assert recv(c, 0.2) is None
    assert proxy.frames_down == 0


def test_start_twice_and_bind_error(sim: Simulator) -> None:
    with UdpFaultProxy(sim.host, sim.port) as proxy:
        with pytest.raises(RuntimeError):
            proxy.start()
        with pytest.raises(OSError):
            UdpFaultProxy(sim.host, sim.port, port=proxy.port).start()


@pytest.mark.parametrize("kwargs", [
    {"drop_every": 0}, {"drop_every": True}, {"drop_every": 1.5}, {"drop_request_every": 0},
    {"drop_fraction": 1.5}, {"drop_fraction": -0.1}, {"drop_fraction": "0.1"},
    {"delay": -1.0}, {"delay": float("inf")}, {"drop_tls": {64}}, {"drop_tls": {-1}},
])
def test_bad_options(kwargs: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError):
        UdpFaultProxy("127.0.0.1", 1, **kwargs)


def test_bad_faults() -> None:
    with pytest.raises(ValueError):
        UdpFault.foreign("rcode")
    with pytest.raises(ValueError):
        UdpFault.foreign("tl", tl=64)
    with pytest.raises(TypeError):
        UdpFault.foreign("garbage", data="text")  # type: ignore[arg-type]
    for bad in (-0.1, float("nan"), True):
        with pytest.raises(ValueError):
            UdpFault.delay(bad)
        with pytest.raises(ValueError):
            UdpFault.duplicate(bad)
    proxy = UdpFaultProxy("127.0.0.1", 1)
    for tl, count in ((64, 1), (-1, 1), (3, 0)):
        with pytest.raises(ValueError):
            proxy.drop_next_tl(tl, count)
    with pytest.raises(RuntimeError):
        proxy.inject(b"x", to=("127.0.0.1", 9))         # not started
