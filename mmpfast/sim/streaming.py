"""The stream (docs/protocol.md §2.4): its configuration area and its packet.

The streaming read area 0xF1000000 is kept by ``Mirrors`` (legacy point
p = 4*module + channel).  This room decodes the configuration area
0xF03FFFC0, builds the 604-byte standard packet from the read area, and
tells listeners (the server's stream sender) when the configuration was
written.  Custom streams and I/O mirroring are not simulated: the
standard packet is sent whatever start/size say [INF].
"""
from __future__ import annotations

from typing import Callable, List, NamedTuple, Tuple

from .. import memmap
from .regions import U16, Regions

__all__ = ["StreamConfig", "StreamRoom"]


class StreamConfig(NamedTuple):
    """The stream configuration area decoded (docs/protocol.md §2.4); ``targets`` are dotted IPs."""

    enabled: bool
    interval_ms: int
    port: int
    targets: Tuple[str, ...]
    start: int
    size: int


class StreamRoom:
    """Stream configuration, standard packet and configuration listeners."""

    def __init__(self, regions: Regions) -> None:
        self._cfg = regions.at(memmap.STREAM_CONFIG_BASE)
        self._area = regions.at(memmap.STREAM_READ_AREA)
        self._cfg.post_write = self._written
        self._listeners: List[Callable[[], None]] = []
        self._notify = False

    # listeners (called by Memory outside its lock) -----------------------------
    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after each write to the configuration area."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[], None]) -> None:
        """Undo ``add_listener`` (no error when absent)."""
        try:
            self._listeners.remove(callback)
        except ValueError:
            pass

    def _written(self, address: int, length: int) -> None:
        self._notify = True

    def take_notify(self) -> bool:
        """True once after each configuration write (call with the lock held)."""
        n = self._notify
        self._notify = False
        return n

    def fire(self) -> None:
        """Call every listener (call without the lock)."""
        for cb in list(self._listeners):
            cb()

    # the area and the packet (call with the lock held) ------------------------
    def config(self) -> StreamConfig:
        """The configuration area, decoded."""
        r = self._cfg
        targets = []
        for k in range(memmap.STREAM_MAX_TARGETS):
            ip = r.read(memmap.STREAM_TARGETS + 4 * k, 4)
            if any(ip):
                targets.append(memmap.format_ip(ip))
        return StreamConfig(r.u32(memmap.STREAM_ENABLE) != 0, r.u32(memmap.STREAM_INTERVAL_MS),
                            r.u32(memmap.STREAM_PORT) & 0xFFFF, tuple(targets),
                            r.u32(memmap.STREAM_START), r.u32(memmap.STREAM_SIZE))

    def packet(self) -> bytes:
        """The 604-byte standard stream packet of the current I/O."""
        area = self._area.read(memmap.STREAM_READ_AREA, memmap.STREAM_READ_AREA_LENGTH)
        tail = memmap.STREAM_PACKET_LENGTH - memmap.STREAM_HEADER_LENGTH - len(area)
        return (U16.pack(memmap.STREAM_PACKET_LENGTH)
                + bytes((memmap.STREAM_HEADER_BYTE2, memmap.STREAM_HEADER_BYTE3))
                + area + bytes(tail))

