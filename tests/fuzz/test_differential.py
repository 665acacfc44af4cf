"""Differential fuzzing, short run: the compiled and the pure codec must agree.

The generators and comparison live in ``tools/fuzz_codecs.py`` (the long-run
script); this file runs a few thousand of its inputs with fixed seeds, proves
the harness catches a planted bug, walks every golden frame through every
truncation and bit flip, adds Hypothesis searches, and delivers the golden
response streams at every byte boundary and in random chunkings.
"""
from __future__ import annotations

import importlib.util
import os
import random
import subprocess
import sys
import types
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO, load_codec
from mmpfast.errors import MmpProtocolError

TOOL = REPO / "tools" / "fuzz_codecs.py"


def _load_tool() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("mmpfast_fuzz_codecs", TOOL)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


fc = _load_tool()
PURE = load_codec("python")
SETTINGS = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
                    deadline=None, max_examples=150, derandomize=True)


@pytest.fixture(scope="module")
def cy() -> types.ModuleType:
    return load_codec("cython")


@pytest.fixture(scope="module")
def golden(frames_vectors: Dict[str, Any]) -> Any:
    return fc.Golden(frames_vectors)


def _agree(cy: types.ModuleType, case: Any) -> Any:
    """Run ``case`` on both codecs; fail on a crash or a difference; return the outcome."""
    a = fc.call(cy, case)
    b = fc.call(PURE, case)
    assert a.kind != "crash" and b.kind != "crash", f"{case.describe()}\ncython: {a!r}\npython: {b!r}"
    assert not a.inputs_changed and not b.inputs_changed, case.describe()
    assert a.key() == b.key(), f"{case.describe()}\ncython: {a!r}\npython: {b!r}"
    return a


# ============================================================================ the short run
@pytest.mark.parametrize("seed", [0, 20240601])
def test_short_differential_run(cy: types.ModuleType, golden: Any, seed: int) -> None:
    fz = fc.Fuzzer(cy, PURE, golden, seed)
    fz.run(seconds=30.0, max_inputs=6000, max_findings=5)
    reports = "\n".join(f.report(seed) for f in fz.crashes + fz.disagreements)
    assert (len(fz.crashes), len(fz.disagreements)) == (0, 0), reports
    assert fz.inputs == 6000
    # every function was reached, and the interesting outcomes all happened
    assert set(fz.per_function) == set(fc.FUNCTIONS)
    seen = set(fz.outcomes)
    for func, label in [("frame_length", "ok"), ("frame_length", "MmpProtocolError"),
                        ("frame_length", "TypeError"), ("decode_frame", "ok"),
                        ("decode_frame", "MmpProtocolError"), ("scatter_read_responses", "ok"),
                        ("scatter_read_responses", "MmpProtocolError"),
                        ("scatter_read_responses", "MmpNakError"), ("scatter_read_responses", "ValueError"),
                        ("scatter_read_responses", "TypeError"), ("encode_read_blocks", "ok"),
                        ("encode_read_blocks", "ValueError"), ("pack_be", "ok"), ("pack_be", "ValueError"),
                        ("unpack_be_into", "ok"), ("frame_ends", "ok"), ("frame_ends", "MmpProtocolError"),
                        ("check_write_responses", "ok"), ("check_write_responses", "MmpProtocolError"),
                        ("FrameSplitter", "ok"), ("FrameSplitter", "MmpProtocolError")]:
        assert (func, label) in seen, (func, label)


def test_cases_are_reproducible(cy: types.ModuleType, golden: Any) -> None:
    a = fc.Fuzzer(cy, PURE, golden, 77)
    b = fc.Fuzzer(cy, PURE, golden, 77)
    c = fc.Fuzzer(cy, PURE, golden, 78)
    texts_a = [a.case(i).describe() for i in range(200)]
    assert texts_a == [b.case(i).describe() for i in range(200)]
    assert texts_a != [c.case(i).describe() for i in range(200)]


