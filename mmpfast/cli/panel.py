"""``mmpfast panel TARGET``: the web panel of a controller, and the panel of
``mmpfast sim --panel``.

The panel lives in ``mmpfast.panel`` and needs aiohttp (the ``panel``
extra); it is imported only when a panel command runs (or its arguments are
declared), so the rest of the command line never needs it.  When
``mmpfast.panel.cli`` cannot be imported, the ``panel`` command still
declares its arguments (below, as the panel defines them) so that
``mmpfast panel --help`` works, and running it says what to install (exit 1).
"""
from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType
from typing import Optional

from .common import command_parser
from .errors import EXIT_OTHER, guarded

__all__ = ["ADDERS", "PANEL_MISSING", "load_panel", "DEFAULT_HTTP_PORT"]

#: what a panel command says when the panel cannot be imported
PANEL_MISSING = 'the panel needs aiohttp: pip install "mmpfast[panel]"'
#: the panel's HTTP port when none is given
DEFAULT_HTTP_PORT = 8765


def load_panel() -> Optional[ModuleType]:
    """``mmpfast.panel.cli``, or ``None`` when it cannot be imported."""
    try:
        return importlib.import_module("mmpfast.panel.cli")
    except ImportError:
        return None


def _declare_arguments(p: argparse.ArgumentParser) -> None:
    """The panel's arguments when ``mmpfast.panel.cli`` is not importable (same names,
    defaults and meaning as its ``add_panel_arguments``)."""
    p.add_argument("target", metavar="TARGET", help="controller address, HOST[:PORT]")
    p.add_argument("--device", choices=("epic", "snap"), default="epic",
                   help="kind of controller (default epic)")
    p.add_argument("--rate", type=float, default=10.0, metavar="HZ",
                   help="scans per second (default 10)")
    p.add_argument("--http-host", default="127.0.0.1",
                   help="address the web page is served on (default 127.0.0.1)")
    p.add_argument("--http-port", type=int, default=DEFAULT_HTTP_PORT,
                   help=f"port the web page is served on (default {DEFAULT_HTTP_PORT})")
    p.add_argument("--allow-writes", action="store_true",
                   help="let the page switch outputs and set values (default: read only)")


def _add_panel(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = command_parser(sub, "panel", "a web page of a controller's points (needs aiohttp)",
                       "Serve a web page showing a controller's modules and points, scanned at "
                       "--rate, until Ctrl-C.  The first line printed is the page's URL.",
                       """examples:
  mmpfast panel 10.0.0.5
  mmpfast panel 127.0.0.1:2001 --http-port 8080 --allow-writes
  mmpfast sim --panel                            a simulator with its panel

needs the panel extra: pip install "mmpfast[panel]\"""")
    module = load_panel()
    add = getattr(module, "add_panel_arguments", None) or _declare_arguments
    add(p)
    p.set_defaults(func=guarded(_run_panel))


def _run_panel(args: argparse.Namespace) -> int:
    module = load_panel()
    if module is None:
        print(f"mmpfast panel: {PANEL_MISSING}", file=sys.stderr)
        return EXIT_OTHER
    try:
        return int(module.run_panel(args))
    except module.PanelUnavailable as exc:
        print(f"mmpfast panel: {exc}", file=sys.stderr)
        return EXIT_OTHER


#: the adders of this module
ADDERS = [_add_panel]
