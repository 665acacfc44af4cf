"""The ``mmpfast`` command line beyond tests/test_cli.py: the exit code of a lost
write, answers that are not OptoMMP, ``host:port:junk``, a dump cut short by a
NAK, the ``sim`` options and the panel commands (with a stand-in panel module)."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import types
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

import mmpfast
from mmpfast.cli import main
from mmpfast.cli.device import THINGS, Form
from mmpfast.cli.errors import (EXIT_CONNECTION, EXIT_NAK, EXIT_OTHER, EXIT_PROTOCOL, EXIT_TIMEOUT,
                                EXIT_USAGE, UsageError, exit_code_for)
from mmpfast.cli.panel import PANEL_MISSING
from mmpfast.cli.parsing import parse_host
from mmpfast.errors import MmpConnectionError, MmpProtocolError, MmpTimeoutError, WriteOutcomeUnknown
from mmpfast.sim import Fault, FaultProxy, Simulator
from mmpfast.sim.rack import DEFAULT_LAYOUT

ROOT = Path(__file__).resolve().parent.parent
IMPORT_ROOT = Path(mmpfast.__file__).resolve().parent.parent


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(port=0) as s:
        yield s


def hp(s: Any) -> str:
    return f"{s.host}:{s.port}"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ----------------------------------------------------------------------------- lost writes
def lost(cause: BaseException) -> WriteOutcomeUnknown:
    exc = WriteOutcomeUnknown("w", address=0xF0D81000)
    exc.__cause__ = cause
    return exc


def test_lost_write_exit_code_follows_its_cause() -> None:
    assert exit_code_for(lost(MmpProtocolError("tl 3, expected 2"))) == EXIT_PROTOCOL
    assert exit_code_for(lost(MmpTimeoutError("slow"))) == EXIT_TIMEOUT
    assert exit_code_for(lost(MmpConnectionError("reset"))) == EXIT_CONNECTION
    assert exit_code_for(lost(ConnectionResetError(104, "reset"))) == EXIT_CONNECTION
    assert exit_code_for(lost(TimeoutError())) == EXIT_TIMEOUT          # an OSError, but a timeout
    assert exit_code_for(WriteOutcomeUnknown("no cause")) == EXIT_CONNECTION
    # the first telling error down the chain decides
    inner = MmpTimeoutError("no answer")
    inner.__cause__ = OSError("EAGAIN")
    assert exit_code_for(lost(inner)) == EXIT_TIMEOUT
    wrapped = RuntimeError("wrapper")
    wrapped.__cause__ = MmpProtocolError("garbled")
    assert exit_code_for(lost(wrapped)) == EXIT_PROTOCOL


@pytest.mark.parametrize("fault, code", [
    (Fault.change_tl(), EXIT_PROTOCOL),         # a garbled acknowledgement
    (Fault.unknown_tcode(), EXIT_PROTOCOL),
    (Fault.close(), EXIT_CONNECTION),           # the connection dropped instead
    (Fault.reset(), EXIT_CONNECTION),
    (Fault.drop(), EXIT_TIMEOUT),               # no answer at all
])
def test_unacknowledged_write_exit_codes(sim: Simulator, capsys: pytest.CaptureFixture[str],
                                         fault: Fault, code: int) -> None:
    with FaultProxy(sim.host, sim.port) as proxy:
        proxy.next_response(fault)
        got, out, err = run(capsys, "write", f"127.0.0.1:{proxy.port}", "int32", "0", "5",
                            "--timeout", "0.5")
    assert got == code, err
    assert out == "" and err.count("\n") == 1
    assert err.startswith(f"mmpfast: error: 127.0.0.1:{proxy.port}: write at 0xF0D81000 sent but not "
                          "acknowledged")
    assert ("not an OptoMMP device?" in err) is (code == EXIT_PROTOCOL)


# ----------------------------------------------------------------------------- not OptoMMP
def serve_once(reply: bytes) -> Tuple[socket.socket, threading.Thread]:
    """A TCP server that answers every connection with ``reply`` and closes it."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(10)

    def answer() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5)
            try:
                conn.recv(4096)
                conn.sendall(reply)
            except OSError:
                pass
    t = threading.Thread(target=answer, daemon=True)
    t.start()
    return server, t


