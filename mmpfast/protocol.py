"""The one table of OptoMMP wire facts (PROTOCOL.md §1).

Every frame is big-endian.  The first quadlet is ``destination_ID`` (2 bytes),
then ``tl << 2 | rt`` (1 byte) and ``tcode << 4 | pri`` (1 byte).  Requests
carry ``source_ID`` (bytes 4-5) and a 48-bit destination offset (bytes 6-11,
top 16 bits ``0xFFFF``).  Responses carry ``source_ID`` (bytes 4-5) and
``rcode << 4`` in byte 6.  Block frames (tcodes 1, 5, 7) carry a 16-bit
``data_length`` at bytes 12-13 and ``extended_tcode`` (zero) at 14-15.

Both codecs, the clients and the simulator take these numbers from here.
"""
from __future__ import annotations

import struct
from typing import Final, Union

# --- transaction codes --------------------------------------------------------
TCODE_WRITE_QUADLET: Final = 0
TCODE_WRITE_BLOCK: Final = 1
TCODE_WRITE_RESPONSE: Final = 2
TCODE_READ_QUADLET: Final = 4
TCODE_READ_BLOCK: Final = 5
TCODE_READ_QUADLET_RESPONSE: Final = 6
TCODE_READ_BLOCK_RESPONSE: Final = 7

REQUEST_TCODES: Final = frozenset({0, 1, 4, 5})
RESPONSE_TCODES: Final = frozenset({2, 6, 7})
VALID_TCODES: Final = REQUEST_TCODES | RESPONSE_TCODES
#: tcodes whose frame length is HEADER_BLOCK + data_length (bytes 12-13).
VARIABLE_TCODES: Final = frozenset({1, 7})

TCODE_NAMES: Final = {
    0: "write quadlet request",
    1: "write block request",
    2: "write response",
    4: "read quadlet request",
    5: "read block request",
    6: "read quadlet response",
    7: "read block response",
}

# --- sizes (bytes) ------------------------------------------------------------
HEADER_SHORT: Final = 12          # tcodes 2 and 4
HEADER_BLOCK: Final = 16          # tcodes 0, 1, 5, 6, 7 (0 and 6 include the quadlet)
QUADLET: Final = 4
#: total frame length by tcode for the fixed-size frames
FIXED_FRAME_LENGTH: Final = {0: 16, 2: 12, 4: 12, 5: 16, 6: 16}
#: bytes needed before frame_length can answer: tcode is in byte 3, data_length in 12-13
MIN_PEEK: Final = 4
MIN_PEEK_VARIABLE: Final = 14

# --- header layout (offsets into a frame) ------------------------------------
OFF_TL: Final = 2                 # tl = byte >> 2
OFF_TCODE: Final = 3              # tcode = byte >> 4
OFF_SOURCE_ID: Final = 4          # uint16 BE
OFF_RCODE: Final = 6              # rcode = byte >> 4 (responses)
OFF_ADDRESS_HIGH: Final = 6       # uint16 BE, always 0xFFFF (requests)
OFF_ADDRESS: Final = 8            # uint32 BE, low 32 bits of the offset (requests)
OFF_DATA_LENGTH: Final = 12       # uint16 BE (tcodes 1, 5, 7)
OFF_QUADLET: Final = 12           # 4 data bytes (tcodes 0, 6)
OFF_BLOCK_DATA: Final = 16        # data of tcodes 1 and 7

ADDRESS_HIGH: Final = 0xFFFF      # upper 16 bits of every documented offset

#: what the header helpers below accept: any indexable run of bytes
HeaderBytes = Union[bytes, bytearray, memoryview]


def tcode_of(header: HeaderBytes) -> int:
    """The tcode of the frame that starts ``header`` (needs ``MIN_PEEK`` bytes; byte 3, top 4 bits)."""
    return header[OFF_TCODE] >> 4


def tl_of(header: HeaderBytes) -> int:
    """The transaction label of the frame that starts ``header`` (byte 2, top 6 bits)."""
    return header[OFF_TL] >> 2


def source_id_of(header: HeaderBytes) -> int:
    """The source_ID of the frame that starts ``header`` (bytes 4-5, big-endian)."""
    return (header[OFF_SOURCE_ID] << 8) | header[OFF_SOURCE_ID + 1]


