"""``mmpfast sim``: serve a simulated groov EPIC (OptoMMP on TCP and UDP)
until Ctrl-C or SIGTERM, optionally with its web panel (``--panel``)."""
from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import math
import signal
import sys
from typing import Any, Dict, Optional

from .common import add_verbose
from .errors import EXIT_OK, EXIT_OTHER, EXIT_USAGE
from .panel import DEFAULT_HTTP_PORT, PANEL_MISSING, load_panel

__all__ = ["ADDERS", "DEFAULT_RACK_TEXT"]

#: the default rack as ``--help`` describes it (``mmpfast.sim.rack.DEFAULT_LAYOUT``)
DEFAULT_RACK_TEXT = ("14 modules, di, do, ai and ao in turn in slots 0-13, "
                     "2 empty slots (14 and 15)")


def _add_sim(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("sim", help="run a simulated groov EPIC (OptoMMP on TCP and UDP)",
                       description="Serve a simulated groov EPIC until Ctrl-C.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; give another address explicitly "
                        "to expose the simulator)")
    p.add_argument("--port", type=int, default=2001, help="TCP and UDP port (default 2001; 0 = any free port)")
    p.add_argument("--modules", default=None, metavar="SPEC",
                   help="rack layout, comma separated kind:channels per slot, '-' for an empty slot, "
                        f"e.g. di:32,do:16,ai:8,ao:4,- (default: {DEFAULT_RACK_TEXT})")
    p.add_argument("--latency", type=float, default=0.0, metavar="MS",
                   help="device answer time per request, milliseconds (default 0)")
    p.add_argument("--profile", choices=("epic", "snap"), default="epic",
                   help="epic (default) or snap (enforces power-up clear)")
    p.add_argument("--max-block", type=int, default=1024, help="largest accepted data_length (default 1024)")
    p.add_argument("--max-connections", type=int, default=None, metavar="N",
                   help="refuse connections beyond N at once (default: no limit)")
    p.add_argument("--idle-timeout", type=float, default=None, metavar="S",
                   help="close a connection that holds a half-received frame for S seconds "
                        "(default: never)")
    p.add_argument("--backlog", type=int, default=None, metavar="N", help="listen backlog (default 100)")
    p.add_argument("--no-udp", action="store_true", help="serve TCP only")
    p.add_argument("--allow-remote-stream", action="store_true",
                   help="also send stream packets to non-loopback targets")
    p.add_argument("--panel", nargs="?", type=int, const=DEFAULT_HTTP_PORT, default=None,
                   metavar="HTTP_PORT",
                   help=f"also serve the simulator's web panel on HTTP_PORT (default {DEFAULT_HTTP_PORT}; "
                        "0 = any free port; needs aiohttp)")
    p.add_argument("--panel-host", default="127.0.0.1", metavar="ADDR",
                   help="address the panel is served on (default 127.0.0.1)")
    add_verbose(p, "more logging (-vv: debug)")
    p.set_defaults(func=_run_sim)


def _usage(message: str) -> int:
    print(f"mmpfast sim: {message}", file=sys.stderr)
    return EXIT_USAGE


def _server_options(args: argparse.Namespace) -> Dict[str, Any]:
    """The connection options given on the command line (only those: a simulator
    without them still runs when they are left out).  ``ValueError`` when out of range."""
    if args.max_connections is not None and args.max_connections < 1:
        raise ValueError("--max-connections must be at least 1")
    if args.idle_timeout is not None and not (args.idle_timeout > 0 and math.isfinite(args.idle_timeout)):
        raise ValueError("--idle-timeout must be a finite number of seconds > 0")
    if args.backlog is not None and args.backlog < 0:
        raise ValueError("--backlog must be >= 0")
    given = {"max_connections": args.max_connections, "idle_timeout": args.idle_timeout,
             "backlog": args.backlog}
    return {k: v for k, v in given.items() if v is not None}


def _run_sim(args: argparse.Namespace) -> int:
    from ..sim import Simulator
    from ..sim.rack import format_rack

    if not (args.latency >= 0 and math.isfinite(args.latency)):
        return _usage("--latency must be a finite number of milliseconds >= 0")
    panel: Optional[Any] = None
    if args.panel is not None:
        if not 0 <= args.panel <= 0xFFFF:
            return _usage(f"--panel port {args.panel} out of range 0..65535")
        panel = load_panel()
        if panel is None:
            print(f"mmpfast sim: {PANEL_MISSING}", file=sys.stderr)
            return EXIT_OTHER
    try:
        options = _server_options(args)
        sim = Simulator(args.host, args.port, latency=args.latency / 1000.0, modules=args.modules,
                        profile=args.profile, max_block=args.max_block,
                        allow_remote_stream=args.allow_remote_stream, udp=not args.no_udp, **options)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, TypeError) and "unexpected keyword argument" in str(exc):
            flags = ", ".join(f"--{name.replace('_', '-')}" for name in options)
            return _usage(f"this simulator does not take {flags}")
        return _usage(str(exc))

    logging.basicConfig(level=logging.DEBUG if args.verbose > 1 else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        try:    # SIGTERM stops as cleanly as Ctrl-C (where the platform allows it)
            loop.add_signal_handler(signal.SIGTERM, stop.set)
        except (NotImplementedError, RuntimeError, AttributeError):   # pragma: no cover
            pass
        async with sim.serving():
            proto = "TCP" if args.no_udp else "TCP and UDP"
            print(f"mmpfast sim ({sim.memory.profile}) listening on {sim.host}:{sim.port} ({proto}); "
                  f"modules {format_rack(sim.memory.rack) or '(none)'}; Ctrl-C to stop", flush=True)
            handle = None
            if panel is not None:   # the panel talks to this loop's simulator: start it off the loop
                handle = await loop.run_in_executor(None, functools.partial(
                    panel.start_sim_panel, sim, args.panel, http_host=args.panel_host))
                print(f"panel: {handle.url}", flush=True)
            try:
                await stop.wait()
            finally:
                if handle is not None:
                    await loop.run_in_executor(None, handle.stop)
        print("mmpfast sim: stopped", flush=True)

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        print("mmpfast sim: stopped", flush=True)
        return EXIT_OK
    except OSError as exc:
        print(f"mmpfast sim: {exc}", file=sys.stderr)
        return EXIT_OTHER
    except Exception as exc:
        if panel is not None and isinstance(exc, panel.PanelUnavailable):
            print(f"mmpfast sim: {exc}", file=sys.stderr)
            return EXIT_OTHER
        raise
    return EXIT_OK


#: the adders of this module
ADDERS = [_add_sim]
