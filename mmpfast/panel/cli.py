"""Command-line glue of the panel: ``mmpfast panel TARGET`` and ``mmpfast sim --panel``.

Importable without aiohttp: the application (``mmpfast.panel.app``) is
imported only when a panel starts, and a missing aiohttp is
:class:`PanelUnavailable` with the install command.
"""
from __future__ import annotations

import argparse
import asyncio
import ipaddress
import math
import signal
import sys
from typing import Any, Callable, Optional, TypeVar

from ..cli.parsing import parse_host

__all__ = ["PanelUnavailable", "PanelHandle", "add_panel_arguments", "run_panel", "start_sim_panel",
           "DEFAULT_HTTP_PORT"]

DEFAULT_HTTP_PORT = 8765
_N = TypeVar("_N", int, float)
_INSTALL = 'the panel needs aiohttp: pip install "mmpfast[panel]"'


class PanelUnavailable(RuntimeError):
    """The panel cannot run here: aiohttp is not installed."""

    def __init__(self, message: str = _INSTALL) -> None:
        super().__init__(message)


class PanelHandle:
    """A panel serving from its own thread: ``.url`` of the page, ``.stop()`` (idempotent)."""

    def __init__(self, url: str, runner: Any) -> None:
        self.url = url
        self._runner = runner

    @property
    def panel(self) -> Any:
        """The running ``mmpfast.panel.app.Panel``."""
        return self._runner.panel

    def stop(self) -> None:
        """Stop the scan and the web server, and join the thread."""
        self._runner.stop()

    def __enter__(self) -> "PanelHandle":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _app() -> Any:
    try:
        from . import app
    except ImportError as exc:
        if getattr(exc, "name", None) and str(exc.name).split(".")[0] in ("aiohttp", "multidict", "yarl"):
            raise PanelUnavailable() from exc
        raise
    return app


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _parsed(text: str, conv: Callable[[str], _N], what: str) -> _N:
    """``conv(text)``, or the usage error ``not a <what>``."""
    try:
        return conv(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a {what}: {text!r}") from None


def _int0(text: str) -> int:
    return int(text, 0)


def _port(text: str) -> int:
    n = _parsed(text, _int0, "port number")
    if not 0 <= n <= 0xFFFF:
        raise argparse.ArgumentTypeError(f"port {n} out of range 0..65535")
    return n


def _rate(text: str) -> float:
    r = _parsed(text, float, "number")
    if not (r > 0 and math.isfinite(r)):
        raise argparse.ArgumentTypeError("the rate must be a positive number of passes per second")
    return r


def _scratch(text: str) -> int:
    n = _parsed(text, _int0, "count")
    if not 0 <= n <= 256:
        raise argparse.ArgumentTypeError("--scratchpad takes 0..256")
    return n


def add_panel_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``mmpfast panel``."""
    parser.add_argument("target", metavar="TARGET", help="the controller, HOST or HOST:PORT (port 2001 by default)")
    parser.add_argument("--device", choices=("epic", "snap"), default="epic",
                        help="groov EPIC (default) or SNAP PAC")
    parser.add_argument("--rate", type=_rate, default=10.0, metavar="HZ", help="scan passes per second (default 10)")
    parser.add_argument("--http-host", default="127.0.0.1", metavar="ADDR",
                        help="address the page is served on (default 127.0.0.1; any other is printed with a warning)")
    parser.add_argument("--http-port", type=_port, default=DEFAULT_HTTP_PORT, metavar="PORT",
                        help=f"port of the page (default {DEFAULT_HTTP_PORT}; 0 = any free port)")
    parser.add_argument("--allow-writes", action="store_true",
                        help="let the page toggle and set outputs (read-only without it)")
    parser.add_argument("--modules", default=None, metavar="SPEC",
                        help="the rack layout, as 'mmpfast sim --modules' takes it (e.g. di:32,do:16,ai:8,ao:4); "
                             "without it every slot is scanned and shown both as states and as values")
    parser.add_argument("--scratchpad", type=_scratch, default=0, metavar="N",
                        help="also show scratch-pad int32 and float values 0..N-1 (default 0: none)")
    parser.add_argument("--timeout", type=float, default=1.0, metavar="S",
                        help="seconds the device has to answer one pass (default 1)")


def _warn_host(http_host: str) -> None:
    if not _loopback(http_host):
        print(f"mmpfast panel: warning: serving the page on {http_host!r}, not only this computer: "
              "anyone who can reach it sees the rack" , file=sys.stderr, flush=True)


def run_panel(args: argparse.Namespace) -> int:
    """``mmpfast panel``: serve until interrupted; the page's URL is the first stdout line."""
    try:
        host, port = parse_host(args.target)
        from .model import Layout
        layout = Layout.from_spec(getattr(args, "modules", None), device=args.device,
                                  scratchpad=getattr(args, "scratchpad", 0))
    except (ValueError, TypeError) as exc:
        print(f"mmpfast: error: {exc}", file=sys.stderr)
        return 2
    app = _app()
    timeout = getattr(args, "timeout", 1.0)
    if not (timeout > 0 and math.isfinite(timeout)):
        print("mmpfast: error: --timeout must be a positive number of seconds", file=sys.stderr)
        return 2

    async def main() -> None:
        panel = app.Panel(host, port, layout, rate=args.rate, writable=args.allow_writes, timeout=timeout,
                          http_host=args.http_host)
        stop = asyncio.Event()
        try:    # SIGTERM stops as cleanly as Ctrl-C (where the platform allows it)
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        except (NotImplementedError, RuntimeError, AttributeError):   # pragma: no cover
            pass
        _warn_host(args.http_host)
        url = await panel.start(args.http_host, args.http_port)
        print(url, flush=True)
        mode = "writes allowed" if args.allow_writes else "read-only"
        print(f"mmpfast panel: {host}:{port} at {args.rate:g} Hz, {mode}; Ctrl-C to stop", file=sys.stderr, flush=True)
        try:
            await stop.wait()
        finally:
            await panel.stop()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(f"mmpfast: error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"mmpfast: error: {exc}", file=sys.stderr)
        return 2
    return 0


def start_sim_panel(sim: Any, http_port: int = DEFAULT_HTTP_PORT, *, http_host: str = "127.0.0.1",
                    rate: float = 10.0, scratchpad: int = 8) -> PanelHandle:
    """The panel of a running ``Simulator`` (always writable, with input controls),
    serving from its own thread; returns at once with the page's ``.url``.

    ``scratchpad``: scratch-pad int32 and float values shown (0 = no table).
    """
    app = _app()
    from .model import Layout
    layout = Layout.from_rack(sim.memory.rack, scratchpad=scratchpad)
    host = sim.host
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    title = f"mmpfast sim {sim.memory.profile} {sim.host}:{sim.port}"

    def make() -> Any:
        return app.Panel(host, sim.port, layout, rate=rate, sim=sim, title=title, http_host=http_host)

    _warn_host(http_host)
    runner = app.ThreadedPanel(make, http_host, http_port)
    return PanelHandle(runner.url, runner)

