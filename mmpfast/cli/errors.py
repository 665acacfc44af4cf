"""Exit-code policy of the ``mmpfast`` command line: every failure becomes
one line on stderr, ``mmpfast: error: ...``, and an exit status:

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

A ``WriteOutcomeUnknown`` takes the status of what lost the acknowledgement
(its ``__cause__`` chain): a garbled answer 6, a timeout 4, a dropped
connection 3.
"""
from __future__ import annotations

import argparse
import functools
import logging
import sys
from typing import Callable, NoReturn, Optional

from ..errors import MmpNakError, MmpProtocolError, WriteOutcomeUnknown

__all__ = [
    "EXIT_OK", "EXIT_OTHER", "EXIT_USAGE", "EXIT_CONNECTION", "EXIT_TIMEOUT", "EXIT_NAK",
    "EXIT_PROTOCOL", "EXIT_INTERRUPTED", "EXIT_CODES_TEXT", "CliParser", "UsageError",
    "exit_code_for", "error_text", "fail", "guarded", "setup_logging",
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

EXIT_CODES_TEXT = """\
exit status:
  0 ok   1 other failure   2 usage (bad arguments)   3 connection refused/lost
  4 timeout   5 device NAK   6 protocol error   130 interrupted"""

#: what a protocol error adds: the answer may not come from an OptoMMP server at all
NOT_OPTOMMP_HINT = "not an OptoMMP device?"


class UsageError(ValueError):
    """A command-line argument that cannot be used (exit status 2)."""


class CliParser(argparse.ArgumentParser):
    """``ArgumentParser`` whose errors are one line: ``mmpfast: error: ...`` (exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"mmpfast: error: {message} (see '{self.prog} --help')\n")


def _lost_write_code(exc: WriteOutcomeUnknown) -> int:
    """Exit status of a write whose acknowledgement was lost: that of the first
    protocol, timeout or connection error on its ``__cause__`` chain (3 when none)."""
    seen = set()
    cause: Optional[BaseException] = exc.__cause__
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, MmpProtocolError):
            return EXIT_PROTOCOL
        if isinstance(cause, TimeoutError):         # before OSError: TimeoutError is one
            return EXIT_TIMEOUT
        if isinstance(cause, (ConnectionError, OSError)):
            return EXIT_CONNECTION
        cause = cause.__cause__
    return EXIT_CONNECTION


def exit_code_for(exc: BaseException) -> int:
    """The exit status of a failure (see the module docstring)."""
    if isinstance(exc, WriteOutcomeUnknown):
        return _lost_write_code(exc)
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


def error_text(exc: BaseException, target: Optional[str] = None) -> str:
    """The message of a failure; a protocol error names ``target`` ("host:port")
    when its text does not already, and asks whether the peer speaks OptoMMP at all."""
    text = str(exc) or type(exc).__name__
    if exit_code_for(exc) == EXIT_PROTOCOL:
        if target and not text.startswith(f"{target}:"):
            text = f"{target}: {text}"
        text = f"{text} ({NOT_OPTOMMP_HINT})"
    return text


def fail(exc: BaseException, suffix: str = "", target: Optional[str] = None) -> int:
    """Print ``exc`` as one ``mmpfast: error:`` line and return its exit status."""
    print(f"mmpfast: error: {error_text(exc, target)}{suffix}", file=sys.stderr, flush=True)
    return exit_code_for(exc)


def target_of(args: argparse.Namespace) -> Optional[str]:
    """``"host:port"`` of a device command's arguments, ``None`` when there is none
    (or it cannot be parsed: that failure is reported on its own)."""
    host = getattr(args, "host", None)
    if not isinstance(host, str):
        return None
    from .parsing import parse_host
    try:
        h, p = parse_host(host, getattr(args, "port", None))
    except ValueError:
        return None
    return f"{h}:{p}"


def guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Run a command; any failure becomes one stderr line and an exit status."""

    @functools.wraps(run)
    def wrapper(args: argparse.Namespace) -> int:
        setup_logging(getattr(args, "verbose", 0))
        try:
            return run(args)
        except KeyboardInterrupt:
            print("mmpfast: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        except Exception as exc:  # noqa: BLE001 - the one place that reports failures
            log.debug("command failed", exc_info=True)
            return fail(exc, target=target_of(args))
    return wrapper


def setup_logging(verbose: int) -> None:
    """Log to stderr at INFO (``-v``) or DEBUG (``-vv``); nothing without ``-v``."""
    if verbose:
        logging.basicConfig(level=logging.DEBUG if verbose > 1 else logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")
