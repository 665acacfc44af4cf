"""The simulated groov EPIC memory map (no sockets): ``Memory``, a thin front.

``Memory`` holds every valid area of ``memmap.AREAS`` as a lazily allocated
``bytearray`` and adds behaviour where the device has it.  All values are
big-endian, addresses are the low 32 bits of the 48-bit offset.
``Memory.respond(frame)`` turns one request frame into its response frame
(built with ``mmpfast.codec``); the server only moves bytes.

The work is done in rooms, each a module of this package: ``regions``
(areas, storage, lookup), ``handler`` (the request handler: the one place
that decides every rcode and NAK frame), ``status`` (status areas, PUC,
last error), ``scratchpad`` (bit masks, string rules), ``iomodel`` (digital
and analog channels, latches, counters, read-and-clear), ``mirrors`` (the
areas that show the same I/O), ``pointconfig`` (point configuration),
``snap`` (the SNAP PAC point and bank areas), ``custom`` (the custom
scatter-gather area) and ``streaming`` (stream configuration and packet).  ``Memory`` builds them,
holds the one lock and keeps the public interface.

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
* **Point configuration** 0xF0100000 + 0x3000*m + 0xC0*c (and, with
  ``profile="snap"``, 0xF0C00000 + 0x40*p): module type (read-only:
  ``point_type << 16 | channels`` of the rack's module [INF]; a write to it
  is accepted and has no effect [INF]), point type (digital in 0x100, out
  0x180; analog in 0x200, out 0x280 [INF]), feature (writable; 1 = counter
  makes rising edges count; always reads the channel's feature), offset 0.0,
  gain 1.0, high/low scale 10.0/-10.0 for analog channels and 0.0/0.0 for
  digital, filter weight, watchdog value, watchdog enable 0, empty name
  (defaults [INF]; writes stored, no effect on the I/O).  Records of empty
  slots and absent channels read as zeros.
* **Packed areas** are kept in sync on every change: 0xF1001800 (states),
  0xF1001000 (analog EU / digital counter), 0xF1001900 (per module: states,
  quality mask with bit c set when channel c's quality is not 0 - all 32 bits
  for an empty slot [INF] - on-latches, off-latches), 0xF1002000 (module
  quality mask; bit m set for an empty rack slot 0..15 [INF]), 0xF1002080
  (per-channel quality).
* **Read-and-clear** areas 0xF01D4000 (analog min/max; cleared to the current
  value [INF]) and 0xF02E0000 (digital counter, on-latch, off-latch) return
  the value, then clear every field the read touched, even partially.
* **SNAP PAC areas** (PROTOCOL.md §3.7; ``profile="snap"`` only - with
  ``"epic"`` they are plain storage [INF]): legacy point p = 4*m + c
  (channels 0..3; higher channels have no point [INF]).  Digital and analog
  bank reads (0xF0400000, 0xF0600000) and point reads (0xF0800000,
  0xF0A00000 + 0x40*p) mirror the I/O model (counts read 0.0, pulse
  complete 0).  Command words of the digital point write (0xF0900000 +
  0x40*p) and bank write masks (0xF0500000) act when non-zero and read back
  0 [INF]: turn on/off act on ``do`` channels only, activate/deactivate set
  a digital channel's feature to counter/none [INF].  Analog point write +0
  and analog bank write EU words set an ``ao`` value; other bytes are
  stored [INF].  Read-and-clear 0xF0F00000 (counts, on-, off-latch arrays)
  and 0xF0F80000 (min, max arrays) clear each word a read touched [INF].
* **Custom scatter-gather area** (§3.8): the address list 0xF0D50000 + 4*i
  is plain storage; a read of the data area 0xF0D60000 + 4*i returns, entry
  by entry, the 4 bytes at list entry i as a read of that address would (a
  read-and-clear address is cleared by it) [INF].  If any entry the read
  touches is unreadable (not inside one mapped area - an unwritten entry is
  address 0 - or inside the data area itself) the whole read is rcode 5 and
  nothing is cleared; writes to the data area are rcode 5 [INF].
* **Streaming read area** 0xF1000000: stream point p (0..63) is the legacy
  point p = 4*module + channel (PROTOCOL.md §2.4, §3.7; ``memmap.snap_point``):
  analog value (0.0 for digital points and empty slots), counter (0 for
  analog points), state, on-latch, off-latch and active-counter masks (bit
  p).  Only channels 0..3 of each module are stream points: channels 4 and
  above appear in the EPIC and packed areas but not in the stream [INF].
  When the stream configuration area is enabled the server sends the
  604-byte standard packet (header ``02 5C 00 A8`` + this area + 56 zero
  bytes) to each target every interval ms (at least 1 ms); custom streams
  (start address non-zero) and mirroring are not simulated: the standard
  packet is sent [INF].
* **Everything else** that is a valid area reads as zeros and stores writes.
* **UDP** (the server, ``mmpfast.sim.server``): one request per datagram,
  one answer datagram to its sender.  A datagram whose length is not the
  length its header implies (truncated, two frames, trailing bytes) is
  rcode 6 for its first frame's tcode and tl, nothing applied [INF]; an
  undefined or response tcode is rcode 1 with nothing closed [INF]; a read
  block whose answer would exceed one UDP datagram (65507 bytes) is rcode 6
  [INF]; a datagram shorter than 4 bytes is not answered [INF].
"""
from __future__ import annotations

