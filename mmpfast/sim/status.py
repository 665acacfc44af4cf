"""The status areas: identity, uptime, power-up clear, last error, operations.

* Status read area (0xF0300000, read-only): memory-map revision, PUC flag,
  last error record, firmware version, unit type, MAC, IP, part number,
  firmware date/time, serial, uptime (uint32 and uint64 ms) refreshed on
  each read; date and time (0xF0350000) is the host's local time.
* Status write area (0xF0380000): whole aligned quadlets only (the area
  rule ``check_write``); operation code 1 = power-up clear, 2 = reset to
  defaults, others stored with no effect [INF].

The PUC rule itself (which requests it blocks) is ``puc_blocks``; the
request handler decides the rcode.
"""
from __future__ import annotations

import struct
import time
from typing import Callable, Dict, Optional

from .. import memmap
from ..protocol import QUADLET, error_code
from .regions import U32, U64, Regions

__all__ = ["PROFILES", "StatusRoom"]

_ERROR_RECORD = struct.Struct(">iHHI")      # code, tl, source_ID, address

#: per-profile identity of the simulated unit (firmware bytes: major, minor, release type, revision)
PROFILES: Dict[str, Dict[str, object]] = {
    "epic": {"part_number": "GRV-EPIC-PR1", "firmware": bytes((3, 4, 2, 0)), "unit_type": 0,
             "puc_required": False, "serial": 0x00A03D01},
    "snap": {"part_number": "SNAP-PAC-R1", "firmware": bytes((9, 5, 2, 2)), "unit_type": 0x7A,
             "puc_required": True, "serial": 0x00A03D02},
}


def _ip_bytes(text: str) -> bytes:
    try:
        parts = [int(p) for p in text.split(".")]
        if len(parts) == 4 and all(0 <= p <= 255 for p in parts):
            return bytes(parts)
    except ValueError:
        pass
    return bytes((127, 0, 0, 1))


