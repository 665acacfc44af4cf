"""The groov EPIC / SNAP PAC memory map (PROTOCOL.md §3), in one place.

Addresses are the low 32 bits of the 48-bit offset (the codec adds ``FF FF``).
All values in the device are big-endian: int32/uint32/float32 are 4 bytes,
int64 8 bytes, 64-bit masks hold point 63 in the top bit of byte +0.

Pure arithmetic: no I/O.  The clients, the scan planner and the simulator
take every address, stride and field offset from here.

The module is long (about 700 lines) on purpose: it is the one table of
addresses, strides and field offsets, EPIC and SNAP PAC areas side by side in
PROTOCOL.md's order, so that each fact is written once and found in one file.
"""
from __future__ import annotations

import operator
import struct
from typing import Final, List, NamedTuple, Tuple

# =============================================================================
# Status area, read (0xF0300000-0xF030024F), PROTOCOL.md §3.2
# =============================================================================
STATUS_READ_BASE: Final = 0xF0300000
STATUS_READ_END: Final = 0xF030024F            # inclusive
STATUS_MEMMAP_REVISION: Final = 0xF0300000     # UI
STATUS_PUC_FLAG: Final = 0xF0300004            # UI, non-0 = powerup clear needed
STATUS_BUSY_FLAG: Final = 0xF0300008           # UI
STATUS_LAST_ERROR: Final = 0xF030000C          # I, 0 or 0xE001..0xE00F
STATUS_LAST_ERROR_TL: Final = 0xF0300010       # uint16, low 6 bits
STATUS_LAST_ERROR_SOURCE: Final = 0xF0300012   # uint16
STATUS_LAST_ERROR_ADDRESS: Final = 0xF0300014  # UI, low 32 bits
STATUS_LOADER_VERSION: Final = 0xF0300018      # 4 bytes
STATUS_FIRMWARE_VERSION: Final = 0xF030001C    # 4 bytes [major, minor, type, revision]
STATUS_UNIT_TYPE: Final = 0xF0300020           # UI
STATUS_HW_REVISION: Final = 0xF0300024         # month(1) day(1) year(2)
STATUS_RAM: Final = 0xF0300028                 # UI bytes
STATUS_MAC_ETH0: Final = 0xF030002E            # 6 bytes
STATUS_IP_ETH0: Final = 0xF0300034             # 4 bytes a.b.c.d
STATUS_SUBNET_ETH0: Final = 0xF0300038
STATUS_GATEWAY_ETH0: Final = 0xF030003C
STATUS_DNS_ETH0: Final = 0xF0300040
STATUS_WATCHDOG_MS: Final = 0xF0300054
STATUS_IDLE_TIMEOUT_MS: Final = 0xF030006C
STATUS_PART_NUMBER: Final = 0xF0300080         # 32 bytes NUL-terminated
STATUS_FIRMWARE_DATE: Final = 0xF03000A0       # 16 bytes
STATUS_FIRMWARE_TIME: Final = 0xF03000B0       # 16 bytes
STATUS_UPTIME_MS: Final = 0xF030010C           # UI, ms since power-up (wraps at 2**32)
STATUS_SERIAL_NUMBER: Final = 0xF030014C       # UI
STATUS_UPTIME_MS_64: Final = 0xF0300228        # uint64 ms since power-up
STATUS_LAST_WRITE_RESULT: Final = 0xF0300248   # I
STATUS_FIRMWARE_VERSION_2: Final = 0xF030024C  # 4 bytes

PART_NUMBER_LENGTH: Final = 32
MAC_LENGTH: Final = 6
IP_LENGTH: Final = 4

#: One block read covering every field of ``Client.status()`` (PUC flag ..
#: serial): ``STATUS_BLOCK_LENGTH`` bytes from ``STATUS_READ_BASE``.
STATUS_BLOCK_LENGTH: Final = STATUS_SERIAL_NUMBER + 4 - STATUS_READ_BASE   # 0x150 = 336

#: Second Ethernet port of an EPIC (layout of 0xFFFFF008.. otherwise unknown, §7 Q8)
ETH1_IP: Final = 0xFFFFF050
ETH1_MAC: Final = 0xFFFFF060

# Firmware release-type letters, byte 2 of the firmware version (§3.2)
FIRMWARE_RELEASE_TYPES: Final = {0: "A", 1: "B", 2: "R", 3: "S"}


def format_firmware(raw: bytes) -> str:
    """Firmware version text from its 4 bytes [major, minor, type, revision].

    ``03 06 02 01`` -> ``"R3.6b"``.  An unknown release type gives the dotted
    form ``"major.minor.type.revision"`` so nothing is lost (§7 Q13).
    """
    if len(raw) != 4:
        raise ValueError(f"firmware version is 4 bytes, got {len(raw)}")
    major, minor, rtype, rev = raw
    letter = FIRMWARE_RELEASE_TYPES.get(rtype)
    if letter is None or rev > 25:
        return f"{major}.{minor}.{rtype}.{rev}"
    return f"{letter}{major}.{minor}{chr(ord('a') + rev)}"


def format_mac(raw: bytes) -> str:
    """``"00:A0:3D:0A:0D:FE"`` from 6 bytes."""
    return ":".join(f"{b:02X}" for b in raw)


