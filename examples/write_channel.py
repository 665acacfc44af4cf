"""Turn one digital output of a groov EPIC on or off.

    python examples/write_channel.py [HOST] [PORT] [MODULE] [CHANNEL] [0|1]
    (default 127.0.0.1 2001 1 8 1)

Try it against the simulator: start `mmpfast sim` in another terminal first
(module 1 of its default rack is a digital output module).
"""
import argparse
import sys

import mmpfast


def state(text):
    """on/1/true -> True, off/0/false -> False."""
    word = text.lower()
    if word in ("1", "on", "true"):
        return True
    if word in ("0", "off", "false"):
        return False
    raise argparse.ArgumentTypeError(f"state must be 0 or 1 (on/off), not {text!r}")


def main(argv=None):
    parser = argparse.ArgumentParser(description="Turn one digital output on or off.",
                                     epilog="Start `mmpfast sim` first to try it without hardware.")
    parser.add_argument("host", nargs="?", default="127.0.0.1", help="controller address (default 127.0.0.1)")
    parser.add_argument("port", nargs="?", type=int, default=2001, help="OptoMMP TCP port (default 2001)")
    parser.add_argument("module", nargs="?", type=int, default=1, help="module 0..15 (default 1)")
    parser.add_argument("channel", nargs="?", type=int, default=8, help="channel 0..63 (default 8)")
    parser.add_argument("state", nargs="?", type=state, default=True, help="0/off or 1/on (default 1)")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per request (default 2)")
    args = parser.parse_args(argv)
    try:
        with mmpfast.Client(args.host, args.port, timeout=args.timeout) as c:
            c.write_digital(args.module, args.channel, args.state)
    except mmpfast.MmpNakError as exc:
        print(f"{parser.prog}: write refused: device error 0x{exc.error_code:04X}", file=sys.stderr)
        return 1
    except (mmpfast.MmpError, ValueError, TypeError) as exc:
        # WriteOutcomeUnknown included: sent, never acknowledged, so it may have happened
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    print(f"module {args.module} channel {args.channel} set {'on' if args.state else 'off'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