class StatusRoom:
    """Status read/write areas, date and time, the PUC flag and the error record."""

    def __init__(self, regions: Regions, profile: str, *, puc_required: bool, ip: str,
                 clock: Callable[[], float], wall_clock: Callable[[], float],
                 reset_io: Callable[[], None]) -> None:
        self._identity = PROFILES[profile]
        self.puc_required = puc_required
        self.puc_needed = puc_required
        self._clock = clock
        self._wall = wall_clock
        self._t0 = clock()
        self._reset_io = reset_io
        self._st = regions.at(memmap.STATUS_READ_BASE)
        self._sw = regions.at(memmap.STATUS_WRITE_BASE)
        self._dt = regions.at(memmap.DATE_TIME)
        self._st.pre_read = self._refresh_status
        self._dt.pre_read = self._refresh_date_time
        self._sw.check_write = self._check_write
        self._sw.post_write = self._apply_write
        self._init(regions, ip)

    def _init(self, regions: Regions, ip: str) -> None:
        ident = self._identity
        st = self._st

        def put(address: int, data: bytes) -> None:
            st.store(address, memoryview(data))

        firmware = bytes(ident["firmware"])  # type: ignore[call-overload]
        put(memmap.STATUS_MEMMAP_REVISION, U32.pack(1))
        put(memmap.STATUS_FIRMWARE_VERSION, firmware)
        put(memmap.STATUS_FIRMWARE_VERSION_2, firmware)
        put(memmap.STATUS_LOADER_VERSION, firmware)
        put(memmap.STATUS_UNIT_TYPE, U32.pack(ident["unit_type"]))
        put(memmap.STATUS_RAM, U32.pack(1 << 30))
        put(memmap.STATUS_MAC_ETH0, bytes((0x00, 0xA0, 0x3D, 0x0A, 0x0D, 0xFE)))
        put(memmap.STATUS_IP_ETH0, _ip_bytes(ip))
        put(memmap.STATUS_SUBNET_ETH0, bytes((255, 0, 0, 0)))
        put(memmap.STATUS_IDLE_TIMEOUT_MS, U32.pack(240000))
        part = str(ident["part_number"]).encode("ascii")
        put(memmap.STATUS_PART_NUMBER, part.ljust(memmap.PART_NUMBER_LENGTH, b"\0"))
        put(memmap.STATUS_FIRMWARE_DATE, b"01/01/2024".ljust(16, b"\0"))
        put(memmap.STATUS_FIRMWARE_TIME, b"00:00:00".ljust(16, b"\0"))
        put(memmap.STATUS_SERIAL_NUMBER, U32.pack(ident["serial"]))
        put(memmap.STATUS_PUC_FLAG, U32.pack(1 if self.puc_needed else 0))
        eth1 = regions.at(memmap.ETH1_IP)
        eth1.store(memmap.ETH1_IP, memoryview(bytes(4)))
        eth1.store(memmap.ETH1_MAC, memoryview(bytes((0x00, 0xA0, 0x3D, 0x0A, 0x0D, 0xFF))))

    # ---------------------------------------------------------------- uptime, clock
    def uptime_ms(self) -> int:
        """Milliseconds since this memory was created."""
        return int((self._clock() - self._t0) * 1000)

    def _refresh_status(self, address: int, length: int) -> None:
        ms = self.uptime_ms()
        st = self._st
        U32.pack_into(st.buf, memmap.STATUS_UPTIME_MS - st.first, ms & 0xFFFFFFFF)
        U64.pack_into(st.buf, memmap.STATUS_UPTIME_MS_64 - st.first, ms)

    def _refresh_date_time(self, address: int, length: int) -> None:
        t = self._wall()
        text = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) + ".%02d" % int((t % 1) * 100)
        data = text.encode("ascii")[:memmap.DATE_TIME_LENGTH]
        self._dt.buf[0:memmap.DATE_TIME_LENGTH] = data.ljust(memmap.DATE_TIME_LENGTH, b"\0")

    # ---------------------------------------------------------------- power-up clear
    def set_puc_needed(self, needed: bool) -> None:
        """Set the PUC state and its flag word at 0xF0300004."""
        self.puc_needed = needed
        self._st.put_u32(memmap.STATUS_PUC_FLAG, 1 if needed else 0)

    @staticmethod
    def puc_blocks(write: bool, address: int, data: Optional[memoryview]) -> bool:
        """True when a request must wait for the power-up clear: anything but a
        status-area read or the PUC operation write (1 at 0xF0380000)."""
        if not write:
            return not (memmap.STATUS_READ_BASE <= address <= memmap.STATUS_READ_END)
        if address != memmap.STATUS_WRITE_OPERATION or data is None or len(data) < QUADLET:
            return True
        return bool(U32.unpack_from(data, 0)[0] != memmap.OP_POWERUP_CLEAR)

    # ---------------------------------------------------------------- last error
    def record_error(self, rcode: int, tl: int, source_id: int, address: int) -> None:
        """Store the last error record (0xE000|rcode, tl, source_ID, address) at 0xF030000C."""
        _ERROR_RECORD.pack_into(self._st.buf, memmap.STATUS_LAST_ERROR - self._st.first,
                                error_code(rcode), tl, source_id, address & 0xFFFFFFFF)

    # ---------------------------------------------------------------- status write area
    @staticmethod
    def _check_write(address: int, data: memoryview) -> bool:
        return not (address % QUADLET or len(data) % QUADLET)

    def _apply_write(self, address: int, length: int) -> None:
        op_addr = memmap.STATUS_WRITE_OPERATION
        if not address <= op_addr < address + length:
            return
        op = self._sw.u32(op_addr)
        if op == memmap.OP_POWERUP_CLEAR:
            self.set_puc_needed(False)
        elif op == memmap.OP_RESET_TO_DEFAULTS:
            self.reset_to_defaults()
        self._st.put_u32(memmap.STATUS_LAST_WRITE_RESULT, 0)

    def reset_to_defaults(self) -> None:
        """Operation 2: last error cleared, the I/O reset, PUC needed again when enforced."""
        _ERROR_RECORD.pack_into(self._st.buf, memmap.STATUS_LAST_ERROR - self._st.first, 0, 0, 0, 0)
        self._reset_io()
        if self.puc_required:
            self.set_puc_needed(True)
