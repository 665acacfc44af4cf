"""Type stub of the compiled ``mmpfast._wire`` (same API as ``mmpfast._wire_py``)."""
import socket
from typing import Any

__all__ = ["ARM_MARGIN", "IMPLEMENTATION", "exchange_read", "exchange_write", "exchange_window"]

ARM_MARGIN: float
IMPLEMENTATION: str

def exchange_read(sock: socket.socket, tl: int, address: int, length: int, dest: Any, offset: int,
                  rbuf: bytearray, deadline: float, armed: float = ...) -> float: ...
def exchange_write(sock: socket.socket, tl: int, address: int, data: Any, rbuf: bytearray,
                   deadline: float, armed: float = ...) -> float: ...
def exchange_window(sock: socket.socket, tl: int, ranges: Any, offsets: Any, lengths: Any, dest: Any,
                    rbuf: bytearray, deadline: float, armed: float = ...) -> float: ...
