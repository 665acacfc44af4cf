"""The request handler: one request frame in, one response frame out.

This is the one place that decides every rcode and every NAK frame:

* ``decide`` runs the checks in the device's order - length (6), address
  high bits (5), power-up clear (4), area and area rules (5) - for wire
  requests and for ``Memory.read``/``write`` alike (the direct calls skip
  the two per-request wire rules: PUC and ``max_block``);
* ``respond`` answers a whole frame; an undefined or response tcode is
  rcode 1 (and the connection is closed);
* ``respond_bad_length`` answers a datagram whose size is not its frame's
  size with rcode 6;
* ``_nak`` counts the NAK, stores the last error record and builds the NAK
  frame for the request's tcode (``nak_frame``).

Area rules come from the regions' ``check_read``/``check_write`` hooks
(``False`` = refused); the hooks never choose an rcode.
"""
from __future__ import annotations

import logging
import threading
from typing import Dict, Optional, Tuple, Union

from .. import codec
from ..protocol import (
    ADDRESS_HIGH,
    MIN_PEEK,
    OFF_ADDRESS,
    OFF_SOURCE_ID,
    QUADLET,
    RCODE_INVALID_ADDRESS,
    RCODE_INVALID_LENGTH,
    RCODE_POWERUP_CLEAR_EXPECTED,
    RCODE_UNDEFINED_COMMAND,
    REQUEST_TCODES,
    TCODE_READ_BLOCK,
    TCODE_READ_QUADLET,
    TCODE_WRITE_BLOCK,
    TCODE_WRITE_QUADLET,
    source_id_of,
    tcode_of,
    tl_of,
)
from .regions import Region, Regions
from .status import StatusRoom
from .streaming import StreamRoom

__all__ = ["Handler", "Stats", "nak_frame"]

_frames_log = logging.getLogger("mmpfast.frames")

Bytes = Union[bytes, bytearray, memoryview]


class Stats:
    """Counters of what the simulator served (read them; the server updates them).

    ``frames_in`` requests received (malformed ones included), ``frames_out``
    responses sent, ``naks`` responses with a non-zero rcode, ``connections``
    TCP connections accepted, ``by_tcode`` requests per tcode,
    ``stream_packets`` stream datagrams sent.  UDP (also counted in the
    above): ``datagrams`` received, ``datagrams_out`` answered,
    ``datagrams_dropped`` received and never answered (shorter than 4 bytes,
    or the endpoint could not buffer or send).
    """

    __slots__ = ("frames_in", "frames_out", "naks", "connections", "by_tcode", "stream_packets",
                 "datagrams", "datagrams_out", "datagrams_dropped")

    def __init__(self) -> None:
        self.frames_in = 0
        self.frames_out = 0
        self.naks = 0
        self.connections = 0
        self.by_tcode: Dict[int, int] = {}
        self.stream_packets = 0
        self.datagrams = 0
        self.datagrams_out = 0
        self.datagrams_dropped = 0

    def as_dict(self) -> Dict[str, object]:
        """A snapshot as a plain dict."""
        return {k: (dict(getattr(self, k)) if k == "by_tcode" else getattr(self, k))
                for k in self.__slots__}

    def __repr__(self) -> str:
        return f"Stats({self.as_dict()})"


def nak_frame(tcode: int, tl: int, rcode: int, source_id: int) -> bytes:
    """The NAK answer to a request of ``tcode``: a bare 16-byte tcode-7 header
    (``data_length`` 0) for a read block, a 16-byte tcode-6 frame with zero
    data for a read quadlet, a 12-byte tcode-2 frame for anything else
    (writes, undefined and response tcodes) [INF]."""
    if tcode == TCODE_READ_BLOCK:
        return codec.encode_read_block_response(tl, b"", rcode, source_id)
    if tcode == TCODE_READ_QUADLET:
        return codec.encode_read_quadlet_response(tl, b"", rcode, source_id)
    return codec.encode_write_response(tl, rcode, source_id)


def _peek(frame: Bytes) -> Tuple[int, int, int, int]:
    """``(tcode, tl, source_id, address)`` of a possibly incomplete request
    (at least ``MIN_PEEK`` bytes); fields beyond its end read as 0."""
    n = len(frame)
    sid = source_id_of(frame) if n >= OFF_SOURCE_ID + 2 else 0
    address = int.from_bytes(frame[OFF_ADDRESS:OFF_ADDRESS + 4], "big") if n >= OFF_ADDRESS + 4 else 0
    return tcode_of(frame), tl_of(frame), sid, address


