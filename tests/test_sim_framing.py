"""The header helpers of ``protocol`` and the simulator's framing (on both codecs)."""
from __future__ import annotations

from types import ModuleType

import pytest

from mmpfast import protocol
from mmpfast.errors import MmpProtocolError
from mmpfast.sim import framing


def _stream(codec: ModuleType) -> bytes:
    return (codec.encode_read_quadlet(1, 0xF0D81000)                 # 12 bytes
            + codec.encode_write_block(2, 0xF0D81000, b"abcdefgh")   # 24 bytes
            + codec.encode_read_block(3, 0xF0D81000, 4))             # 16 bytes


def test_header_helpers_read_and_write_the_fields(codec: ModuleType) -> None:
    frame = bytearray(codec.encode_read_block_response(45, b"\x01\x02", 0, 0xBEEF))
    assert protocol.tcode_of(frame) == protocol.TCODE_READ_BLOCK_RESPONSE
    assert protocol.tl_of(frame) == 45
    assert protocol.source_id_of(memoryview(frame)) == 0xBEEF
    frame[protocol.OFF_TL] |= 2                   # rt bits survive set_tl
    protocol.set_tl(frame, 64 + 7)                # modulo 64
    assert frame[protocol.OFF_TL] == (7 << 2) | 2
    protocol.set_tcode(frame, 3)
    assert frame[protocol.OFF_TCODE] == 0x30
    assert protocol.tcode_of(frame) == 3 and protocol.tl_of(frame) == 7


def test_whole_frames_stops_at_partial_and_undefined(codec: ModuleType,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(framing, "codec", codec)
    s = _stream(codec)
    assert framing.whole_frames(s) == [12, 36, 52]
    assert framing.whole_frames(s[:51]) == [12, 36]
    assert framing.whole_frames(s, 2) == [12, 36]
    bad = bytearray(s[12:36])
    protocol.set_tcode(bad, 3)                    # undefined tcode in the second frame
    broken = s[:12] + bytes(bad) + s[36:]
    with pytest.raises(MmpProtocolError):
        codec.frame_ends(broken)                  # the codec raises ...
    assert framing.whole_frames(broken) == [12]   # ... the frames before it are kept
    assert framing.whole_frames(bytes(bad)) == []


def test_bad_request_head(codec: ModuleType) -> None:
    s = _stream(codec)
    assert not framing.bad_request_head(s)
    assert not framing.bad_request_head(s, 12)
    assert not framing.bad_request_head(s[:15], 12)          # 3 bytes: no tcode yet
    assert framing.bad_request_head(codec.encode_write_response(1)[:4])   # a response's tcode
    bad = bytearray(s[:4])
    protocol.set_tcode(bad, 9)
    assert framing.bad_request_head(bytes(bad))