# ============================================================================ the harness can fail
def _planted(base: types.ModuleType, **overrides: Callable[..., Any]) -> types.ModuleType:
    mod = types.ModuleType("planted")
    for name in fc.FUNCTIONS + ("IMPLEMENTATION", "Frame"):
        setattr(mod, name, getattr(base, name))
    for name, fn in overrides.items():
        setattr(mod, name, fn)
    return mod


def _scatter_one_byte_too_far(stream: Any, dest: Any, offsets: Any, lengths: Any, first_tl: Any) -> int:
    n = PURE.scatter_read_responses(stream, dest, offsets, lengths, first_tl)
    mv = memoryview(dest).cast("B")
    if mv.nbytes:
        mv[-1] ^= 0x5A
    return n


def _decode_wrong_rcode(buf: Any) -> Any:
    f = PURE.decode_frame(buf)
    if f.rcode:
        return PURE.Frame(f.tcode, f.tl, f.source_id, f.rcode ^ 1, f.address, f.address_high,
                          f.data_length, f.data)
    return f


def _frame_length_overflow(buf: Any) -> Optional[int]:
    n = PURE.frame_length(buf)
    if n is not None and n > 0x8000:
        raise OverflowError("planted")
    return n


def _encode_writes_input(tl: Any, address: Any, data: Any, source_id: Any = 0) -> bytes:
    out = PURE.encode_write_block(tl, address, data, source_id)
    if isinstance(data, bytearray) and data:
        data[0] ^= 1
    return out


def _scatter_scribbles_then_refuses(stream: Any, dest: Any, offsets: Any, lengths: Any, first_tl: Any) -> int:
    try:
        return PURE.scatter_read_responses(stream, dest, offsets, lengths, first_tl)
    except ValueError:
        mv = memoryview(dest).cast("B")
        if mv.nbytes:
            mv[0] ^= 0xFF
        raise


def _acks_ignore_tl(stream: Any, count: Any, first_tl: Any) -> int:
    return PURE.check_write_responses(stream, count, 0) if PURE._int("t", first_tl, 63) == 0 else \
        _acks_any_tl(stream, count)


def _acks_any_tl(stream: Any, count: Any) -> int:
    mv = memoryview(bytes(stream))
    tl = mv[2] >> 2 if mv.nbytes > 2 else 0
    return PURE.check_write_responses(stream, count, tl)


def _frame_ends_one_short(buf: Any, max_frames: Any = -1) -> Any:
    ends = PURE.frame_ends(buf, max_frames)
    return ends[:-1] if len(ends) > 1 else ends


@pytest.mark.parametrize("planted, func, what", [
    (dict(check_write_responses=_acks_ignore_tl), "stream", "DISAGREEMENT"),
    (dict(frame_ends=_frame_ends_one_short), "stream", "DISAGREEMENT"),
    (dict(scatter_read_responses=_scatter_one_byte_too_far), "scatter", "DISAGREEMENT"),
    (dict(decode_frame=_decode_wrong_rcode), "decode_frame", "DISAGREEMENT"),
    (dict(frame_length=_frame_length_overflow), "frame_length", "CRASH"),
    (dict(encode_write_block=_encode_writes_input), "encoder", "CRASH"),
    (dict(scatter_read_responses=_scatter_scribbles_then_refuses), "scatter", "CRASH"),
], ids=["acks-tl", "frame-ends-short", "scatter-dest", "decode-rcode", "undocumented-exception", "writes-input", "dest-before-argument-error"])
def test_harness_reports_planted_bugs(golden: Any, planted: Dict[str, Any], func: str, what: str) -> None:
    bad = _planted(PURE, **planted)
    fz = fc.Fuzzer(bad, PURE, golden, 3, generators=[func])
    fz.run(seconds=20.0, max_inputs=20000, max_findings=1)
    findings = fz.crashes + fz.disagreements
    assert findings, f"planted {list(planted)} went unnoticed in {fz.inputs} inputs"
    assert findings[0].what.startswith(what)
    assert f"--seed 3 --replay {findings[0].index}" in findings[0].report(3)