def format_ip(raw: bytes) -> str:
    """Dotted IPv4 from 4 bytes in address order."""
    return ".".join(str(b) for b in raw)


def decode_zstring(raw: bytes) -> str:
    """Text of a NUL-terminated (S-ZT) field: up to the first NUL, blanks stripped, ASCII."""
    return bytes(raw).split(b"\0", 1)[0].decode("latin-1").strip()


# =============================================================================
# Status area, write (0xF0380000-0xF03802B3), §3.3: whole quadlets only
# =============================================================================
STATUS_WRITE_BASE: Final = 0xF0380000
STATUS_WRITE_END: Final = 0xF03802B3
STATUS_WRITE_OPERATION: Final = 0xF0380000
STATUS_WRITE_WATCHDOG_MS: Final = 0xF0380010
OP_POWERUP_CLEAR: Final = 1
OP_RESET_TO_DEFAULTS: Final = 2

# Date and time, 23 bytes "YYYY-MM-DD HH:MM:SS.00"
DATE_TIME: Final = 0xF0350000
DATE_TIME_LENGTH: Final = 23

# =============================================================================
# Streaming (§2.4)
# =============================================================================
STREAM_CONFIG_BASE: Final = 0xF03FFFC0
STREAM_MIRRORING: Final = 0xF03FFFC4
STREAM_START: Final = 0xF03FFFC8
STREAM_SIZE: Final = 0xF03FFFCC
STREAM_ENABLE: Final = 0xF03FFFD0
STREAM_INTERVAL_MS: Final = 0xF03FFFD4
STREAM_PORT: Final = 0xF03FFFD8
STREAM_TARGETS: Final = 0xF03FFFE0             # + 4*(k-1), k = 1..8
STREAM_MAX_TARGETS: Final = 8

STREAM_READ_AREA: Final = 0xF1000000           # = standard packet bytes 4..547
STREAM_READ_AREA_LENGTH: Final = 0x220
STREAM_PACKET_LENGTH: Final = 604
STREAM_HEADER_LENGTH: Final = 4
#: standard stream packet header, bytes 2-3 after the 16-bit BE length: 0x00, then
#: 0xA (1394 isochronous data block) << 4 | sync code 0x8 (PROTOCOL.md §2.4)
STREAM_HEADER_BYTE2: Final = 0x00
STREAM_HEADER_BYTE3: Final = 0xA8
STREAM_POINTS: Final = 64
# offsets inside the stream read area (add STREAM_HEADER_LENGTH for the packet)
STREAM_OFF_ANALOG: Final = 0x000               # 64 x float32
STREAM_OFF_COUNTERS: Final = 0x100             # 64 x uint32
STREAM_OFF_STATE_MASK: Final = 0x200           # uint64
STREAM_OFF_ON_LATCH_MASK: Final = 0x208
STREAM_OFF_OFF_LATCH_MASK: Final = 0x210
STREAM_OFF_ACTIVE_COUNTER_MASK: Final = 0x218

# =============================================================================
# Scratch pad (§3.5)
# =============================================================================
SCRATCHPAD_BITS: Final = 0xF0D80000            # 8-byte mask
SCRATCHPAD_BITS_SET_ON: Final = 0xF0D80400
SCRATCHPAD_BITS_SET_OFF: Final = 0xF0D80408
SCRATCHPAD_INT32_AREA1: Final = 0xF0D81000
SCRATCHPAD_FLOAT_AREA1: Final = 0xF0D82000
SCRATCHPAD_INT32_AREA2: Final = 0xF0DA0000     # areas 2 and 3 are contiguous
SCRATCHPAD_FLOAT_AREA2: Final = 0xF0DC0000
SCRATCHPAD_INT64: Final = 0xF0DE0000
SCRATCHPAD_STRINGS: Final = 0xF0D83000

SCRATCHPAD_AREA1_COUNT: Final = 1024
SCRATCHPAD_NUMERIC_COUNT: Final = 10240        # logical indexes 0..10239
SCRATCHPAD_INT64_COUNT: Final = 1024
SCRATCHPAD_INT64_STRIDE: Final = 8             # §7 Q11: big-endian 64-bit, stride 8
SCRATCHPAD_STRING_SLOTS: Final = 64
SCRATCHPAD_STRING_STRIDE: Final = 0x82         # 130 bytes: length word + 128 data
SCRATCHPAD_STRING_LENGTH_BYTES: Final = 2      # uint16 BE
SCRATCHPAD_STRING_MAX: Final = 128


class Run(NamedTuple):
    """A contiguous range of scratch-pad elements: ``elements`` elements from
    logical index ``first``, starting at byte ``address``."""

    address: int
    first: int
    elements: int


def _check_index(name: str, value: object, limit: int) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not bool")
    try:
        v = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an int, not {type(value).__name__}") from None
    if not 0 <= v < limit:
        raise ValueError(f"{name} {v} out of range 0..{limit - 1}")
    return v


def _numeric_address(area1: int, area2: int, index: int) -> int:
    if index < SCRATCHPAD_AREA1_COUNT:
        return area1 + 4 * index
    return area2 + 4 * (index - SCRATCHPAD_AREA1_COUNT)