@pytest.mark.parametrize("reply", [
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nbad request\n",
    bytes(range(0xC0, 0x100)) * 2,
    b"SSH-2.0-OpenSSH_9.6\r\n",
])
@pytest.mark.parametrize("argv", [["read", "{h}", "uptime"], ["info", "{h}"],
                                  ["read", "{h}", "int32", "0", "4"]])
def test_an_answer_that_is_not_optommp_names_the_host(capsys: pytest.CaptureFixture[str],
                                                      reply: bytes, argv: List[str]) -> None:
    server, t = serve_once(reply)
    with server:
        target = f"127.0.0.1:{server.getsockname()[1]}"
        code, out, err = run(capsys, *[a.replace("{h}", target) for a in argv], "--timeout", "2")
        t.join(10)
    assert code == EXIT_PROTOCOL, err
    assert out == "" and err.count("\n") == 1
    assert err.startswith(f"mmpfast: error: {target}: ")
    assert err.endswith("(not an OptoMMP device?)\n")


def test_a_nak_or_refusal_does_not_ask_about_optommp(sim: Simulator,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "read", hp(sim), "raw", "0x12345678", "4")
    assert code == EXIT_NAK and "OptoMMP device?" not in err


# ----------------------------------------------------------------------------- host text
@pytest.mark.parametrize("text", ["10.0.0.5:2001:junk", "plc:2001:", "a:b:c", "1.2.3.4::5"])
def test_host_port_junk_is_a_usage_error(capsys: pytest.CaptureFixture[str], text: str) -> None:
    with pytest.raises(UsageError, match="bad host"):
        parse_host(text)
    code, out, err = run(capsys, "read", text, "uptime")
    assert (code, out) == (EXIT_USAGE, "")
    assert err.startswith(f"mmpfast: error: bad host {text!r}") and err.count("\n") == 1


def test_bare_ipv6_addresses_are_still_hosts() -> None:
    assert parse_host("::1") == ("::1", 2001)
    assert parse_host("fe80::1:2", 2002) == ("fe80::1:2", 2002)
    assert parse_host("[fe80::1]:2003") == ("fe80::1", 2003)


# ----------------------------------------------------------------------------- dump
def test_dump_cut_short_by_a_nak_writes_what_it_read(sim: Simulator, capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path) -> None:
    start = 0xF0D81000            # scratch pad int32 area 1 and the strings: up to 0xF0D8507F
    pattern = bytes((i * 13 + 1) & 0xFF for i in range(0x1000))
    sim.memory.write(start, pattern)
    target = tmp_path / "part.bin"
    code, out, err = run(capsys, "dump", hp(sim), hex(start), "0x4400", "-o", str(target))
    assert code == EXIT_NAK and out == ""
    assert err.count("\n") == 1 and err.startswith("mmpfast: error: device NAK rcode 5")
    assert "dump stopped at 0xF0D85000 after 16384 of 17408 bytes" in err
    assert f"the 16384 bytes before it written to {target}" in err
    assert "area ends at 0xF0D8507F" in err
    data = target.read_bytes()
    assert data[:0x1000] == pattern and data == sim.memory.read(start, 0x4000)


