"""The device commands ``info``, ``read`` and ``write``.

``info --points`` adds a table of each module's channels (point type and
feature, from the point configuration area; modules and channels that read
as all zeros are absent and skipped).  ``read counter`` and ``read latches``
take ``--clear``: the device's read-and-clear words, read once and never
repeated (only the words asked for are read, so ``counter --clear`` leaves
the latches and ``latches --clear`` the counter).  Every command takes
``--device epic|snap``.

``read`` and ``write`` are driven by one table, ``THINGS``: for each WHAT
(``digital``, ``int32``, ``raw``, ...) the arguments of its read and of its
write form (name and how the text becomes a value) and the action that calls
the client.  The table turns words into values; the ranges (module, channel,
index, count, slot, address, value) are checked by the client, which raises
``ValueError``/``TypeError`` before anything is sent (exit status 2).
Addresses are the low 32 bits of the memory-map offset; values on the wire
are big-endian.
"""
from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING, Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

from .. import memmap
from ..protocol import describe_error
from .common import add_connection_options, add_host, command_parser, make_client
from .errors import EXIT_OK, UsageError, guarded
from .output import f32_value, fmt_f32, fmt_uptime, hexdump, print_json, say, table
from .parsing import parse_float, parse_int, parse_state

if TYPE_CHECKING:  # pragma: no cover
    from ..client import Client

__all__ = ["THINGS", "Form", "Thing", "ADDERS", "status_rows"]

#: ``--type`` of raw values: struct code of each (big-endian on the wire)
RAW_TYPES = {"u32": "I", "i32": "i", "f32": "f", "u64": "Q", "i64": "q"}
#: largest ``read raw`` LENGTH, bytes (the command holds it all in memory)
MAX_RAW_READ = 1 << 24