def scratchpad_int32_address(index: int) -> int:
    """Byte address of int32 scratch-pad logical index 0..10239."""
    i = _check_index("index", index, SCRATCHPAD_NUMERIC_COUNT)
    return _numeric_address(SCRATCHPAD_INT32_AREA1, SCRATCHPAD_INT32_AREA2, i)


def scratchpad_float_address(index: int) -> int:
    """Byte address of float32 scratch-pad logical index 0..10239."""
    i = _check_index("index", index, SCRATCHPAD_NUMERIC_COUNT)
    return _numeric_address(SCRATCHPAD_FLOAT_AREA1, SCRATCHPAD_FLOAT_AREA2, i)


def scratchpad_int64_address(index: int) -> int:
    """Byte address of int64 scratch-pad index 0..1023 (stride 8)."""
    i = _check_index("index", index, SCRATCHPAD_INT64_COUNT)
    return SCRATCHPAD_INT64 + SCRATCHPAD_INT64_STRIDE * i


def scratchpad_string_address(slot: int) -> int:
    """Byte address of string slot 0..63: a uint16 BE length, then 128 data bytes."""
    s = _check_index("slot", slot, SCRATCHPAD_STRING_SLOTS)
    return SCRATCHPAD_STRINGS + SCRATCHPAD_STRING_STRIDE * s


SCRATCHPAD_KINDS: Final = ("int32", "float", "int64")


def scratchpad_runs(kind: str, index: int, count: int) -> List[Run]:
    """Split ``count`` elements of scratch-pad ``kind`` from ``index`` into
    address-contiguous runs (int32/float split at the area 1 / area 2 border).

    ``kind`` is ``"int32"``, ``"float"`` or ``"int64"``.  Raises ``ValueError``
    when any index falls outside the area, ``TypeError`` for non-ints.
    """
    if kind == "int64":
        limit = SCRATCHPAD_INT64_COUNT
    elif kind in ("int32", "float"):
        limit = SCRATCHPAD_NUMERIC_COUNT
    else:
        raise ValueError(f"unknown scratch-pad kind {kind!r}")
    i = _check_index("index", index, limit)
    n = operator.index(count)
    if n < 1:
        raise ValueError(f"count must be at least 1, got {n}")
    if i + n > limit:
        raise ValueError(f"index {i} + count {n} runs past the last index {limit - 1}")
    if kind == "int64":
        return [Run(SCRATCHPAD_INT64 + SCRATCHPAD_INT64_STRIDE * i, i, n)]
    a1, a2 = ((SCRATCHPAD_INT32_AREA1, SCRATCHPAD_INT32_AREA2) if kind == "int32"
              else (SCRATCHPAD_FLOAT_AREA1, SCRATCHPAD_FLOAT_AREA2))
    runs: List[Run] = []
    if i < SCRATCHPAD_AREA1_COUNT:
        first = min(n, SCRATCHPAD_AREA1_COUNT - i)
        runs.append(Run(a1 + 4 * i, i, first))
        i, n = i + first, n - first
    if n:
        runs.append(Run(_numeric_address(a1, a2, i), i, n))
    return runs


# =============================================================================
# groov EPIC I/O (§3.6)
# =============================================================================
MAX_MODULES: Final = 16          # modules 0..15 on an EPIC rack
MAX_CHANNELS: Final = 64         # channels 0..63 addressable per module
SLOT_SIZE: Final = 0x40          # every per-channel slot
MODULE_STRIDE: Final = 0x1000    # every module

EPIC_DIGITAL_READ: Final = 0xF01E0000
EPIC_DIGITAL_WRITE: Final = 0xF0220000
EPIC_ANALOG_READ: Final = 0xF0260000
EPIC_ANALOG_WRITE: Final = 0xF02A0000

# digital read slot fields (uint32 BE each)
DIG_STATE: Final = 0x00
DIG_ON_LATCH: Final = 0x04
DIG_OFF_LATCH: Final = 0x08
DIG_FEATURE_TYPE: Final = 0x0C
DIG_FEATURE_VALUE: Final = 0x10
DIG_QUALITY: Final = 0x14
DIGITAL_CHANNEL_LENGTH: Final = 0x18     # bytes of the slot holding the fields above
# analog read slot fields
ANA_VALUE: Final = 0x00          # float32 EU
ANA_COUNTS: Final = 0x04         # float32, 0.0 on EPIC
ANA_MINIMUM: Final = 0x08        # float32
ANA_MAXIMUM: Final = 0x0C        # float32
ANA_QUALITY: Final = 0x10        # uint32
ANALOG_CHANNEL_LENGTH: Final = 0x14
# analog write slot
ANA_WRITE_VALUE: Final = 0x00

#: struct layouts of whole-channel reads (big-endian)
DIGITAL_CHANNEL_STRUCT: Final = struct.Struct(">IIIIII")   # state, on, off, ftype, fvalue, quality
ANALOG_CHANNEL_STRUCT: Final = struct.Struct(">ffffI")     # value, counts, min, max, quality

