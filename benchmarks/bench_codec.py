"""Codec micro-benchmarks, Cython and pure side by side in each group.

Run: ``python -m pytest benchmarks/bench_codec.py --benchmark-only
--benchmark-columns=median,ops --benchmark-group-by=group -q``.
"""
from __future__ import annotations

from array import array
from types import ModuleType
from typing import Any

from mmpfast import _codec_py as pure

N_FRAMES = 1000
N_FLOATS = 1024
RESPONSE_20 = bytes.fromhex("00 00 04 70 00 00 00 00 00 00 00 00 00 04 00 00 04 67 5C DE")
RANGES = [(0xF0D81000 + 16 * i, 16) for i in range(N_FRAMES)]
OFFSETS = array("q", range(0, 16 * N_FRAMES, 16))
LENGTHS = array("q", [16] * N_FRAMES)
STREAM = b"".join(pure.encode_read_block_response(i % 64, bytes([i & 0xFF]) * 16) for i in range(N_FRAMES))
FLOATS_BE = pure.pack_be([i * 0.25 for i in range(N_FLOATS)], "f")


def _tag(benchmark: Any, codec: ModuleType, group: str, **info: Any) -> None:
    benchmark.group = group
    benchmark.extra_info["implementation"] = codec.IMPLEMENTATION
    benchmark.extra_info.update(info)


def test_encode_read_block(benchmark: Any, codec: ModuleType) -> None:
    _tag(benchmark, codec, "single header encode (encode_read_block)")
    out = benchmark(codec.encode_read_block, 1, 0xF030010C, 4)
    assert out == bytes.fromhex("00 00 04 50 00 00 FF FF F0 30 01 0C 00 04 00 00")


def test_decode_frame(benchmark: Any, codec: ModuleType) -> None:
    _tag(benchmark, codec, "single decode (decode_frame, 20-byte response)")
    frame = benchmark(codec.decode_frame, RESPONSE_20)
    assert frame.tcode == 7 and bytes(frame.data) == b"\x04\x67\x5C\xDE"


def test_encode_read_blocks(benchmark: Any, codec: ModuleType) -> None:
    _tag(benchmark, codec, "batch encode 1000 read requests (encode_read_blocks)", frames=N_FRAMES)
    out = benchmark(codec.encode_read_blocks, 0, RANGES)
    assert len(out) == 16 * N_FRAMES and out[16 * 64 + 2] == 0


def test_scatter_read_responses(benchmark: Any, codec: ModuleType) -> None:
    _tag(benchmark, codec, "scatter 1000 responses x 16 bytes (scatter_read_responses)",
         frames=N_FRAMES, data_bytes=16 * N_FRAMES)
    dest = bytearray(16 * N_FRAMES)
    used = benchmark(codec.scatter_read_responses, STREAM, dest, OFFSETS, LENGTHS, 0)
    assert used == len(STREAM) and dest[16 * 999] == 999 & 0xFF


def test_unpack_be_float32(benchmark: Any, codec: ModuleType) -> None:
    _tag(benchmark, codec, "bulk BE float32 x1024 (unpack_be)", values=N_FLOATS)
    vals = benchmark(codec.unpack_be, FLOATS_BE, "f")
    assert vals[1023] == 1023 * 0.25


def test_unpack_be_into_float32(benchmark: Any, codec: ModuleType) -> None:
    _tag(benchmark, codec, "bulk BE float32 x1024 (unpack_be_into)", values=N_FLOATS)
    dest = array("f", bytes(4 * N_FLOATS))
    n = benchmark(codec.unpack_be_into, FLOATS_BE, dest, "f")
    assert n == N_FLOATS and dest[1023] == 1023 * 0.25
