"""The ``mmpfast`` command line, driven in-process through ``mmpfast.cli.main``
against a simulated groov EPIC (plus one subprocess run of ``--help``)."""
from __future__ import annotations

import importlib
import io
import json
import os
import re
import socket
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator, List

import pytest

import mmpfast
from mmpfast import cli_commands, memmap
from mmpfast.cli import main
from mmpfast.cli_commands import (EXIT_CONNECTION, EXIT_NAK, EXIT_OTHER, EXIT_PROTOCOL,
                                  EXIT_TIMEOUT, EXIT_USAGE, UsageError, exit_code_for, fmt_f32,
                                  parse_host, parse_module_spec)
from mmpfast.errors import (MmpConnectionError, MmpNakError, MmpProtocolError, MmpTimeoutError,
                            WriteOutcomeUnknown)
from mmpfast.sim import Fault, FaultProxy, Simulator


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(port=0) as s:
        yield s


def hp(sim: Any) -> str:
    return f"{sim.host}:{sim.port}"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple:
    """(exit status, stdout, stderr) of ``mmpfast argv...``."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


# ----------------------------------------------------------------------------- help
def test_module_help_runs_from_any_folder(tmp_path: Path) -> None:
    env = dict(os.environ)
    # the package this suite imported, wherever it lives (installed or in-tree)
    env["PYTHONPATH"] = str(Path(mmpfast.__file__).resolve().parent.parent)
    proc = subprocess.run([sys.executable, "-m", "mmpfast", "--help"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for word in ("demo", "info", "read", "write", "scan", "dump", "sim", "bench"):
        assert re.search(rf"^\s+{word}\s", out, re.M), word
    assert "examples:" in out
    assert "mmpfast scan 10.0.0.5 --modules 0-3,8 --rate 10" in out
    assert "5 device NAK" in out


@pytest.mark.parametrize("command", ["demo", "info", "read", "write", "scan", "dump", "bench"])
def test_every_command_help_shows_examples(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert "examples:" in out
    assert f"mmpfast {command}" in out
    assert "exit status:" in out


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys)
    assert code == EXIT_USAGE
    assert "<command>" in out


# ----------------------------------------------------------------------------- info
def test_info_table_and_json(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "info", hp(sim))
    assert (code, err) == (0, "")
    assert re.search(r"^  firmware\s+R3\.4a$", out, re.M)
    assert re.search(r"^  part number\s+GRV-EPIC-PR1$", out, re.M)
    assert re.search(r"^  MAC\s+00:A0:3D:0A:0D:FE$", out, re.M)
    assert re.search(r"^  serial\s+10501377 \(0x00A03D01\)$", out, re.M)
    assert re.search(r"^  last error\s+none$", out, re.M)
    assert re.search(r"^  power-up clear\s+not needed$", out, re.M)

    code, out, _ = run(capsys, "info", sim.host, "--port", str(sim.port), "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["port"] == sim.port
    assert doc["firmware"] == "R3.4a" and doc["part_number"] == "GRV-EPIC-PR1"
    assert doc["serial"] == 0x00A03D01 and doc["ip"] == "127.0.0.1"
    assert doc["last_error"] == 0 and doc["powerup_clear_needed"] is False
    assert 0 <= doc["uptime_ms"] < 60_000


def test_info_shows_last_error_after_a_nak(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "read", hp(sim), "raw", "0x12345678", "4")[0] == EXIT_NAK
    code, out, _ = run(capsys, "info", hp(sim))
    assert code == 0
    assert re.search(r"^  last error\s+0xE005 \(invalid memory address", out, re.M)


# ----------------------------------------------------------------------------- read / write points
def test_read_digital_prints_on_and_off(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    sim.set_digital(0, 4, True)
    assert run(capsys, "read", hp(sim), "digital", "0", "4") == (0, "on\n", "")
    assert run(capsys, "read", hp(sim), "digital", "0", "5") == (0, "off\n", "")
    code, out, _ = run(capsys, "read", hp(sim), "digital", "0", "4", "--json")
    assert json.loads(out) == {"module": 0, "channel": 4, "state": True}


def test_read_analog_text_and_json(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    sim.set_analog(2, 1, 1.1)           # not exact in float32: shown as the user wrote it
    assert run(capsys, "read", hp(sim), "analog", "2", "1") == (0, "1.1\n", "")
    sim.set_analog(2, 1, -12.5)
    code, out, _ = run(capsys, "read", hp(sim), "analog", "2", "1", "--json")
    assert code == 0 and json.loads(out) == {"module": 2, "channel": 1, "value": -12.5}


def test_write_digital_and_analog_round_trip(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "write", hp(sim), "digital", "1", "3", "on")
    assert code == 0 and "on" in out
    assert sim.get_digital(1, 3) is True
    assert run(capsys, "read", hp(sim), "digital", "1", "3")[1] == "on\n"
    assert run(capsys, "write", hp(sim), "digital", "1", "3", "0")[0] == 0
    assert sim.get_digital(1, 3) is False

    code, out, _ = run(capsys, "write", hp(sim), "analog", "3", "0", "7.25", "--json")
    assert code == 0 and json.loads(out)["value"] == 7.25
    assert sim.get_analog(3, 0) == 7.25
    assert run(capsys, "read", hp(sim), "analog", "3", "0")[1] == "7.25\n"


# ----------------------------------------------------------------------------- scratch pad
def test_int32_round_trip_with_negative_and_hex(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "write", hp(sim), "int32", "5", "1", "-2", "0x10")
    assert (code, err) == (0, "")
    assert sim.memory.read(memmap.scratchpad_int32_address(5), 12) == struct.pack(">iii", 1, -2, 16)
    code, out, _ = run(capsys, "read", hp(sim), "int32", "5", "3")
    assert out.splitlines() == ["5  1", "6  -2", "7  16"]
    code, out, _ = run(capsys, "read", hp(sim), "int32", "6", "--json")
    assert json.loads(out) == {"type": "int32", "index": 6, "values": [-2]}
    assert run(capsys, "read", hp(sim), "int32", "7")[1] == "16\n"


def test_int32_run_across_areas(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "write", hp(sim), "int32", "1023", "11", "22")[0] == 0
    assert sim.memory.read(memmap.scratchpad_int32_address(1023), 4) == struct.pack(">i", 11)
    assert sim.memory.read(memmap.SCRATCHPAD_INT32_AREA2, 4) == struct.pack(">i", 22)
    code, out, _ = run(capsys, "read", hp(sim), "int32", "1023", "2", "--json")
    assert json.loads(out)["values"] == [11, 22]


def test_float_and_int64_round_trip(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "write", hp(sim), "float", "10", "3.14159", "-0.5")[0] == 0
    assert sim.memory.read(memmap.scratchpad_float_address(10), 8) == struct.pack(">ff", 3.14159, -0.5)
    code, out, _ = run(capsys, "read", hp(sim), "float", "10", "2", "--json")
    assert json.loads(out)["values"] == [3.14159, -0.5]
    assert run(capsys, "read", hp(sim), "float", "10")[1] == "3.14159\n"

    big = 2 ** 40 + 3
    assert run(capsys, "write", hp(sim), "int64", "2", str(big), "-1")[0] == 0
    assert sim.memory.read(memmap.scratchpad_int64_address(2), 16) == struct.pack(">qq", big, -1)
    code, out, _ = run(capsys, "read", hp(sim), "int64", "2", "2", "--json")
    assert json.loads(out)["values"] == [big, -1]


def test_string_round_trip(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run(capsys, "write", hp(sim), "string", "3", "batch", "42", "done")
    assert code == 0
    raw = sim.memory.read(memmap.scratchpad_string_address(3), 16)
    assert raw[:2] == b"\x00\x0d" and raw[2:15] == b"batch 42 done"
    assert run(capsys, "read", hp(sim), "string", "3") == (0, "batch 42 done\n", "")
    code, out, _ = run(capsys, "read", hp(sim), "string", "3", "--json")
    assert json.loads(out) == {"slot": 3, "text": "batch 42 done"}


# ----------------------------------------------------------------------------- raw
def test_raw_read_typed_and_hexdump(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    sim.memory.write(0xF0D81000, bytes.fromhex("0000002A FFFFFFFE 40490FDB"))
    code, out, _ = run(capsys, "read", hp(sim), "raw", "0xF0D81000", "8", "--type", "i32")
    assert out.splitlines() == ["0xF0D81000  42", "0xF0D81004  -2"]
    code, out, _ = run(capsys, "read", hp(sim), "raw", "0xF0D81008", "4", "--type", "f32", "--json")
    doc = json.loads(out)
    assert doc["values"] == [3.1415927] and doc["hex"] == "40490fdb"
    code, out, _ = run(capsys, "read", hp(sim), "raw", "0xF0D81000", "20")
    lines = out.splitlines()
    assert lines[0].startswith("0xF0D81000  00 00 00 2a ff ff ff fe 40 49 0f db 00 00 00 00")
    assert lines[1].startswith("0xF0D81010  00 00 00 00 ")
    code, out, _ = run(capsys, "read", hp(sim), "raw", "0xF030010C", "4", "--type", "u32")
    assert code == 0 and re.fullmatch(r"0xF030010C  \d+\n", out)


def test_raw_write_hex_and_typed(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "write", hp(sim), "raw", "0xF0D81100", "01 02", "0304")[0] == 0
    assert sim.memory.read(0xF0D81100, 4) == b"\x01\x02\x03\x04"
    assert run(capsys, "write", hp(sim), "raw", "0xF0D81104", "1.5", "-2", "--type", "f32")[0] == 0
    assert sim.memory.read(0xF0D81104, 8) == struct.pack(">ff", 1.5, -2.0)
    assert run(capsys, "write", hp(sim), "raw", "0xF0D8110C", "0xDEADBEEF", "--type", "u32")[0] == 0
    assert sim.memory.read(0xF0D8110C, 4) == b"\xde\xad\xbe\xef"


def test_read_uptime(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "read", hp(sim), "uptime", "--json")
    assert code == 0 and 0 <= json.loads(out)["uptime_ms"] < 60_000
    code, out, _ = run(capsys, "read", hp(sim), "uptime")
    assert re.fullmatch(r"\d+ ms \(00:\d\d:\d\d\.\d{3}\)\n", out)


# ----------------------------------------------------------------------------- dump
def test_dump_writes_the_device_bytes(sim: Simulator, capsys: pytest.CaptureFixture[str],
                                      tmp_path: Path) -> None:
    start, length = 0xF0D81000, 0x4080           # two 16 KiB chunks: the whole area
    pattern = bytes((i * 7 + 3) & 0xFF for i in range(0x2000))
    sim.memory.write(start, pattern)
    target = tmp_path / "sp.bin"
    code, out, err = run(capsys, "dump", hp(sim), hex(start), str(length), "-o", str(target))
    assert (code, err) == (0, "")
    data = target.read_bytes()
    assert len(data) == length
    assert data == sim.memory.read(start, length)
    assert data[:0x2000] == pattern
    assert f"{length} bytes from 0xF0D81000 written to {target}" in out


def test_dump_progress_bar_on_a_terminal(sim: Simulator, capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tty = FakeTTY()
    monkeypatch.setattr(sys, "stderr", tty)
    target = tmp_path / "st.bin"
    code = main(["dump", hp(sim), "0xF0300000", "0x250", "-o", str(target)])
    assert code == 0
    bar = tty.getvalue()
    assert bar.startswith("\r[") and "100.0%" in bar and "592/592 bytes" in bar and bar.endswith("\n")
    assert target.read_bytes()[:4] == b"\x00\x00\x00\x01"    # memory-map revision


def test_dump_to_stdout(sim: Simulator, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    sim.memory.write(0xF0D81000, b"MMPFAST!")
    code = main(["dump", hp(sim), "0xF0D81000", "8", "-o", "-"])
    out, err = capsysbinary.readouterr()
    assert code == 0 and out == b"MMPFAST!"
    assert b"written to stdout" in err


def test_dump_nak_writes_nothing(sim: Simulator, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "x.bin"
    code, out, err = run(capsys, "dump", hp(sim), "0xF0300000", "0x260", "-o", str(target))
    assert code == EXIT_NAK
    assert not target.exists()
    assert err.startswith("mmpfast: error: device NAK rcode 5") and err.count("\n") == 1
    assert "nothing written" in err and "ends at 0xF030024F" in err


def test_dump_to_a_missing_folder_fails_before_reading(sim: Simulator, capsys: pytest.CaptureFixture[str],
                                                       tmp_path: Path) -> None:
    code, _, err = run(capsys, "dump", hp(sim), "0xF0300000", "16", "-o", str(tmp_path / "no" / "x.bin"))
    assert code == EXIT_OTHER and err.startswith("mmpfast: error: cannot write")
    assert sim.stats.frames_in == 0


# ----------------------------------------------------------------------------- scan
def test_scan_json_one_object_per_pass(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    sim.set_digital(0, 2, True)
    sim.set_analog(2, 0, 4.75)
    code, out, err = run(capsys, "scan", hp(sim), "--modules", "0:d,2:a", "--channels", "4",
                         "--count", "3", "--rate", "50", "--json")
    assert (code, err) == (0, "")
    docs = [json.loads(line) for line in out.splitlines()]
    assert [d.get("pass") for d in docs[:3]] == [1, 2, 3]
    for d in docs[:3]:
        assert d["digital"] == {"0": [False, False, True, False]}
        assert d["analog"] == {"2": [4.75, 0.0, 0.0, 0.0]}
    summary = docs[3]["summary"]
    assert summary["passes"] == 3 and summary["ok"] == 3 and summary["errors"] == 0
    assert summary["points"] == 8 and summary["requests_per_pass"] == 2
    assert summary["target_hz"] == 50.0 and summary["rate_hz"] > 0


def test_scan_plain_lines(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    sim.set_digital(1, 0, True)     # an output module reads back its state too
    sim.set_digital(0, 9, True)
    sim.set_analog(2, 3, -1.5)
    code, out, _ = run(capsys, "scan", hp(sim), "--modules", "0-1:d,2:a", "--channels", "16",
                       "--count", "2", "--rate", "50")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"scan {hp(sim)}: 48 points in ")
    assert lines.count("M0  digital ch 0-15  00000000 01000000") == 2
    assert lines.count("M1  digital ch 0-15  10000000 00000000") == 2
    analog = [ln for ln in lines if ln.startswith("M2  analog")]
    assert len(analog) == 2 and analog[0].split()[4:8] == ["0", "0", "0", "-1.5"]
    assert re.match(r"scan done: passes 2 \(ok 2, errors 0\)  rate [\d.]+ Hz \(target 50\)  jitter p99 ",
                    lines[-1])


def test_scan_redraws_in_place_on_a_terminal(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    tty = FakeTTY()
    monkeypatch.setattr(sys, "stdout", tty)
    assert main(["scan", hp(sim), "--modules", "0", "--channels", "8", "--count", "3", "--rate", "5"]) == 0
    text = tty.getvalue()
    assert text.count("\x1b[J") >= 2            # every pass 0.2 s apart is drawn
    assert "\x1b[4F" in text                    # cursor back up over the 4-line table
    assert "M0  digital ch 0-7" in text and "passes" in text
    assert text.splitlines()[-1].startswith("scan done: passes 3 (ok 3, errors 0)")


def test_scan_duration(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "scan", hp(sim), "--modules", "0:d", "--duration", "0.25",
                       "--rate", "20", "--json")
    assert code == 0
    summary = json.loads(out.splitlines()[-1])["summary"]
    assert 3 <= summary["passes"] <= 7


def test_scan_refused_counts_errors_and_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "scan", f"127.0.0.1:{free_port()}", "--modules", "0",
                         "--count", "2", "--rate", "50")
    assert code == EXIT_CONNECTION
    assert "scan done: passes 2 (ok 0, errors 2)" in out
    assert err.splitlines()[-1].startswith("mmpfast: error: ") and "no pass succeeded" in err


# ----------------------------------------------------------------------------- errors
def test_refused_port_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "read", "127.0.0.1", "--port", str(free_port()), "uptime")
    assert code == EXIT_CONNECTION and out == ""
    assert err.startswith("mmpfast: error: 127.0.0.1:") and "cannot connect" in err
    assert err.count("\n") == 1


def test_timeout_exit_4(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:      # accepts, never answers
        port = silent.getsockname()[1]
        code, out, err = run(capsys, "read", f"127.0.0.1:{port}", "uptime", "--timeout", "0.2")
    assert code == EXIT_TIMEOUT
    assert err.startswith("mmpfast: error: ") and "no answer within 0.2 s" in err


def test_unacknowledged_write_exit_4(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    with FaultProxy(sim.host, sim.port) as proxy:
        proxy.next_response(Fault.drop())
        code, _, err = run(capsys, "write", f"127.0.0.1:{proxy.port}", "int32", "0", "5",
                           "--timeout", "0.3")
    assert code == EXIT_TIMEOUT
    assert "not acknowledged" in err and err.count("\n") == 1


def test_nak_exit_5(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "read", hp(sim), "raw", "0x12345678", "4")
    assert code == EXIT_NAK and out == ""
    assert err == ("mmpfast: error: device NAK rcode 5 (0xE005: invalid memory address or invalid "
                   "data for the address) at 0x12345678\n")


def test_protocol_error_exit_6(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    with FaultProxy(sim.host, sim.port) as proxy:
        proxy.next_response(Fault.change_tl())
        code, _, err = run(capsys, "read", f"127.0.0.1:{proxy.port}", "uptime")
    assert code == EXIT_PROTOCOL and err.startswith("mmpfast: error: ")


@pytest.mark.parametrize("argv", [
    ["read", "{h}", "digital", "0"],
    ["read", "{h}", "digital", "16", "0"],
    ["read", "{h}", "digital", "0", "1", "2"],
    ["read", "{h}", "bogus"],
    ["read", "{h}", "int32", "10240"],
    ["read", "{h}", "int32", "10239", "2"],
    ["read", "{h}", "raw", "0xF0300000", "6", "--type", "u32"],
    ["read", "{h}", "raw", "0x1_0000_0000", "4"],
    ["read", "{h}", "uptime", "--port", "1"],
    ["read", "{h}", "uptime", "--bogus"],
    ["write", "{h}", "digital", "1", "0", "maybe"],
    ["write", "{h}", "analog", "3", "0", "nan"],
    ["write", "{h}", "int32", "0", "2147483648"],
    ["write", "{h}", "int32", "0", "x"],
    ["write", "{h}", "string", "0", "x" * 129],
    ["write", "{h}", "raw", "0xF0D81000", "abc"],
    ["scan", "{h}", "--rate", "0", "--count", "1"],
    ["scan", "{h}", "--modules", "3-1", "--count", "1"],
    ["scan", "{h}", "--modules", "0:z", "--count", "1"],
    ["dump", "{h}", "0xFFFFFFFF", "2", "-o", "x.bin"],
    ["read", "127.0.0.1:99999", "uptime"],
])
def test_bad_arguments_exit_2_before_sending(sim: Simulator, capsys: pytest.CaptureFixture[str],
                                             argv: List[str]) -> None:
    code, out, err = run(capsys, *[a.replace("{h}", hp(sim)) for a in argv])
    assert code == EXIT_USAGE
    assert err.startswith("mmpfast: error: ") and err.count("\n") == 1, err
    assert sim.stats.frames_in == 0


# ----------------------------------------------------------------------------- helpers
def test_parse_host() -> None:
    assert parse_host("10.0.0.5") == ("10.0.0.5", 2001)
    assert parse_host("10.0.0.5:2002") == ("10.0.0.5", 2002)
    assert parse_host("plc-7", 2005) == ("plc-7", 2005)
    assert parse_host("plc-7:2005", 2005) == ("plc-7", 2005)
    assert parse_host("[::1]:2003") == ("::1", 2003)
    assert parse_host("::1") == ("::1", 2001)
    for bad in ("", ":2001", "h:0", "h:x", "[::1"):
        with pytest.raises(UsageError):
            parse_host(bad)
    with pytest.raises(UsageError):
        parse_host("h:2002", 2001)


def test_parse_module_spec() -> None:
    assert parse_module_spec("0-1:d,3:a") == [(0, "digital"), (1, "digital"), (3, "analog")]
    assert parse_module_spec("2,0") == [(0, "digital"), (0, "analog"), (2, "digital"), (2, "analog")]
    assert parse_module_spec("5", "analog") == [(5, "analog")]
    for bad in ("", "16", "2-1", "0:x", "a-b"):
        with pytest.raises(UsageError):
            parse_module_spec(bad)


def test_fmt_f32_shortest_float32_text() -> None:
    f32 = struct.unpack(">f", struct.pack(">f", 1.1))[0]
    assert f32 != 1.1 and fmt_f32(f32) == "1.1"
    assert fmt_f32(3.0) == "3" and fmt_f32(-12.5) == "-12.5"
    assert fmt_f32(struct.unpack(">f", struct.pack(">f", 3.14159265))[0]) == "3.1415927"
    assert fmt_f32(float("nan")) == "nan"


def test_exit_code_mapping() -> None:
    assert exit_code_for(MmpConnectionError("x")) == EXIT_CONNECTION
    assert exit_code_for(MmpTimeoutError("x")) == EXIT_TIMEOUT
    assert exit_code_for(MmpNakError(5, 0xF0000000)) == EXIT_NAK
    assert exit_code_for(MmpProtocolError("x")) == EXIT_PROTOCOL
    assert exit_code_for(ValueError("x")) == EXIT_USAGE
    assert exit_code_for(RuntimeError("x")) == EXIT_OTHER
    lost = WriteOutcomeUnknown("w")
    lost.__cause__ = MmpConnectionError("reset")
    assert exit_code_for(lost) == EXIT_CONNECTION
    late = WriteOutcomeUnknown("w")
    late.__cause__ = MmpTimeoutError("slow")
    assert exit_code_for(late) == EXIT_TIMEOUT


# ----------------------------------------------------------------------------- demo, bench
def test_demo_shows_real_values(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "demo", "--latency", "0.2")
    assert (code, err) == (0, "")
    assert f"codec: {mmpfast.codec.IMPLEMENTATION}" in out
    assert re.search(r"^uptime: \d+ ms", out, re.M)
    assert re.search(r"^  firmware\s+R3\.4a$", out, re.M)
    assert re.search(r"^  part number\s+GRV-EPIC-PR1$", out, re.M)
    assert re.search(r"^  digital 0/0 \(di\)\s+on$", out, re.M)
    assert re.search(r"^  digital 0/1 \(di\)\s+off$", out, re.M)
    assert re.search(r"^  digital 1/2 \(do\)\s+off -> write on -> reads on$", out, re.M)
    assert re.search(r"^  analog 2/0 \(ai\)\s+4\.75$", out, re.M)
    assert re.search(r"^  analog 3/0 \(ao\)\s+write 7\.5 -> reads 7\.5$", out, re.M)
    assert "read [42, -7, 2000000000]" in out
    assert "read [3.14159, -0.5]" in out
    assert "read 'hello from mmpfast'" in out
    m = re.search(r"scan of the whole rack \((\d+) modules, (\d+) points\)", out)
    assert m and m.group(1) == "14" and m.group(2) == "228"       # the default rack
    m = re.search(r"requests per pass\s+(\d+) \(one request per point would be 228\)", out)
    assert m and 1 <= int(m.group(1)) <= 4
    assert re.search(r"time per pass\s+[\d.]+ (us|ms) \(mean of 20\); one request per point: ", out)
    assert "analog[2][0] 4.75" in out and "digital[1][2] on" in out


def test_bench_quick_prints_ratios(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "bench", "--quick")
    assert (code, err) == (0, "")
    assert f"codec in use: {mmpfast.codec.IMPLEMENTATION}" in out
    try:
        importlib.import_module("mmpfast._codec")
        compiled = True
    except ImportError:
        compiled = False
    assert ("compiled codec not importable" in out) is not compiled
    for case in ("encode_read_blocks(1000 ranges)", "scatter_read_responses(1000 x 16 B)",
                 "decode_frame(16 B block response)"):
        line = next(ln for ln in out.splitlines() if case in ln)
        if compiled:
            m = re.search(r"(\d+\.\d)x$", line)
            assert m and float(m.group(1)) > 1.0, line      # compiled beats pure
        else:
            assert line.rstrip().endswith("-")
    m = re.search(r"per-point / scan\s+(\d+)x", out)
    assert m and int(m.group(1)) > 10            # 1024 requests against a few, 1 ms each
    assert re.search(r"scan \(\d requests, pipeline 8\)\s+[\d.]+ ms per pass", out)


def test_cli_commands_are_registered() -> None:
    from mmpfast import cli
    assert set(cli_commands.ADDERS) <= set(cli.COMMANDS)


def test_scan_on_a_terminal_shows_errors_in_the_status_line(monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    tty = FakeTTY()
    monkeypatch.setattr(sys, "stdout", tty)
    code = main(["scan", f"127.0.0.1:{free_port()}", "--modules", "0:d", "--count", "2", "--rate", "50"])
    assert code == EXIT_CONNECTION
    text = tty.getvalue()
    assert "errors 2)" in text and "last error: 127.0.0.1:" in text and "cannot connect" in text
    assert capsys.readouterr().err.startswith("mmpfast: error: ")


def test_terminal_table_is_cut_to_the_screen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_commands.shutil, "get_terminal_size",
                        lambda fallback=None: os.terminal_size((80, 8)))
    tty = FakeTTY()
    screen = cli_commands._Screen(tty)
    screen.draw([f"line {i}" for i in range(20)])
    screen.draw([f"line {i}" for i in range(20)], force=True)
    first, second = tty.getvalue().split("\x1b[6F")
    assert first.splitlines()[-1] == "... 15 more line(s): narrow --modules or --channels"
    assert len(first.splitlines()) == 6 and second.startswith("\x1b[Jline 0\n")