# Analog read-and-clear min/max: 0xF01D4000 + 0x300*m + 0x0C*c: +0 min, +4 max
EPIC_ANALOG_READ_CLEAR: Final = 0xF01D4000
ANALOG_READ_CLEAR_MODULE_STRIDE: Final = 0x300
ANALOG_READ_CLEAR_CHANNEL_STRIDE: Final = 0x0C
# Digital read-and-clear: 0xF02E0000 + 0x600*m + 0x18*c: +0 feature value, +4 on-latch, +8 off-latch
EPIC_DIGITAL_READ_CLEAR: Final = 0xF02E0000
DIGITAL_READ_CLEAR_MODULE_STRIDE: Final = 0x600
DIGITAL_READ_CLEAR_CHANNEL_STRIDE: Final = 0x18

# Packed areas
PACKED_DIGITAL_STATES: Final = 0xF1001800      # + 4*m, uint32 BE, bit c = channel c
PACKED_DIGITAL_STATES_COUNT: Final = 16
PACKED_VALUES: Final = 0xF1001000              # + 0x80*m + 4*c: float32 EU / uint32 counter
PACKED_VALUES_MODULE_STRIDE: Final = 0x80
PACKED_VALUES_CHANNELS: Final = 32
PACKED_DIGITAL_MODULE: Final = 0xF1001900      # + 16*m: states, quality, on, off (4 x uint32)
PACKED_DIGITAL_MODULE_STRIDE: Final = 16
MODULE_QUALITY_MASK: Final = 0xF1002000        # 8 bytes
CHANNEL_QUALITY: Final = 0xF1002080            # + 0x100*m + 4*c, uint32
CHANNEL_QUALITY_MODULE_STRIDE: Final = 0x100

# Point configuration (module type, point type, feature, ...)
EPIC_POINT_CONFIG: Final = 0xF0100000          # + 0x3000*m + 0xC0*c
POINT_CONFIG_MODULE_STRIDE: Final = 0x3000
POINT_CONFIG_CHANNEL_STRIDE: Final = 0xC0
# point configuration record fields (big-endian; UI = uint32, F = float32)
POINT_CONFIG_MODULE_TYPE: Final = 0x00     # UI, read-only
POINT_CONFIG_POINT_TYPE: Final = 0x04      # UI
POINT_CONFIG_FEATURE: Final = 0x08         # UI, writable (1 = counter)
POINT_CONFIG_OFFSET: Final = 0x0C          # F
POINT_CONFIG_GAIN: Final = 0x10            # F
POINT_CONFIG_HIGH_SCALE: Final = 0x14      # F
POINT_CONFIG_LOW_SCALE: Final = 0x18       # F
POINT_CONFIG_FILTER_WEIGHT: Final = 0x20   # F
POINT_CONFIG_WATCHDOG_VALUE: Final = 0x24  # F
POINT_CONFIG_WATCHDOG_ENABLE: Final = 0x28  # UI boolean
POINT_CONFIG_NAME: Final = 0x30            # S-ZT name
POINT_CONFIG_NAME_LENGTH: Final = 51       # EPIC record (SNAP §3.7 record: 16)
#: the fields above from +0x00 to +0x2B: module type, point type, feature, offset, gain,
#: high scale, low scale, (reserved +0x1C), filter weight, watchdog value, watchdog enable
POINT_CONFIG_STRUCT: Final = struct.Struct(">IIIffff4xffI")
FEATURE_NONE: Final = 0
FEATURE_COUNTER: Final = 1
#: digital feature codes of the point configuration (PROTOCOL.md §3.6)
FEATURE_NAMES: Final = {
    0x00: "none", 0x01: "counter", 0x02: "on-time totalizer", 0x03: "period", 0x04: "quadrature",
    0x08: "frequency", 0x09: "on pulse", 0x0A: "off pulse", 0x0B: "one-shot period",
    0x0C: "one-shot frequency", 0x12: "off-time totalizer", 0x41: "quadrature with index",
}
#: point type codes of the SNAP point configuration (PROTOCOL.md §3.7)
POINT_TYPE_NAMES: Final = {0x100: "digital input", 0x180: "digital output"}

# Legacy 64-point map (§2.4 stream, §3.7 SNAP PAC areas): point p = 4*module + channel
SNAP_CHANNELS: Final = 4         # channels 0..3 of a SNAP module
SNAP_POINTS: Final = 64          # points 0..63 = modules 0..15 x channels 0..3


def snap_point(module: int, channel: int) -> int:
    """Legacy point number ``4*module + channel`` (module 0..15, channel 0..3;
    ``ValueError``/``TypeError`` otherwise).  It is the point of the standard
    stream packet and of the SNAP PAC point and bank areas."""
    m = _check_index("module", module, MAX_MODULES)
    c = _check_index("channel", channel, SNAP_CHANNELS)
    return SNAP_CHANNELS * m + c