# ============================================================================ golden frames, exhaustively
def test_golden_truncations_and_extensions(cy: types.ModuleType, golden: Any) -> None:
    n_cases = 0
    for raw in golden.all:
        for cut in range(len(raw) + 1):
            for func in ("frame_length", "decode_frame"):
                _agree(cy, fc.Case(func, [raw[:cut]]))
                n_cases += 1
        for extra in (b"\x00", b"\xff" * 3, raw):
            _agree(cy, fc.Case("decode_frame", [raw + extra]))
    assert n_cases > 500


def test_golden_every_bit_flip(cy: types.ModuleType, golden: Any) -> None:
    outcomes = set()
    for raw in golden.all:
        for i in range(len(raw)):
            for bit in range(8):
                b = bytearray(raw)
                b[i] ^= 1 << bit
                for func in ("frame_length", "decode_frame"):
                    out = _agree(cy, fc.Case(func, [bytes(b)]))
                    outcomes.add((func, out.kind, out.value if out.kind == "exc" else "-"))
    # flips reach undefined tcodes, wrong lengths and still-valid frames alike
    assert ("decode_frame", "exc", "MmpProtocolError") in outcomes
    assert ("decode_frame", "ok", "-") in outcomes


def test_golden_decodes_as_the_vectors_say(cy: types.ModuleType, frames_vectors: Dict[str, Any]) -> None:
    for vec in frames_vectors["frames"]:
        raw = bytes.fromhex(vec["hex"])
        out = _agree(cy, fc.Case("decode_frame", [bytearray(raw)]))
        assert out.kind == "ok"
        f = cy.decode_frame(raw)
        for key in ("tcode", "tl", "source_id", "rcode", "address", "data_length"):
            if key in vec["fields"]:
                assert getattr(f, key) == vec["fields"][key], (vec["name"], key)
        if "data_hex" in vec["fields"]:
            assert bytes(f.data) == bytes.fromhex(vec["fields"]["data_hex"]), vec["name"]


# ============================================================================ Hypothesis searches
@SETTINGS
@given(raw=st.binary(max_size=80), tcode=st.integers(0, 15), kind=st.integers(0, 4))
def test_hypothesis_frames(cy: types.ModuleType, raw: bytes, tcode: int, kind: int) -> None:
    if len(raw) > 3:
        raw = raw[:3] + bytes([(tcode << 4) | (raw[3] & 0xF)]) + raw[4:]
    obj: Any = [bytes(raw), bytearray(raw), memoryview(raw), memoryview(b"xy" + raw)[2:],
                memoryview(bytearray(raw * 2))[::2] if len(raw) > 1 else raw][kind]
    spec = fc.Lazy(lambda: obj, repr(obj))
    for func in ("frame_length", "decode_frame"):
        _agree(cy, fc.Case(func, [spec]))


@st.composite
def scatter_inputs(draw: Any) -> Tuple[bytes, int, List[int], List[int], int]:
    first_tl = draw(st.integers(0, 63))
    lens = draw(st.lists(st.integers(0, 40), max_size=6))
    parts = [PURE.encode_read_block_response((first_tl + i) % 64, bytes([i + 1]) * n) for i, n in enumerate(lens)]
    stream = bytearray(b"".join(parts))
    for _ in range(draw(st.integers(0, 2))):
        if stream:
            at = draw(st.integers(0, len(stream) - 1))
            stream[at] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(stream)))
    if draw(st.booleans()):
        stream = stream[:cut]
    size = sum(lens) + draw(st.integers(0, 8))
    offs, pos = [], 0
    for n in lens:
        pos += draw(st.integers(0, 2))
        offs.append(pos)
        pos += n
    size = max(size, pos) - draw(st.integers(0, 2))
    return bytes(stream), max(size, 0), offs, lens, first_tl


@SETTINGS
@given(inp=scatter_inputs(), fill=st.integers(0, 255))
def test_hypothesis_scatter(cy: types.ModuleType, inp: Tuple[bytes, int, List[int], List[int], int],
                            fill: int) -> None:
    stream, size, offs, lens, first_tl = inp
    dest = fc.Lazy(lambda: bytearray([fill]) * size, f"bytearray([{fill}])*{size}")
    _agree(cy, fc.Case("scatter_read_responses", [stream, dest, offs, lens, first_tl], dest=1))