# ============================================================================ info
def _add_info(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = command_parser(sub, "info", "show a controller's status table",
                       "Read the status area (one block read) and show uptime, firmware, part "
                       "number, MAC, IP, serial number, last error and the power-up-clear flag.",
                       """examples:
  mmpfast info 10.0.0.5
  mmpfast info 10.0.0.5 --points
  mmpfast info 10.0.0.6 --device snap --points
  mmpfast info 10.0.0.5:2001 --json""")
    add_host(p)
    p.add_argument("--points", action="store_true",
                   help="also list each module's channels: point type and feature (point configuration)")
    add_connection_options(p)
    p.set_defaults(func=guarded(_run_info))


def status_rows(st: Any) -> List[Tuple[str, str]]:
    """The rows of a ``Status`` as ``info`` and ``demo`` show them."""
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


def read_points(c: "Client") -> List[Dict[str, Any]]:
    """Every configured point of the device, in module and channel order: the point
    configuration of channel 0 of each module first (an all-zero record is an empty
    slot), then each present module's records in block reads.  Records that read as
    all zeros (absent channels) are left out."""
    from ..records import PointConfig
    snap = c.device == "snap"
    channels = memmap.SNAP_CHANNELS if snap else memmap.MAX_CHANNELS
    stride = memmap.SNAP_POINT_STRIDE if snap else memmap.POINT_CONFIG_CHANNEL_STRIDE
    out: List[Dict[str, Any]] = []
    for m in range(memmap.MAX_MODULES):
        base, length = memmap.point_config_request(m, 0, device=c.device)
        if not any(c.read(base, length)):
            continue
        data = c.read(base, stride * (channels - 1) + length)
        for ch in range(channels):
            raw = data[stride * ch:stride * ch + length]
            if not any(raw):
                continue
            cfg = PointConfig.from_bytes(raw)
            out.append({"module": m, "channel": ch, **dataclasses.asdict(cfg)})
    return out


def _point_rows(points: List[Dict[str, Any]]) -> List[str]:
    """The ``info --points`` table: module, channel, module type, point type, feature, name."""
    rows = [("M", "C", "module type", "point type", "feature", "name")]
    for p in points:
        ptype = f"0x{p['point_type']:X} {memmap.POINT_TYPE_NAMES.get(p['point_type'], '')}"
        feature = f"{p['feature']} {memmap.FEATURE_NAMES.get(p['feature'], '')}"
        rows.append((str(p["module"]), str(p["channel"]), f"0x{p['module_type']:08X}",
                     ptype.strip(), feature.strip(), p["name"]))
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    return [("  " + "  ".join(cell.rjust(w) if i < 2 else cell.ljust(w)
                              for i, (cell, w) in enumerate(zip(r, widths)))).rstrip() for r in rows]


def _run_info(args: argparse.Namespace) -> int:
    with make_client(args) as c:
        st = c.status()
        points = read_points(c) if args.points else None
        if args.json:
            obj: Dict[str, Any] = {"host": c.host, "port": c.port, **dataclasses.asdict(st)}
            if points is not None:
                obj["device"] = c.device
                obj["points"] = points
            print_json(obj)
        else:
            print(f"{c.host}:{c.port}")
            print("\n".join(table(status_rows(st), "  ")))
            if points is not None:
                print(f"points ({c.device}, from the point configuration):")
                print("\n".join(_point_rows(points)) if points else "  none configured")
    return EXIT_OK


# ============================================================================ the table
#: what an action returns: the text to print and the object ``--json`` prints
Shown = Tuple[str, Dict[str, Any]]
Action = Callable[["Client", argparse.Namespace, List[Any]], Shown]


def _int(what: str) -> Callable[[str], int]:
    return lambda text: parse_int(text, what)


def _float(what: str) -> Callable[[str], float]:
    return lambda text: parse_float(text, what)


def _word(text: str) -> str:
    return text


class Form(NamedTuple):
    """One way to read or write a WHAT: its arguments and what it does."""

    args: Tuple[Tuple[str, Callable[[str], Any]], ...]   # (NAME, text -> value)
    run: Action
    optional: int = 0        # how many trailing arguments may be left out (then None)
    rest: bool = False       # the last argument takes one or more words (a list)

    def bind(self, what: str, words: Sequence[str]) -> List[Any]:
        """The values of ``words``; a wrong count of them is a ``UsageError``."""
        names = [n for n, _ in self.args]
        need = len(names) - self.optional
        if len(words) < need or (not self.rest and len(words) > len(names)):
            usage = " ".join(n if i < need else f"[{n}]" for i, n in enumerate(names))
            raise UsageError(f"{what} takes {usage}{' ...' if self.rest else ''}; "
                             f"got {len(words)} argument(s)")
        values: List[Any] = []
        for i, (_, convert) in enumerate(self.args):
            if self.rest and i == len(self.args) - 1:
                values.append([convert(w) for w in words[i:]])
            else:
                values.append(convert(words[i]) if i < len(words) else None)
        return values


class Thing(NamedTuple):
    """A WHAT of ``read``/``write``: its read form and its write form (``None``: not offered)."""

    read: Optional[Form]
    write: Optional[Form]


# ---------------------------------------------------------------------------- reads
def _read_uptime(c: "Client", args: argparse.Namespace, v: List[Any]) -> Shown:
    ms = c.uptime_ms()
    return fmt_uptime(ms), {"uptime_ms": ms}


def _read_digital(c: "Client", args: argparse.Namespace, v: List[Any]) -> Shown:
    m, ch = v
    state = c.read_digital(m, ch)
    return ("on" if state else "off"), {"module": m, "channel": ch, "state": state}


def _read_analog(c: "Client", args: argparse.Namespace, v: List[Any]) -> Shown:
    m, ch = v
    value = c.read_analog(m, ch)
    return fmt_f32(value), {"module": m, "channel": ch, "value": f32_value(value)}


def _clear_words(c: "Client", m: int, ch: int) -> Tuple[int, int, int]:
    """Addresses of a digital point's read-and-clear words (counts, on-latch, off-latch;
    uint32 BE each) on the client's device."""
    if c.device == "snap":
        p = memmap.snap_point(m, ch)
        base = memmap.SNAP_DIGITAL_READ_CLEAR + 4 * p
        return (base + memmap.SNAP_READ_CLEAR_COUNTS, base + memmap.SNAP_READ_CLEAR_ON_LATCH,
                base + memmap.SNAP_READ_CLEAR_OFF_LATCH)
    base = memmap.digital_read_clear_address(m, ch)
    return base + memmap.DRC_FEATURE_VALUE, base + memmap.DRC_ON_LATCH, base + memmap.DRC_OFF_LATCH


def _word_at(c: "Client", address: int) -> int:
    return int.from_bytes(c.read(address, 4), "big")


def _read_counter(c: "Client", args: argparse.Namespace, v: List[Any]) -> Shown:
    m, ch = v
    if args.clear:      # the counts word only: read once, returned and cleared by the device
        value = _word_at(c, _clear_words(c, m, ch)[0])
    else:
        value = c.read_digital_channel(m, ch).feature_value
    return str(value), {"module": m, "channel": ch, "counter": value, "cleared": args.clear}


def _read_latches(c: "Client", args: argparse.Namespace, v: List[Any]) -> Shown:
    m, ch = v
    if args.clear:      # the two latch words only (one read when they are adjacent)
        _, on_at, off_at = _clear_words(c, m, ch)
        if off_at == on_at + 4:
            raw = c.read(on_at, 8)
            on, off = raw[:4] != bytes(4), raw[4:] != bytes(4)
        else:
            on, off = _word_at(c, on_at) != 0, _word_at(c, off_at) != 0
    else:
        rec = c.read_digital_channel(m, ch)
        on, off = rec.on_latch, rec.off_latch
    text = f"on-latch {'set' if on else 'clear'}, off-latch {'set' if off else 'clear'}"
    return text, {"module": m, "channel": ch, "on_latch": on, "off_latch": off, "cleared": args.clear}


def _read_scratchpad(kind: str) -> Action:
    def run(c: "Client", args: argparse.Namespace, v: List[Any]) -> Shown:
        index, count = v[0], (1 if v[1] is None else v[1])
        values = list(getattr(c, f"read_scratchpad_{kind}")(index, count))
        fmt = fmt_f32 if kind == "float" else str
        if count == 1:
            text = fmt(values[0])
        else:
            width = len(str(index + count - 1))
            text = "\n".join(f"{str(index + i).rjust(width)}  {fmt(x)}" for i, x in enumerate(values))
        if kind == "float":
            values = [f32_value(x) for x in values]
        return text, {"type": kind, "index": index, "values": values}
    return run


def _read_string(c: "Client", args: argparse.Namespace, v: List[Any]) -> Shown:
    s = c.read_scratchpad_string(v[0])
    return s, {"slot": v[0], "text": s}


def _raw_size(type_name: str) -> int:
    return 1 if type_name in ("hex", "u8") else (8 if type_name in ("u64", "i64") else 4)


def _read_raw(c: "Client", args: argparse.Namespace, v: List[Any]) -> Shown:
    address, length = v
    if not 1 <= length <= MAX_RAW_READ:
        raise UsageError(f"length {length} out of range 1..{MAX_RAW_READ}")
    size = _raw_size(args.type)
    if length % size:
        raise UsageError(f"length {length} is not a whole number of {args.type} values")
    data = c.read(address, length)
    obj: Dict[str, Any] = {"address": address, "length": length, "hex": data.hex()}
    if args.type == "hex":
        return "\n".join(hexdump(address, data)), obj
    if args.type == "u8":
        values: List[Any] = list(data)
    else:
        from .. import codec
        values = list(codec.unpack_be(data, RAW_TYPES[args.type]))
    obj["type"] = args.type
    obj["values"] = [f32_value(x) for x in values] if args.type == "f32" else values
    shown = [fmt_f32(x) for x in values] if args.type == "f32" else [str(x) for x in values]
    return "\n".join(f"0x{address + i * size:08X}  {x}" for i, x in enumerate(shown)), obj


# ---------------------------------------------------------------------------- writes
def _write_digital(c: "Client", args: argparse.Namespace, v: List[Any]) -> Shown:
    m, ch, state = v
    c.write_digital(m, ch, state)
    return (f"digital module {m} channel {ch} set {'on' if state else 'off'}",
            {"module": m, "channel": ch, "state": state})


def _write_analog(c: "Client", args: argparse.Namespace, v: List[Any]) -> Shown:
    m, ch, value = v
    c.write_analog(m, ch, value)
    return f"analog module {m} channel {ch} set to {fmt_f32(value)}", {"module": m, "channel": ch,
                                                                         "value": value}


def _write_scratchpad(kind: str) -> Action:
    def run(c: "Client", args: argparse.Namespace, v: List[Any]) -> Shown:
        index, values = v
        getattr(c, f"write_scratchpad_{kind}")(index, values)
        return (f"{kind} scratch pad: {len(values)} value(s) written from index {index}",
                {"index": index, "values": values})
    return run


def _write_string(c: "Client", args: argparse.Namespace, v: List[Any]) -> Shown:
    slot, words = v
    s = " ".join(words)
    c.write_scratchpad_string(slot, s)
    return f"string slot {slot}: {len(s.encode('utf-8'))} byte(s) written", {"slot": slot, "text": s}


def _raw_bytes(type_name: str, words: List[str]) -> bytes:
    """The bytes ``write raw`` sends: hex digits, or big-endian values of ``--type``."""
    if type_name == "hex":
        digits = "".join(words).replace(":", "").replace("_", "")
        if digits.lower().startswith("0x"):
            digits = digits[2:]
        try:
            data = bytes.fromhex(digits)
        except ValueError:
            raise UsageError(f"DATA must be hex bytes, got {' '.join(words)!r}") from None
        if not data:
            raise UsageError("no bytes to write")
        return data
    from .. import codec
    code = RAW_TYPES[type_name]
    parse = _float("value") if code == "f" else _int("value")
    return bytes(codec.pack_be([parse(w) for w in words], code))


def _write_raw(c: "Client", args: argparse.Namespace, v: List[Any]) -> Shown:
    address, words = v
    data = _raw_bytes(args.type, words)
    c.write(address, data)
    return f"{len(data)} byte(s) written at 0x{address:08X}", {"address": address, "hex": data.hex()}


def _write_powerup_clear(c: "Client", args: argparse.Namespace, v: List[Any]) -> Shown:
    c.powerup_clear()
    return "power-up clear sent", {}


_POINT = (("MODULE", _int("module")), ("CHANNEL", _int("channel")))


def _scratchpad(kind: str, value: Callable[[str], Any]) -> Thing:
    return Thing(read=Form((("INDEX", _int("index")), ("COUNT", _int("count"))),
                           _read_scratchpad(kind), optional=1),
                 write=Form((("INDEX", _int("index")), ("VALUE", value)), _write_scratchpad(kind),
                            rest=True))


#: every WHAT of ``read`` and ``write``, in the order their help lists them
THINGS: Dict[str, Thing] = {
    "uptime": Thing(read=Form((), _read_uptime), write=None),
    "digital": Thing(read=Form(_POINT, _read_digital),
                     write=Form((*_POINT, ("STATE", parse_state)), _write_digital)),
    "analog": Thing(read=Form(_POINT, _read_analog),
                    write=Form((*_POINT, ("VALUE", _float("value"))), _write_analog)),
    "counter": Thing(read=Form(_POINT, _read_counter), write=None),
    "latches": Thing(read=Form(_POINT, _read_latches), write=None),
    "int32": _scratchpad("int32", _int("value")),
    "float": _scratchpad("float", _float("value")),
    "int64": _scratchpad("int64", _int("value")),
    "string": Thing(read=Form((("SLOT", _int("slot")),), _read_string),
                    write=Form((("SLOT", _int("slot")), ("TEXT", _word)), _write_string, rest=True)),
    "raw": Thing(read=Form((("ADDRESS", _int("address")), ("LENGTH", _int("length"))), _read_raw),
                 write=Form((("ADDRESS", _int("address")), ("DATA", _word)), _write_raw, rest=True)),
    "powerup-clear": Thing(read=None, write=Form((), _write_powerup_clear)),
}


def _names(verb: str) -> List[str]:
    return [w for w, thing in THINGS.items() if getattr(thing, verb) is not None]


def _or_list(words: Sequence[str]) -> str:
    return f"{', '.join(words[:-1])} or {words[-1]}"


# ============================================================================ read / write
READ_EPILOG = """forms (M = module 0..15, C = channel 0..63 (0..3 with --device snap), numbers
decimal or 0x hex):
  read HOST uptime                      milliseconds since power-up
  read HOST digital M C                 on / off
  read HOST analog M C                  value in engineering units (float32)
  read HOST counter M C [--clear]       feature value (counts); --clear: read and clear it
  read HOST latches M C [--clear]       on- and off-latch; --clear: read and clear them
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
  mmpfast read 10.0.0.5 counter 0 2 --clear
  mmpfast read 10.0.0.6 --device snap latches 1 3 --clear
  mmpfast read 10.0.0.5 raw 0xF030010C 4 --type u32

A read with --clear is sent once and never repeated: if its answer is lost, the
values are gone (the device cleared them as it answered)."""

WRITE_EPILOG = """forms (M = module 0..15, C = channel 0..63 (0..3 with --device snap), numbers
decimal or 0x hex):
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


def _add_verb(sub: "argparse._SubParsersAction[argparse.ArgumentParser]", verb: str, help_text: str,
              description: str, epilog: str, args_help: str, types: Sequence[str], type_help: str,
              run: Callable[[argparse.Namespace], int]) -> None:
    p = command_parser(sub, verb, help_text, description, epilog)
    add_host(p)
    p.add_argument("what", metavar="WHAT", choices=_names(verb), help=_or_list(_names(verb)))
    p.add_argument("args", nargs="*", metavar="ARG", help=args_help)
    p.add_argument("--type", choices=("hex", *types), default="hex", help=type_help)
    if verb == "read":
        p.add_argument("--clear", action="store_true",
                       help="counter / latches: read and clear (sent once, never repeated)")
    add_connection_options(p)
    p.set_defaults(func=guarded(run), verb=verb)


def _add_read(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    _add_verb(sub, "read", "read a point, the scratch pad, the uptime or raw memory",
              "Read one thing from a controller and print it.", READ_EPILOG,
              "module/channel, index/count, slot or address/length", ("u8", *RAW_TYPES),
              "how raw bytes are shown (default hex)", _run_read)


def _add_write(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    _add_verb(sub, "write", "write a point, the scratch pad or raw memory",
              "Write one thing to a controller.", WRITE_EPILOG,
              "module/channel/value, index/values, slot/text, ...", tuple(RAW_TYPES),
              "how raw values are given (default hex bytes)", _run_write)


def _run(args: argparse.Namespace) -> Shown:
    form: Optional[Form] = getattr(THINGS[args.what], args.verb)
    assert form is not None             # argparse offered only the WHATs that have this form
    values = form.bind(args.what, args.args)
    if getattr(args, "clear", False) and args.what not in ("counter", "latches"):
        raise UsageError("--clear goes with read counter or read latches")
    with make_client(args) as c:
        return form.run(c, args, values)


def _run_read(args: argparse.Namespace) -> int:
    text, obj = _run(args)
    say(args, text, obj)
    return EXIT_OK


def _run_write(args: argparse.Namespace) -> int:
    text, obj = _run(args)
    say(args, text, {"ok": True, "what": args.what, **obj})
    return EXIT_OK


#: the adders of this module, in the order ``mmpfast --help`` lists them
ADDERS = [_add_info, _add_read, _add_write]
