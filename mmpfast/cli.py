"""The ``mmpfast`` command line: ``mmpfast <command> [options]``.

Each command is two small functions: ``_add_<name>(subparsers)`` declares
its options and sets ``func`` to ``_run_<name>(args) -> int``; list the
adder in ``COMMANDS``.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Callable, List, Optional, Sequence

from ._version import __version__
from .cli_commands import ADDERS as _DEVICE_COMMANDS
from .cli_commands import EXIT_CODES_TEXT, CliParser

log = logging.getLogger("mmpfast.cli")


# ----------------------------------------------------------------------------- sim
def _add_sim(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("sim", help="run a simulated groov EPIC (OptoMMP on TCP and UDP)",
                       description="Serve a simulated groov EPIC until Ctrl-C.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; give another address explicitly "
                        "to expose the simulator)")
    p.add_argument("--port", type=int, default=2001, help="TCP and UDP port (default 2001; 0 = any free port)")
    p.add_argument("--modules", default=None, metavar="SPEC",
                   help="rack layout, comma separated kind:channels per slot, '-' for an empty slot, "
                        "e.g. di:32,do:16,ai:8,ao:4,- (default: the 16-module mixed rack)")
    p.add_argument("--latency", type=float, default=0.0, metavar="MS",
                   help="device answer time per request, milliseconds (default 0)")
    p.add_argument("--profile", choices=("epic", "snap"), default="epic",
                   help="epic (default) or snap (enforces power-up clear)")
    p.add_argument("--max-block", type=int, default=1024, help="largest accepted data_length (default 1024)")
    p.add_argument("--no-udp", action="store_true", help="serve TCP only")
    p.add_argument("--allow-remote-stream", action="store_true",
                   help="also send stream packets to non-loopback targets")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    from .panel.cli import sim_panel_argument
    sim_panel_argument(p)
    p.set_defaults(func=_run_sim)


def _run_sim(args: argparse.Namespace) -> int:
    from .sim import Simulator
    from .sim.rack import format_rack

    logging.basicConfig(level=logging.DEBUG if args.verbose > 1 else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.latency < 0:
        print("mmpfast sim: --latency must be >= 0", file=sys.stderr)
        return 2
    try:
        sim = Simulator(args.host, args.port, latency=args.latency / 1000.0, modules=args.modules,
                        profile=args.profile, max_block=args.max_block,
                        allow_remote_stream=args.allow_remote_stream, udp=not args.no_udp)
    except (TypeError, ValueError) as exc:
        print(f"mmpfast sim: {exc}", file=sys.stderr)
        return 2

    async def run() -> None:
        stop = asyncio.Event()
        try:    # SIGTERM stops as cleanly as Ctrl-C (where the platform allows it)
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        except (NotImplementedError, RuntimeError, AttributeError):   # pragma: no cover
            pass
        async with sim.serving():
            proto = "TCP" if args.no_udp else "TCP and UDP"
            print(f"mmpfast sim ({sim.memory.profile}) listening on {sim.host}:{sim.port} ({proto}); "
                  f"modules {format_rack(sim.memory.rack) or '(none)'}; Ctrl-C to stop", flush=True)
            from .panel.cli import main_for_sim
            panel = main_for_sim(sim, args)
            try:
                await stop.wait()
            finally:
                if panel is not None:   # (its scan talks to this loop: stop it from a thread)
                    await asyncio.get_running_loop().run_in_executor(None, panel.stop)
        print("mmpfast sim: stopped", flush=True)

    from .panel.cli import PanelUnavailable
    try:
        asyncio.run(run())
    except PanelUnavailable as exc:
        print(f"mmpfast sim: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mmpfast sim: stopped", flush=True)
        return 0
    except OSError as exc:
        print(f"mmpfast sim: {exc}", file=sys.stderr)
        return 1
    return 0


# ----------------------------------------------------------------------------- panel
def _add_panel(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    from .panel.cli import add_panel_arguments
    p = sub.add_parser("panel", help="live rack panel in the browser (needs mmpfast[panel])",
                       description="Scan one controller and serve a live page of its rack until Ctrl-C.")
    add_panel_arguments(p)
    p.set_defaults(func=_run_panel)


def _run_panel(args: argparse.Namespace) -> int:
    from .panel.cli import PanelUnavailable, run_panel
    try:
        return run_panel(args)
    except PanelUnavailable as exc:
        print(f"mmpfast panel: {exc}", file=sys.stderr)
        return 1


# ----------------------------------------------------------------------------- main
COMMANDS: List[Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]] = [
    *_DEVICE_COMMANDS, _add_sim, _add_panel]


_EPILOG = f"""examples:
  mmpfast demo                                   tour against the built-in simulator
  mmpfast info 10.0.0.5                          status table
  mmpfast read 10.0.0.5 digital 0 3              on / off
  mmpfast write 10.0.0.5 analog 3 0 12.5
  mmpfast read 10.0.0.5 int32 0 10 --json
  mmpfast scan 10.0.0.5 --modules 0-3,8 --rate 10
  mmpfast dump 10.0.0.5 0xF0D81000 4096 -o scratch.bin
  mmpfast sim --port 2001                        serve a simulated groov EPIC
  mmpfast <command> --help                       every form and option of a command

HOST is host or host:port (port 2001 by default).

{EXIT_CODES_TEXT}"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered command."""
    parser: argparse.ArgumentParser = CliParser(prog="mmpfast", description="OptoMMP tools for groov EPIC and SNAP PAC.",
                                                epilog=_EPILOG,
                                                formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"mmpfast {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:       # --help, --version, usage errors: return their status
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    return int(args.func(args))
