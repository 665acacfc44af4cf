"""``mmpfast dump``: save a range of device memory, as the device sent it
(big-endian), to a file or stdout, in chunked block reads.

A NAK part way stops the dump: the bytes read before it are written and
the error names the address where it stopped (exit status 5).  Any other
failure writes nothing.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import TextIO

from .. import memmap
from ..errors import MmpError, MmpNakError
from ..protocol import MAX_ADDRESS
from .common import add_connection_options, add_host, command_parser, make_client
from .errors import EXIT_OK, EXIT_OTHER, UsageError, fail, guarded, target_of
from .output import fmt_seconds, print_json
from .parsing import parse_int

__all__ = ["ADDERS"]


def _add_dump(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = command_parser(sub, "dump", "save a range of device memory to a file",
                       "Read LENGTH bytes from START (chunked block reads) and write them, as the "
                       "device sent them (big-endian), to FILE.  A progress bar shows on a "
                       "terminal's stderr.  A NAK stops the dump: what was read before it is "
                       "written, and the error says at which address it stopped.",
                       """examples:
  mmpfast dump 10.0.0.5 0xF0D81000 0x1000 -o scratchpad_ints.bin
  mmpfast dump 10.0.0.5 0xF0300000 0x250 -o - | xxd""")
    add_host(p)
    p.add_argument("start", metavar="START", help="first address (low 32 bits), e.g. 0xF0D81000")
    p.add_argument("length", metavar="LENGTH", help="number of bytes")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="file to write ('-' = stdout)")
    add_connection_options(p, pipeline=True)
    p.set_defaults(func=guarded(_run_dump))


class _Progress:
    """A one-line progress bar on a terminal's stderr (silent elsewhere)."""

    WIDTH = 30

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.stream = stream
        self.enabled = stream.isatty()
        self.t0 = time.monotonic()
        self.last = -1.0

    def update(self, done: int, final: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not final and now - self.last < 0.1:
            return
        self.last = now
        frac = done / self.total if self.total else 1.0
        fill = int(frac * self.WIDTH)
        rate = done / max(now - self.t0, 1e-9) / 1024
        self.stream.write(f"\r[{'#' * fill}{'.' * (self.WIDTH - fill)}] {frac * 100:5.1f}%  "
                          f"{done}/{self.total} bytes  {rate:.1f} KiB/s")
        self.stream.flush()

    def end(self) -> None:
        if self.enabled and self.last >= 0:
            self.stream.write("\n")
            self.stream.flush()


def _save(output: str, data: memoryview) -> None:
    """Write ``data`` to the file ``output`` (``"-"``: stdout's bytes)."""
    if output == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        with open(output, "wb") as fh:
            fh.write(data)


def _run_dump(args: argparse.Namespace) -> int:
    start = parse_int(args.start, "START", 0, MAX_ADDRESS)
    length = parse_int(args.length, "LENGTH", 1, 1 << 32)
    if start + length - 1 > MAX_ADDRESS:
        raise UsageError(f"0x{start:08X} + {length} runs past the end of the address space")
    if args.output != "-":
        folder = os.path.dirname(os.path.abspath(args.output))
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            print(f"mmpfast: error: cannot write {args.output}: no writable folder {folder}",
                  file=sys.stderr)
            return EXIT_OTHER
    where = "stdout" if args.output == "-" else args.output
    buf = bytearray(length)
    view = memoryview(buf)
    progress = _Progress(length, sys.stderr)
    t0 = time.monotonic()
    with make_client(args) as c:
        step = args.pipeline * c.max_block     # one call fills the pipeline; a NAK loses one call
        done = 0
        try:
            while done < length:
                n = min(step, length - done)
                c.read_into(start + done, view[done:done + n])
                done += n
                progress.update(done, final=done == length)
        except MmpError as exc:
            progress.end()
            if not isinstance(exc, MmpNakError):
                view.release()
                return fail(exc, f" (after {done} of {length} bytes; nothing written)", target_of(args))
            hint = ""
            area = memmap.find_area(start, 1)
            if area is not None and start + length - 1 > area.last:
                hint = f"; the {area.name} area ends at 0x{area.last:08X}"
            saved = "nothing written"
            try:
                if done:
                    _save(args.output, view[:done])
                    saved = f"the {done} bytes before it written to {where}"
            except OSError as oerr:
                saved = f"cannot write {args.output}: {oerr.strerror or oerr}"
            finally:
                view.release()
            return fail(exc, f" (dump stopped at 0x{start + done:08X} after {done} of {length} "
                             f"bytes; {saved}{hint})")
    progress.end()
    seconds = time.monotonic() - t0
    try:
        _save(args.output, view)
    except OSError as exc:
        print(f"mmpfast: error: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_OTHER
    finally:
        view.release()
    report: TextIO = sys.stderr if args.output == "-" else sys.stdout
    if args.json:
        print_json({"address": start, "length": length, "file": args.output, "seconds": seconds},
                   report)
    else:
        print(f"{length} bytes from 0x{start:08X} written to {where} in {fmt_seconds(seconds)}",
              file=report, flush=True)
    return EXIT_OK


#: the adders of this module
ADDERS = [_add_dump]
