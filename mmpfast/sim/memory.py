"""The simulated groov EPIC memory map and request handler (no sockets).

``Memory`` holds every valid area of ``memmap.AREAS`` as a lazily allocated
``bytearray`` and adds behaviour where the device has it.  All values are
big-endian, addresses are the low 32 bits of the 48-bit offset.
``Memory.respond(frame)`` turns one request frame into its response frame
(built with ``mmpfast.codec``); the server only moves bytes.

Behaviour (PROTOCOL.md §§1-5; [INF] marks rules we chose where the device is
undocumented):

* **Validation.** A range must lie wholly inside one area of
  ``memmap.AREAS`` (else rcode 5), the top 16 address bits must be 0xFFFF
  (else rcode 5 [INF]), writes to read-only areas are rcode 5 [INF];
  ``data_length`` 0 or above ``max_block`` is rcode 6 [INF].  A NAK'd request
  changes nothing.  Quadlet tcodes act as 4-byte blocks at any address [INF].
  Checks run in the order length (6), address high bits (5), power-up clear
  (4), area and area rules (5).
* **NAK frames.** A NAK'd read block is a bare 16-byte tcode-7 header with
  ``data_length`` 0 [INF]; a NAK'd read quadlet is 16 bytes with zero data;
  writes get a 12-byte tcode-2 frame.  Every wire NAK stores the error code
  (0xE000 | rcode), tl, source_ID and address at 0xF030000C..0xF0300017.
  A request with an undefined tcode (3, 8-15) or a response tcode (2, 6, 7)
  is answered with a 12-byte tcode-2 frame, rcode 1, the request's tl, and
  the connection is closed [INF].  tl and source_ID are always echoed.
* **Power-up clear.** With ``puc_required`` (default for ``profile="snap"``,
  off for ``"epic"``) every request but a status-area read or the PUC write
  (operation code 1 at 0xF0380000) is rcode 4 until the PUC write arrives.
  The flag at 0xF0300004 reads 1 while a PUC is needed.  Direct
  ``Memory.read``/``write`` calls are not subject to it.
* **Status read area** (read-only): memory-map revision, PUC flag, last error
  record, firmware version (0xF030001C and 0xF030024C), unit type, MAC, IP,
  part number, firmware date/time, serial, uptime in ms at 0xF030010C
  (uint32, wraps) and 0xF0300228 (uint64), both counted from the start of
  the simulator.  Date and time at 0xF0350000 is the host's local time as
  ``"YYYY-MM-DD HH:MM:SS.00"`` (writes are accepted and ignored).
* **Status write area**: whole aligned quadlets only (else rcode 5).
  Operation code 1 = power-up clear, 2 = reset to defaults (last error,
  counters, latches and min/max cleared, outputs off / 0.0, PUC needed
  again when enforced); other codes are stored with no effect [INF].
* **Scratch pad**: plain storage, except the bit set-on / set-off masks
  (0xF0D80400 / 0xF0D80408), which set/clear bits of 0xF0D80000 and read
  back as zero [INF], and the 64 string slots (§3.5 rules): (1) a write that
  touches the 2-byte length word stores the length written (above 128:
  rcode 5, nothing applied); (2) a write that touches only data bytes stores
  them and sets the length to the smaller of the end of the written range
  (measured from slot + 2) and the position of the first NUL in the slot's
  data up to that end [INF].
* **EPIC I/O** (rack of ``mmpfast.sim.rack``): digital read slots
  (state, on/off latch set on rising/falling edges, feature type, feature
  value = rising-edge count when the feature type is 1 "counter", quality 0 or
  30 for an empty slot); digital write slots (+0 sets a ``do`` output's state;
  all other bytes, and writes to non-output channels, are stored with no
  effect; reading returns what was last written); analog read slots
  (value, counts 0.0, min, max since last clear, quality); analog write slot
  +0 sets an ``ao`` output's value.  Feature type 1 can be set with
  ``set_feature`` or by writing the point configuration word at
  0xF0100000 + 0x3000*m + 0xC0*c + 8.  Channel slots of a module of the other
  family, and channels beyond a module's count, read as zero [INF].  Every
  channel position (0..63) of an empty slot reports quality 30.
* **Packed areas** are kept in sync on every change: 0xF1001800 (states),
  0xF1001000 (analog EU / digital counter), 0xF1001900 (per module: states,
  quality mask with bit c set when channel c's quality is not 0 - all 32 bits
  for an empty slot [INF] - on-latches, off-latches), 0xF1002000 (module
  quality mask; bit m set for an empty rack slot 0..15 [INF]), 0xF1002080
  (per-channel quality).
* **Read-and-clear** areas 0xF01D4000 (analog min/max; cleared to the current
  value [INF]) and 0xF02E0000 (digital counter, on-latch, off-latch) return
  the value, then clear every field the read touched, even partially.
* **Streaming read area** 0xF1000000: stream point p (0..63) is module
  ``p // 32``, channel ``p % 32`` of the rack [INF]: analog value (0.0 for
  digital points), counter (0 for analog points), state, on-latch, off-latch
  and active-counter masks (bit p).  When the stream configuration area is
  enabled the server sends the 604-byte standard packet (header
  ``02 5C 00 A8`` + this area + 56 zero bytes) to each target every
  interval ms (at least 1 ms); custom streams (start address non-zero) and
  mirroring are not simulated: the standard packet is sent [INF].
* **Everything else** that is a valid area reads as zeros and stores writes.
"""
from __future__ import annotations

import logging
import struct
import threading
import time
from bisect import bisect_right
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

from .. import codec, memmap
from ..errors import MmpNakError
from ..protocol import (
    ADDRESS_HIGH,
    MAX_ADDRESS,
    MAX_BLOCK,
    MAX_DATA_LENGTH,
    OFF_SOURCE_ID,
    OFF_TL,
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
    error_code,
)
from .rack import ModuleSpec, SpecLike, parse_modules

