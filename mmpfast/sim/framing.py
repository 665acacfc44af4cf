"""Framing of the simulator's and the fault proxy's TCP byte streams.

Both take frame boundaries from the codec's splitter (``codec.frame_ends``);
this module only adds what a server needs beyond it: the whole frames before
a header with an undefined tcode (the splitter raises there, and the
server must still answer the frames before it), and a test for a frame head
that can never become a request.
"""
from __future__ import annotations

from typing import List

from .. import codec
from ..errors import MmpProtocolError
from ..protocol import MIN_PEEK, REQUEST_TCODES, HeaderBytes, tcode_of


def whole_frames(buf: HeaderBytes, max_frames: int = -1) -> List[int]:
    """End offsets of the whole frames at the start of ``buf`` (at most
    ``max_frames``; -1: no limit), stopping before an incomplete frame or a
    header with an undefined tcode.  Never raises ``MmpProtocolError``."""
    try:
        return codec.frame_ends(buf, max_frames)
    except MmpProtocolError:
        pass
    ends: List[int] = []     # slow path (the stream is about to be closed): one frame at a time
    pos = 0
    with memoryview(buf) as mv:
        while max_frames < 0 or len(ends) < max_frames:
            try:
                one = codec.frame_ends(mv[pos:], 1)
            except MmpProtocolError:
                break
            if not one:
                break
            pos += one[0]
            ends.append(pos)
    return ends


def bad_request_head(buf: HeaderBytes, pos: int = 0) -> bool:
    """True when ``buf[pos:]`` holds a frame header (``MIN_PEEK`` bytes) whose
    tcode is no request: undefined, or a response's."""
    return len(buf) - pos >= MIN_PEEK and tcode_of(buf[pos:pos + MIN_PEEK]) not in REQUEST_TCODES