def set_tl(header: bytearray, tl: int) -> None:
    """Give the frame in ``header`` transaction label ``tl`` (0..63), keeping the rt bits."""
    header[OFF_TL] = ((tl % TL_MODULO) << 2) | (header[OFF_TL] & 3)


def set_tcode(header: bytearray, tcode: int) -> None:
    """Give the frame in ``header`` tcode ``tcode`` (0..15), keeping the priority bits."""
    header[OFF_TCODE] = ((tcode & 0x0F) << 4) | (header[OFF_TCODE] & 0x0F)

#: struct layouts (big-endian).  A request header is destination_ID, tl<<2|rt,
#: tcode<<4|pri, source_ID, address_high, address (12 bytes); a response header
#: is destination_ID, tl<<2|rt, tcode<<4|pri, source_ID, rcode<<4, reserved,
#: reserved quadlet (12 bytes).  Block frames add data_length, extended_tcode.
REQUEST_HEADER_FMT: Final = ">HBBHHI"
RESPONSE_HEADER_FMT: Final = ">HBBHBBI"
BLOCK_FIELDS_FMT: Final = "HH"
REQUEST_HEADER: Final = struct.Struct(REQUEST_HEADER_FMT)
RESPONSE_HEADER: Final = struct.Struct(RESPONSE_HEADER_FMT)
BLOCK_REQUEST_HEADER: Final = struct.Struct(REQUEST_HEADER_FMT + BLOCK_FIELDS_FMT)
BLOCK_RESPONSE_HEADER: Final = struct.Struct(RESPONSE_HEADER_FMT + BLOCK_FIELDS_FMT)

# --- transport ----------------------------------------------------------------
DEFAULT_PORT: Final = 2001        # OptoMMP's TCP (and UDP) port
MAX_PORT: Final = 0xFFFF

# --- limits -------------------------------------------------------------------
MAX_BLOCK: Final = 1024           # default largest data_length per request (SDK chunk)
MAX_DATA_LENGTH: Final = 0xFFFF   # ceiling of the 16-bit data_length field
MAX_TL: Final = 63
TL_MODULO: Final = 64
MAX_SOURCE_ID: Final = 0xFFFF
MAX_RCODE: Final = 15
MAX_ADDRESS: Final = 0xFFFFFFFF

# --- response codes and device error codes (PROTOCOL.md §1.6, §3.4) ----------
RCODE_ACK: Final = 0
RCODE_UNDEFINED_COMMAND: Final = 1
RCODE_INVALID_POINT_TYPE: Final = 2
RCODE_INVALID_FLOAT: Final = 3
RCODE_POWERUP_CLEAR_EXPECTED: Final = 4
RCODE_INVALID_ADDRESS: Final = 5
RCODE_INVALID_LENGTH: Final = 6
RCODE_BUSY: Final = 8
RCODE_NOT_IMPLEMENTED: Final = 14
RCODE_WATCHDOG_TIMEOUT: Final = 15

ERROR_CODE_BASE: Final = 0xE000

#: device error code (0xE000 | rcode) -> meaning
DEVICE_ERRORS: Final = {
    0xE001: "undefined command",
    0xE002: "invalid point type",
    0xE003: "invalid float",
    0xE004: "powerup clear expected",
    0xE005: "invalid memory address or invalid data for the address",
    0xE006: "invalid command length",
    0xE007: "reserved",
    0xE008: "busy",
    0xE009: "cannot erase flash",
    0xE00A: "cannot program flash",
    0xE00B: "downloaded image too small",
    0xE00C: "image CRC mismatch",
    0xE00D: "image length mismatch",
    0xE00E: "feature not implemented",
    0xE00F: "communications watchdog timeout",
}


def error_code(rcode: int) -> int:
    """Device error code for an rcode: 0 for ACK, else ``0xE000 | rcode``."""
    return 0 if rcode == 0 else ERROR_CODE_BASE | rcode


def describe_error(code: int) -> str:
    """Human text for a device error code (0xE001..0xE00F) or an rcode (1..15)."""
    if 0 < code <= MAX_RCODE:
        code = ERROR_CODE_BASE | code
    if code == 0:
        return "no error"
    return DEVICE_ERRORS.get(code, f"unknown device error 0x{code:04X}")