_frames_log = logging.getLogger("mmpfast.frames")

__all__ = ["Memory", "Stats", "StreamConfig", "PROFILES"]

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_F32 = struct.Struct(">f")
_MINMAX = struct.Struct(">ff")
_DIG_CLEAR = struct.Struct(">III")          # feature value, on-latch, off-latch
_PACKED_MODULE = struct.Struct(">IIII")     # states, quality, on-latches, off-latches
_STREAM_MASKS = struct.Struct(">IIIIIIII")  # 4 x 64-bit masks as (points 63-32, points 31-0)
_ERROR_RECORD = struct.Struct(">iHHI")      # code, tl, source_ID, address

FEATURE_NONE = 0
FEATURE_COUNTER = 1
_QUALITY_EMPTY = memmap.QUALITY_MODULE_NOT_DETECTED
_CHANNELS = memmap.MAX_CHANNELS
_MODULES = memmap.MAX_MODULES
_STRING_END = (memmap.SCRATCHPAD_STRINGS
               + memmap.SCRATCHPAD_STRING_SLOTS * memmap.SCRATCHPAD_STRING_STRIDE)

#: per-profile identity of the simulated unit (firmware bytes: major, minor, release type, revision)
PROFILES: Dict[str, Dict[str, object]] = {
    "epic": {"part_number": "GRV-EPIC-PR1", "firmware": bytes((3, 4, 2, 0)), "unit_type": 0,
             "puc_required": False, "serial": 0x00A03D01},
    "snap": {"part_number": "SNAP-PAC-R1", "firmware": bytes((9, 5, 2, 2)), "unit_type": 0x7A,
             "puc_required": True, "serial": 0x00A03D02},
}


class Stats:
    """Counters of what the simulator served (read them; the server updates them).

    ``frames_in`` requests received (malformed ones included), ``frames_out``
    responses sent, ``naks`` responses with a non-zero rcode, ``connections``
    TCP connections accepted, ``by_tcode`` requests per tcode,
    ``stream_packets`` stream datagrams sent.
    """

    __slots__ = ("frames_in", "frames_out", "naks", "connections", "by_tcode", "stream_packets",
                 "datagrams")

    def __init__(self) -> None:
        self.frames_in = 0
        self.frames_out = 0
        self.naks = 0
        self.connections = 0
        self.by_tcode: Dict[int, int] = {}
        self.stream_packets = 0
        self.datagrams = 0

    def as_dict(self) -> Dict[str, object]:
        """A snapshot as a plain dict."""
        return {k: (dict(getattr(self, k)) if k == "by_tcode" else getattr(self, k))
                for k in self.__slots__}

    def __repr__(self) -> str:
        return f"Stats({self.as_dict()})"


class StreamConfig(NamedTuple):
    """The stream configuration area decoded (PROTOCOL.md §2.4); ``targets`` are dotted IPs."""

    enabled: bool
    interval_ms: int
    port: int
    targets: Tuple[str, ...]
    start: int
    size: int


class _Region:
    """One area of ``memmap.AREAS`` with its storage and behaviour hooks."""

    __slots__ = ("area", "first", "last", "writable", "_buf", "pre_read", "post_read",
                 "check_write", "post_write")

    def __init__(self, area: memmap.Area) -> None:
        self.area = area
        self.first = area.first
        self.last = area.last
        self.writable = area.writable
        self._buf: Optional[bytearray] = None
        # hooks: (address, length) -> None / rcode
        self.pre_read: Optional[Callable[[int, int], None]] = None
        self.post_read: Optional[Callable[[int, int], None]] = None
        self.check_write: Optional[Callable[[int, memoryview], int]] = None
        self.post_write: Optional[Callable[[int, int], None]] = None

    @property
    def buf(self) -> bytearray:
        b = self._buf
        if b is None:
            b = self._buf = bytearray(self.last - self.first + 1)
        return b

    def read(self, address: int, length: int) -> bytes:
        b = self._buf
        if b is None:
            return bytes(length)
        off = address - self.first
        return bytes(b[off:off + length])