@SETTINGS
@given(data=st.binary(max_size=64), tc=st.sampled_from(["i", "I", "f", "q", "Q", "d", ""]), extra=st.integers(-8, 8))
def test_hypothesis_bulk(cy: types.ModuleType, data: bytes, tc: str, extra: int) -> None:
    _agree(cy, fc.Case("unpack_be", [data, tc]))
    _agree(cy, fc.Case("pack_be_from", [bytearray(data), tc]))
    size = max(len(data) + extra, 0)
    dest = fc.Lazy(lambda: bytearray(size), f"bytearray({size})")
    _agree(cy, fc.Case("unpack_be_into", [data, dest, tc], dest=1))


# ============================================================================ stream splitting
def _fields(f: Any) -> Tuple[Any, ...]:
    return (f.tcode, f.tl, f.source_id, f.rcode, f.address, f.data_length, bytes(f.data))


def _frames_of(codec: types.ModuleType, chunks: Sequence[bytes]) -> List[Tuple[Any, ...]]:
    """Frame a byte stream that arrives in ``chunks``, the way a receive loop does:
    append to a buffer, ask ``frame_length`` on what is there, decode whole frames
    in place (zero-copy views into the buffer), keep the rest for the next chunk."""
    buf = bytearray()
    out: List[Tuple[Any, ...]] = []
    for chunk in chunks:
        buf += chunk
        pos = 0
        with memoryview(buf) as view:
            while True:
                rest = view[pos:]
                n = codec.frame_length(rest)
                if n is None or len(rest) < n:
                    rest.release()
                    break
                f = codec.decode_frame(rest[:n])
                out.append(_fields(f))
                del f
                rest.release()
                pos += n
        del buf[:pos]
    assert not buf, f"{len(buf)} bytes left over"
    return out


def _chunkings(stream: bytes, rng: random.Random) -> List[List[bytes]]:
    ways = [[stream], [stream[i:i + 1] for i in range(len(stream))]]
    ways += [[stream[:k], stream[k:]] for k in range(len(stream) + 1)]       # every byte boundary
    for _ in range(60):
        cuts = sorted(rng.sample(range(1, len(stream)), rng.randint(1, min(12, len(stream) - 1))))
        ways.append([stream[a:b] for a, b in zip([0] + cuts, cuts + [len(stream)])])
    return ways


def _response_streams(frames_vectors: Dict[str, Any]) -> Dict[str, List[bytes]]:
    frames = [bytes.fromhex(v["hex"]) for v in frames_vectors["frames"]]
    responses = [f for f in frames if f[3] >> 4 in (2, 6, 7)]
    return {"responses": responses, "responses-reversed": responses[::-1], "all-frames": frames}


@pytest.mark.parametrize("which", ["responses", "responses-reversed", "all-frames"])
def test_stream_split_everywhere_decodes_identically(cy: types.ModuleType, frames_vectors: Dict[str, Any],
                                                     which: str) -> None:
    frames = _response_streams(frames_vectors)[which]
    stream = b"".join(frames)
    expected = [_fields(PURE.decode_frame(f)) for f in frames]
    assert len(expected) >= 8
    rng = random.Random(len(stream))
    for chunks in _chunkings(stream, rng):
        assert _frames_of(cy, chunks) == expected
        assert _frames_of(PURE, chunks) == expected


def _scatter_stream(frames_vectors: Dict[str, Any], first_tl: int) -> Tuple[bytes, List[int], bytes]:
    """The golden ACK read-block responses, renumbered tl first_tl, first_tl+1, ..."""
    acks = [bytes.fromhex(v["hex"]) for v in frames_vectors["frames"]
            if v["kind"] == "read_block_response" and v["fields"].get("rcode", 0) == 0]
    parts, lens = [], []
    for i, raw in enumerate(acks):
        b = bytearray(raw)
        b[2] = (((first_tl + i) % 64) << 2) | (b[2] & 3)
        parts.append(bytes(b))
        lens.append(len(raw) - 16)
    return b"".join(parts), lens, b"".join(a[16:] for a in acks)


