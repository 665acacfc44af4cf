"""Shared fixtures.  Every codec test runs on both implementations.

The ``codec`` fixture is parametrized over the compiled ``mmpfast._codec``
and the pure ``mmpfast._codec_py``.  When the compiled one cannot be
imported its cases fail (they are never silently skipped) unless
``MMPFAST_NO_EXTENSIONS=1`` says a pure build is intended.
"""
from __future__ import annotations

import importlib
import json
import os
import socket
from pathlib import Path
from types import ModuleType
from typing import Any, Dict

import pytest

from mmpfast._env import no_extensions

REPO = Path(__file__).resolve().parent.parent
#: the golden vectors shipped with the repository (tests/vectors); MMPFAST_VECTORS points elsewhere
IN_REPO_VECTORS = REPO / "tests" / "vectors"
VECTORS = Path(os.environ.get("MMPFAST_VECTORS") or IN_REPO_VECTORS)
#: the reference copy the in-repo vectors must equal, when it sits beside the repository
REFERENCE_VECTORS = REPO.parent / "shared" / "vectors"

IMPLEMENTATIONS = ["cython", "python"]


def pytest_report_header(config: pytest.Config) -> str:
    """Say which codec and which mmpfast the suite runs on."""
    import warnings

    import mmpfast
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        from mmpfast import codec as picked
        from mmpfast import wire
    return (f"mmpfast {mmpfast.__version__} from {Path(mmpfast.__file__).parent}; "
            f"codec: {picked.IMPLEMENTATION}; blocking hot path: {wire.IMPLEMENTATION}"
            f"{' (MMPFAST_NO_EXTENSIONS=1)' if no_extensions() else ''}")


def pytest_configure(config: pytest.Config) -> None:
    """No silent slow path: unless the pure build was asked for, the compiled codec and the
    compiled hot path must load."""
    if no_extensions():
        return
    try:
        importlib.import_module("mmpfast._codec")
        importlib.import_module("mmpfast._wire")
    except ImportError as exc:
        raise pytest.UsageError(
            f"a compiled module cannot be imported ({exc}). Install with "
            "'pip install .[test]' and run pytest from the repository root (not 'python -m pytest'), "
            "or set MMPFAST_NO_EXTENSIONS=1 to test the pure-Python build.") from exc
_MODULES = {"cython": "mmpfast._codec", "python": "mmpfast._codec_py"}


def load_codec(name: str) -> ModuleType:
    """Import one codec implementation by name ("cython" or "python")."""
    if name == "cython" and no_extensions():
        try:
            return importlib.import_module(_MODULES[name])
        except ImportError:
            pytest.skip("pure build requested with MMPFAST_NO_EXTENSIONS=1")
    return importlib.import_module(_MODULES[name])


@pytest.fixture(params=IMPLEMENTATIONS)
def codec(request: pytest.FixtureRequest) -> ModuleType:
    """Each codec implementation in turn."""
    return load_codec(request.param)


@pytest.fixture(params=[("cython", "python"), ("python", "cython")], ids=["cy->py", "py->cy"])
def codec_pair(request: pytest.FixtureRequest) -> tuple:
    """(encoder, decoder) pairs across the two implementations."""
    a, b = request.param
    return load_codec(a), load_codec(b)


def load_vectors(name: str) -> Dict[str, Any]:
    """Load ``tests/vectors/<name>`` (or ``$MMPFAST_VECTORS/<name>``)."""
    path = VECTORS / name
    if not path.exists():
        pytest.fail(f"golden vectors not found at {path} (MMPFAST_VECTORS="
                    f"{os.environ.get('MMPFAST_VECTORS')!r}; the default is {IN_REPO_VECTORS})")
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


@pytest.fixture(scope="session")
def frames_vectors() -> Dict[str, Any]:
    return load_vectors("frames.json")


@pytest.fixture(scope="session")
def memmap_vectors() -> Dict[str, Any]:
    return load_vectors("memmap.json")


@pytest.fixture(scope="session")
def stream_vector() -> Dict[str, Any]:
    return load_vectors("stream_standard.json")


def recv_exact(sock: "socket.socket", n: int, timeout: float = 3.0, *, allow_short: bool = False) -> bytes:
    """Receive exactly ``n`` bytes (each recv bounded by ``timeout`` seconds).

    A peer that closes first raises ``ConnectionError``, or with
    ``allow_short=True`` the bytes received so far are returned.
    """
    sock.settimeout(timeout)
    out = bytearray()
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            if allow_short:
                break
            raise ConnectionError(f"closed after {len(out)} of {n} bytes")
        out += chunk
    return bytes(out)


def uptime_within(read_uptime: Any, sim: Any) -> int:
    """Call ``read_uptime()`` (a client's ``uptime_ms``) and check its value lies between the
    simulator's own uptime just before and just after the call (ms): the answer is live and is
    the simulator's, which an unsigned ``>= 0`` could never show.  Returns the value."""
    before = sim.memory.uptime_ms()
    got = read_uptime()
    after = sim.memory.uptime_ms()
    assert before <= got <= after, f"uptime {got} ms not within the simulator's [{before}, {after}]"
    return int(got)


def uptime_advances(read_uptime: Any, pause: float = 0.03) -> int:
    """Read the uptime twice around a ``pause`` (seconds); check it advanced by the elapsed
    time (ms, within 1 ms of rounding at the low end).  Returns the advance in ms."""
    import time

    t0 = time.monotonic()
    first = read_uptime()
    time.sleep(pause)
    second = read_uptime()
    elapsed_ms = (time.monotonic() - t0) * 1000.0
    advance = int(second - first)
    assert pause * 1000.0 - 1 <= advance <= elapsed_ms + 1, (advance, pause, elapsed_ms)
    return advance


def load_tool(name: str) -> ModuleType:
    """Import ``tools/<name>.py`` by path (the tools are scripts, not a package)."""
    import importlib.util
    import sys

    mod_name = f"_mmpfast_tool_{name}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(mod_name, REPO / "tools" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = mod
    spec.loader.exec_module(mod)
    return mod


def hexbytes(text: str) -> bytes:
    """Bytes of a space-separated hex string as used in the vectors."""
    return bytes.fromhex(text)
