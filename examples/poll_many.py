"""Poll several controllers at once with asyncio.

    python examples/poll_many.py [host:port ...] [--rounds N]
    (default one controller at 127.0.0.1:2001, 5 rounds)

Each controller gets its own AsyncClient; one round reads every controller's
uptime and the first digital channel concurrently, then waits a second.
A controller that fails is reported and polled again next round.
"""
import asyncio
import sys

import mmpfast


def parse(argv):
    rounds = 5
    if "--rounds" in argv:
        i = argv.index("--rounds")
        rounds = int(argv[i + 1])
        argv = argv[:i] + argv[i + 2:]
    targets = []
    for item in argv or ["127.0.0.1:2001"]:
        host, _, port = item.rpartition(":") if ":" in item else (item, "", "2001")
        targets.append((host, int(port)))
    return targets, rounds


async def poll_one(client):
    try:
        uptime = await client.uptime_ms()
        state = await client.read_digital(0, 0)
        return f"uptime {uptime} ms, module 0 channel 0 {'on' if state else 'off'}"
    except mmpfast.MmpError as exc:
        return f"error: {exc}"


async def main(targets, rounds):
    clients = [mmpfast.AsyncClient(h, p, timeout=1.0) for h, p in targets]
    try:
        for n in range(rounds):
            results = await asyncio.gather(*(poll_one(c) for c in clients))
            for (host, port), text in zip(targets, results):
                print(f"[{n}] {host}:{port} {text}")
            if n + 1 < rounds:
                await asyncio.sleep(1.0)
    finally:
        for c in clients:
            await c.close()


if __name__ == "__main__":
    asyncio.run(main(*parse(sys.argv[1:])))
