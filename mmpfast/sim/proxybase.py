"""What the TCP and the UDP fault proxies share: the fault queue and the thread.

A proxy runs its own event loop in a daemon thread; ``start()`` returns once
it listens (or raises what stopped it), ``stop()`` (also ``close()`` and
leaving the ``with`` block) closes everything and joins the thread.  Faults
are queued from any thread and taken, one per response, by the loop thread.
"""
from __future__ import annotations

import asyncio
import collections
import threading
from types import TracebackType
from typing import Deque, Dict, Generic, Iterable, Optional, Type, TypeVar

F = TypeVar("F")
P = TypeVar("P", bound="ProxyBase")     # type: ignore[type-arg]


class ProxyBase(Generic[F]):
    """A fault queue of ``F`` entries and a background event loop; subclasses open
    their listener in ``_open`` and release what they hold in ``_shut``."""

    _thread_name = "mmpfast-proxy"

    def __init__(self, upstream_host: str, upstream_port: int, host: str, port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._host = host
        self._port = port
        self._faults: Deque[Optional[F]] = collections.deque()
        self._lock = threading.Lock()
        self.frames_up = 0
        self.frames_down = 0
        self.dropped = 0
        self.faults_applied = 0
        self.up_by_tcode: Dict[int, int] = {}
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._ready = threading.Event()
        self._error: Optional[BaseException] = None

    # ------------------------------------------------------------------ scripting
    def _queue(self, fault: Optional[F]) -> None:
        with self._lock:
            self._faults.append(fault)

    def queue_faults(self, faults: Iterable[Optional[F]]) -> None:
        """Queue several entries at once, in order."""
        with self._lock:
            self._faults.extend(faults)

    def clear_faults(self) -> None:
        """Forget every queued fault."""
        with self._lock:
            self._faults.clear()

    @property
    def pending_faults(self) -> int:
        """Queued entries not yet used."""
        return len(self._faults)

    def _take(self) -> Optional[F]:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _count_up(self, tcode: int) -> None:
        self.frames_up += 1
        self.up_by_tcode[tcode] = self.up_by_tcode.get(tcode, 0) + 1

    # ------------------------------------------------------------------ lifecycle
    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        return self._port

    def start(self: P) -> P:
        """Listen in a background thread; returns once listening."""
        if self._thread is not None:
            raise RuntimeError("proxy already started")
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
        self._thread.start()
        self._ready.wait(10.0)
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error
        return self

    def _open(self, loop: asyncio.AbstractEventLoop) -> None:
        """Open the listener in ``loop`` and set ``_port`` (in the proxy's thread)."""
        raise NotImplementedError

    def _shut(self, loop: asyncio.AbstractEventLoop) -> None:
        """Close the listener and every connection (the loop is stopped, not closed)."""
        raise NotImplementedError

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._open(loop)
        except BaseException as exc:
            self._error = exc
            loop.close()
            self._loop = None
            self._ready.set()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            self._shut(loop)
            loop.close()

    def stop(self) -> None:
        """Close every connection and stop the thread (idempotent)."""
        if self._thread is None:
            return
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10.0)
        self._thread = None
        self._loop = None

    def close(self) -> None:
        """The same as ``stop()``."""
        self.stop()

    def __enter__(self: P) -> P:
        return self.start()

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.stop()