@pytest.mark.parametrize("first_tl", [0, 62])
def test_scatter_stream_at_every_byte_boundary(cy: types.ModuleType, frames_vectors: Dict[str, Any],
                                               first_tl: int) -> None:
    stream, lens, payload = _scatter_stream(frames_vectors, first_tl)
    assert len(lens) >= 3
    offs = [sum(lens[:i]) + 2 * i for i in range(len(lens))]     # 2-byte gaps stay untouched
    size = offs[-1] + lens[-1] + 2
    tail = b"\x00\x00\x04\x70"        # the start of a next frame: must be left alone
    for cut in range(len(stream) + len(tail) + 1):
        piece = (stream + tail)[:cut]
        dest = fc.Lazy(lambda: bytearray(b"\xee") * size, f"ee*{size}")
        out = _agree(cy, fc.Case("scatter_read_responses", [piece, dest, offs, lens, first_tl], dest=1))
        if cut < len(stream):
            assert out.value == "MmpProtocolError", cut
        else:
            assert out.value == ("int", len(stream)), cut
            got = out.dest
            assert b"".join(got[o:o + n] for o, n in zip(offs, lens)) == payload
            assert all(got[o + n:o + n + 2] == b"\xee\xee" for o, n in zip(offs, lens))


def test_scatter_stream_ending_in_a_nak(cy: types.ModuleType, frames_vectors: Dict[str, Any]) -> None:
    stream, lens, _ = _scatter_stream(frames_vectors, 5)
    nak = bytearray(PURE.encode_read_block_response((5 + len(lens)) % 64, b"", rcode=4))
    full = stream + bytes(nak)
    size = sum(lens)
    offs = [sum(lens[:i]) for i in range(len(lens))] + [size]
    for cut in (len(full) - 1, len(full)):
        dest = fc.Lazy(lambda: bytearray(size), f"zeros({size})")
        out = _agree(cy, fc.Case("scatter_read_responses", [full[:cut], dest, offs, lens + [0], 5], dest=1))
        want = "MmpProtocolError" if cut < len(full) else ("MmpNakError", 4, 0xE004, None)
        assert out.value == want


# ============================================================================ the long-run script
def _env_for(cy: types.ModuleType) -> Dict[str, str]:
    """The subprocess imports the same mmpfast this suite imported (installed or in-place)."""
    env = dict(os.environ)
    pkg_parent = str(Path(cy.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_parent, env.get("PYTHONPATH", "")) if p)
    return env


def test_script_short_run_and_replay(cy: types.ModuleType, tmp_path: Path) -> None:
    cmd = [sys.executable, str(TOOL), "--seconds", "20", "--max-inputs", "3000", "--seed", "11",
           "--require-codec-dir", str(Path(cy.__file__).parent)]
    run = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=60, env=_env_for(cy))
    assert run.returncode == 0, run.stdout + run.stderr
    last = run.stdout.strip().splitlines()[-1]
    assert last.startswith("RESULT seed 11: 3000 inputs tried")
    assert last.endswith("0 crashes, 0 disagreements")
    assert "scatter_read_responses" in run.stdout
    rep = subprocess.run([sys.executable, str(TOOL), "--seed", "11", "--replay", "5"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60, env=_env_for(cy))
    assert rep.returncode == 0, rep.stdout + rep.stderr
    assert "case 5:" in rep.stdout and "cython:" in rep.stdout


def test_script_refuses_a_codec_from_elsewhere(cy: types.ModuleType, tmp_path: Path) -> None:
    cmd = [sys.executable, str(TOOL), "--seconds", "1", "--seed", "1", "--require-codec-dir", str(tmp_path)]
    run = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=60, env=_env_for(cy))
    assert run.returncode == 2
    assert "not from" in run.stderr


