"""Read one digital channel of a groov EPIC.

    python examples/read_channel.py [host] [port] [module] [channel]   (default 127.0.0.1 2001 1 8)
"""
import sys

import mmpfast

host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
port = int(sys.argv[2]) if len(sys.argv) > 2 else 2001
module = int(sys.argv[3]) if len(sys.argv) > 3 else 1
channel = int(sys.argv[4]) if len(sys.argv) > 4 else 8

with mmpfast.Client(host, port) as c:
    state = c.read_digital(module, channel)
    print(f"module {module} channel {channel}: {'on' if state else 'off'}")
