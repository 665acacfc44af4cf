"""The ``mmpfast`` commands that talk to a device: ``demo``, ``info``, ``read``,
``write``, ``scan``, ``dump`` and ``bench`` (``sim`` lives in ``mmpfast.cli``).

Each command is an adder ``_add_<name>(subparsers)`` (registered in
``mmpfast.cli.COMMANDS``) and a runner ``_run_<name>(args) -> int``.  Runners
are wrapped by ``_guarded``, which turns every failure into one line on
stderr, ``mmpfast: error: ...``, and an exit status:

====  ==========================================================
0     success
1     any other failure (file not writable, unexpected error)
2     usage: bad arguments, value out of range (nothing was sent)
3     connection refused, reset or closed; host not found
4     timeout: the device did not answer in ``--timeout`` seconds
5     the device answered with a NAK (non-zero rcode)
6     protocol error: a malformed or unexpected frame
130   interrupted (Ctrl-C) outside ``scan``
====  ==========================================================

Addresses are the low 32 bits of the OptoMMP memory-map offset; every value
on the wire is big-endian.  Numbers on the command line may be decimal or
``0x`` hex.
"""
from __future__ import annotations

import argparse
import functools
import json
import logging
import math
import os
import shutil
import sys
import time
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterable, List, NoReturn, Optional, Sequence,
                    TextIO, Tuple)

from . import memmap
from .errors import MmpError, MmpNakError, MmpProtocolError, WriteOutcomeUnknown
from .protocol import MAX_ADDRESS, describe_error

if TYPE_CHECKING:  # pragma: no cover
    from .client import Client
    from .plan import ScanResult
    from .scanloop import ScanStats

__all__ = [
    "EXIT_OK", "EXIT_OTHER", "EXIT_USAGE", "EXIT_CONNECTION", "EXIT_TIMEOUT", "EXIT_NAK",
    "EXIT_PROTOCOL", "EXIT_INTERRUPTED", "CliParser", "UsageError", "exit_code_for",
    "parse_host", "parse_module_spec", "ADDERS",
]

log = logging.getLogger("mmpfast.cli")

EXIT_OK = 0
EXIT_OTHER = 1
EXIT_USAGE = 2
EXIT_CONNECTION = 3
EXIT_TIMEOUT = 4
EXIT_NAK = 5
EXIT_PROTOCOL = 6
EXIT_INTERRUPTED = 130

DEFAULT_PORT = 2001

EXIT_CODES_TEXT = """\
exit status:
  0 ok   1 other failure   2 usage (bad arguments)   3 connection refused/lost
  4 timeout   5 device NAK   6 protocol error   130 interrupted"""


# ============================================================================ errors
class UsageError(ValueError):
    """A command-line argument that cannot be used (exit status 2)."""