# ============================================================================ found by fuzzing
def _both_raise(cy: types.ModuleType, exc: type, fn: Callable[[types.ModuleType], Any]) -> None:
    for codec in (cy, PURE):
        with pytest.raises(exc):
            fn(codec)


def test_regression_buffer_without_a_format_numpy_datetime(cy: types.ModuleType) -> None:
    """numpy refuses a formatted export of datetime64; the compiled codec used to ask
    for a format-less one and accept the array as raw bytes (the pure one refused)."""
    np = pytest.importorskip("numpy")

    def arr() -> Any:
        return np.zeros(2, dtype="datetime64[s]")
    _both_raise(cy, ValueError, lambda c: c.frame_length(arr()))
    _both_raise(cy, ValueError, lambda c: c.decode_frame(arr()))
    _both_raise(cy, ValueError, lambda c: c.encode_write_block(0, 0, arr()))
    _both_raise(cy, ValueError, lambda c: c.scatter_read_responses(b"", arr(), [], [], 0))
    _both_raise(cy, ValueError, lambda c: c.pack_be_from(arr(), "q"))


def test_regression_empty_strided_view_is_not_contiguous(cy: types.ModuleType) -> None:
    """``memoryview(b)[::2]`` of an empty buffer: decode_frame in the compiled codec
    used to call it contiguous (PyBuffer_IsContiguous says yes for len 0)."""
    _both_raise(cy, TypeError, lambda c: c.decode_frame(memoryview(bytearray())[::2]))
    _both_raise(cy, TypeError, lambda c: c.frame_length(memoryview(bytearray())[::2]))


def test_regression_multidimensional_memoryview_sequences(cy: types.ModuleType) -> None:
    """Iterating a 2-D memoryview raises NotImplementedError inside Python; both codecs
    must turn that into TypeError (API.md allows nothing else)."""
    np = pytest.importorskip("numpy")

    def two_d() -> memoryview:
        return memoryview(np.array([[0, 4], [8, 4]], dtype="<i8"))
    _both_raise(cy, TypeError, lambda c: c.encode_read_blocks(0, two_d()))
    _both_raise(cy, TypeError, lambda c: c.scatter_read_responses(b"", bytearray(16), two_d(), [1, 2], 0))
    _both_raise(cy, TypeError, lambda c: c.scatter_read_responses(b"", bytearray(16), [0, 1], two_d(), 0))
    _both_raise(cy, TypeError, lambda c: c.pack_be(two_d(), "q"))
    mv_be = memoryview(np.array([1, 2], dtype=">i4"))          # iterating: "unsupported format"
    _both_raise(cy, TypeError, lambda c: c.scatter_read_responses(b"", bytearray(16), mv_be, [1, 2], 0))


# ============================================================================ the frame splitter
def test_golden_stream_split_at_every_byte(cy: types.ModuleType, golden: Any) -> None:
    """Every golden frame back to back, fed in two pieces cut at every byte
    and one byte at a time: both splitters return exactly the frames."""
    frames = []
    for f in golden.all:
        try:
            if PURE.frame_length(f) == len(f):
                frames.append(bytes(f))
        except MmpProtocolError:
            pass                              # the vectors' deliberately invalid frames
    assert len(frames) >= 10
    stream = b"".join(frames)
    ends = []
    pos = 0
    for f in frames:
        pos += len(f)
        ends.append(pos)
    for mod in (cy, PURE):
        assert mod.frame_ends(stream) == ends
        assert mod.frame_ends(stream, 3) == ends[:3]
        assert mod.frame_ends(stream[:-1]) == ends[:-1]
        one = mod.FrameSplitter()
        got = [f for i in range(len(stream)) for f in one.feed(stream[i:i + 1])]
        assert got == frames and one.pending == 0
    for cut in range(0, len(stream) + 1, 7):
        out = _agree(cy, fc.Case("FrameSplitter", [65551, [stream[:cut], bytearray(stream[cut:])]]))
        assert out.kind == "ok"
        assert [b for feed in out.value[1][0] for _t, b in feed] == frames
