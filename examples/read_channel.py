"""Read one digital channel of a groov EPIC.

    python examples/read_channel.py [HOST] [PORT] [MODULE] [CHANNEL]   (default 127.0.0.1 2001 1 8)

Try it against the simulator: start `mmpfast sim` in another terminal first.
"""
import argparse
import sys

import mmpfast


def main(argv=None):
    parser = argparse.ArgumentParser(description="Print whether one digital channel is on or off.",
                                     epilog="Start `mmpfast sim` first to try it without hardware.")
    parser.add_argument("host", nargs="?", default="127.0.0.1", help="controller address (default 127.0.0.1)")
    parser.add_argument("port", nargs="?", type=int, default=2001, help="OptoMMP TCP port (default 2001)")
    parser.add_argument("module", nargs="?", type=int, default=1, help="module 0..15 (default 1)")
    parser.add_argument("channel", nargs="?", type=int, default=8, help="channel 0..63 (default 8)")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per request (default 2)")
    args = parser.parse_args(argv)
    try:
        with mmpfast.Client(args.host, args.port, timeout=args.timeout) as c:
            state = c.read_digital(args.module, args.channel)
    except (mmpfast.MmpError, ValueError, TypeError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    print(f"module {args.module} channel {args.channel}: {'on' if state else 'off'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