class CliParser(argparse.ArgumentParser):
    """``ArgumentParser`` whose errors are one line: ``mmpfast: error: ...`` (exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"mmpfast: error: {message} (see '{self.prog} --help')\n")


def exit_code_for(exc: BaseException) -> int:
    """The exit status of a failure (see the module docstring)."""
    if isinstance(exc, WriteOutcomeUnknown):
        cause = exc.__cause__
        return EXIT_TIMEOUT if isinstance(cause, TimeoutError) else EXIT_CONNECTION
    if isinstance(exc, (UsageError, ValueError, TypeError, OverflowError)):
        return EXIT_USAGE
    if isinstance(exc, TimeoutError):          # MmpTimeoutError and socket.timeout
        return EXIT_TIMEOUT
    if isinstance(exc, MmpNakError):
        return EXIT_NAK
    if isinstance(exc, MmpProtocolError):
        return EXIT_PROTOCOL
    if isinstance(exc, ConnectionError):       # MmpConnectionError too
        return EXIT_CONNECTION
    return EXIT_OTHER


def _fail(exc: BaseException, suffix: str = "") -> int:
    print(f"mmpfast: error: {exc}{suffix}", file=sys.stderr)
    return exit_code_for(exc)


def _guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Run a command; any failure becomes one stderr line and an exit status."""

    @functools.wraps(run)
    def wrapper(args: argparse.Namespace) -> int:
        _setup_logging(getattr(args, "verbose", 0))
        try:
            return run(args)
        except KeyboardInterrupt:
            print("mmpfast: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        except Exception as exc:  # noqa: BLE001 - the one place that reports failures
            log.debug("command failed", exc_info=True)
            return _fail(exc)
    return wrapper


def _setup_logging(verbose: int) -> None:
    if verbose:
        logging.basicConfig(level=logging.DEBUG if verbose > 1 else logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")


# ============================================================================ parsing helpers
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
    """A float from text (``nan`` and ``inf`` accepted; the device decides)."""
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


def parse_host(text: str, port: Optional[int] = None) -> Tuple[str, int]:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` -> ``(host, port)``.

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


# ============================================================================ output helpers
def fmt_f32(value: float) -> str:
    """Shortest text that reads back as the same float32 (``3.1415927`` not ``3.141592741...``)."""
    from . import codec
    if not math.isfinite(value):
        return str(value)
    want = codec.pack_be(value, "f")
    for digits in range(6, 10):
        text = f"{value:.{digits}g}"
        if codec.pack_be(float(text), "f") == want:
            return text
    return repr(value)


def f32_value(value: float) -> float:
    """A float32 read from the device as the shortest float that names it
    (3.14159, not 3.141590118408203): what ``--json`` prints."""
    return float(fmt_f32(value)) if math.isfinite(value) else value


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def print_json(obj: Any, stream: Optional[TextIO] = None) -> None:
    """One JSON object on one line (non-finite floats as the strings "NaN"/"Infinity")."""
    print(json.dumps(_jsonable(obj), separators=(", ", ": ")), file=stream or sys.stdout, flush=True)


def fmt_uptime(ms: int) -> str:
    """``"83456 ms (00:01:23.456)"``; days when longer than one."""
    s, milli = divmod(ms, 1000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    d, h = divmod(h, 24)
    clock = f"{h:02d}:{m:02d}:{s:02d}.{milli:03d}"
    return f"{ms} ms ({d} d {clock})" if d else f"{ms} ms ({clock})"


def fmt_seconds(sec: float) -> str:
    """A duration with a readable unit (``"412 us"``, ``"3.20 ms"``, ``"1.18 s"``)."""
    if not math.isfinite(sec):
        return "-"
    if sec < 1e-6:
        return f"{sec * 1e9:.0f} ns"
    if sec < 1e-5:
        return f"{sec * 1e6:.2f} us"
    if sec < 1e-3:
        return f"{sec * 1e6:.0f} us"
    if sec < 1.0:
        return f"{sec * 1e3:.2f} ms"
    return f"{sec:.2f} s"


def _table(rows: Iterable[Tuple[str, str]], indent: str = "") -> List[str]:
    rows = list(rows)
    width = max((len(k) for k, _ in rows), default=0)
    return [f"{indent}{k.ljust(width)}  {v}" for k, v in rows]


def _hexdump(address: int, data: bytes) -> List[str]:
    lines = []
    for off in range(0, len(data), 16):
        chunk = data[off:off + 16]
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"0x{address + off:08X}  {chunk.hex(' ').ljust(47)}  {text}")
    return lines


# ============================================================================ common options
def _add_connection_options(p: argparse.ArgumentParser, *, json_output: bool = True,
                            pipeline: bool = False) -> None:
    g = p.add_argument_group("connection and output")
    g.add_argument("--port", type=int, default=None,
                   help=f"OptoMMP TCP port (default {DEFAULT_PORT}; HOST:PORT also works)")
    g.add_argument("--timeout", type=float, default=2.0, metavar="SECONDS",
                   help="budget of each request, seconds (default 2)")
    if pipeline:
        g.add_argument("--pipeline", type=int, default=1, metavar="N",
                       help="requests in flight at once, 1..64 (default 1, as Opto 22's own tools; "
                            "up to 8 is usual when the device is known to cope)")
    if json_output:
        g.add_argument("--json", action="store_true", help="machine-readable JSON output")
    g.add_argument("-v", "--verbose", action="count", default=0, help="log to stderr (-vv: debug)")


def _client(args: argparse.Namespace) -> "Client":
    from .client import Client
    host, port = parse_host(args.host, args.port)
    if not args.timeout > 0:
        raise UsageError("--timeout must be > 0 seconds")
    pipeline = getattr(args, "pipeline", 1)
    return Client(host, port, timeout=args.timeout, pipeline=pipeline)


def _parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]", name: str, help_text: str,
            description: str, epilog: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help_text, description=description,
                          epilog=f"{epilog.rstrip()}\n\n{EXIT_CODES_TEXT}",
                          formatter_class=argparse.RawDescriptionHelpFormatter)


# ============================================================================ info
def _add_info(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = _parser(sub, "info", "show a controller's status table",
                "Read the status area (one block read) and show uptime, firmware, part number, "
                "MAC, IP, serial number, last error and the power-up-clear flag.",
                """examples:
  mmpfast info 10.0.0.5
  mmpfast info 10.0.0.5:2001 --json""")
    p.add_argument("host", metavar="HOST", help="controller address, host or host:port")
    _add_connection_options(p)
    p.set_defaults(func=_guarded(_run_info))


def _status_rows(st: Any) -> List[Tuple[str, str]]:
    last = "none" if st.last_error == 0 else f"0x{st.last_error:04X} ({describe_error(st.last_error)})"
    return [
        ("uptime", fmt_uptime(st.uptime_ms)),
        ("firmware", st.firmware),
        ("part number", st.part_number or "-"),
        ("MAC", st.mac),
        ("IP", st.ip),
        ("serial", f"{st.serial} (0x{st.serial:08X})"),
        ("last error", last),
        ("power-up clear", "needed" if st.powerup_clear_needed else "not needed"),
    ]


def _run_info(args: argparse.Namespace) -> int:
    import dataclasses
    with _client(args) as c:
        st = c.status()
        if args.json:
            print_json({"host": c.host, "port": c.port, **dataclasses.asdict(st)})
        else:
            print(f"{c.host}:{c.port}")
            print("\n".join(_table(_status_rows(st), "  ")))
    return EXIT_OK


# ============================================================================ read / write
_RAW_TYPES = {"u32": "I", "i32": "i", "f32": "f", "u64": "Q", "i64": "q"}
_SP_TYPES = ("int32", "float", "int64")

READ_EPILOG = """forms (M = module 0..15, C = channel 0..63, numbers decimal or 0x hex):
  read HOST uptime                      milliseconds since power-up
  read HOST digital M C                 on / off
  read HOST analog M C                  value in engineering units (float32)
  read HOST int32 INDEX [COUNT]         scratch pad, INDEX 0..10239
  read HOST float INDEX [COUNT]         scratch pad, INDEX 0..10239
  read HOST int64 INDEX [COUNT]         scratch pad, INDEX 0..1023
  read HOST string SLOT                 scratch-pad string, SLOT 0..63
  read HOST raw ADDRESS LENGTH [--type hex|u8|u32|i32|f32|u64|i64]
                                        LENGTH bytes at ADDRESS (default: hex dump)

examples:
  mmpfast read 10.0.0.5 digital 0 3
  mmpfast read 10.0.0.5 analog 2 0 --json
  mmpfast read 10.0.0.5 int32 0 10
  mmpfast read 10.0.0.5 raw 0xF030010C 4 --type u32"""

WRITE_EPILOG = """forms (M = module 0..15, C = channel 0..63, numbers decimal or 0x hex):
  write HOST digital M C on|off|1|0     set a digital output
  write HOST analog M C VALUE           set an analog output (engineering units)
  write HOST int32 INDEX V [V ...]      scratch pad from INDEX (0..10239)
  write HOST float INDEX V [V ...]      scratch pad from INDEX (0..10239)
  write HOST int64 INDEX V [V ...]      scratch pad from INDEX (0..1023)
  write HOST string SLOT TEXT           scratch-pad string slot 0..63, up to 128 bytes
  write HOST raw ADDRESS HEX            bytes given as hex ("00 00 00 01" or 00000001)
  write HOST raw ADDRESS V [V ...] --type u32|i32|f32|u64|i64
                                        big-endian values
  write HOST powerup-clear              send Powerup Clear (SNAP PAC needs it after a reset)

Negative values work as they are (write HOST int32 5 -42); put '--' before
values such as -1e3 that look like options.

examples:
  mmpfast write 10.0.0.5 digital 1 0 on
  mmpfast write 10.0.0.5 analog 3 0 12.5
  mmpfast write 10.0.0.5 float 100 1.5 2.5 3.5
  mmpfast write 10.0.0.5 string 0 "batch 42 done\""""


def _add_read(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = _parser(sub, "read", "read a point, the scratch pad, the uptime or raw memory",
                "Read one thing from a controller and print it.", READ_EPILOG)
    p.add_argument("host", metavar="HOST", help="controller address, host or host:port")
    p.add_argument("what", metavar="WHAT",
                   choices=("uptime", "digital", "analog", "int32", "float", "int64", "string", "raw"),
                   help="uptime, digital, analog, int32, float, int64, string or raw")
    p.add_argument("args", nargs="*", metavar="ARG", help="module/channel, index/count, slot or address/length")
    p.add_argument("--type", choices=("hex", "u8", *_RAW_TYPES), default="hex",
                   help="how raw bytes are shown (default hex)")
    _add_connection_options(p)
    p.set_defaults(func=_guarded(_run_read))


def _add_write(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = _parser(sub, "write", "write a point, the scratch pad or raw memory",
                "Write one thing to a controller.", WRITE_EPILOG)
    p.add_argument("host", metavar="HOST", help="controller address, host or host:port")
    p.add_argument("what", metavar="WHAT",
                   choices=("digital", "analog", "int32", "float", "int64", "string", "raw",
                            "powerup-clear"),
                   help="digital, analog, int32, float, int64, string, raw or powerup-clear")
    p.add_argument("args", nargs="*", metavar="ARG", help="module/channel/value, index/values, slot/text, ...")
    p.add_argument("--type", choices=("hex", *_RAW_TYPES), default="hex",
                   help="how raw values are given (default hex bytes)")
    _add_connection_options(p)
    p.set_defaults(func=_guarded(_run_write))


def _arity(what: str, args: Sequence[str], names: Sequence[str], optional: int = 0,
           rest: bool = False) -> None:
    need = len(names) - optional
    if len(args) < need or (not rest and len(args) > len(names)):
        usage = " ".join(n if i < need else f"[{n}]" for i, n in enumerate(names))
        raise UsageError(f"{what} takes {usage}{' ...' if rest else ''}; got {len(args)} argument(s)")


def _point_args(what: str, args: Sequence[str], extra: Sequence[str] = ()) -> Tuple[int, int]:
    _arity(what, args, ("MODULE", "CHANNEL", *extra))
    return (parse_int(args[0], "module", 0, memmap.MAX_MODULES - 1),
            parse_int(args[1], "channel", 0, memmap.MAX_CHANNELS - 1))


def _run_read(args: argparse.Namespace) -> int:
    what, a = args.what, args.args
    if what == "raw":
        _arity("raw", a, ("ADDRESS", "LENGTH"))
        address = parse_int(a[0], "address", 0, MAX_ADDRESS)
        length = parse_int(a[1], "length", 1, 1 << 24)
        if address + length - 1 > MAX_ADDRESS:
            raise UsageError(f"0x{address:08X} + {length} runs past the end of the address space")
        size = 1 if args.type in ("hex", "u8") else (8 if args.type in ("u64", "i64") else 4)
        if length % size:
            raise UsageError(f"length {length} is not a whole number of {args.type} values")
    if what == "uptime":
        _arity("uptime", a, ())
    elif what in ("digital", "analog"):
        m, ch = _point_args(what, a)
    elif what in _SP_TYPES:
        _arity(what, a, ("INDEX", "COUNT"), optional=1)
        index = parse_int(a[0], "index", 0, memmap.SCRATCHPAD_NUMERIC_COUNT - 1)
        count = parse_int(a[1], "count", 1, memmap.SCRATCHPAD_NUMERIC_COUNT) if len(a) > 1 else 1
        memmap.scratchpad_runs(what, index, count)       # range check before connecting
    elif what == "string":
        _arity("string", a, ("SLOT",))
        slot = parse_int(a[0], "slot", 0, memmap.SCRATCHPAD_STRING_SLOTS - 1)

    with _client(args) as c:
        if what == "uptime":
            ms = c.uptime_ms()
            _say(args, fmt_uptime(ms), {"uptime_ms": ms})
        elif what == "digital":
            state = c.read_digital(m, ch)
            _say(args, "on" if state else "off", {"module": m, "channel": ch, "state": state})
        elif what == "analog":
            value = c.read_analog(m, ch)
            _say(args, fmt_f32(value), {"module": m, "channel": ch, "value": f32_value(value)})
        elif what in _SP_TYPES:
            values = getattr(c, f"read_scratchpad_{what}")(index, count)
            fmt = fmt_f32 if what == "float" else str
            if count == 1:
                text = fmt(values[0])
            else:
                width = len(str(index + count - 1))
                text = "\n".join(f"{str(index + i).rjust(width)}  {fmt(v)}" for i, v in enumerate(values))
            if what == "float":
                values = [f32_value(v) for v in values]
            _say(args, text, {"type": what, "index": index, "values": values})
        elif what == "string":
            s = c.read_scratchpad_string(slot)
            _say(args, s, {"slot": slot, "text": s})
        else:
            data = c.read(address, length)
            obj: Dict[str, Any] = {"address": address, "length": length, "hex": data.hex()}
            if args.type == "hex":
                text = "\n".join(_hexdump(address, data))
            else:
                values = _unpack(data, args.type)
                obj["type"] = args.type
                obj["values"] = [f32_value(v) for v in values] if args.type == "f32" else values
                shown = [fmt_f32(v) for v in values] if args.type == "f32" else [str(v) for v in values]
                size = len(data) // max(len(values), 1)
                text = "\n".join(f"0x{address + i * size:08X}  {v}" for i, v in enumerate(shown))
            _say(args, text, obj)
    return EXIT_OK


def _unpack(data: bytes, type_name: str) -> List[Any]:
    if type_name == "u8":
        return list(data)
    from . import codec
    return list(codec.unpack_be(data, _RAW_TYPES[type_name]))


def _say(args: argparse.Namespace, text: str, obj: Dict[str, Any]) -> None:
    if args.json:
        print_json(obj)
    else:
        print(text, flush=True)


def _run_write(args: argparse.Namespace) -> int:
    from . import codec
    what, a = args.what, args.args
    action: Callable[["Client"], None]
    obj: Dict[str, Any] = {"ok": True, "what": what}
    if what == "digital":
        m, ch = _point_args(what, a, ("STATE",))
        state = parse_state(a[2])
        action = lambda c: c.write_digital(m, ch, state)  # noqa: E731
        text = f"digital module {m} channel {ch} set {'on' if state else 'off'}"
        obj.update(module=m, channel=ch, state=state)
    elif what == "analog":
        m, ch = _point_args(what, a, ("VALUE",))
        value = parse_float(a[2], "value")
        action = lambda c: c.write_analog(m, ch, value)  # noqa: E731
        text = f"analog module {m} channel {ch} set to {fmt_f32(value)}"
        obj.update(module=m, channel=ch, value=value)
    elif what in _SP_TYPES:
        _arity(what, a, ("INDEX", "VALUE"), rest=True)
        index = parse_int(a[0], "index", 0, memmap.SCRATCHPAD_NUMERIC_COUNT - 1)
        vals: List[Any] = ([parse_float(v, "value") for v in a[1:]] if what == "float"
                           else [parse_int(v, "value") for v in a[1:]])
        codec.pack_be(vals, {"int32": "i", "float": "f", "int64": "q"}[what])   # range check
        memmap.scratchpad_runs(what, index, len(vals))
        action = lambda c: getattr(c, f"write_scratchpad_{what}")(index, vals)  # noqa: E731
        text = f"{what} scratch pad: {len(vals)} value(s) written from index {index}"
        obj.update(index=index, values=vals)
    elif what == "string":
        _arity("string", a, ("SLOT", "TEXT"), rest=True)
        slot = parse_int(a[0], "slot", 0, memmap.SCRATCHPAD_STRING_SLOTS - 1)
        s = " ".join(a[1:])
        if len(s.encode("utf-8")) > memmap.SCRATCHPAD_STRING_MAX:
            raise UsageError(f"text is {len(s.encode('utf-8'))} bytes; a string slot holds "
                             f"{memmap.SCRATCHPAD_STRING_MAX}")
        action = lambda c: c.write_scratchpad_string(slot, s)  # noqa: E731
        text = f"string slot {slot}: {len(s.encode('utf-8'))} byte(s) written"
        obj.update(slot=slot, text=s)
    elif what == "raw":
        _arity("raw", a, ("ADDRESS", "DATA"), rest=True)
        address = parse_int(a[0], "address", 0, MAX_ADDRESS)
        if args.type == "hex":
            digits = "".join(a[1:]).replace(":", "").replace("_", "")
            if digits.lower().startswith("0x"):
                digits = digits[2:]
            try:
                data = bytes.fromhex(digits)
            except ValueError:
                raise UsageError(f"DATA must be hex bytes, got {' '.join(a[1:])!r}") from None
            if not data:
                raise UsageError("no bytes to write")
        else:
            code = _RAW_TYPES[args.type]
            raw_vals = [parse_float(v, "value") if code == "f" else parse_int(v, "value") for v in a[1:]]
            data = codec.pack_be(raw_vals, code)
        if address + len(data) - 1 > MAX_ADDRESS:
            raise UsageError(f"0x{address:08X} + {len(data)} runs past the end of the address space")
        action = lambda c: c.write(address, data)  # noqa: E731
        text = f"{len(data)} byte(s) written at 0x{address:08X}"
        obj.update(address=address, hex=data.hex())
    else:   # powerup-clear
        _arity(what, a, ())
        action = lambda c: c.powerup_clear()  # noqa: E731
        text = "power-up clear sent"
    with _client(args) as c:
        action(c)
    _say(args, text, obj)
    return EXIT_OK


# ============================================================================ scan
SCAN_EPILOG = """modules: a comma list of module numbers and ranges, each optionally with a kind:
  --modules 0-3,8           digital states and analog values of modules 0..3 and 8
  --modules 0-1:d,2-3:a     modules 0 and 1 digital, 2 and 3 analog
Only the rows of each module's real kind mean anything; give :d / :a (or --kind)
to scan just that.  The plan reads the packed areas, so 16 modules x 32
channels of states and values take a few block reads per pass.

On a terminal the table is redrawn in place; otherwise (or with --json, one JSON
object per pass) each pass is printed.  The run ends after --count passes,
--duration seconds, or Ctrl-C, and prints the achieved rate, jitter (how late
passes started, p99), passes and errors.  A failed pass is counted and the scan
goes on (the connection is remade); the exit status is that of the last error
only when no pass succeeded.

examples:
  mmpfast scan 10.0.0.5 --modules 0-3,8 --rate 10
  mmpfast scan 10.0.0.5 --modules 0:d,2:a --channels 8 --count 100 --json > log.jsonl"""


def _add_scan(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = _parser(sub, "scan", "scan modules at a fixed rate (live table, rate, jitter)",
                "Read digital states and analog values of whole modules at a fixed rate.", SCAN_EPILOG)
    p.add_argument("host", metavar="HOST", help="controller address, host or host:port")
    p.add_argument("--modules", default="0-15", metavar="SPEC", help="modules to scan (default 0-15)")
    p.add_argument("--kind", choices=("both", "digital", "analog"), default="both",
                   help="kind of modules given without :d/:a (default both)")
    p.add_argument("--channels", type=int, default=32, metavar="N",
                   help="channels per module, 1..64 (default 32)")
    p.add_argument("--rate", type=float, default=10.0, metavar="HZ", help="passes per second (default 10)")
    stop = p.add_mutually_exclusive_group()
    stop.add_argument("--count", type=int, default=None, metavar="N", help="stop after N passes")
    stop.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds")
    _add_connection_options(p, pipeline=True)
    p.set_defaults(func=_guarded(_run_scan))


class _ScanView:
    """Points of a module scan and how to show them."""

    def __init__(self, modules: List[Tuple[int, str]], channels: int) -> None:
        from .plan import ScanPlan
        self.modules = modules
        self.channels = channels
        plan = ScanPlan()
        self.names: Dict[Tuple[int, str], List[str]] = {}
        for m, kind in modules:
            add = plan.add_digital if kind == "digital" else plan.add_analog
            self.names[(m, kind)] = [add(m, c, name=f"{kind[0]}{m}.{c}") for c in range(channels)]
        self.plan = plan.freeze()

    def data(self, res: "ScanResult") -> Dict[str, Dict[str, List[Any]]]:
        vals = res.values()
        out: Dict[str, Dict[str, List[Any]]] = {"digital": {}, "analog": {}}
        for (m, kind), names in self.names.items():
            out[kind][str(m)] = ([vals[n] for n in names] if kind == "digital"
                                 else [f32_value(vals[n]) for n in names])
        return out

    def rows(self, res: "ScanResult") -> List[str]:
        data = self.data(res)
        lines = []
        last = self.channels - 1
        for m, kind in self.modules:
            values = data[kind][str(m)]
            if kind == "digital":
                bits = "".join("1" if v else "0" for v in values)
                groups = " ".join(bits[i:i + 8] for i in range(0, len(bits), 8))
                lines.append(f"M{m:<2} digital ch 0-{last:<2}  {groups}")
            else:
                for i in range(0, len(values), 8):
                    chunk = values[i:i + 8]
                    label = f"M{m:<2} analog " if i == 0 else " " * 11
                    cells = " ".join(fmt_f32(v).rjust(9) for v in chunk)
                    lines.append(f"{label} ch {i:>2}-{i + len(chunk) - 1:<2} {cells}")
        return lines


class _Screen:
    """Redraws a block of lines in place on a terminal (ANSI: cursor up, clear
    to the end of the screen), at most ``MAX_HZ`` times a second."""

    MAX_HZ = 10.0

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.lines = 0
        self.last = -math.inf

    def due(self) -> bool:
        """True when a redraw now would respect the rate limit."""
        return time.monotonic() - self.last >= 1.0 / self.MAX_HZ

    def draw(self, lines: List[str], force: bool = False) -> None:
        if not force and not self.due():
            return
        self.last = time.monotonic()
        room = max(3, shutil.get_terminal_size((100, 40)).lines - 2)
        if len(lines) > room:      # a block taller than the screen cannot be redrawn in place
            hidden = len(lines) - room + 1
            lines = lines[:room - 1] + [f"... {hidden} more line(s): narrow --modules or --channels"]
        up = f"\x1b[{self.lines}F" if self.lines else ""
        self.stream.write(up + "\x1b[J" + "\n".join(lines) + "\n")
        self.stream.flush()
        self.lines = len(lines)


def _stats_line(st: "ScanStats", target: float) -> str:
    rate = f"{st.rate_hz:.2f} Hz" if st.rate_hz else "-"
    return (f"passes {st.passes} (ok {st.ok}, errors {st.errors})  rate {rate} (target {target:g})  "
            f"jitter p99 {fmt_seconds(st.jitter_p99)}  pass p50 {fmt_seconds(st.duration_p50)}  "
            f"late {st.late}  skipped {st.skipped}")


def _stats_dict(st: "ScanStats", target: float, view: _ScanView) -> Dict[str, Any]:
    return {"passes": st.passes, "ok": st.ok, "errors": st.errors, "late": st.late,
            "skipped": st.skipped, "elapsed_s": st.elapsed, "rate_hz": st.rate_hz,
            "target_hz": target, "jitter_p50_s": st.jitter_p50, "jitter_p99_s": st.jitter_p99,
            "jitter_max_s": st.jitter_max, "pass_p50_s": st.duration_p50,
            "pass_p99_s": st.duration_p99, "points": len(view.plan),
            "requests_per_pass": len(view.plan.requests),
            "last_error": None if st.last_error is None else str(st.last_error)}


def _run_scan(args: argparse.Namespace) -> int:
    from .scanloop import ScanLoop
    if not (args.rate > 0 and math.isfinite(args.rate)):
        raise UsageError("--rate must be a positive number of passes per second")
    if not 1 <= args.channels <= memmap.MAX_CHANNELS:
        raise UsageError(f"--channels must be 1..{memmap.MAX_CHANNELS}")
    if args.count is not None and args.count < 1:
        raise UsageError("--count must be at least 1")
    if args.duration is not None and not args.duration > 0:
        raise UsageError("--duration must be > 0 seconds")
    view = _ScanView(parse_module_spec(args.modules, args.kind), args.channels)
    out = sys.stdout
    tty = (not args.json) and out.isatty()
    screen = _Screen(out) if tty else None
    rows: List[str] = []      # the table of the last good pass (TTY)
    counter = [0]
    t0 = time.monotonic()
    header = (f"scan {args.host}: {len(view.plan)} points in {len(view.plan.requests)} request(s) "
              f"per pass, target {args.rate:g} Hz")

    with _client(args) as client:
        loop = ScanLoop(client, view.plan, args.rate)

        def redraw(force: bool) -> None:
            assert screen is not None
            st = loop.stats
            err = f"  last error: {st.last_error}" if st.last_error is not None else ""
            screen.draw([header, _stats_line(st, args.rate) + err, *rows], force)

        def on_error(exc: BaseException) -> None:
            counter[0] += 1
            if args.json:
                print_json({"pass": counter[0], "error": str(exc), "exit_code": exit_code_for(exc)})
            elif screen is not None:
                redraw(counter[0] == args.count)
            else:
                print(f"pass {counter[0]}: error: {exc}", file=sys.stderr, flush=True)
        loop.on_error = on_error

        if not args.json and screen is None:
            print(header, flush=True)
        try:
            for res in loop.iter(duration=args.duration, passes=args.count):
                counter[0] += 1
                if args.json:
                    print_json({"pass": counter[0], "t": round(time.monotonic() - t0, 6), **view.data(res)})
                elif screen is not None:
                    if screen.due() or counter[0] == args.count:
                        rows = view.rows(res)
                        redraw(True)
                else:
                    print(f"pass {counter[0]}  t={time.monotonic() - t0:.3f}s", flush=True)
                    print("\n".join(view.rows(res)), flush=True)
        except KeyboardInterrupt:
            pass      # Ctrl-C is how a live scan ends: show the summary
        st = loop.stats
    if args.json:
        print_json({"summary": _stats_dict(st, args.rate, view)})
    else:
        print(f"scan done: {_stats_line(st, args.rate)}", flush=True)
    if st.ok == 0 and st.last_error is not None:
        return _fail(st.last_error, " (no pass succeeded)")
    return EXIT_OK


# ============================================================================ dump
def _add_dump(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = _parser(sub, "dump", "save a range of device memory to a file",
                "Read LENGTH bytes from START (chunked block reads) and write them, as the device "
                "sent them (big-endian), to FILE.  A progress bar shows on a terminal's stderr.",
                """examples:
  mmpfast dump 10.0.0.5 0xF0D81000 0x1000 -o scratchpad_ints.bin
  mmpfast dump 10.0.0.5 0xF0300000 0x250 -o - | xxd""")
    p.add_argument("host", metavar="HOST", help="controller address, host or host:port")
    p.add_argument("start", metavar="START", help="first address (low 32 bits), e.g. 0xF0D81000")
    p.add_argument("length", metavar="LENGTH", help="number of bytes")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="file to write ('-' = stdout)")
    _add_connection_options(p, pipeline=True)
    p.set_defaults(func=_guarded(_run_dump))


class _Progress:
    """A one-line progress bar on a terminal's stderr (silent elsewhere)."""

    WIDTH = 30

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.stream = stream
        self.enabled = stream.isatty()
        self.t0 = time.monotonic()
        self.last = -1.0

    def update(self, done: int, final: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not final and now - self.last < 0.1:
            return
        self.last = now
        frac = done / self.total if self.total else 1.0
        fill = int(frac * self.WIDTH)
        rate = done / max(now - self.t0, 1e-9) / 1024
        self.stream.write(f"\r[{'#' * fill}{'.' * (self.WIDTH - fill)}] {frac * 100:5.1f}%  "
                          f"{done}/{self.total} bytes  {rate:.1f} KiB/s")
        self.stream.flush()

    def end(self) -> None:
        if self.enabled and self.last >= 0:
            self.stream.write("\n")
            self.stream.flush()


def _run_dump(args: argparse.Namespace) -> int:
    start = parse_int(args.start, "START", 0, MAX_ADDRESS)
    length = parse_int(args.length, "LENGTH", 1, 1 << 32)
    if start + length - 1 > MAX_ADDRESS:
        raise UsageError(f"0x{start:08X} + {length} runs past the end of the address space")
    if args.output != "-":
        folder = os.path.dirname(os.path.abspath(args.output))
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            print(f"mmpfast: error: cannot write {args.output}: no writable folder {folder}",
                  file=sys.stderr)
            return EXIT_OTHER
    buf = bytearray(length)
    view = memoryview(buf)
    progress = _Progress(length, sys.stderr)
    t0 = time.monotonic()
    with _client(args) as c:
        step = 16 * c.max_block
        done = 0
        try:
            while done < length:
                n = min(step, length - done)
                c.read_into(start + done, view[done:done + n])
                done += n
                progress.update(done, final=done == length)
        except MmpError as exc:
            progress.end()
            view.release()
            hint = ""
            area = memmap.find_area(start, 1)
            if isinstance(exc, MmpNakError) and area is not None and start + length - 1 > area.last:
                hint = f"; the {area.name} area ends at 0x{area.last:08X}"
            return _fail(exc, f" (after {done} of {length} bytes; nothing written{hint})")
    progress.end()
    view.release()
    seconds = time.monotonic() - t0
    if args.output == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(buf)
        sys.stdout.buffer.flush()
        report: TextIO = sys.stderr
    else:
        try:
            with open(args.output, "wb") as fh:
                fh.write(buf)
        except OSError as exc:
            print(f"mmpfast: error: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_OTHER
        report = sys.stdout
    if args.json:
        print_json({"address": start, "length": length, "file": args.output, "seconds": seconds},
                   report)
    else:
        where = "stdout" if args.output == "-" else args.output
        print(f"{length} bytes from 0x{start:08X} written to {where} in {fmt_seconds(seconds)}",
              file=report, flush=True)
    return EXIT_OK


# ============================================================================ demo
def _add_demo(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = _parser(sub, "demo", "a tour against the built-in simulator (no hardware needed)",
                "Start a simulated groov EPIC in this process and show uptime, the status table, "
                "digital and analog points, a scratch-pad round trip and a scan of the whole rack, "
                "with the values read back over OptoMMP.",
                """examples:
  mmpfast demo
  mmpfast demo --latency 5      # a slower device: see what one request per point costs""")
    p.add_argument("--latency", type=float, default=1.0, metavar="MS",
                   help="simulated device answer time per request, milliseconds (default 1)")
    p.add_argument("-v", "--verbose", action="count", default=0, help="log to stderr (-vv: debug)")
    p.set_defaults(func=_guarded(_run_demo))


def _run_demo(args: argparse.Namespace) -> int:
    from . import codec
    from ._version import __version__
    from .client import Client
    from .plan import ScanPlan
    from .sim import Simulator

    if not (args.latency >= 0 and math.isfinite(args.latency)):
        raise UsageError("--latency must be >= 0 milliseconds")
    say = functools.partial(print, flush=True)
    with Simulator(port=0, latency=args.latency / 1000.0) as sim:
        rack = sim.memory.rack
        # a plant with something going on
        sim.set_digital(0, 0, True)
        sim.set_digital(0, 5, True)
        sim.set_analog(2, 0, 4.75)
        sim.set_analog(2, 1, -12.5)
        sim.set_analog(6, 3, 101.325)
        say(f"mmpfast {__version__} demo: simulated groov EPIC on {sim.host}:{sim.port}, "
            f"{args.latency:g} ms per request; codec: {codec.IMPLEMENTATION}")
        with Client(sim.host, sim.port, timeout=5.0, pipeline=8) as c:
            say(f"\nuptime: {fmt_uptime(c.uptime_ms())}")
            say("\nstatus (one block read):")
            say("\n".join(_table(_status_rows(c.status()), "  ")))

            say("\npoints (module/channel):")
            kind = ["-" if spec is None else spec.kind for spec in rack]
            rows = [(f"digital 0/{ch} ({kind[0]})", _show(c.read_digital(0, ch))) for ch in (0, 1, 5)]
            before = c.read_digital(1, 2)
            c.write_digital(1, 2, True)
            rows.append((f"digital 1/2 ({kind[1]})",
                         f"{_show(before)} -> write on -> reads {_show(c.read_digital(1, 2))}"))
            rows += [(f"analog 2/{ch} ({kind[2]})", _show(c.read_analog(2, ch))) for ch in (0, 1)]
            c.write_analog(3, 0, 7.5)
            rows.append((f"analog 3/0 ({kind[3]})", f"write 7.5 -> reads {_show(c.read_analog(3, 0))}"))
            say("\n".join(_table(rows, "  ")))

            say("\nscratch pad (write, then read back):")
            ints = [42, -7, 2_000_000_000]
            floats = [3.14159, -0.5]
            text = "hello from mmpfast"
            c.write_scratchpad_int32(0, ints)
            c.write_scratchpad_float(10, floats)
            c.write_scratchpad_string(0, text)
            got_f = ", ".join(fmt_f32(v) for v in c.read_scratchpad_float(10, len(floats)))
            say("\n".join(_table([
                ("int32[0:3]", f"wrote {ints}  read {c.read_scratchpad_int32(0, len(ints))}"),
                ("float[10:12]", f"wrote {floats}  read [{got_f}]"),
                ("string[0]", f"wrote {text!r}  read {c.read_scratchpad_string(0)!r}"),
            ], "  ")))

            plan = ScanPlan()
            points: List[Tuple[str, int, int]] = []
            for m, spec in enumerate(rack):
                if spec is None:
                    continue
                family = "digital" if spec.digital else "analog"
                add = plan.add_digital if spec.digital else plan.add_analog
                for ch in range(spec.channels):
                    add(m, ch)
                    points.append((family, m, ch))
            plan.freeze()
            modules = sum(1 for s in rack if s is not None)
            before_frames = sim.stats.frames_in
            res = c.scan(plan)
            sent = sim.stats.frames_in - before_frames
            passes = 20
            t0 = time.perf_counter()
            buf = plan.new_buffer()
            for _ in range(passes):
                c.scan_into(plan, buf)
            per_pass = (time.perf_counter() - t0) / passes
            vals = res.values()
        with Client(sim.host, sim.port, timeout=5.0) as one:
            t0 = time.perf_counter()
            for family, m, ch in points:
                if family == "digital":
                    one.read_digital(m, ch)
                else:
                    one.read_analog(m, ch)
            per_point = time.perf_counter() - t0
        say(f"\nscan of the whole rack ({modules} modules, {len(plan)} points):")
        say("\n".join(_table([
            ("requests per pass", f"{sent} (one request per point would be {len(plan)})"),
            ("time per pass", f"{fmt_seconds(per_pass)} (mean of {passes}); one request per point: "
                              f"{fmt_seconds(per_point)} ({per_point / per_pass:.0f}x longer)"),
            ("some values", ", ".join(f"{n} {_show(vals[n])}" for n in
                                      ("digital[0][0]", "digital[0][1]", "digital[1][2]",
                                       "analog[2][0]", "analog[3][0]", "analog[6][3]"))),
        ], "  ")))
    return EXIT_OK


def _show(v: Any) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, float):
        return fmt_f32(v)
    return str(v)


# ============================================================================ bench
def _add_bench(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = _parser(sub, "bench", "time the compiled vs pure codec and scan vs one request per point",
                "A self-contained benchmark (needs no test tools): the compiled and pure-Python "
                "codecs on batch encode, scatter decode and frame decode, then a full-rack scan "
                "against one request per point on an in-process simulator with 1 ms latency.",
                """examples:
  mmpfast bench             # about 10 s
  mmpfast bench --quick     # a few seconds
  mmpfast bench --json""")
    p.add_argument("--quick", action="store_true", help="shorter runs (a few seconds in all)")
    p.add_argument("--json", action="store_true", help="machine-readable JSON output")
    p.add_argument("-v", "--verbose", action="count", default=0, help="log to stderr (-vv: debug)")
    p.set_defaults(func=_guarded(_run_bench))


def _per_call(fn: Callable[[], Any], budget: float, repeats: int) -> float:
    """Best seconds per call of ``fn`` over ``repeats`` batches of about ``budget / repeats`` s."""
    import timeit
    timer = timeit.Timer(fn)
    number = 1
    target = budget / repeats
    while True:
        t = timer.timeit(number)
        if t >= target or number >= 1 << 24:
            break
        number = max(number * 2, int(number * target / max(t, 1e-9) * 1.1))
    best = t / number
    for _ in range(repeats - 1):
        best = min(best, timer.timeit(number) / number)
    return best


def _codec_cases(mod: Any) -> Dict[str, Callable[[], Any]]:
    from array import array
    ranges = [(memmap.SCRATCHPAD_INT32_AREA2 + 16 * i, 16) for i in range(1000)]
    payload = bytes(range(16))
    stream = b"".join(mod.encode_read_block_response(i % 64, payload) for i in range(1000))
    dest = bytearray(16 * 1000)
    offsets = array("q", range(0, 16 * 1000, 16))
    lengths = array("q", [16] * 1000)
    frame = mod.encode_read_block_response(7, payload)
    return {
        "encode_read_blocks(1000 ranges)": lambda: mod.encode_read_blocks(0, ranges),
        "scatter_read_responses(1000 x 16 B)":
            lambda: mod.scatter_read_responses(stream, dest, offsets, lengths, 0),
        "decode_frame(16 B block response)": lambda: mod.decode_frame(frame),
    }


def _run_bench(args: argparse.Namespace) -> int:
    import importlib

    from . import codec
    from .client import Client
    from .plan import ScanPlan
    from .sim import Simulator

    quick = args.quick
    budget, repeats = (0.05, 3) if quick else (0.6, 5)
    def say(*parts: object) -> None:
        if not args.json:
            print(*parts, flush=True)
    result: Dict[str, Any] = {"codec_in_use": codec.IMPLEMENTATION, "quick": quick}

    impls: Dict[str, Any] = {}
    try:
        impls["cython"] = importlib.import_module("mmpfast._codec")
    except ImportError as exc:
        result["cython_unavailable"] = str(exc)
        say(f"compiled codec not importable ({exc}): showing the pure-Python codec only")
    impls["python"] = importlib.import_module("mmpfast._codec_py")
    say(f"codec in use: {codec.IMPLEMENTATION}; seconds per call, best of {repeats}")

    timings: Dict[str, Dict[str, float]] = {}
    for impl, mod in impls.items():
        for case, fn in _codec_cases(mod).items():
            timings.setdefault(case, {})[impl] = _per_call(fn, budget, repeats)
    rows = [("operation", "cython", "python", "python / cython")]
    for case, t in timings.items():
        cy = t.get("cython")
        rows.append((case, fmt_seconds(cy) if cy else "-", fmt_seconds(t["python"]),
                     f"{t['python'] / cy:.1f}x" if cy else "-"))
    result["codec"] = {case: {**t, **({"ratio": t["python"] / t["cython"]} if "cython" in t else {})}
                       for case, t in timings.items()}
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        say(f"  {r[0].ljust(widths[0])}  {r[1].rjust(widths[1])}  {r[2].rjust(widths[2])}  "
            f"{r[3].rjust(widths[3])}")

    latency = 0.001
    plan = ScanPlan()
    for m in range(memmap.MAX_MODULES):
        for ch in range(memmap.PACKED_VALUES_CHANNELS):
            plan.add_digital(m, ch)
            plan.add_analog(m, ch)
    plan.freeze()
    points = len(plan)
    with Simulator(port=0, latency=latency) as sim:
        with Client(sim.host, sim.port, timeout=10.0, pipeline=8) as c:
            buf = plan.new_buffer()
            c.scan_into(plan, buf)                       # connect and warm up
            passes = 5 if quick else 20
            t0 = time.perf_counter()
            for _ in range(passes):
                c.scan_into(plan, buf)
            scan_s = (time.perf_counter() - t0) / passes
        with Client(sim.host, sim.port, timeout=10.0) as one:
            one.uptime_ms()
            t0 = time.perf_counter()
            for i in range(points):
                m, ch = divmod(i // 2, memmap.PACKED_VALUES_CHANNELS)
                if i % 2:
                    one.read_analog(m, ch)
                else:
                    one.read_digital(m, ch)
            point_s = time.perf_counter() - t0
    result["scan"] = {"latency_s": latency, "points": points, "requests": len(plan.requests),
                      "scan_s": scan_s, "per_point_s": point_s,
                      "ratio": point_s / scan_s}
    say(f"\nfull rack, {points} points, simulator with {latency * 1000:g} ms per request:")
    say("\n".join(_table([
        (f"scan ({len(plan.requests)} requests, pipeline 8)",
         f"{fmt_seconds(scan_s)} per pass (mean of {passes})"),
        (f"one request per point ({points} requests)", f"{fmt_seconds(point_s)} per pass"),
        ("per-point / scan", f"{point_s / scan_s:.0f}x"),
    ], "  ")))
    if args.json:
        print_json(result)
    return EXIT_OK


#: every adder of this module, in the order ``mmpfast --help`` lists them
ADDERS = [_add_demo, _add_info, _add_read, _add_write, _add_scan, _add_dump, _add_bench]
