"""Milliseconds since the controller powered up.

    python examples/uptime.py [host] [port]        (default 127.0.0.1 2001)
"""
import sys

import mmpfast

host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
port = int(sys.argv[2]) if len(sys.argv) > 2 else 2001

with mmpfast.Client(host, port) as c:
    print(f"uptime: {c.uptime_ms()} ms")