# SNAP PAC point and bank areas (§3.7), indexed by the legacy point p = snap_point(m, c)
SNAP_POINT_STRIDE: Final = 0x40            # every per-point record
SNAP_DIGITAL_BANK_READ: Final = 0xF0400000
SNAP_BANK_STATE: Final = 0x00              # 64-bit masks, point 63 in the top bit of byte +0
SNAP_BANK_ON_LATCH: Final = 0x08
SNAP_BANK_OFF_LATCH: Final = 0x10
SNAP_BANK_ACTIVE_COUNTER: Final = 0x18
SNAP_BANK_PULSE_COMPLETE: Final = 0x20
SNAP_BANK_COUNTERS: Final = 0x100          # + 4*p, uint32
SNAP_DIGITAL_BANK_WRITE: Final = 0xF0500000
SNAP_BANK_TURN_ON: Final = 0x00            # 64-bit command masks (act, read back 0)
SNAP_BANK_TURN_OFF: Final = 0x08
SNAP_BANK_ACTIVATE_COUNTER: Final = 0x10
SNAP_BANK_DEACTIVATE_COUNTER: Final = 0x18
SNAP_ANALOG_BANK_READ: Final = 0xF0600000
SNAP_ANALOG_BANK_WRITE: Final = 0xF0700000
SNAP_BANK_VALUE: Final = 0x000             # + 4*p, float32 EU
SNAP_BANK_COUNTS: Final = 0x100
SNAP_BANK_MINIMUM: Final = 0x200
SNAP_BANK_MAXIMUM: Final = 0x300
SNAP_DIGITAL_READ: Final = 0xF0800000      # + 0x40*p
SNAP_DIG_STATE: Final = 0x00
SNAP_DIG_ON_LATCH: Final = 0x04
SNAP_DIG_OFF_LATCH: Final = 0x08
SNAP_DIG_COUNTER_ACTIVE: Final = 0x0C
SNAP_DIG_FEATURE_VALUE: Final = 0x10
SNAP_DIGITAL_WRITE: Final = 0xF0900000     # + 0x40*p: command words (act, read back 0)
SNAP_DIG_TURN_ON: Final = 0x00
SNAP_DIG_TURN_OFF: Final = 0x04
SNAP_DIG_ACTIVATE_COUNTER: Final = 0x08
SNAP_DIG_DEACTIVATE_COUNTER: Final = 0x0C
SNAP_ANALOG_READ: Final = 0xF0A00000       # + 0x40*p: +0 EU, +4 counts, +8 min, +0x0C max
SNAP_ANALOG_WRITE: Final = 0xF0B00000      # + 0x40*p: +0 EU, +4 counts, +0x0C TPO period
SNAP_ANA_VALUE: Final = 0x00
SNAP_ANA_COUNTS: Final = 0x04
SNAP_ANA_MINIMUM: Final = 0x08
SNAP_ANA_MAXIMUM: Final = 0x0C
SNAP_POINT_CONFIG: Final = 0xF0C00000      # + 0x40*p, fields as POINT_CONFIG_* (name 16 bytes)
SNAP_POINT_CONFIG_NAME_LENGTH: Final = 16
SNAP_DIGITAL_READ_CLEAR: Final = 0xF0F00000   # + 4*p counts; +0x100 on-latch; +0x200 off-latch
SNAP_READ_CLEAR_COUNTS: Final = 0x000
SNAP_READ_CLEAR_ON_LATCH: Final = 0x100
SNAP_READ_CLEAR_OFF_LATCH: Final = 0x200
SNAP_ANALOG_READ_CLEAR: Final = 0xF0F80000    # + 4*p min; +0x100 max
SNAP_READ_CLEAR_MINIMUM: Final = 0x000
SNAP_READ_CLEAR_MAXIMUM: Final = 0x100

# Custom scatter-gather area (§3.8): address list entry i at + 4*i, gathered data at + 4*i
CUSTOM_AREA_ADDRESSES: Final = 0xF0D50000
CUSTOM_AREA_DATA: Final = 0xF0D60000
CUSTOM_AREA_ENTRIES: Final = 1024
CUSTOM_AREA_ENTRY_SIZE: Final = 4

QUALITY_GOOD: Final = 0
QUALITY_MODULE_NOT_DETECTED: Final = 30


def check_point(module: int, channel: int) -> Tuple[int, int]:
    """Validate an EPIC point: module 0..15, channel 0..63 (``ValueError``/``TypeError``)."""
    return (_check_index("module", module, MAX_MODULES),
            _check_index("channel", channel, MAX_CHANNELS))


def _slot(base: int, module: int, channel: int) -> int:
    m, c = check_point(module, channel)
    return base + MODULE_STRIDE * m + SLOT_SIZE * c


def digital_read_address(module: int, channel: int) -> int:
    """Start of the 0x40-byte digital read slot of (module, channel)."""
    return _slot(EPIC_DIGITAL_READ, module, channel)


def digital_write_address(module: int, channel: int) -> int:
    """Start of the digital write slot (+0: state word, 0 off / non-0 on)."""
    return _slot(EPIC_DIGITAL_WRITE, module, channel)


def analog_read_address(module: int, channel: int) -> int:
    """Start of the 0x40-byte analog read slot (+0 value, +8 min, +0xC max; float32)."""
    return _slot(EPIC_ANALOG_READ, module, channel)


def analog_write_address(module: int, channel: int) -> int:
    """Start of the analog write slot (+0 value, float32 EU)."""
    return _slot(EPIC_ANALOG_WRITE, module, channel)


def packed_state_address(module: int) -> int:
    """uint32 BE of packed digital states of ``module`` (bit c = channel c, c < 32)."""
    m = _check_index("module", module, PACKED_DIGITAL_STATES_COUNT)
    return PACKED_DIGITAL_STATES + 4 * m


