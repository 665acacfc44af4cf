"""The command line beyond the packed areas: ``read counter|latches --clear``,
``info --points`` and ``--device snap`` on the device commands, against the
simulator (epic and snap profiles)."""
from __future__ import annotations

import json
from typing import Any, Iterator, Tuple

import pytest

from mmpfast.cli import main
from mmpfast.cli.errors import EXIT_OK, EXIT_USAGE
from mmpfast.sim import Simulator

TCODE_READ = 5


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(params=["epic", "snap"])
def sim(request: pytest.FixtureRequest) -> Iterator[Simulator]:
    with Simulator(port=0, profile=request.param, puc_required=False,
                   modules=["di:8", "do:4", None, "ai:2"]) as s:
        yield s


def hp(s: Any) -> str:
    return f"{s.host}:{s.port}"


def device_of(s: Simulator) -> str:
    return "snap" if s.memory.profile == "snap" else "epic"


def pulses(s: Simulator, m: int, ch: int, n: int) -> None:
    for _ in range(n):
        s.set_digital(m, ch, True)
        s.set_digital(m, ch, False)


def test_read_counter_and_clear(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    dev = device_of(sim)
    sim.set_feature(0, 2, 1)
    pulses(sim, 0, 2, 4)
    assert run(capsys, "read", hp(sim), "counter", "0", "2", "--device", dev) == (EXIT_OK, "4\n", "")
    code, out, _ = run(capsys, "read", hp(sim), "counter", "0", "2", "--clear", "--device", dev, "--json")
    assert code == EXIT_OK
    assert json.loads(out) == {"module": 0, "channel": 2, "counter": 4, "cleared": True}
    assert run(capsys, "read", hp(sim), "counter", "0", "2", "--device", dev)[1] == "0\n"
    # the counter's clear left the latches
    assert run(capsys, "read", hp(sim), "latches", "0", "2", "--device", dev)[1] == \
        "on-latch set, off-latch set\n"


def test_read_latches_and_clear(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    dev = device_of(sim)
    sim.set_feature(0, 1, 1)
    sim.set_digital(0, 1, True)                 # on-latch and one count
    code, out, _ = run(capsys, "read", hp(sim), "latches", "0", "1", "--clear", "--device", dev, "--json")
    assert code == EXIT_OK
    assert json.loads(out) == {"module": 0, "channel": 1, "on_latch": True, "off_latch": False, "cleared": True}
    assert run(capsys, "read", hp(sim), "latches", "0", "1", "--device", dev)[1] == \
        "on-latch clear, off-latch clear\n"
    assert run(capsys, "read", hp(sim), "counter", "0", "1", "--device", dev)[1] == "1\n"   # kept


def test_clear_is_only_for_counter_and_latches(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    before = sim.stats.frames_in
    code, _, err = run(capsys, "read", hp(sim), "digital", "0", "1", "--clear")
    assert code == EXIT_USAGE and "--clear" in err
    assert sim.stats.frames_in == before


def test_info_points_table(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    dev = device_of(sim)
    sim.set_feature(0, 3, 1)
    code, out, _ = run(capsys, "info", hp(sim), "--points", "--device", dev, "--json")
    assert code == EXIT_OK
    obj = json.loads(out)
    assert obj["device"] == dev
    n = 4 if dev == "snap" else 8
    listed = [(p["module"], p["channel"]) for p in obj["points"]]
    # the di:8 module's channels (4 on SNAP), the do:4, the ai:2; slot 2 is empty and skipped
    assert listed == [(0, c) for c in range(n)] + [(1, c) for c in range(4)] + [(3, 0), (3, 1)]
    by = {(p["module"], p["channel"]): p for p in obj["points"]}
    assert by[0, 3]["feature"] == 1 and by[0, 2]["feature"] == 0
    assert by[1, 0]["point_type"] == 0x180 and by[3, 1]["point_type"] == 0x200
    assert by[0, 0]["module_type"] == 0x100 << 16 | 8
    code, out, _ = run(capsys, "info", hp(sim), "--points", "--device", dev)
    assert code == EXIT_OK
    lines = out.splitlines()
    head = lines.index(f"points ({dev}, from the point configuration):")
    rows = [line.split() for line in lines[head + 2:]]
    assert len(rows) == len(listed)
    assert rows[3][:7] == ["0", "3", "0x01000008", "0x100", "digital", "input", "1"] and rows[3][7] == "counter"
    assert rows[-1][:4] == ["3", "1", "0x02000002", "0x200"]


def test_snap_points_need_device_snap(capsys: pytest.CaptureFixture[str]) -> None:
    with Simulator(port=0, profile="snap", puc_required=False) as s:
        s.set_digital(1, 2, True)               # a do module's channel: SNAP point 6
        assert run(capsys, "read", hp(s), "digital", "1", "2", "--device", "snap") == (EXIT_OK, "on\n", "")
        code, _, err = run(capsys, "read", hp(s), "digital", "1", "4", "--device", "snap")
        assert code == EXIT_USAGE and "channel 4 out of range 0..3" in err
        assert run(capsys, "write", hp(s), "digital", "1", "2", "off", "--device", "snap")[0] == EXIT_OK
        assert s.get_digital(1, 2) is False
        code, out, _ = run(capsys, "scan", hp(s), "--device", "snap", "--modules", "1:d", "--count", "1", "--json")
        assert code == EXIT_OK
        s.set_digital(1, 3, True)
        code, out, _ = run(capsys, "scan", hp(s), "--device", "snap", "--modules", "1:d", "--count", "1", "--json")
        first = json.loads(out.splitlines()[0])
        assert first["digital"] == {"1": [False, False, False, True]}
        code, _, err = run(capsys, "scan", hp(s), "--device", "snap", "--channels", "8", "--count", "1")
        assert code == EXIT_USAGE and "--channels must be 1..4" in err
        code, out, _ = run(capsys, "dump", hp(s), "0xF0800000", "16", "-o", "-", "--device", "snap")
        assert code == EXIT_OK


def test_udp_on_the_device_commands(capsys: pytest.CaptureFixture[str], sim: Simulator) -> None:
    """``--udp`` sends the same requests as datagrams: the simulator counts them on UDP."""
    dev = device_of(sim)
    sim.set_digital(0, 1, True)
    before = sim.stats.datagrams
    assert run(capsys, "read", hp(sim), "digital", "0", "1", "--device", dev, "--udp") == (EXIT_OK, "on\n", "")
    assert run(capsys, "write", hp(sim), "digital", "1", "2", "on", "--device", dev, "--udp")[0] == EXIT_OK
    assert sim.get_digital(1, 2) is True
    code, out, _ = run(capsys, "read", hp(sim), "int32", "3", "--udp", "--json")
    assert code == EXIT_OK and json.loads(out) is not None
    assert sim.stats.datagrams - before == 3          # one datagram per request, none over TCP
    code, out, _ = run(capsys, "info", hp(sim), "--udp", "--json")
    assert code == EXIT_OK and "uptime_ms" in json.loads(out)