def test_dump_cut_short_to_stdout(sim: Simulator, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    sim.memory.write(0xF0D81000, bytes(range(256)) * 16)
    code = main(["dump", hp(sim), "0xF0D81000", "0x4100", "-o", "-", "--pipeline", "4"])
    out, err = capsysbinary.readouterr()
    assert code == EXIT_NAK
    assert len(out) == 0x4000 and out[:0x1000] == bytes(range(256)) * 16     # 4 KiB per call
    assert b"dump stopped at 0xF0D85000 after 16384 of 16640 bytes" in err and b"written to stdout" in err


def test_dump_garbled_answer_writes_nothing(sim: Simulator, capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path) -> None:
    target = tmp_path / "x.bin"
    with FaultProxy(sim.host, sim.port) as proxy:
        proxy.next_response(Fault.change_tl())
        code, _, err = run(capsys, "dump", f"127.0.0.1:{proxy.port}", "0xF0D81000", "8",
                           "-o", str(target), "--timeout", "0.5")
    assert code == EXIT_PROTOCOL and not target.exists()
    assert "nothing written" in err and err.count("\n") == 1


# ----------------------------------------------------------------------------- read / write table
def test_the_table_drives_the_choices_and_arity(capsys: pytest.CaptureFixture[str]) -> None:
    from mmpfast.cli import build_parser
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for verb in ("read", "write"):
        what = next(a for a in sub.choices[verb]._actions if a.dest == "what")  # type: ignore[union-attr]
        assert list(what.choices) == [w for w, t in THINGS.items() if getattr(t, verb) is not None]
    assert "uptime" not in [w for w, t in THINGS.items() if t.write is not None]
    assert THINGS["powerup-clear"].read is None
    form = THINGS["digital"].write
    assert isinstance(form, Form)
    assert form.bind("digital", ["1", "0x2", "on"]) == [1, 2, True]
    with pytest.raises(UsageError, match=r"^digital takes MODULE CHANNEL STATE; got 2 argument\(s\)$"):
        form.bind("digital", ["1", "2"])
    sp = THINGS["int32"].read
    assert sp is not None and sp.bind("int32", ["7"]) == [7, None]
    with pytest.raises(UsageError, match=r"takes INDEX \[COUNT\]; got 3"):
        sp.bind("int32", ["1", "2", "3"])


def test_ranges_are_left_to_the_client(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    # the command line has no range of its own for these: the client's message is shown
    code, _, err = run(capsys, "read", hp(sim), "analog", "0", "64")
    assert code == EXIT_USAGE and "channel" in err and "64" in err
    code, _, err = run(capsys, "write", hp(sim), "int64", "1024", "1")
    assert code == EXIT_USAGE and "1024" in err
    assert sim.stats.frames_in == 0


def test_powerup_clear_and_json_write(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    import json
    code, out, _ = run(capsys, "write", hp(sim), "powerup-clear", "--json")
    assert code == 0 and json.loads(out) == {"ok": True, "what": "powerup-clear"}
    code, out, _ = run(capsys, "write", hp(sim), "raw", "0xF0D81000", "1", "-1", "--type", "i32", "--json")
    assert json.loads(out) == {"ok": True, "what": "raw", "address": 0xF0D81000, "hex": "00000001ffffffff"}
    assert sim.memory.read(0xF0D81000, 8) == bytes.fromhex("00000001ffffffff")


# ----------------------------------------------------------------------------- sim
def test_sim_help_describes_the_default_rack(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "sim", "--help")
    assert code == 0
    text = " ".join(out.split())
    modules = sum(1 for m in DEFAULT_LAYOUT if m is not None)
    empty = [i for i, m in enumerate(DEFAULT_LAYOUT) if m is None]
    assert (modules, empty) == (14, [14, 15])
    assert f"default: {modules} modules" in text and f"{len(empty)} empty slots (14 and 15)" in text
    kinds = [m.kind for m in DEFAULT_LAYOUT if m is not None]
    assert kinds == ["di", "do", "ai", "ao"] * 3 + ["di", "do"]       # "in turn", as the help says
    for flag in ("--max-connections N", "--idle-timeout S", "--backlog N", "--panel [HTTP_PORT]",
                 "--panel-host ADDR"):
        assert flag in out


@pytest.mark.parametrize("argv, message", [
    (["--latency", "nan"], "--latency must be a finite number of milliseconds >= 0"),
    (["--latency", "inf"], "--latency must be a finite number of milliseconds >= 0"),
    (["--latency", "-1"], "--latency must be a finite number of milliseconds >= 0"),
    (["--max-connections", "0"], "--max-connections must be at least 1"),
    (["--idle-timeout", "nan"], "--idle-timeout must be a finite number of seconds > 0"),
    (["--idle-timeout", "0"], "--idle-timeout must be a finite number of seconds > 0"),
    (["--backlog", "-1"], "--backlog must be >= 0"),
    (["--panel", "70000"], "--panel port 70000 out of range 0..65535"),
])
def test_sim_bad_options_exit_2(capsys: pytest.CaptureFixture[str], argv: List[str], message: str) -> None:
    code, out, err = run(capsys, "sim", "--port", "0", *argv)
    assert (code, out) == (EXIT_USAGE, "")
    assert err == f"mmpfast sim: {message}\n"


class _Refused(ValueError):
    pass


def _recording_simulator(monkeypatch: pytest.MonkeyPatch) -> Dict[str, Any]:
    """Make ``mmpfast.sim.Simulator`` record its keyword arguments, then refuse (exit 2)."""
    seen: Dict[str, Any] = {}

    def fake(*args: Any, **kwargs: Any) -> None:
        seen.update(kwargs)
        raise _Refused("recorded")
    monkeypatch.setattr("mmpfast.sim.Simulator", fake)
    return seen


def test_sim_passes_connection_options_only_when_given(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    seen = _recording_simulator(monkeypatch)
    assert run(capsys, "sim", "--port", "0", "--latency", "2.5")[0] == EXIT_USAGE
    assert seen["latency"] == 0.0025
    assert not {"max_connections", "idle_timeout", "backlog"} & set(seen)
    seen.clear()
    code, _, err = run(capsys, "sim", "--port", "0", "--max-connections", "3", "--idle-timeout", "1.5",
                       "--backlog", "7")
    assert code == EXIT_USAGE and err == "mmpfast sim: recorded\n"
    assert (seen["max_connections"], seen["idle_timeout"], seen["backlog"]) == (3, 1.5, 7)


# ----------------------------------------------------------------------------- panel
PANEL_FLAGS = ("TARGET", "--device {epic,snap}", "--rate", "--http-host", "--http-port", "--allow-writes")


def test_panel_help_lists_its_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "panel", "--help")
    assert code == 0
    for flag in PANEL_FLAGS:
        assert flag in out
    assert "examples:" in out and "mmpfast panel 10.0.0.5" in out
    code, out, _ = run(capsys, "--help")
    assert re.search(r"^\s+panel\s", out, re.M)


def test_panel_without_the_panel_module_says_what_to_install(monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "mmpfast.panel.cli", None)     # import fails: ImportError
    code, out, err = run(capsys, "panel", "--help")
    assert code == 0 and all(flag in out for flag in PANEL_FLAGS)  # the arguments still show
    code, out, err = run(capsys, "panel", "127.0.0.1")
    assert (code, out) == (EXIT_OTHER, "")
    assert err == f"mmpfast panel: {PANEL_MISSING}\n"
    assert PANEL_MISSING == 'the panel needs aiohttp: pip install "mmpfast[panel]"'
    code, out, err = run(capsys, "sim", "--port", "0", "--panel")
    assert (code, out, err) == (EXIT_OTHER, "", f"mmpfast sim: {PANEL_MISSING}\n")


def _fake_panel(calls: List[Any], unavailable: bool = False) -> types.ModuleType:
    from mmpfast.cli.panel import _declare_arguments
    mod = types.ModuleType("mmpfast.panel.cli")

    class PanelUnavailable(RuntimeError):
        pass

    def run_panel(args: Any) -> int:
        calls.append(args)
        if unavailable:
            raise PanelUnavailable(PANEL_MISSING)
        return 0
    mod.PanelUnavailable = PanelUnavailable             # type: ignore[attr-defined]
    mod.add_panel_arguments = _declare_arguments        # type: ignore[attr-defined]
    mod.run_panel = run_panel                           # type: ignore[attr-defined]
    return mod


def test_panel_runs_run_panel_with_its_arguments(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    calls: List[Any] = []
    monkeypatch.setitem(sys.modules, "mmpfast.panel.cli", _fake_panel(calls))
    code, _, err = run(capsys, "panel", "127.0.0.1:2005", "--device", "snap", "--rate", "2",
                       "--http-port", "0", "--allow-writes")
    assert (code, err) == (0, "")
    (args,) = calls
    assert (args.target, args.device, args.rate, args.http_host, args.http_port, args.allow_writes) == \
        ("127.0.0.1:2005", "snap", 2.0, "127.0.0.1", 0, True)


def test_panel_unavailable_exits_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    calls: List[Any] = []
    monkeypatch.setitem(sys.modules, "mmpfast.panel.cli", _fake_panel(calls, unavailable=True))
    code, out, err = run(capsys, "panel", "127.0.0.1")
    assert (code, out, err) == (EXIT_OTHER, "", f"mmpfast panel: {PANEL_MISSING}\n")
    assert len(calls) == 1


def test_sim_panel_unavailable_exits_1(monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    calls: List[Any] = []
    mod = _fake_panel(calls)

    def start_sim_panel(sim: Any, http_port: int = 8765, **kw: Any) -> None:
        calls.append((sim.host, sim.port, http_port))
        raise mod.PanelUnavailable(PANEL_MISSING)
    mod.start_sim_panel = start_sim_panel                 # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "mmpfast.panel.cli", mod)
    monkeypatch.setattr("logging.basicConfig", lambda **kw: None)
    code, out, err = run(capsys, "sim", "--port", "0", "--no-udp", "--panel", "0")
    assert code == EXIT_OTHER and err == f"mmpfast sim: {PANEL_MISSING}\n"
    (host, port, http_port), = calls
    assert out.startswith(f"mmpfast sim (epic) listening on {host}:{port} (TCP)") and http_port == 0
    assert "panel:" not in out


_SITECUSTOMIZE = """
import sys, types
mod = types.ModuleType("mmpfast.panel.cli")
class PanelUnavailable(RuntimeError):
    pass
class Handle:
    def __init__(self, sim, port):
        self.url = "http://127.0.0.1:%d/ (sim %s:%d)" % (port, sim.host, sim.port)
    def stop(self):
        open(%(marker)r, "w").write("stopped")
def start_sim_panel(sim, http_port=8765, *, http_host="127.0.0.1", **kw):
    assert http_host == "::1", http_host
    return Handle(sim, http_port)
mod.PanelUnavailable = PanelUnavailable
mod.start_sim_panel = start_sim_panel
sys.modules["mmpfast.panel.cli"] = mod
"""


class SimProcess:
    """``python -m mmpfast sim --port 0 --no-udp ARGS`` in a subprocess: ``.port`` and
    ``.first`` (its listening line) once started; ``stop()`` sends SIGTERM and returns
    (stdout after the first line, stderr); leaving the block kills it if still running."""

    def __init__(self, args: List[str], pythonpath: List[str], cwd: Path) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([*pythonpath, env.get("PYTHONPATH", "")])
        self.proc = subprocess.Popen([sys.executable, "-m", "mmpfast", "sim", "--port", "0", "--no-udp", *args],
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)
        self.port = 0
        self.first = ""

    def __enter__(self) -> "SimProcess":
        assert self.proc.stdout is not None
        self.first = self.proc.stdout.readline()
        m = re.match(r"mmpfast sim \(epic\) listening on 127\.0\.0\.1:(\d+) \(TCP\)", self.first)
        if m is None:
            self.__exit__()
            raise AssertionError(f"{self.first!r}, stderr: {self.proc.communicate(timeout=10)[1]}")
        self.port = int(m.group(1))
        return self

    def readline(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline()

    def stop(self) -> Tuple[str, str]:
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=20)
        assert self.proc.returncode == 0, err
        return out, err

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=10)


@pytest.mark.skipif(not hasattr(signal, "SIGTERM") or os.name == "nt", reason="needs SIGTERM")
def test_sim_panel_starts_after_the_simulator_and_stops_with_it(tmp_path: Path) -> None:
    marker = tmp_path / "stopped"
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_SITECUSTOMIZE.replace("%(marker)r", repr(str(marker))))
    with SimProcess(["--panel", "0", "--panel-host", "::1"], [str(site), str(IMPORT_ROOT)], tmp_path) as sp:
        assert sp.readline() == f"panel: http://127.0.0.1:0/ (sim 127.0.0.1:{sp.port})\n"
        out, _ = sp.stop()
    assert out == "mmpfast sim: stopped\n"
    assert marker.read_text() == "stopped"


# ----------------------------------------------------------------------------- README
def _readme_scan_block() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    return next(b for b in blocks if "print(plan.requests)" in b)


def test_readme_scan_comments_show_what_the_code_prints() -> None:
    lines = _readme_scan_block().splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith("print(plan.requests)"))
    scope: Dict[str, Any] = {"mmpfast": mmpfast}
    exec(compile("\n".join(lines[:at]), "README.md", "exec"), scope)   # noqa: S102 - the README's code
    plan = scope["plan"]
    comment = " ".join(ln.split("#", 1)[1].strip() for ln in lines[at:] if ln.lstrip().startswith(("#", "print(plan")))
    printed = str(plan.requests)
    assert " ".join(comment.split()).startswith(printed), (comment, printed)
    assert f"len(plan) == {len(plan)} points" in comment
    assert f"in {len(plan.requests)} block reads" in comment
    assert [int(a, 16) for a in re.findall(r"0x[0-9A-F]{8}", comment)] == [a for a, _ in plan.requests]


def test_readme_scan_snippet_runs_against_the_simulator(tmp_path: Path) -> None:
    block = _readme_scan_block()
    block = block.replace("loop.run(duration=10)", "loop.run(duration=0.05)")
    with Simulator() as s:
        block = block.replace('mmpfast.Client("10.0.0.5", ', f'mmpfast.Client("{s.host}", {s.port}, ')
        assert "10.0.0.5" not in block and "duration=0.05" in block
        script = textwrap.dedent("import mmpfast\n" + block)
        env = dict(os.environ)
        env["PYTHONPATH"] = str(IMPORT_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        # run outside the repository: `python -c` puts the working directory first on sys.path,
        # and the repository root holds the source folder, not the installed compiled package
        proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                              timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first == "((4040695808, 400), (4043313152, 1024), (4043314176, 1024), (4043315200, 64))"


def test_readme_command_lines_parse() -> None:
    import shlex
    from mmpfast.cli import build_parser
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Command line"):]
    block = re.search(r"```text\n(.*?)```", section, re.S)
    assert block is not None
    lines = [re.split(r"\s{2,}", ln.strip())[0] for ln in block.group(1).splitlines() if ln.strip()]
    assert len(lines) >= 10
    parser = build_parser()
    for line in lines:
        argv = shlex.split(line)
        assert argv[0] == "mmpfast"
        args = parser.parse_args(argv[1:])          # a usage error would exit 2 here
        assert callable(args.func), line


def _simulator_takes(name: str) -> bool:
    import inspect
    return name in inspect.signature(Simulator.__init__).parameters


@pytest.mark.skipif(not _simulator_takes("max_connections"),
                    reason="this Simulator has no max_connections option yet")
def test_sim_max_connections_refuses_the_next_connection(tmp_path: Path) -> None:
    args = ["--max-connections", "1", "--idle-timeout", "30", "--backlog", "4"]
    with SimProcess(args, [str(IMPORT_ROOT)], tmp_path) as sp:
        with mmpfast.Client("127.0.0.1", sp.port, timeout=5) as first:
            assert first.uptime_ms() >= 0 and first.connected
            with socket.create_connection(("127.0.0.1", sp.port), timeout=5) as second:
                second.settimeout(5)
                assert second.recv(16) == b""                   # accepted and closed at once
            assert first.read_scratchpad_int32(0, 1) == [0]      # the first one still served
        out, _ = sp.stop()
    assert out == "mmpfast sim: stopped\n"