class Handler:
    """Validates and applies requests against the regions (one lock for all)."""

    def __init__(self, regions: Regions, status: StatusRoom, stream: StreamRoom,
                 lock: threading.Lock, max_block: int, stats: Stats) -> None:
        self.regions, self.status, self.stream = regions, status, stream
        self.lock, self.max_block, self.stats = lock, max_block, stats

    # ---------------------------------------------------------------- the decision
    def decide(self, write: bool, address: int, length: int, data: Optional[memoryview], *,
               high: int = ADDRESS_HIGH, wire: bool = True) -> Tuple[int, Optional[Region]]:
        """The rcode of a request (0 = accept, with the region that takes it).
        Call with the lock held."""
        if length == 0 or (wire and length > self.max_block):
            return RCODE_INVALID_LENGTH, None
        if high != ADDRESS_HIGH:
            return RCODE_INVALID_ADDRESS, None
        if wire and self.status.puc_needed and self.status.puc_blocks(write, address, data):
            return RCODE_POWERUP_CLEAR_EXPECTED, None
        region = self.regions.locate(address, length)
        if region is None:
            return RCODE_INVALID_ADDRESS, None
        if write:
            assert data is not None
            if not region.writable or (region.check_write is not None
                                       and not region.check_write(address, data)):
                return RCODE_INVALID_ADDRESS, None
        elif region.check_read is not None and not region.check_read(address, length):
            return RCODE_INVALID_ADDRESS, None
        return 0, region

    # ---------------------------------------------------------------- applying
    @staticmethod
    def write_region(region: Region, address: int, data: memoryview) -> None:
        """Store and apply a write (lock held, request accepted)."""
        region.store(address, data)
        if region.post_write is not None:
            region.post_write(address, len(data))

    def access(self, write: bool, address: int, length: int, data: Optional[memoryview], *,
               high: int = ADDRESS_HIGH, wire: bool = True) -> Tuple[int, bytes, bool]:
        """Decide and apply one request: ``(rcode, data read, stream config written)``."""
        with self.lock:
            rc, region = self.decide(write, address, length, data, high=high, wire=wire)
            if rc:
                return rc, b"", False
            assert region is not None
            if write:
                assert data is not None
                self.write_region(region, address, data)
                return 0, b"", self.stream.take_notify()
            return 0, region.read_hooked(address, length), False

    # ---------------------------------------------------------------- the wire
    def _nak(self, tcode: int, tl: int, sid: int, address: int, rcode: int) -> bytes:
        self.stats.naks += 1
        with self.lock:
            self.status.record_error(rcode, tl, sid, address)
        return nak_frame(tcode, tl, rcode, sid)

    def _count(self, tcode: int) -> None:
        st = self.stats
        st.frames_in += 1
        st.by_tcode[tcode] = st.by_tcode.get(tcode, 0) + 1

    def respond(self, frame: Bytes) -> Tuple[bytes, bool]:
        """The response to one whole request frame, and whether to close the connection.

        ``frame`` must hold exactly one frame whose first 4 bytes are present
        (a frame with an undefined or response tcode may be incomplete).
        Both frames are hex-dumped to the ``mmpfast.frames`` logger at DEBUG.
        """
        resp, close = self._respond(frame)
        if _frames_log.isEnabledFor(logging.DEBUG):
            _frames_log.debug("sim received %s; answered %s%s", bytes(frame).hex(" "), resp.hex(" "),
                              " and closed" if close else "")
        return resp, close

    def _respond(self, frame: Bytes) -> Tuple[bytes, bool]:
        tcode = tcode_of(frame)
        self._count(tcode)
        if tcode not in REQUEST_TCODES:
            _, tl, sid, _ = _peek(frame)
            return self._nak(tcode, tl, sid, 0, RCODE_UNDEFINED_COMMAND), True
        f = codec.decode_frame(frame)
        tl = f.tl
        sid = f.source_id
        address: int = f.address  # type: ignore[assignment]  # requests always carry one
        high: int = f.address_high  # type: ignore[assignment]
        write = tcode == TCODE_WRITE_BLOCK or tcode == TCODE_WRITE_QUADLET
        length = QUADLET if tcode in (TCODE_READ_QUADLET, TCODE_WRITE_QUADLET) else f.data_length
        rc, out, notify = self.access(write, address, length, f.data if write else None,
                                      high=high)
        if notify:
            self.stream.fire()
        if rc:
            return self._nak(tcode, tl, sid, address, rc), False
        if write:
            return codec.encode_write_response(tl, 0, sid), False
        if tcode == TCODE_READ_BLOCK:
            return codec.encode_read_block_response(tl, out, 0, sid), False
        return codec.encode_read_quadlet_response(tl, out, 0, sid), False

    def respond_bad_length(self, frame: Bytes) -> bytes:
        """The rcode-6 NAK for a datagram whose length is not its frame's length
        (``frame`` holds at least 4 bytes of a request tcode)."""
        assert len(frame) >= MIN_PEEK
        tcode, tl, sid, address = _peek(frame)
        self._count(tcode)
        return self._nak(tcode, tl, sid, address, RCODE_INVALID_LENGTH)
