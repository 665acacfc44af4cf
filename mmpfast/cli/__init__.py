"""The ``mmpfast`` command line: ``mmpfast <command> [options]``.

One module per command family, each listing its adders in ``ADDERS``:

* ``device``: ``info``, ``read`` and ``write`` (one table of what can be read or written),
* ``scan``, ``dump``, ``demo``, ``bench``, ``sim`` and ``panel``;

and what they share: ``errors`` (exit statuses, the one-line error report),
``parsing`` (command-line text to values), ``output`` (formatting) and
``common`` (connection options, the client).  An adder
``_add_<name>(subparsers)`` declares a command's options and sets ``func``
to its runner ``(args) -> exit status``; ``COMMANDS`` lists every adder in
the order ``mmpfast --help`` shows them.
"""
from __future__ import annotations

import argparse
from typing import Callable, List, Optional, Sequence

from .._version import __version__
from . import bench, demo, device, dump, panel, scan, sim
from .errors import EXIT_CODES_TEXT, CliParser

__all__ = ["main", "build_parser", "COMMANDS"]

#: the adders that talk to a device or run one in-process, as ``mmpfast --help`` lists them
DEVICE_COMMANDS: List[Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]] = [
    *demo.ADDERS, *device.ADDERS, *scan.ADDERS, *dump.ADDERS, *bench.ADDERS]

#: every command's adder
COMMANDS: List[Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]] = [
    *DEVICE_COMMANDS, *sim.ADDERS, *panel.ADDERS]


_EPILOG = f"""examples:
  mmpfast demo                                   tour against the built-in simulator
  mmpfast info 10.0.0.5                          status table
  mmpfast read 10.0.0.5 digital 0 3              on / off
  mmpfast write 10.0.0.5 analog 3 0 12.5
  mmpfast read 10.0.0.5 int32 0 10 --json
  mmpfast scan 10.0.0.5 --modules 0-3,8 --rate 10
  mmpfast dump 10.0.0.5 0xF0D81000 4096 -o scratch.bin
  mmpfast sim --port 2001                        serve a simulated groov EPIC
  mmpfast panel 10.0.0.5                         web page of a controller's points
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
