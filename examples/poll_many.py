"""Poll several controllers at once with asyncio.

    python examples/poll_many.py [HOST:PORT ...] [--rounds N]
    (default one controller at 127.0.0.1:2001, 5 rounds)

Each controller gets its own AsyncClient; one round reads every controller's
uptime and the first digital channel concurrently, then waits a second.
A controller that fails is reported and polled again next round; the exit
status is 1 when no controller ever answered.

Try it against the simulator: start `mmpfast sim` in another terminal first.
"""
import argparse
import asyncio
import sys

import mmpfast


def target(text):
    """HOST or HOST:PORT -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, 2001
    try:
        number = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad port in {text!r}") from None
    if not host or not 1 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"bad controller {text!r} (use HOST:PORT)")
    return host, number


async def poll_one(client):
    """(answered, text) of one controller in one round."""
    try:
        uptime = await client.uptime_ms()
        state = await client.read_digital(0, 0)
        return True, f"uptime {uptime} ms, module 0 channel 0 {'on' if state else 'off'}"
    except mmpfast.MmpError as exc:
        return False, f"error: {exc}"


async def poll(targets, rounds, timeout):
    """Poll ``rounds`` times; returns how many answers came in all."""
    clients = [mmpfast.AsyncClient(h, p, timeout=timeout) for h, p in targets]
    answers = 0
    try:
        for n in range(rounds):
            results = await asyncio.gather(*(poll_one(c) for c in clients))
            for (host, port), (ok, text) in zip(targets, results):
                answers += ok
                print(f"[{n}] {host}:{port} {text}", flush=True)
            if n + 1 < rounds:
                await asyncio.sleep(1.0)
    finally:
        for c in clients:
            await c.close()
    return answers


def main(argv=None):
    parser = argparse.ArgumentParser(description="Poll several controllers at once with asyncio.",
                                     epilog="Start `mmpfast sim` first to try it without hardware.")
    parser.add_argument("targets", nargs="*", type=target, metavar="HOST:PORT",
                        help="controllers (default 127.0.0.1:2001)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of polling (default 5)")
    parser.add_argument("--timeout", type=float, default=1.0, help="seconds per request (default 1)")
    args = parser.parse_args(argv)
    try:
        answers = asyncio.run(poll(args.targets or [("127.0.0.1", 2001)], args.rounds, args.timeout))
    except (mmpfast.MmpError, ValueError, TypeError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    if args.rounds > 0 and not answers:
        print(f"{parser.prog}: error: no controller answered", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
