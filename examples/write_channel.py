"""Turn one digital output of a groov EPIC on or off.

    python examples/write_channel.py [host] [port] [module] [channel] [0|1]
    (default 127.0.0.1 2001 1 8 1)
"""
import sys

import mmpfast

host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
port = int(sys.argv[2]) if len(sys.argv) > 2 else 2001
module = int(sys.argv[3]) if len(sys.argv) > 3 else 1
channel = int(sys.argv[4]) if len(sys.argv) > 4 else 8
state = (sys.argv[5] if len(sys.argv) > 5 else "1") not in ("0", "off", "false")

with mmpfast.Client(host, port) as c:
    try:
        c.write_digital(module, channel, state)
    except mmpfast.MmpNakError as exc:
        sys.exit(f"write refused: device error 0x{exc.error_code:04X}")
    print(f"module {module} channel {channel} set {'on' if state else 'off'}")
