"""Former home of the ``mmpfast`` commands, kept so that code importing from it
keeps working; the commands now live in the ``mmpfast.cli`` package (see its
docstring).  New code imports from ``mmpfast.cli.errors``, ``.parsing`` and
``.output``."""
from __future__ import annotations

import shutil  # noqa: F401 - patched through this name by older code

from .cli import DEVICE_COMMANDS as ADDERS
from .cli.errors import (EXIT_CODES_TEXT, EXIT_CONNECTION, EXIT_INTERRUPTED, EXIT_NAK, EXIT_OK,
                         EXIT_OTHER, EXIT_PROTOCOL, EXIT_TIMEOUT, EXIT_USAGE, CliParser, UsageError,
                         exit_code_for)
from .cli.output import f32_value, fmt_f32, fmt_seconds, fmt_uptime, print_json
from .cli.parsing import parse_float, parse_host, parse_int, parse_module_spec, parse_state
from .cli.scan import Screen as _Screen

__all__ = [
    "EXIT_OK", "EXIT_OTHER", "EXIT_USAGE", "EXIT_CONNECTION", "EXIT_TIMEOUT", "EXIT_NAK",
    "EXIT_PROTOCOL", "EXIT_INTERRUPTED", "EXIT_CODES_TEXT", "CliParser", "UsageError",
    "exit_code_for", "parse_int", "parse_float", "parse_state", "parse_host", "parse_module_spec",
    "fmt_f32", "f32_value", "fmt_seconds", "fmt_uptime", "print_json", "ADDERS", "_Screen",
]