def packed_value_address(module: int, channel: int) -> int:
    """float32 (analog EU) / uint32 (digital counter) of (module, channel < 32)."""
    m = _check_index("module", module, MAX_MODULES)
    c = _check_index("channel", channel, PACKED_VALUES_CHANNELS)
    return PACKED_VALUES + PACKED_VALUES_MODULE_STRIDE * m + 4 * c


def analog_read_clear_address(module: int, channel: int) -> int:
    """Analog min/max read-and-clear record (+0 min, +4 max; float32)."""
    m, c = check_point(module, channel)
    return EPIC_ANALOG_READ_CLEAR + ANALOG_READ_CLEAR_MODULE_STRIDE * m + ANALOG_READ_CLEAR_CHANNEL_STRIDE * c


def point_config_address(module: int, channel: int) -> int:
    """Start of the 0xC0-byte point configuration record of (module, channel)."""
    m, c = check_point(module, channel)
    return EPIC_POINT_CONFIG + POINT_CONFIG_MODULE_STRIDE * m + POINT_CONFIG_CHANNEL_STRIDE * c


def digital_read_clear_address(module: int, channel: int) -> int:
    """Digital read-and-clear record (+0 feature value, +4 on-latch, +8 off-latch)."""
    m, c = check_point(module, channel)
    return EPIC_DIGITAL_READ_CLEAR + DIGITAL_READ_CLEAR_MODULE_STRIDE * m + DIGITAL_READ_CLEAR_CHANNEL_STRIDE * c


# =============================================================================
# Valid ranges (§3.9): (first, last inclusive, writable)
# =============================================================================
class Area(NamedTuple):
    """A mapped address range; ``last`` is inclusive."""

    first: int
    last: int
    writable: bool
    name: str


AREAS: Final[Tuple[Area, ...]] = (
    Area(0xF0100000, 0xF01BFFFF, True, "point configuration"),
    Area(0xF01C0000, 0xF01C7FFF, True, "EPIC area 0xF01C0000"),
    Area(0xF01C8000, 0xF01D3FFF, True, "EPIC read-and-clear 0xF01C8000"),
    Area(0xF01D4000, 0xF01DFFFF, False, "analog min/max read-and-clear"),
    Area(0xF01E0000, 0xF021FFFF, False, "digital channel read"),
    Area(0xF0220000, 0xF025FFFF, True, "digital channel write"),
    Area(0xF0260000, 0xF029FFFF, False, "analog channel read"),
    Area(0xF02A0000, 0xF02DFFFF, True, "analog channel write"),
    Area(0xF02E0000, 0xF02F7FFF, False, "digital read-and-clear"),
    Area(0xF0300000, 0xF030024F, False, "status read"),
    Area(0xF0350000, 0xF0350023, True, "date and time"),
    Area(0xF0380000, 0xF03802B3, True, "status write"),
    Area(0xF03A0000, 0xF03A007F, True, "network security"),
    Area(0xF03FFFC0, 0xF03FFFFF, True, "stream configuration"),
    Area(0xF0400000, 0xF04001FF, False, "digital bank read"),
    Area(0xF0500000, 0xF050001F, True, "digital bank write"),
    Area(0xF0600000, 0xF06003FF, False, "analog bank read"),
    Area(0xF0700000, 0xF07001FF, True, "analog bank write"),
    Area(0xF0800000, 0xF0800FFF, False, "digital point read"),
    Area(0xF0900000, 0xF0900FFF, True, "digital point write"),
    Area(0xF0A00000, 0xF0A00FFF, False, "analog point read"),
    Area(0xF0B00000, 0xF0B00FFF, True, "analog point write"),
    Area(0xF0C00000, 0xF0C011FF, True, "point configuration (SNAP)"),
    Area(0xF0D50000, 0xF0D50FFF, True, "custom area addresses"),
    Area(0xF0D60000, 0xF0D60FFF, True, "custom area data"),
    Area(0xF0D80000, 0xF0D80007, True, "scratch pad bits"),
    Area(0xF0D80400, 0xF0D8040F, True, "scratch pad bit set/clear masks"),
    Area(0xF0D81000, 0xF0D8507F, True, "scratch pad int32/float area 1 and strings"),
    Area(0xF0DA0000, 0xF0DA8FFF, True, "scratch pad int32 areas 2-3"),
    Area(0xF0DC0000, 0xF0DC8FFF, True, "scratch pad float areas 2-3"),
    Area(0xF0DE0000, 0xF0DE1FFF, True, "scratch pad int64"),
    Area(0xF0E00000, 0xF0E001FF, False, "analog calc and set"),
    Area(0xF0F00000, 0xF0F002FF, False, "digital read-and-clear (SNAP)"),
    Area(0xF0F80000, 0xF0F801FF, False, "analog read-and-clear (SNAP)"),
    Area(0xF1000000, 0xF100021F, False, "streaming read"),
    Area(0xF1001000, 0xF100183F, False, "packed values and digital states"),
    Area(0xF1001900, 0xF10019FF, False, "packed digital per module"),
    Area(0xF1002000, 0xF1002007, False, "module quality mask"),
    Area(0xF1002080, 0xF100607F, False, "channel quality"),
    Area(0xF1808000, 0xF180C3FF, True, "HD digital"),
    Area(0xFFFFF008, 0xFFFFF077, True, "IP settings"),
)


