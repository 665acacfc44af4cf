"""Drop-in replacement for ``optommp.O22MMP`` (Opto 22's ``optommp`` 0.7).

Change ``from optommp import O22MMP`` to ``from mmpfast.compat import O22MMP``
and a script keeps its method names, arguments and return types, on
mmpfast's checked client (see the class docstring for what is fixed).
"""
from __future__ import annotations

import struct
from typing import Any, Callable, List, Optional, Sequence, TypeVar, Union

from . import codec, memmap
from .client import DEFAULT_PORT, Client
from .errors import MmpNakError
from .protocol import HEADER_BLOCK

__all__ = ["O22MMP"]

_OUT_OF_BOUNDS = "index out of bounds"
_T = TypeVar("_T")
_STRING_TOO_LONG = "string must be at most 128 bytes"


class O22MMP:
    """The ``optommp.O22MMP`` API on ``mmpfast.Client``.

    ``O22MMP(host=None, port=2001, *, timeout=2.0)``: connects at once, like
    the original (``host`` ``None`` means ``"127.0.0.1"``).  Every method of
    optommp 0.7 exists with the same arguments and return type.  Differences
    (the original's bugs, fixed):

    * Every response is checked (tcode, transaction label, length) and read in
      full; the original reads one ``recv`` and never checks, so a split or
      late answer desynchronises it.  tl rotates 0..63 instead of always 0.
    * Lengths above 255 work (the original puts the length in one byte).
    * ``GetScratchPadIntegerArea``/``Float``: logical index 0..10239 across
      areas 1-3 (the original adds 4·index to area 1 and runs into the float
      area above index 1023, and lets index 10240 through); a negative index
      is out of bounds for floats too.  Negative and large integers are
      written correctly (the original's ``PackInteger`` fails on them).
    * Floats are packed as big-endian float32 (``PackFloat`` fails on 64-bit
      platforms in the original).
    * ``GetScratchPadStringArea`` reads the slot in one request and honours
      the 16-bit length word; ``SetScratchPadStringArea`` writes the length
      word with the text, so strings of 0..128 bytes round-trip (the original
      refused 128 characters and never wrote the length).  Text is UTF-8.
    * ``LastError`` returns the device error code as an int (``0xE005``,
      0 when none) instead of hex text that garbles negative values.
    * ``UnitDescription`` returns the whole 32-byte part number up to its
      first NUL (bytes, as before) instead of the first 12 raw bytes.
    * MAC addresses always have two hex digits per byte (``"00-A0-3D-..."``);
      IP addresses with a zero byte work (the original fails on them).
    * ``Set...`` methods return 0 on success and the device error code
      (``0xE000 | rcode``, e.g. 57349 = 0xE005) on a NAK (the original
      returned bytes 4-7 of the response, e.g. 20480).  Reads that the device
      refuses raise ``mmpfast.MmpNakError`` instead of returning garbage.
    * Connection and timeout failures raise ``mmpfast`` exceptions
      (``MmpConnectionError`` is a ``ConnectionError``, ``MmpTimeoutError`` a
      ``TimeoutError``); the original blocks forever without a timeout.
    """

    def __init__(self, host: Optional[str] = None, port: int = DEFAULT_PORT, *,
                 timeout: float = 2.0) -> None:
        if host is None:
            host = "127.0.0.1"
        self.tlabel = 0
        self.client = Client(host, port, timeout=timeout)
        self.client.connect()

    # ---------------------------------------------------------------- helpers
    def _nak_code(self, call: Any, *args: Any) -> int:
        try:
            call(*args)
        except MmpNakError as exc:
            return exc.error_code
        return 0

    # ---------------------------------------------------------------- misc
    def ReadRawOffset(self, offset: Union[str, int], size: int, data_type: str) -> Any:
        """Read ``size`` bytes at ``offset`` (hex text like ``"F030010C"`` or an int)
        and unpack them as ``UnpackReadResponse`` does."""
        address = int(offset, 16) if isinstance(offset, str) else int(offset)
        return self.UnpackReadResponse(self.ReadBlock(address, size), data_type)

    def LastError(self) -> int:
        """The device's last error code (0 or 0xE001..0xE00F) as an int."""
        raw = self.client.read(memmap.STATUS_LAST_ERROR, 4)
        return int.from_bytes(raw, "big")

    def UnitDescription(self) -> bytes:
        """The part number / unit description (bytes up to the first NUL)."""
        raw = self.client.read(memmap.STATUS_PART_NUMBER, memmap.PART_NUMBER_LENGTH)
        return bytes(raw).split(b"\0", 1)[0]

    def FirmwareVersion(self) -> str:
        """Firmware version text, e.g. ``"R3.6b"``."""
        return memmap.format_firmware(self.client.read(memmap.STATUS_FIRMWARE_VERSION, 4))

    # ---------------------------------------------------------------- Ethernet
    def IPAddressE0(self) -> str:
        return memmap.format_ip(self.client.read(memmap.STATUS_IP_ETH0, memmap.IP_LENGTH))

    def MACAddressE0(self) -> str:
        return memmap.format_mac(self.client.read(memmap.STATUS_MAC_ETH0, memmap.MAC_LENGTH)).replace(":", "-")

    def IPAddressE1(self) -> str:
        return memmap.format_ip(self.client.read(memmap.ETH1_IP, memmap.IP_LENGTH))

    def MACAddressE1(self) -> str:
        return memmap.format_mac(self.client.read(memmap.ETH1_MAC, memmap.MAC_LENGTH)).replace(":", "-")

    # ---------------------------------------------------------------- points
    def GetDigitalPointState(self, module: int, channel: int) -> int:
        """1 when the EPIC digital channel is on, 0 when off."""
        return int(self.client.read_digital(module, channel))

    def SetDigitalPointState(self, module: int, channel: int, state: int) -> int:
        """Turn a digital output on (non-zero) or off (0); 0 on success, else the device error code."""
        return self._nak_code(self.client.write_digital, module, channel, bool(state))

    def GetAnalogPointValue(self, module: int, channel: int) -> float:
        return float(self.client.read_analog(module, channel))

    def SetAnalogPointValue(self, module: int, channel: int, value: float) -> int:
        return self._nak_code(self.client.write_analog, module, channel, value)

    def GetAnalogPointMin(self, module: int, channel: int) -> float:
        return float(self.client.read_analog_channel(module, channel).minimum)

    def GetAnalogPointMax(self, module: int, channel: int) -> float:
        return float(self.client.read_analog_channel(module, channel).maximum)

    # ---------------------------------------------------------------- scratch pad
    def _numeric(self, index: Any, op: Callable[[int], _T]) -> Union[_T, str]:
        """``op(index)`` for a numeric scratch-pad index, else the out-of-bounds string."""
        if not (isinstance(index, int) and 0 <= index < memmap.SCRATCHPAD_NUMERIC_COUNT):
            return _OUT_OF_BOUNDS
        return op(index)

    def GetScratchPadIntegerArea(self, index: int) -> Union[int, str]:
        return self._numeric(index, lambda i: int(self.client.read_scratchpad_int32(i)[0]))

    def SetScratchPadIntegerArea(self, index: int, value: int) -> Union[int, str]:
        return self._numeric(index, lambda i: self._nak_code(self.client.write_scratchpad_int32, i, value))

    def GetScratchPadFloatArea(self, index: int) -> Union[float, str]:
        return self._numeric(index, lambda i: float(self.client.read_scratchpad_float(i)[0]))

    def SetScratchPadFloatArea(self, index: int, value: float) -> Union[int, str]:
        return self._numeric(index, lambda i: self._nak_code(self.client.write_scratchpad_float, i, value))

    def GetScratchPadStringArea(self, index: int) -> str:
        if not (isinstance(index, int) and 0 <= index < memmap.SCRATCHPAD_STRING_SLOTS):
            return _OUT_OF_BOUNDS
        return str(self.client.read_scratchpad_string(index, errors="replace"))

    def SetScratchPadStringArea(self, index: int, value: str) -> Union[int, str]:
        if not (isinstance(index, int) and 0 <= index < memmap.SCRATCHPAD_STRING_SLOTS):
            return _OUT_OF_BOUNDS
        raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        if len(raw) > memmap.SCRATCHPAD_STRING_MAX:
            return _STRING_TOO_LONG
        return self._nak_code(self.client.write_scratchpad_string, index, raw)

    # ---------------------------------------------------------------- unpacking
    def UnpackReadResponse(self, data: bytes, data_type: str) -> Any:
        """Interpret the data of a read-block response (``data`` includes the 16-byte header).

        ``data_type``: ``'FIRMWARE'``, ``'IP'``, ``'MAC'`` (text), ``'NONE'``
        (the raw data bytes) or a ``struct`` format without byte order
        (``'i'``, ``'f'``, ``'2i'``...), unpacked big-endian and returned as
        text (``"1234"``; several values ``"1, 2"``).
        """
        block = bytes(data[HEADER_BLOCK:])
        if data_type == "FIRMWARE":
            return memmap.format_firmware(block[:4])
        if data_type == "IP":
            return memmap.format_ip(block)
        if data_type == "MAC":
            return memmap.format_mac(block).replace(":", "-")
        if data_type == "NONE":
            return block
        fmt = ">" + data_type
        values = struct.unpack_from(fmt, block)
        return ", ".join(str(v) for v in values)

    def UnpackWriteResponse(self, data: bytes) -> int:
        """Bytes 4-7 of a write response as a signed int32 (0 = acknowledged)."""
        return int(struct.unpack_from(">i", bytes(data), 4)[0])

    # ---------------------------------------------------------------- packing
    def PackFloat(self, value: float) -> List[int]:
        """The 4 bytes of ``value`` as big-endian float32, as a list of ints."""
        return list(codec.pack_be(float(value), "f"))

    def PackInteger(self, value: int) -> List[int]:
        """The 4 bytes of ``value`` as big-endian int32 (or uint32 above 2**31 - 1), as a list of ints."""
        v = int(value)
        return list(codec.pack_be(v, "I" if v > 0x7FFFFFFF else "i"))

    # ---------------------------------------------------------------- raw blocks
    def ReadBlock(self, address: int, size: int) -> bytes:
        """Read ``size`` bytes; returns a whole read-block response (16-byte header + data).

        A NAK comes back as a header-only response carrying the rcode, as the device sends it.
        """
        try:
            data = self.client.read(address, size)
        except MmpNakError as exc:
            return codec.encode_read_block_response(self.tlabel, b"", exc.rcode)
        return codec.encode_read_block_response(self.tlabel, data)

    def WriteBlock(self, address: int, value: Sequence[int]) -> bytes:
        """Write the byte values in ``value``; returns the 12-byte write response."""
        try:
            self.client.write(address, bytes(value))
        except MmpNakError as exc:
            return codec.encode_write_response(self.tlabel, exc.rcode)
        return codec.encode_write_response(self.tlabel)

    def BuildReadBlockRequest(self, dest: int, size: int) -> bytearray:
        return bytearray(codec.encode_read_block(self.tlabel, dest, size))

    def BuildWriteBlockRequest(self, dest: int, data: Sequence[int]) -> bytearray:
        return bytearray(codec.encode_write_block(self.tlabel, dest, bytes(data)))

    def close(self) -> None:
        self.client.close()
