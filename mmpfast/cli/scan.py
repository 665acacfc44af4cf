"""``mmpfast scan``: read whole modules at a fixed rate through a ``ScanLoop``,
as a table redrawn in place on a terminal, as lines otherwise, or one JSON
object per pass; a summary (rate, jitter, errors) at the end."""
from __future__ import annotations

import argparse
import math
import shutil
import sys
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional, TextIO, Tuple

from .. import memmap
from .common import add_connection_options, add_host, command_parser, make_client
from .errors import EXIT_OK, UsageError, error_text, exit_code_for, fail, guarded, target_of
from .output import f32_value, fmt_f32, fmt_seconds, print_json
from .parsing import parse_module_spec

if TYPE_CHECKING:  # pragma: no cover
    from ..plan import ScanResult
    from ..scanloop import ScanStats

__all__ = ["ADDERS", "Screen"]

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
  mmpfast scan 10.0.0.5 --modules 0:d,2:a --channels 8 --count 100 --json > log.jsonl
  mmpfast scan 10.0.0.6 --device snap --modules 0-15 --rate 5"""


def _add_scan(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = command_parser(sub, "scan", "scan modules at a fixed rate (live table, rate, jitter)",
                       "Read digital states and analog values of whole modules at a fixed rate.", SCAN_EPILOG)
    add_host(p)
    p.add_argument("--modules", default="0-15", metavar="SPEC", help="modules to scan (default 0-15)")
    p.add_argument("--kind", choices=("both", "digital", "analog"), default="both",
                   help="kind of modules given without :d/:a (default both)")
    p.add_argument("--channels", type=int, default=None, metavar="N",
                   help="channels per module, 1..64 (default 32; SNAP: 1..4, default 4)")
    p.add_argument("--rate", type=float, default=10.0, metavar="HZ", help="passes per second (default 10)")
    stop = p.add_mutually_exclusive_group()
    stop.add_argument("--count", type=int, default=None, metavar="N", help="stop after N passes")
    stop.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds")
    add_connection_options(p, pipeline=True)
    p.set_defaults(func=guarded(_run_scan))


class _ScanView:
    """Points of a module scan and how to show them."""

    def __init__(self, modules: List[Tuple[int, str]], channels: int, device: str = "epic") -> None:
        from ..plan import ScanPlan
        self.modules = modules
        self.channels = channels
        plan = ScanPlan(device=device)
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


class Screen:
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


def _stats_dict(st: "ScanStats", target: float, view: _ScanView, host: Optional[str]) -> Dict[str, Any]:
    return {"passes": st.passes, "ok": st.ok, "errors": st.errors, "late": st.late,
            "skipped": st.skipped, "elapsed_s": st.elapsed, "rate_hz": st.rate_hz,
            "target_hz": target, "jitter_p50_s": st.jitter_p50, "jitter_p99_s": st.jitter_p99,
            "jitter_max_s": st.jitter_max, "pass_p50_s": st.duration_p50,
            "pass_p99_s": st.duration_p99, "points": len(view.plan),
            "requests_per_pass": len(view.plan.requests),
            "last_error": None if st.last_error is None else error_text(st.last_error, host)}


def _run_scan(args: argparse.Namespace) -> int:
    from ..scanloop import ScanLoop
    if not (args.rate > 0 and math.isfinite(args.rate)):
        raise UsageError("--rate must be a positive number of passes per second")
    most = memmap.SNAP_CHANNELS if args.device == "snap" else memmap.MAX_CHANNELS
    if args.channels is None:
        args.channels = memmap.SNAP_CHANNELS if args.device == "snap" else 32
    if not 1 <= args.channels <= most:
        where = " with --device snap" if args.device == "snap" else ""
        raise UsageError(f"--channels must be 1..{most}{where}")
    if args.count is not None and args.count < 1:
        raise UsageError("--count must be at least 1")
    if args.duration is not None and not args.duration > 0:
        raise UsageError("--duration must be > 0 seconds")
    view = _ScanView(parse_module_spec(args.modules, args.kind), args.channels, args.device)
    host = target_of(args)
    out = sys.stdout
    tty = (not args.json) and out.isatty()
    screen = Screen(out) if tty else None
    rows: List[str] = []      # the table of the last good pass (TTY)
    counter = [0]
    t0 = time.monotonic()
    header = (f"scan {args.host}: {len(view.plan)} points in {len(view.plan.requests)} request(s) "
              f"per pass, target {args.rate:g} Hz")

    with make_client(args) as client:
        loop = ScanLoop(client, view.plan, args.rate)

        def redraw(force: bool) -> None:
            assert screen is not None
            st = loop.stats
            err = f"  last error: {error_text(st.last_error, host)}" if st.last_error is not None else ""
            screen.draw([header, _stats_line(st, args.rate) + err, *rows], force)

        def on_error(exc: BaseException) -> None:
            counter[0] += 1
            if args.json:
                print_json({"pass": counter[0], "error": error_text(exc, host), "exit_code": exit_code_for(exc)})
            elif screen is not None:
                redraw(counter[0] == args.count)
            else:
                print(f"pass {counter[0]}: error: {error_text(exc, host)}", file=sys.stderr, flush=True)
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
        print_json({"summary": _stats_dict(st, args.rate, view, host)})
    else:
        print(f"scan done: {_stats_line(st, args.rate)}", flush=True)
    if st.ok == 0 and st.last_error is not None:
        return fail(st.last_error, " (no pass succeeded)", host)
    return EXIT_OK



#: the adders of this module
ADDERS = [_add_scan]