def find_area(address: int, length: int) -> "Area | None":
    """The area holding all of ``[address, address + length)``, or ``None``."""
    end = address + max(length, 1) - 1
    for area in AREAS:
        if area.first <= address <= area.last:
            return area if end <= area.last else None
    return None


# =============================================================================
# Reads with side effects (§2.3, §3.6-3.7): read-and-clear and calc-and-set.
# A planner must never read bytes here that nobody asked for.
# =============================================================================
READ_SIDE_EFFECT_RANGES: Final[Tuple[Tuple[int, int], ...]] = (   # (first, last inclusive)
    (0xF01C8000, 0xF01D3FFF),    # EPIC read-and-clear area
    (EPIC_ANALOG_READ_CLEAR, 0xF01DFFFF),
    (EPIC_DIGITAL_READ_CLEAR, 0xF02F7FFF),
    (0xF0E00000, 0xF0E001FF),    # analog calc and set (reading sets)
    (0xF0F00000, 0xF0F002FF),    # SNAP digital read-and-clear
    (0xF0F80000, 0xF0F801FF),    # SNAP analog read-and-clear
    (0xF180A000, 0xF180BFFF),    # HD latches and counters read-and-clear
)


def read_has_side_effects(address: int, length: int) -> bool:
    """True when reading ``[address, address + length)`` touches a read-and-clear
    or calc-and-set range (reading there changes the device)."""
    end = address + max(length, 1) - 1
    return any(first <= end and address <= last for first, last in READ_SIDE_EFFECT_RANGES)


# =============================================================================
# Per-device point addressing (PROTOCOL.md §3.6-3.8): the EPIC channel slots or
# the SNAP PAC legacy point p = 4*module + channel.  Every function checks its
# arguments (TypeError for non-ints and bools, ValueError out of range).
# =============================================================================
DEVICES: Final = ("epic", "snap")

# EPIC digital read-and-clear record (0x18 bytes), uint32 BE fields
DRC_FEATURE_VALUE: Final = 0x00    # counts / feature value, returned then cleared
DRC_ON_LATCH: Final = 0x04         # boolean32
DRC_OFF_LATCH: Final = 0x08        # boolean32
#: the three words of a digital read-and-clear, in this order, on both devices
#: (EPIC: one record; SNAP: three words apart, read one by one and joined)
DIGITAL_COUNTS_STRUCT: Final = struct.Struct(">III")
DIGITAL_COUNTS_LENGTH: Final = 12
# EPIC analog read-and-clear record (0x0C bytes), float32 BE
ARC_MINIMUM: Final = 0x00
ARC_MAXIMUM: Final = 0x04
#: minimum then maximum, float32 BE, on both devices
MINMAX_STRUCT: Final = struct.Struct(">ff")
MINMAX_LENGTH: Final = 8

#: bytes of a point configuration read: fixed fields (+0x00..+0x2F) and the name
POINT_CONFIG_LENGTH: Final = POINT_CONFIG_NAME + POINT_CONFIG_NAME_LENGTH             # EPIC, 0x63
SNAP_POINT_CONFIG_LENGTH: Final = POINT_CONFIG_NAME + SNAP_POINT_CONFIG_NAME_LENGTH   # SNAP, 0x40

#: bytes of one custom-area data read at most (the SDK gathers up to 256 entries
#: per transaction, §3.8)
CUSTOM_AREA_MAX_READ: Final = 256 * CUSTOM_AREA_ENTRY_SIZE


def check_device(device: object) -> str:
    """``device`` if it is ``"epic"`` or ``"snap"`` (``TypeError`` / ``ValueError`` otherwise)."""
    if not isinstance(device, str):
        raise TypeError(f"device must be a str, not {type(device).__name__}")
    if device not in DEVICES:
        raise ValueError(f"device must be 'epic' or 'snap', not {device!r}")
    return device


def check_device_point(module: int, channel: int, device: str = "epic") -> Tuple[int, int]:
    """Validate a point of ``device``: EPIC module 0..15, channel 0..63; SNAP
    module 0..15, channel 0..3."""
    limit = MAX_CHANNELS if check_device(device) == "epic" else SNAP_CHANNELS
    return (_check_index("module", module, MAX_MODULES), _check_index("channel", channel, limit))


def snap_digital_read_address(module: int, channel: int) -> int:
    """SNAP digital point read record 0xF0800000 + 0x40*p (+0 state, +4 on-latch,
    +8 off-latch, +0x0C counter active, +0x10 feature value; uint32 BE)."""
    return SNAP_DIGITAL_READ + SNAP_POINT_STRIDE * snap_point(module, channel)


def snap_digital_write_address(module: int, channel: int) -> int:
    """SNAP digital point write record 0xF0900000 + 0x40*p (+0 turn on, +4 turn off:
    write a non-zero uint32 to act)."""
    return SNAP_DIGITAL_WRITE + SNAP_POINT_STRIDE * snap_point(module, channel)


def snap_analog_read_address(module: int, channel: int) -> int:
    """SNAP analog point read record 0xF0A00000 + 0x40*p (+0 EU, +4 counts,
    +8 min, +0x0C max; float32 BE)."""
    return SNAP_ANALOG_READ + SNAP_POINT_STRIDE * snap_point(module, channel)


