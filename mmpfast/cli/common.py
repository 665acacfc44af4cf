"""What the device commands share: the connection options, the client they
make, and the help layout (examples, then the exit statuses)."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .errors import EXIT_CODES_TEXT, UsageError
from .parsing import DEFAULT_PORT, parse_host

if TYPE_CHECKING:  # pragma: no cover
    from ..client import Client

__all__ = ["add_connection_options", "make_client", "command_parser", "add_host", "add_verbose"]

def add_connection_options(p: argparse.ArgumentParser, *, json_output: bool = True,
                           pipeline: bool = False) -> None:
    """``--port``, ``--timeout`` (seconds), ``--device``, ``--udp``, optionally ``--pipeline`` and
    ``--json``, and ``-v``."""
    g = p.add_argument_group("connection and output")
    g.add_argument("--port", type=int, default=None,
                   help=f"OptoMMP TCP port (default {DEFAULT_PORT}; HOST:PORT also works)")
    g.add_argument("--timeout", type=float, default=2.0, metavar="SECONDS",
                   help="budget of each request, seconds (default 2)")
    g.add_argument("--device", choices=("epic", "snap"), default="epic",
                   help="memory map of the points: epic (groov EPIC channel slots, default) or "
                        "snap (SNAP PAC: module 0..15, channel 0..3)")
    g.add_argument("--udp", action="store_true",
                   help="speak OptoMMP over UDP to the same port (one request per datagram; a plain "
                        "read is sent again once when its answer is late, writes never)")
    if pipeline:
        g.add_argument("--pipeline", type=int, default=1, metavar="N",
                       help="requests in flight at once, 1..64 (default 1, as Opto 22's own tools; "
                            "up to 8 is usual when the device is known to cope)")
    if json_output:
        g.add_argument("--json", action="store_true", help="machine-readable JSON output")
    add_verbose(g)


def add_verbose(p: "argparse._ActionsContainer", help_text: str = "log to stderr (-vv: debug)") -> None:
    """``-v`` / ``--verbose``, counted (``-vv``: debug logging)."""
    p.add_argument("-v", "--verbose", action="count", default=0, help=help_text)


def add_host(p: argparse.ArgumentParser) -> None:
    """The positional ``HOST`` of a device command."""
    p.add_argument("host", metavar="HOST", help="controller address, host or host:port")


def make_client(args: argparse.Namespace) -> "Client":
    """The ``Client`` of ``HOST``, ``--port``, ``--timeout``, ``--device``, ``--udp`` and
    ``--pipeline`` (not yet connected)."""
    from ..client import Client
    host, port = parse_host(args.host, args.port)
    if not args.timeout > 0:
        raise UsageError("--timeout must be > 0 seconds")
    pipeline = getattr(args, "pipeline", 1)
    return Client(host, port, timeout=args.timeout, pipeline=pipeline,
                  device=getattr(args, "device", "epic"),
                  transport="udp" if getattr(args, "udp", False) else "tcp")


def command_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]", name: str,
                   help_text: str, description: str, epilog: str) -> argparse.ArgumentParser:
    """A command's parser: its examples, then the exit statuses, laid out as written."""
    return sub.add_parser(name, help=help_text, description=description,
                          epilog=f"{epilog.rstrip()}\n\n{EXIT_CODES_TEXT}",
                          formatter_class=argparse.RawDescriptionHelpFormatter)