import threading
import time
from typing import Callable, List, Optional, Sequence, Tuple, Union

from .. import memmap
from ..errors import MmpNakError
from ..protocol import MAX_ADDRESS, MAX_BLOCK, MAX_DATA_LENGTH, RCODE_INVALID_ADDRESS
from .custom import CustomArea
from .handler import Handler, Stats
from .iomodel import IOModel
from .mirrors import FEATURE_COUNTER, FEATURE_NONE
from .pointconfig import PointConfigRoom
from .rack import ModuleSpec, SpecLike, parse_modules
from .regions import Regions, f32
from .scratchpad import ScratchPad
from .snap import SnapRoom
from .status import PROFILES, StatusRoom
from .streaming import StreamConfig, StreamRoom

__all__ = ["Memory", "Stats", "StreamConfig", "PROFILES", "FEATURE_NONE", "FEATURE_COUNTER"]

Bytes = Union[bytes, bytearray, memoryview]


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
        self.max_block = max_block
        self.puc_required = bool(PROFILES[profile]["puc_required"] if puc_required is None
                                 else puc_required)
        self.stats = Stats()
        self._lock = threading.Lock()
        self.rack: List[Optional[ModuleSpec]] = parse_modules(modules)
        self._regions = Regions()
        self._io = IOModel(self._regions, self.rack)
        self._status = StatusRoom(self._regions, profile, puc_required=self.puc_required, ip=ip,
                                  clock=clock, wall_clock=wall_clock,
                                  reset_io=self._io.reset_to_defaults)
        self._scratchpad = ScratchPad(self._regions)
        self._stream = StreamRoom(self._regions)
        self._point_config = PointConfigRoom(self._regions, self._io, snap=profile == "snap")
        self._snap = SnapRoom(self._regions, self._io) if profile == "snap" else None
        self._custom = CustomArea(self._regions)
        self._handler = Handler(self._regions, self._status, self._stream, self._lock,
                                max_block, self.stats)
        self._io.init()

    # ------------------------------------------------------------------ areas
    def area_of(self, address: int, length: int) -> Optional[memmap.Area]:
        """The ``memmap.Area`` holding ``[address, address+length)`` (agrees with ``memmap.find_area``)."""
        return self._regions.area_of(address, length)

    # ------------------------------------------------------------------ status
    def uptime_ms(self) -> int:
        """Milliseconds since the simulator (this memory) was created."""
        return self._status.uptime_ms()

    @property
    def puc_needed(self) -> bool:
        """True while a power-up clear has not been received (and one is required)."""
        return self._status.puc_needed

    # ------------------------------------------------------------------ direct access
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
        rc, out, _ = self._handler.access(False, address, length, None, wire=False)
        if rc:
            raise MmpNakError(rc, address)
        return out

    def write(self, address: int, data: Bytes) -> None:
        """Write ``data`` at ``address`` as a write block would (same side effects).
        ``MmpNakError`` with the wire's rcode when the device would NAK."""
        mv = memoryview(data).cast("B")
        address, _ = self._check_args(address, len(mv))
        rc, _, notify = self._handler.access(True, address, len(mv), mv, wire=False)
        if notify:
            self._stream.fire()
        if rc:
            raise MmpNakError(rc, address)

    def poke(self, address: int, data: Bytes) -> None:
        """Store raw bytes, read-only areas included, with no side effects (for
        tests that need a value the model does not produce).  The range must be
        inside one area (``MmpNakError`` rcode 5); bytes the I/O model keeps in
        sync are overwritten on the next change of their channel."""
        mv = memoryview(data).cast("B")
        address, _ = self._check_args(address, len(mv))
        with self._lock:
            region = self._regions.locate(address, max(len(mv), 1))
            if region is None:
                raise MmpNakError(RCODE_INVALID_ADDRESS, address)
            region.store(address, mv)

    # ------------------------------------------------------------------ the wire
    def respond(self, frame: Bytes) -> Tuple[bytes, bool]:
        """The response to one whole request frame, and whether to close the connection.

        Both frames are hex-dumped to the ``mmpfast.frames`` logger at DEBUG.
        """
        return self._handler.respond(frame)

    def respond_bad_length(self, frame: Bytes) -> bytes:
        """The rcode-6 NAK for a datagram whose length is not its frame's length
        (``frame`` holds at least 4 bytes of a request tcode)."""
        return self._handler.respond_bad_length(frame)

    # ------------------------------------------------------------------ streaming
    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` (from the writing thread, lock released) after each
        write to the stream configuration area."""
        self._stream.add_listener(callback)

    def remove_listener(self, callback: Callable[[], None]) -> None:
        """Undo ``add_listener``."""
        self._stream.remove_listener(callback)

    def stream_config(self) -> StreamConfig:
        """The stream configuration area, decoded."""
        with self._lock:
            return self._stream.config()

    def stream_packet(self) -> bytes:
        """The 604-byte standard stream packet (PROTOCOL.md §2.4) of the current I/O."""
        with self._lock:
            return self._stream.packet()

    # ------------------------------------------------------------------ I/O
    def set_digital(self, module: int, channel: int, state: bool) -> None:
        """Set a digital channel's state (input or output); a rising edge sets the
        on-latch and counts when the feature type is counter, a falling edge sets
        the off-latch.  ``ValueError`` for a channel the rack does not have."""
        self._io.spec(module, channel, "digital")
        with self._lock:
            self._io.set_digital(module, channel, bool(state))

    def set_latch(self, module: int, channel: int, which: str) -> None:
        """Set a digital channel's ``"on"`` or ``"off"`` latch (state and counter
        unchanged).  ``ValueError`` for another ``which`` or a channel the rack
        does not have, ``TypeError`` when ``which`` is not a str."""
        if not isinstance(which, str):
            raise TypeError(f"which must be 'on' or 'off', not {type(which).__name__}")
        if which not in ("on", "off"):
            raise ValueError(f"which must be 'on' or 'off', not {which!r}")
        self._io.spec(module, channel, "digital")
        with self._lock:
            self._io.set_latch(module, channel, which == "on")

    def pulse(self, module: int, channel: int, n: int = 1) -> None:
        """``n`` pulses (each a change of state and back) on a digital channel, applied
        at once: both latches set, the counter counts ``n`` when the feature type is
        counter, the state ends as it was.  ``n`` is an int >= 1 (``TypeError`` /
        ``ValueError``); ``ValueError`` for a channel the rack does not have."""
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"n must be an int, not {type(n).__name__}")
        if n < 1:
            raise ValueError(f"n must be >= 1, not {n}")
        self._io.spec(module, channel, "digital")
        with self._lock:
            self._io.pulse(module, channel, n)

    def get_digital(self, module: int, channel: int) -> bool:
        """A digital channel's current state."""
        self._io.spec(module, channel, "digital")
        return bool(self._io.state.d_state[module][channel])

    def set_analog(self, module: int, channel: int, value: float) -> None:
        """Set an analog channel's value (engineering units, stored as float32)."""
        self._io.spec(module, channel, "analog")
        if isinstance(value, (str, bytes)) or not hasattr(value, "__float__"):
            raise TypeError(f"value must be a number, not {type(value).__name__}")
        v = f32(float(value))
        with self._lock:
            self._io.set_analog(module, channel, v)

    def get_analog(self, module: int, channel: int) -> float:
        """An analog channel's current value."""
        self._io.spec(module, channel, "analog")
        return float(self._io.state.a_value[module][channel])

    def set_feature(self, module: int, channel: int, feature_type: int) -> None:
        """Set a digital channel's feature type (1 = counter: rising edges count)."""
        self._io.spec(module, channel, "digital")
        with self._lock:
            self._io.set_feature(module, channel, feature_type)