def snap_analog_write_address(module: int, channel: int) -> int:
    """SNAP analog point write record 0xF0B00000 + 0x40*p (+0 EU, float32 BE)."""
    return SNAP_ANALOG_WRITE + SNAP_POINT_STRIDE * snap_point(module, channel)


def snap_point_config_address(module: int, channel: int) -> int:
    """SNAP point configuration record 0xF0C00000 + 0x40*p (fields as ``POINT_CONFIG_*``,
    16-byte name)."""
    return SNAP_POINT_CONFIG + SNAP_POINT_STRIDE * snap_point(module, channel)


def mask64_word(base: int, point: int) -> Tuple[int, int]:
    """``(word address, bit)`` of ``point`` (0..63) in the 64-bit BE mask at ``base``:
    points 63..32 are the uint32 at +0 (bit p-32), points 31..0 the uint32 at +4 (bit p)."""
    p = _check_index("point", point, SNAP_POINTS)
    return (base, p - 32) if p >= 32 else (base + 4, p)


def snap_bank_state_word(module: int, channel: int) -> Tuple[int, int]:
    """``(word address, bit)`` of a SNAP point's state in the digital bank's state
    mask (0xF0400000, 8 bytes)."""
    return mask64_word(SNAP_DIGITAL_BANK_READ + SNAP_BANK_STATE, snap_point(module, channel))


def snap_bank_counter_address(module: int, channel: int) -> int:
    """uint32 BE counter of a SNAP point in the digital bank: 0xF0400100 + 4*p."""
    return SNAP_DIGITAL_BANK_READ + SNAP_BANK_COUNTERS + 4 * snap_point(module, channel)


def snap_bank_value_address(module: int, channel: int) -> int:
    """float32 BE value (EU) of a SNAP point in the analog bank: 0xF0600000 + 4*p."""
    return SNAP_ANALOG_BANK_READ + SNAP_BANK_VALUE + 4 * snap_point(module, channel)


def point_config_request(module: int, channel: int, *, device: str = "epic") -> Tuple[int, int]:
    """``(address, length)`` of the one read giving a point's configuration
    (fixed fields and name): EPIC 0xF0100000 + 0x3000*m + 0xC0*c, 0x63 bytes;
    SNAP 0xF0C00000 + 0x40*p, 0x40 bytes."""
    if check_device(device) == "snap":
        return snap_point_config_address(module, channel), SNAP_POINT_CONFIG_LENGTH
    return point_config_address(module, channel), POINT_CONFIG_LENGTH


def point_feature_address(module: int, channel: int, *, device: str = "epic") -> int:
    """Address of a point's feature word (uint32 BE, +0x08 of its configuration)."""
    return point_config_request(module, channel, device=device)[0] + POINT_CONFIG_FEATURE


def read_clear_digital_requests(module: int, channel: int, *,
                                device: str = "epic") -> Tuple[Tuple[int, int], ...]:
    """The reads of a digital read-and-clear, ``((address, length), ...)``; their data
    joined is ``DIGITAL_COUNTS_STRUCT`` (feature value, on-latch, off-latch).

    EPIC: one 12-byte read of 0xF02E0000 + 0x600*m + 0x18*c.  SNAP: three 4-byte
    reads, 0xF0F00000 + 4*p (counts), +0x100 (on-latch), +0x200 (off-latch): the
    words between them belong to other points and must not be read (reading clears).
    """
    if check_device(device) == "snap":
        p = snap_point(module, channel)
        return tuple((SNAP_DIGITAL_READ_CLEAR + field + 4 * p, 4)
                     for field in (SNAP_READ_CLEAR_COUNTS, SNAP_READ_CLEAR_ON_LATCH,
                                   SNAP_READ_CLEAR_OFF_LATCH))
    return ((digital_read_clear_address(module, channel), DIGITAL_COUNTS_LENGTH),)


def read_clear_analog_requests(module: int, channel: int, *,
                               device: str = "epic") -> Tuple[Tuple[int, int], ...]:
    """The reads of an analog min/max read-and-clear; their data joined is
    ``MINMAX_STRUCT`` (minimum, maximum).  EPIC: one 8-byte read of 0xF01D4000 +
    0x300*m + 0x0C*c.  SNAP: 0xF0F80000 + 4*p (min) and 0xF0F80100 + 4*p (max)."""
    if check_device(device) == "snap":
        p = snap_point(module, channel)
        return tuple((SNAP_ANALOG_READ_CLEAR + field + 4 * p, 4)
                     for field in (SNAP_READ_CLEAR_MINIMUM, SNAP_READ_CLEAR_MAXIMUM))
    return ((analog_read_clear_address(module, channel), MINMAX_LENGTH),)


def custom_address_entry(index: int) -> int:
    """Address-list entry ``index`` (0..1023) of the custom area: 0xF0D50000 + 4*index."""
    return CUSTOM_AREA_ADDRESSES + CUSTOM_AREA_ENTRY_SIZE * _check_index("index", index, CUSTOM_AREA_ENTRIES)


def custom_data_address(index: int) -> int:
    """Gathered data of entry ``index`` (0..1023): 0xF0D60000 + 4*index (4 bytes)."""
    return CUSTOM_AREA_DATA + CUSTOM_AREA_ENTRY_SIZE * _check_index("index", index, CUSTOM_AREA_ENTRIES)
