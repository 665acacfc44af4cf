"""A scripted raw OptoMMP server for client tests.

It listens on 127.0.0.1 port 0 in a background thread, frames what arrives
with the codec, records every request frame (``frames``: raw bytes, in
arrival order, over all connections) and answers each one by calling
``respond(frame, conn_index)``.  ``respond`` returns:

* ``bytes``: sent as is (may be several frames, a partial frame, garbage);
* ``None``: no answer (the client will time out);
* ``CLOSE``: close the connection without answering;
* ``(bytes, CLOSE)``: send the bytes, then close.

The default responder is a tiny memory-backed device: reads return what was
written (zeros otherwise), writes are acknowledged, and addresses listed in
``nak`` are answered with that rcode.  Tests replace ``respond`` to script faults.
"""
from __future__ import annotations

import asyncio
import inspect
import socket
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

from mmpfast import _codec_py as codec

CLOSE = object()


class Memory:
    """Sparse byte memory: address -> byte value (zero when never written)."""

    def __init__(self) -> None:
        self.bytes: Dict[int, int] = {}

    def read(self, address: int, length: int) -> bytes:
        get = self.bytes.get
        return bytes(get(address + i, 0) for i in range(length))

    def write(self, address: int, data: bytes) -> None:
        for i, b in enumerate(bytes(data)):
            self.bytes[address + i] = b


class ScriptedServer:
    def __init__(self, respond: Optional[Callable[[Any, int], Any]] = None) -> None:
        self.memory = Memory()
        self.nak: Dict[int, int] = {}
        self.frames: List[bytes] = []
        self.connections = 0
        self.respond: Callable[[Any, int], Any] = respond or self.device
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: List[threading.Thread] = []
        self._socks: List[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.02)
        self.host, self.port = self._listener.getsockname()[:2]
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True)

    # ------------------------------------------------------------ the default device
    def device(self, frame: Any, conn_index: int) -> Any:
        f = codec.decode_frame(frame)
        rcode = self.nak.get(f.address, 0)
        if f.tcode == 5:
            data = b"" if rcode else self.memory.read(f.address, f.data_length)
            return codec.encode_read_block_response(f.tl, data, rcode)
        if f.tcode == 1:
            if not rcode:
                self.memory.write(f.address, bytes(f.data))
            return codec.encode_write_response(f.tl, rcode)
        if f.tcode == 4:
            return codec.encode_read_quadlet_response(f.tl, self.memory.read(f.address, 4), rcode)
        if f.tcode == 0:
            if not rcode:
                self.memory.write(f.address, bytes(f.data))
            return codec.encode_write_response(f.tl, rcode)
        return codec.encode_write_response(f.tl, 1) if f.tcode in (2, 6, 7) else CLOSE

    # ------------------------------------------------------------ helpers for assertions
    def decoded(self) -> List[Any]:
        """The recorded requests, decoded."""
        with self._lock:
            frames = list(self.frames)
        return [codec.decode_frame(f) for f in frames]

    def clear(self) -> None:
        with self._lock:
            self.frames.clear()

    # ------------------------------------------------------------ machinery
    def __enter__(self) -> "ScriptedServer":
        self._accept_thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._accept_thread.join(2.0)
        for t in self._threads:
            t.join(2.0)
        self._listener.close()
        for s in self._socks:
            try:
                s.close()
            except OSError:
                pass

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (socket.timeout, OSError):
                continue
            with self._lock:
                index = self.connections
                self.connections += 1
                self._socks.append(conn)
            t = threading.Thread(target=self._serve, args=(conn, index), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, conn: socket.socket, index: int) -> None:
        conn.settimeout(0.02)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = bytearray()
        try:
            while not self._stop.is_set():
                try:
                    chunk = conn.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not chunk:
                    return
                buf += chunk
                while True:
                    try:
                        n = codec.frame_length(buf)
                    except Exception:
                        return
                    if n is None or len(buf) < n:
                        break
                    frame = bytes(buf[:n])
                    del buf[:n]
                    with self._lock:
                        self.frames.append(frame)
                    answer = self.respond(frame, index)
                    if answer is None:
                        continue
                    if answer is CLOSE:
                        return
                    if isinstance(answer, tuple):
                        data, _ = answer
                        conn.sendall(data)
                        return
                    conn.sendall(answer)
        finally:
            conn.close()


class AsyncAdapter:
    """Runs each coroutine method of an AsyncClient to completion on one loop."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._loop = asyncio.new_event_loop()   # one loop for every call (asyncio.Runner is 3.11+)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            if inspect.isawaitable(result):
                return self._loop.run_until_complete(result)
            return result
        return call

    def close(self) -> None:
        try:
            self._loop.run_until_complete(self._client.close())
        finally:
            self._loop.close()


# ----------------------------------------------------------------------------- fixtures
# Test modules import these two by name (``from scripted_server import make, server``).


@pytest.fixture(params=["blocking", "asyncio"])
def make(request: "pytest.FixtureRequest") -> Iterator[Any]:
    """``make(server, **options)``: a blocking ``Client`` or an ``AsyncClient`` (behind
    ``AsyncAdapter``) on a scripted server; closed after the test."""
    from mmpfast import AsyncClient, Client
    made: list = []

    def factory(server: Any, **kw: Any) -> Any:
        if request.param == "blocking":
            c: Any = Client(server.host, server.port, **kw)
        else:
            c = AsyncAdapter(AsyncClient(server.host, server.port, **kw))
        made.append(c)
        return c
    yield factory
    for c in made:
        c.close()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    """A running ``ScriptedServer``."""
    with ScriptedServer() as s:
        yield s
