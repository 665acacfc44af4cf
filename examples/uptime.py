"""Milliseconds since the controller powered up.

    python examples/uptime.py [HOST] [PORT]        (default 127.0.0.1 2001)

Try it against the simulator: start `mmpfast sim` in another terminal first.
"""
import argparse
import sys

import mmpfast


def main(argv=None):
    parser = argparse.ArgumentParser(description="Print a controller's uptime (ms since power-up).",
                                     epilog="Start `mmpfast sim` first to try it without hardware.")
    parser.add_argument("host", nargs="?", default="127.0.0.1", help="controller address (default 127.0.0.1)")
    parser.add_argument("port", nargs="?", type=int, default=2001, help="OptoMMP TCP port (default 2001)")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per request (default 2)")
    args = parser.parse_args(argv)
    try:
        with mmpfast.Client(args.host, args.port, timeout=args.timeout) as c:
            print(f"uptime: {c.uptime_ms()} ms")
    except (mmpfast.MmpError, ValueError, TypeError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