def _records(first: int, address: int, length: int, module_stride: int,
             record_stride: int, record_size: int) -> Iterator[Tuple[int, int, int, int]]:
    """(module, channel, lo, hi) for each record of an area of per-module
    records touched by [address, address+length); lo/hi are the touched byte
    offsets inside the record.  Only modules 0..15 and channels 0..63."""
    start = address - first
    end = start + length
    m0 = start // module_stride
    m1 = min((end - 1) // module_stride, _MODULES - 1)
    for m in range(m0, m1 + 1):
        mbase = m * module_stride
        lo_m = max(start, mbase) - mbase
        hi_m = min(end, mbase + module_stride) - mbase
        c0 = lo_m // record_stride
        c1 = min((hi_m - 1) // record_stride, _CHANNELS - 1)
        for c in range(c0, c1 + 1):
            rbase = c * record_stride
            lo = max(lo_m, rbase) - rbase
            hi = min(hi_m, rbase + record_stride) - rbase
            if lo < record_size:
                yield m, c, lo, min(hi, record_size)


def _touches(lo: int, hi: int, field: int, size: int = 4) -> bool:
    return lo < field + size and field < hi


def _f32(value: float) -> float:
    """``value`` rounded to float32 (ValueError when it does not fit)."""
    try:
        return float(_F32.unpack(_F32.pack(value))[0])
    except OverflowError:
        raise ValueError(f"{value!r} does not fit a float32") from None


def _ip_bytes(text: str) -> bytes:
    try:
        parts = [int(p) for p in text.split(".")]
        if len(parts) == 4 and all(0 <= p <= 255 for p in parts):
            return bytes(parts)
    except ValueError:
        pass
    return bytes((127, 0, 0, 1))


class Memory:
    """The simulated device's memory map, I/O rack and request handler.

    Thread-safe: every public method takes one internal lock.  ``read`` and
    ``write`` apply the same validation as the wire (``MmpNakError`` with the
    rcode the device would send) except two per-request wire rules: the
    power-up-clear rule and the ``max_block`` limit (a direct access may
    span a whole area).
    """

    def __init__(self, *, modules: Union[None, str, Sequence[SpecLike]] = None,
                 profile: str = "epic", max_block: int = MAX_BLOCK,
                 puc_required: Optional[bool] = None, ip: str = "127.0.0.1",
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {sorted(PROFILES)}, not {profile!r}")
        if isinstance(max_block, bool) or not isinstance(max_block, int):
            raise TypeError("max_block must be an int")
        if not 1 <= max_block <= MAX_DATA_LENGTH:
            raise ValueError(f"max_block {max_block} out of range 1..{MAX_DATA_LENGTH}")
        self.profile = profile
        self._identity = PROFILES[profile]
        self.max_block = max_block
        self.puc_required = bool(self._identity["puc_required"] if puc_required is None else puc_required)
        self.stats = Stats()
        self._clock = clock
        self._wall = wall_clock
        self._t0 = clock()
        self._lock = threading.Lock()
        self._listeners: List[Callable[[], None]] = []
        self._ip = ip
        self.rack: List[Optional[ModuleSpec]] = parse_modules(modules)

        self._regions = [_Region(a) for a in sorted(memmap.AREAS, key=lambda a: a.first)]
        self._firsts = [r.first for r in self._regions]
        self._puc_needed = self.puc_required
        self._init_io_state()
        self._install_hooks()
        self._init_status()
        self._init_io_mirrors()

    # ------------------------------------------------------------------ regions
    def _region_at(self, address: int) -> _Region:
        i = bisect_right(self._firsts, address) - 1
        r = self._regions[i]
        assert r.first <= address <= r.last, hex(address)
        return r

    def _locate(self, address: int, length: int) -> Optional[_Region]:
        i = bisect_right(self._firsts, address) - 1
        if i < 0:
            return None
        r = self._regions[i]
        if address + length - 1 > r.last:
            return None
        return r

    def area_of(self, address: int, length: int) -> Optional[memmap.Area]:
        """The ``memmap.Area`` holding ``[address, address+length)`` (agrees with ``memmap.find_area``)."""
        r = self._locate(address, max(length, 1))
        return None if r is None else r.area

    def _install_hooks(self) -> None:
        r = self._region_at
        st = r(memmap.STATUS_READ_BASE)
        st.pre_read = self._refresh_status
        r(memmap.DATE_TIME).pre_read = self._refresh_date_time
        sw = r(memmap.STATUS_WRITE_BASE)
        sw.check_write = self._check_status_write
        sw.post_write = self._apply_status_write
        r(memmap.SCRATCHPAD_BITS_SET_ON).post_write = self._apply_bit_masks
        strings = r(memmap.SCRATCHPAD_STRINGS)
        strings.check_write = self._check_string_write
        r(memmap.STREAM_CONFIG_BASE).post_write = self._stream_config_written
        r(memmap.EPIC_DIGITAL_WRITE).post_write = self._apply_digital_write
        r(memmap.EPIC_ANALOG_WRITE).post_write = self._apply_analog_write
        r(memmap.EPIC_POINT_CONFIG).post_write = self._apply_point_config
        r(memmap.EPIC_ANALOG_READ_CLEAR).post_read = self._clear_analog_records
        r(memmap.EPIC_DIGITAL_READ_CLEAR).post_read = self._clear_digital_records

    # ------------------------------------------------------------------ status
    def _init_status(self) -> None:
        ident = self._identity
        st = self._region_at(memmap.STATUS_READ_BASE)
        b = st.buf
        base = st.first

        def put(address: int, data: bytes) -> None:
            off = address - base
            b[off:off + len(data)] = data

        put(memmap.STATUS_MEMMAP_REVISION, _U32.pack(1))
        put(memmap.STATUS_FIRMWARE_VERSION, ident["firmware"])  # type: ignore[arg-type]
        put(memmap.STATUS_FIRMWARE_VERSION_2, ident["firmware"])  # type: ignore[arg-type]
        put(memmap.STATUS_LOADER_VERSION, ident["firmware"])  # type: ignore[arg-type]
        put(memmap.STATUS_UNIT_TYPE, _U32.pack(ident["unit_type"]))
        put(memmap.STATUS_RAM, _U32.pack(1 << 30))
        put(memmap.STATUS_MAC_ETH0, bytes((0x00, 0xA0, 0x3D, 0x0A, 0x0D, 0xFE)))
        put(memmap.STATUS_IP_ETH0, _ip_bytes(self._ip))
        put(memmap.STATUS_SUBNET_ETH0, bytes((255, 0, 0, 0)))
        put(memmap.STATUS_IDLE_TIMEOUT_MS, _U32.pack(240000))
        part = str(ident["part_number"]).encode("ascii")
        put(memmap.STATUS_PART_NUMBER, part.ljust(memmap.PART_NUMBER_LENGTH, b"\0"))
        put(memmap.STATUS_FIRMWARE_DATE, b"01/01/2024".ljust(16, b"\0"))
        put(memmap.STATUS_FIRMWARE_TIME, b"00:00:00".ljust(16, b"\0"))
        put(memmap.STATUS_SERIAL_NUMBER, _U32.pack(ident["serial"]))
        put(memmap.STATUS_PUC_FLAG, _U32.pack(1 if self._puc_needed else 0))
        eth1 = self._region_at(memmap.ETH1_IP)
        off = memmap.ETH1_IP - eth1.first
        eth1.buf[off:off + 4] = bytes((0, 0, 0, 0))
        off = memmap.ETH1_MAC - eth1.first
        eth1.buf[off:off + 6] = bytes((0x00, 0xA0, 0x3D, 0x0A, 0x0D, 0xFF))

    def uptime_ms(self) -> int:
        """Milliseconds since the simulator (this memory) was created."""
        return int((self._clock() - self._t0) * 1000)

    def _refresh_status(self, address: int, length: int) -> None:
        st = self._regions[bisect_right(self._firsts, memmap.STATUS_READ_BASE) - 1]
        ms = self.uptime_ms()
        b = st.buf
        _U32.pack_into(b, memmap.STATUS_UPTIME_MS - st.first, ms & 0xFFFFFFFF)
        _U64.pack_into(b, memmap.STATUS_UPTIME_MS_64 - st.first, ms)

    def _refresh_date_time(self, address: int, length: int) -> None:
        r = self._region_at(memmap.DATE_TIME)
        t = self._wall()
        text = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) + ".%02d" % int((t % 1) * 100)
        data = text.encode("ascii")[:memmap.DATE_TIME_LENGTH]
        r.buf[0:memmap.DATE_TIME_LENGTH] = data.ljust(memmap.DATE_TIME_LENGTH, b"\0")

    def _set_puc_needed(self, needed: bool) -> None:
        self._puc_needed = needed
        st = self._region_at(memmap.STATUS_READ_BASE)
        _U32.pack_into(st.buf, memmap.STATUS_PUC_FLAG - st.first, 1 if needed else 0)

    @property
    def puc_needed(self) -> bool:
        """True while a power-up clear has not been received (and one is required)."""
        return self._puc_needed

    def _record_error(self, rcode: int, tl: int, source_id: int, address: int) -> None:
        st = self._region_at(memmap.STATUS_READ_BASE)
        _ERROR_RECORD.pack_into(st.buf, memmap.STATUS_LAST_ERROR - st.first,
                                error_code(rcode), tl, source_id, address & 0xFFFFFFFF)

    def _check_status_write(self, address: int, data: memoryview) -> int:
        if address % QUADLET or len(data) % QUADLET:
            return RCODE_INVALID_ADDRESS
        return 0

    def _apply_status_write(self, address: int, length: int) -> None:
        op_addr = memmap.STATUS_WRITE_OPERATION
        if not address <= op_addr < address + length:
            return
        r = self._region_at(op_addr)
        op = _U32.unpack_from(r.buf, op_addr - r.first)[0]
        if op == memmap.OP_POWERUP_CLEAR:
            self._set_puc_needed(False)
        elif op == memmap.OP_RESET_TO_DEFAULTS:
            self._reset_to_defaults()
        st = self._region_at(memmap.STATUS_READ_BASE)
        _U32.pack_into(st.buf, memmap.STATUS_LAST_WRITE_RESULT - st.first, 0)

    def _reset_to_defaults(self) -> None:
        st = self._region_at(memmap.STATUS_READ_BASE)
        _ERROR_RECORD.pack_into(st.buf, memmap.STATUS_LAST_ERROR - st.first, 0, 0, 0, 0)
        for m, spec in enumerate(self.rack):
            if spec is None:
                continue
            for c in range(spec.channels):
                if spec.digital:
                    if spec.output:
                        self._d_state[m][c] = 0
                    self._d_count[m][c] = 0
                    self._d_on[m][c] = 0
                    self._d_off[m][c] = 0
                    self._sync_digital(m, c)
                else:
                    if spec.output:
                        self._a_value[m][c] = 0.0
                    v = self._a_value[m][c]
                    self._a_min[m][c] = v
                    self._a_max[m][c] = v
                    self._sync_analog(m, c)
        if self.puc_required:
            self._set_puc_needed(True)

    # ------------------------------------------------------------------ scratch pad
    def _apply_bit_masks(self, address: int, length: int) -> None:
        masks = self._region_at(memmap.SCRATCHPAD_BITS_SET_ON)
        b = masks.buf
        on = _U64.unpack_from(b, memmap.SCRATCHPAD_BITS_SET_ON - masks.first)[0]
        off = _U64.unpack_from(b, memmap.SCRATCHPAD_BITS_SET_OFF - masks.first)[0]
        b[:] = bytes(len(b))
        bits = self._region_at(memmap.SCRATCHPAD_BITS)
        cur = _U64.unpack_from(bits.buf, 0)[0]
        _U64.pack_into(bits.buf, 0, (cur | on) & ~off & 0xFFFFFFFFFFFFFFFF)

    def _check_string_write(self, address: int, data: memoryview) -> int:
        """Validate and apply a write that may touch string slots (§3.5 rules).

        Returns an rcode; 0 means the write has been stored by this hook."""
        S = memmap.SCRATCHPAD_STRINGS
        stride = memmap.SCRATCHPAD_STRING_STRIDE
        n = len(data)
        end = address + n
        lo, hi = max(address, S), min(end, _STRING_END)
        r = self._region_at(S)
        b = r.buf
        plan: List[Tuple[int, Optional[int], int]] = []   # (slot base, explicit length, written end)
        if lo < hi:
            for k in range((lo - S) // stride, (hi - 1 - S) // stride + 1):
                base = S + k * stride
                wlo, whi = max(address, base), min(end, base + stride)
                if wlo < base + 2:
                    word = bytearray(b[base - r.first:base - r.first + 2])
                    for a in range(wlo, min(whi, base + 2)):
                        word[a - base] = data[a - address]
                    length = (word[0] << 8) | word[1]
                    if length > memmap.SCRATCHPAD_STRING_MAX:
                        return RCODE_INVALID_ADDRESS
                    plan.append((base, length, whi))
                else:
                    plan.append((base, None, whi))
        off = address - r.first
        b[off:off + n] = data
        for base, explicit, whi in plan:
            if explicit is None:
                dstart = base + 2 - r.first
                written = whi - (base + 2)
                nul = b.find(0, dstart, dstart + written)
                _U16.pack_into(b, base - r.first, written if nul < 0 else nul - dstart)
        return -1   # stored

    # ------------------------------------------------------------------ streaming
    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` (from the writing thread, lock released) after each
        write to the stream configuration area."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[], None]) -> None:
        """Undo ``add_listener``."""
        try:
            self._listeners.remove(callback)
        except ValueError:
            pass

    def _stream_config_written(self, address: int, length: int) -> None:
        self._notify = True

    def stream_config(self) -> StreamConfig:
        """The stream configuration area, decoded."""
        with self._lock:
            r = self._region_at(memmap.STREAM_CONFIG_BASE)
            b = r.buf

            def u32(a: int) -> int:
                return int(_U32.unpack_from(b, a - r.first)[0])

            targets = []
            for k in range(memmap.STREAM_MAX_TARGETS):
                off = memmap.STREAM_TARGETS + 4 * k - r.first
                ip = bytes(b[off:off + 4])
                if any(ip):
                    targets.append(memmap.format_ip(ip))
            return StreamConfig(u32(memmap.STREAM_ENABLE) != 0, u32(memmap.STREAM_INTERVAL_MS),
                                u32(memmap.STREAM_PORT) & 0xFFFF, tuple(targets),
                                u32(memmap.STREAM_START), u32(memmap.STREAM_SIZE))

    def stream_packet(self) -> bytes:
        """The 604-byte standard stream packet (PROTOCOL.md §2.4) of the current I/O."""
        with self._lock:
            area = self._region_at(memmap.STREAM_READ_AREA).read(
                memmap.STREAM_READ_AREA, memmap.STREAM_READ_AREA_LENGTH)
        tail = memmap.STREAM_PACKET_LENGTH - memmap.STREAM_HEADER_LENGTH - len(area)
        return (_U16.pack(memmap.STREAM_PACKET_LENGTH)
                + bytes((memmap.STREAM_HEADER_BYTE2, memmap.STREAM_HEADER_BYTE3))
                + area + bytes(tail))

    # ------------------------------------------------------------------ I/O state
    def _init_io_state(self) -> None:
        def grid(v: object) -> List[list]:  # type: ignore[type-arg]
            return [[v] * _CHANNELS for _ in range(_MODULES)]

        self._d_state = grid(0)
        self._d_on = grid(0)
        self._d_off = grid(0)
        self._d_feature = grid(FEATURE_NONE)
        self._d_count = grid(0)
        self._a_value = grid(0.0)
        self._a_min = grid(0.0)
        self._a_max = grid(0.0)
        self._quality = grid(0)
        self._m_state = [0] * _MODULES
        self._m_on = [0] * _MODULES
        self._m_off = [0] * _MODULES
        self._m_counter = [0] * _MODULES
        self._m_quality = [0] * _MODULES
        for m, spec in enumerate(self.rack):
            if spec is None:
                self._quality[m] = [_QUALITY_EMPTY] * _CHANNELS
                self._m_quality[m] = 0xFFFFFFFF

    def _init_io_mirrors(self) -> None:
        r = self._region_at
        self._r_dr = r(memmap.EPIC_DIGITAL_READ)
        self._r_ar = r(memmap.EPIC_ANALOG_READ)
        self._r_drc = r(memmap.EPIC_DIGITAL_READ_CLEAR)
        self._r_arc = r(memmap.EPIC_ANALOG_READ_CLEAR)
        self._r_pk = r(memmap.PACKED_VALUES)
        self._r_pkm = r(memmap.PACKED_DIGITAL_MODULE)
        self._r_stream = r(memmap.STREAM_READ_AREA)
        self._r_pc = r(memmap.EPIC_POINT_CONFIG)
        mq = r(memmap.MODULE_QUALITY_MASK)
        cq = r(memmap.CHANNEL_QUALITY)
        mask = 0
        for m, spec in enumerate(self.rack):
            if spec is None:
                mask |= 1 << m
                for c in range(_CHANNELS):
                    _U32.pack_into(cq.buf, memmap.CHANNEL_QUALITY_MODULE_STRIDE * m + 4 * c, _QUALITY_EMPTY)
                    _U32.pack_into(self._r_dr.buf, self._slot_off(m, c) + memmap.DIG_QUALITY, _QUALITY_EMPTY)
                    _U32.pack_into(self._r_ar.buf, self._slot_off(m, c) + memmap.ANA_QUALITY, _QUALITY_EMPTY)
                self._sync_module_words(m)
            elif spec.digital:
                for c in range(spec.channels):
                    self._sync_digital(m, c)
            else:
                for c in range(spec.channels):
                    self._sync_analog(m, c)
        _U64.pack_into(mq.buf, 0, mask)

    @staticmethod
    def _slot_off(m: int, c: int) -> int:
        return memmap.MODULE_STRIDE * m + memmap.SLOT_SIZE * c

    def _sync_module_words(self, m: int) -> None:
        pk = self._r_pk
        _U32.pack_into(pk.buf, memmap.PACKED_DIGITAL_STATES - pk.first + 4 * m, self._m_state[m])
        _PACKED_MODULE.pack_into(self._r_pkm.buf, memmap.PACKED_DIGITAL_MODULE_STRIDE * m,
                                 self._m_state[m], self._m_quality[m], self._m_on[m], self._m_off[m])
        if m < 2:
            ms, mo, mf, mc = self._m_state, self._m_on, self._m_off, self._m_counter
            _STREAM_MASKS.pack_into(self._r_stream.buf, memmap.STREAM_OFF_STATE_MASK,
                                    ms[1], ms[0], mo[1], mo[0], mf[1], mf[0], mc[1], mc[0])

    def _sync_digital(self, m: int, c: int) -> None:
        st, on, off = self._d_state[m][c], self._d_on[m][c], self._d_off[m][c]
        ft, cnt, q = self._d_feature[m][c], self._d_count[m][c], self._quality[m][c]
        memmap.DIGITAL_CHANNEL_STRUCT.pack_into(self._r_dr.buf, self._slot_off(m, c), st, on, off, ft, cnt, q)
        _DIG_CLEAR.pack_into(self._r_drc.buf, memmap.DIGITAL_READ_CLEAR_MODULE_STRIDE * m
                             + memmap.DIGITAL_READ_CLEAR_CHANNEL_STRIDE * c, cnt, on, off)
        _U32.pack_into(self._r_pk.buf, memmap.PACKED_VALUES_MODULE_STRIDE * m + 4 * c, cnt)
        bit = 1 << c
        keep = ~bit
        self._m_state[m] = (self._m_state[m] & keep) | (bit if st else 0)
        self._m_on[m] = (self._m_on[m] & keep) | (bit if on else 0)
        self._m_off[m] = (self._m_off[m] & keep) | (bit if off else 0)
        self._m_counter[m] = (self._m_counter[m] & keep) | (bit if ft == FEATURE_COUNTER else 0)
        self._m_quality[m] = (self._m_quality[m] & keep) | (bit if q else 0)
        _U32.pack_into(self._r_pc.buf, memmap.POINT_CONFIG_MODULE_STRIDE * m
                       + memmap.POINT_CONFIG_CHANNEL_STRIDE * c + 8, ft)
        if m < 2:
            _U32.pack_into(self._r_stream.buf, memmap.STREAM_OFF_COUNTERS + 4 * (32 * m + c), cnt)
        self._sync_module_words(m)

    def _sync_analog(self, m: int, c: int) -> None:
        v, lo, hi = self._a_value[m][c], self._a_min[m][c], self._a_max[m][c]
        memmap.ANALOG_CHANNEL_STRUCT.pack_into(self._r_ar.buf, self._slot_off(m, c), v, 0.0, lo, hi,
                                               self._quality[m][c])
        _MINMAX.pack_into(self._r_arc.buf, memmap.ANALOG_READ_CLEAR_MODULE_STRIDE * m
                          + memmap.ANALOG_READ_CLEAR_CHANNEL_STRIDE * c, lo, hi)
        _F32.pack_into(self._r_pk.buf, memmap.PACKED_VALUES_MODULE_STRIDE * m + 4 * c, v)
        if m < 2:
            _F32.pack_into(self._r_stream.buf, memmap.STREAM_OFF_ANALOG + 4 * (32 * m + c), v)

    def _spec(self, module: int, channel: int, family: str) -> ModuleSpec:
        m, c = memmap.check_point(module, channel)
        spec = self.rack[m]
        if spec is None:
            raise ValueError(f"slot {m} is empty")
        if (family == "digital") != spec.digital:
            raise ValueError(f"module {m} is {spec.kind}, not a {family} module")
        if c >= spec.channels:
            raise ValueError(f"module {m} has {spec.channels} channels; channel {c} does not exist")
        return spec

    def _set_digital_locked(self, m: int, c: int, state: bool) -> None:
        new = 1 if state else 0
        old = self._d_state[m][c]
        if new == old:
            return
        self._d_state[m][c] = new
        if new:
            self._d_on[m][c] = 1
            if self._d_feature[m][c] == FEATURE_COUNTER:
                self._d_count[m][c] = (self._d_count[m][c] + 1) & 0xFFFFFFFF
        else:
            self._d_off[m][c] = 1
        self._sync_digital(m, c)

    def _set_analog_locked(self, m: int, c: int, value: float) -> None:
        self._a_value[m][c] = value
        if not value >= self._a_min[m][c]:
            self._a_min[m][c] = value
        if not value <= self._a_max[m][c]:
            self._a_max[m][c] = value
        self._sync_analog(m, c)

    def set_digital(self, module: int, channel: int, state: bool) -> None:
        """Set a digital channel's state (input or output); a rising edge sets the
        on-latch and counts when the feature type is counter, a falling edge sets
        the off-latch.  ``ValueError`` for a channel the rack does not have."""
        self._spec(module, channel, "digital")
        with self._lock:
            self._set_digital_locked(module, channel, bool(state))

    def get_digital(self, module: int, channel: int) -> bool:
        """A digital channel's current state."""
        self._spec(module, channel, "digital")
        return bool(self._d_state[module][channel])

    def set_analog(self, module: int, channel: int, value: float) -> None:
        """Set an analog channel's value (engineering units, stored as float32)."""
        self._spec(module, channel, "analog")
        if isinstance(value, (str, bytes)) or not hasattr(value, "__float__"):
            raise TypeError(f"value must be a number, not {type(value).__name__}")
        v = _f32(float(value))
        with self._lock:
            self._set_analog_locked(module, channel, v)

    def get_analog(self, module: int, channel: int) -> float:
        """An analog channel's current value."""
        self._spec(module, channel, "analog")
        return float(self._a_value[module][channel])

    def set_feature(self, module: int, channel: int, feature_type: int) -> None:
        """Set a digital channel's feature type (1 = counter: rising edges count)."""
        self._spec(module, channel, "digital")
        with self._lock:
            self._d_feature[module][channel] = int(feature_type) & 0xFFFFFFFF
            self._sync_digital(module, channel)

    # hooks of the I/O write areas -------------------------------------------------
    def _apply_digital_write(self, address: int, length: int) -> None:
        r = self._region_at(memmap.EPIC_DIGITAL_WRITE)
        for m, c, lo, hi in _records(r.first, address, length, memmap.MODULE_STRIDE, memmap.SLOT_SIZE, 4):
            spec = self.rack[m]
            if spec is not None and spec.kind == "do" and c < spec.channels:
                word = _U32.unpack_from(r.buf, self._slot_off(m, c))[0]
                self._set_digital_locked(m, c, word != 0)

    def _apply_analog_write(self, address: int, length: int) -> None:
        r = self._region_at(memmap.EPIC_ANALOG_WRITE)
        for m, c, lo, hi in _records(r.first, address, length, memmap.MODULE_STRIDE, memmap.SLOT_SIZE, 4):
            spec = self.rack[m]
            if spec is not None and spec.kind == "ao" and c < spec.channels:
                self._set_analog_locked(m, c, float(_F32.unpack_from(r.buf, self._slot_off(m, c))[0]))

    def _apply_point_config(self, address: int, length: int) -> None:
        r = self._r_pc
        for m, c, lo, hi in _records(r.first, address, length, memmap.POINT_CONFIG_MODULE_STRIDE,
                                     memmap.POINT_CONFIG_CHANNEL_STRIDE, memmap.POINT_CONFIG_CHANNEL_STRIDE):
            spec = self.rack[m]
            if _touches(lo, hi, 8) and spec is not None and spec.digital and c < spec.channels:
                off = memmap.POINT_CONFIG_MODULE_STRIDE * m + memmap.POINT_CONFIG_CHANNEL_STRIDE * c + 8
                self._d_feature[m][c] = _U32.unpack_from(r.buf, off)[0]
                self._sync_digital(m, c)

    def _clear_analog_records(self, address: int, length: int) -> None:
        for m, c, lo, hi in _records(memmap.EPIC_ANALOG_READ_CLEAR, address, length,
                                     memmap.ANALOG_READ_CLEAR_MODULE_STRIDE,
                                     memmap.ANALOG_READ_CLEAR_CHANNEL_STRIDE, 8):
            spec = self.rack[m]
            if spec is None or not spec.analog or c >= spec.channels:
                continue
            v = self._a_value[m][c]
            if _touches(lo, hi, 0):
                self._a_min[m][c] = v
            if _touches(lo, hi, 4):
                self._a_max[m][c] = v
            self._sync_analog(m, c)

    def _clear_digital_records(self, address: int, length: int) -> None:
        for m, c, lo, hi in _records(memmap.EPIC_DIGITAL_READ_CLEAR, address, length,
                                     memmap.DIGITAL_READ_CLEAR_MODULE_STRIDE,
                                     memmap.DIGITAL_READ_CLEAR_CHANNEL_STRIDE, 12):
            spec = self.rack[m]
            if spec is None or not spec.digital or c >= spec.channels:
                continue
            if _touches(lo, hi, 0):
                self._d_count[m][c] = 0
            if _touches(lo, hi, 4):
                self._d_on[m][c] = 0
            if _touches(lo, hi, 8):
                self._d_off[m][c] = 0
            self._sync_digital(m, c)

    # ------------------------------------------------------------------ access core
    def _read_locked(self, region: _Region, address: int, length: int) -> bytes:
        if region.pre_read is not None:
            region.pre_read(address, length)
        b = region._buf
        if b is None:
            out = bytes(length)
        else:
            off = address - region.first
            out = bytes(b[off:off + length])
        if region.post_read is not None:
            region.post_read(address, length)
        return out

    def _write_locked(self, region: _Region, address: int, data: memoryview) -> int:
        """Store ``data``; returns an rcode (0 = applied)."""
        n = len(data)
        if region.check_write is not None:
            rc = region.check_write(address, data)
            if rc > 0:
                return rc
            if rc < 0:      # the hook stored the data itself
                if region.post_write is not None:
                    region.post_write(address, n)
                return 0
        off = address - region.first
        region.buf[off:off + n] = data
        if region.post_write is not None:
            region.post_write(address, n)
        return 0

    def _check_range(self, write: bool, address: int, length: int) -> Tuple[int, Optional[_Region]]:
        if length == 0:
            return RCODE_INVALID_LENGTH, None
        region = self._locate(address, length)
        if region is None or (write and not region.writable):
            return RCODE_INVALID_ADDRESS, None
        return 0, region

    def _puc_blocks(self, write: bool, address: int, data: Optional[memoryview]) -> bool:
        if not write:
            return not (memmap.STATUS_READ_BASE <= address <= memmap.STATUS_READ_END)
        if address != memmap.STATUS_WRITE_OPERATION or data is None or len(data) < 4:
            return True
        return bool(_U32.unpack_from(data, 0)[0] != memmap.OP_POWERUP_CLEAR)

    # ------------------------------------------------------------------ public direct access
    @staticmethod
    def _check_args(address: object, length: object) -> Tuple[int, int]:
        for name, v, hi in (("address", address, MAX_ADDRESS), ("length", length, MAX_DATA_LENGTH)):
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"{name} must be an int, not {type(v).__name__}")
            if not 0 <= v <= hi:
                raise ValueError(f"{name} {v} out of range 0..{hi}")
        return address, length  # type: ignore[return-value]

    def read(self, address: int, length: int) -> bytes:
        """``length`` bytes at ``address``, exactly as a read block would return them
        (read-and-clear areas clear).  ``MmpNakError`` with the wire's rcode when
        the device would NAK (power-up clear is not enforced here)."""
        address, length = self._check_args(address, length)
        with self._lock:
            rc, region = self._check_range(False, address, length)
            if rc:
                raise MmpNakError(rc, address)
            assert region is not None
            return self._read_locked(region, address, length)

    def write(self, address: int, data: Union[bytes, bytearray, memoryview]) -> None:
        """Write ``data`` at ``address`` as a write block would (same side effects).
        ``MmpNakError`` with the wire's rcode when the device would NAK."""
        mv = memoryview(data).cast("B")
        address, _ = self._check_args(address, len(mv))
        with self._lock:
            rc, region = self._check_range(True, address, len(mv))
            if not rc:
                assert region is not None
                rc = self._write_locked(region, address, mv)
            notify = self._take_notify()
        if notify:
            self._fire_listeners()
        if rc:
            raise MmpNakError(rc, address)

    def poke(self, address: int, data: Union[bytes, bytearray, memoryview]) -> None:
        """Store raw bytes, read-only areas included, with no side effects (for
        tests that need a value the model does not produce).  The range must be
        inside one area (``MmpNakError`` rcode 5); bytes the I/O model keeps in
        sync are overwritten on the next change of their channel."""
        mv = memoryview(data).cast("B")
        address, _ = self._check_args(address, len(mv))
        with self._lock:
            region = self._locate(address, max(len(mv), 1))
            if region is None:
                raise MmpNakError(RCODE_INVALID_ADDRESS, address)
            off = address - region.first
            region.buf[off:off + len(mv)] = mv

    _notify = False

    def _take_notify(self) -> bool:
        n = self._notify
        self._notify = False
        return n

    def _fire_listeners(self) -> None:
        for cb in list(self._listeners):
            cb()

    # ------------------------------------------------------------------ the wire
    def respond(self, frame: Union[bytes, bytearray, memoryview]) -> Tuple[bytes, bool]:
        """The response to one whole request frame, and whether to close the connection.

        Both frames are hex-dumped to the ``mmpfast.frames`` logger at DEBUG.
        """
        resp, close = self._respond(frame)
        if _frames_log.isEnabledFor(logging.DEBUG):
            _frames_log.debug("sim received %s; answered %s%s", bytes(frame).hex(" "), resp.hex(" "),
                              " and closed" if close else "")
        return resp, close

    def _respond(self, frame: Union[bytes, bytearray, memoryview]) -> Tuple[bytes, bool]:
        """The response to one whole request frame, and whether to close the connection.

        ``frame`` must hold exactly one frame whose first 4 bytes are present
        (a frame with an undefined or response tcode may be incomplete).
        """
        st = self.stats
        st.frames_in += 1
        tcode = frame[3] >> 4
        bt = st.by_tcode
        bt[tcode] = bt.get(tcode, 0) + 1
        if tcode not in REQUEST_TCODES:
            return self._undefined(frame), True
        f = codec.decode_frame(frame)
        tl = f.tl
        sid = f.source_id
        address: int = f.address  # type: ignore[assignment]  # requests always carry one
        write = tcode == TCODE_WRITE_BLOCK or tcode == TCODE_WRITE_QUADLET
        if tcode == TCODE_READ_QUADLET or tcode == TCODE_WRITE_QUADLET:
            length = QUADLET
        else:
            length = f.data_length
        data = f.data if write else None
        high = f.address_high
        notify = False
        with self._lock:
            if length == 0 or length > self.max_block:
                rc = RCODE_INVALID_LENGTH
            elif high != ADDRESS_HIGH:
                rc = RCODE_INVALID_ADDRESS
            elif self._puc_needed and self._puc_blocks(write, address, data):
                rc = RCODE_POWERUP_CLEAR_EXPECTED
            else:
                region = self._locate(address, length)
                if region is None or (write and not region.writable):
                    rc = RCODE_INVALID_ADDRESS
                elif write:
                    rc = self._write_locked(region, address, data)  # type: ignore[arg-type]
                    notify = self._take_notify()
                else:
                    out = self._read_locked(region, address, length)
                    rc = 0
            if rc:
                self._record_error(rc, tl, sid, address)
        if notify:
            self._fire_listeners()
        if rc:
            st.naks += 1
            if write:
                return codec.encode_write_response(tl, rc, sid), False
            if tcode == TCODE_READ_BLOCK:
                return codec.encode_read_block_response(tl, b"", rc, sid), False
            return codec.encode_read_quadlet_response(tl, b"", rc, sid), False
        if write:
            return codec.encode_write_response(tl, 0, sid), False
        if tcode == TCODE_READ_BLOCK:
            return codec.encode_read_block_response(tl, out, 0, sid), False
        return codec.encode_read_quadlet_response(tl, out, 0, sid), False

    def _undefined(self, frame: Union[bytes, bytearray, memoryview]) -> bytes:
        tl = frame[OFF_TL] >> 2
        sid = ((frame[OFF_SOURCE_ID] << 8) | frame[OFF_SOURCE_ID + 1]) if len(frame) >= 6 else 0
        self.stats.naks += 1
        with self._lock:
            self._record_error(RCODE_UNDEFINED_COMMAND, tl, sid, 0)
        return codec.encode_write_response(tl, RCODE_UNDEFINED_COMMAND, sid)

    def respond_bad_length(self, frame: Union[bytes, bytearray, memoryview]) -> bytes:
        """The rcode-6 NAK for a datagram whose length is not its frame's length
        (``frame`` holds at least 4 bytes of a request tcode)."""
        tcode = frame[3] >> 4
        tl = frame[OFF_TL] >> 2
        sid = ((frame[OFF_SOURCE_ID] << 8) | frame[OFF_SOURCE_ID + 1]) if len(frame) >= 6 else 0
        address = int.from_bytes(frame[8:12], "big") if len(frame) >= 12 else 0
        st = self.stats
        st.frames_in += 1
        st.by_tcode[tcode] = st.by_tcode.get(tcode, 0) + 1
        st.naks += 1
        with self._lock:
            self._record_error(RCODE_INVALID_LENGTH, tl, sid, address)
        if tcode in (TCODE_WRITE_BLOCK, TCODE_WRITE_QUADLET):
            return codec.encode_write_response(tl, RCODE_INVALID_LENGTH, sid)
        if tcode == TCODE_READ_BLOCK:
            return codec.encode_read_block_response(tl, b"", RCODE_INVALID_LENGTH, sid)
        return codec.encode_read_quadlet_response(tl, b"", RCODE_INVALID_LENGTH, sid)
