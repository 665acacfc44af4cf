"""A simulator in a child process, for measurements and load tests.

``Simulator`` runs in a thread of the caller's process and so shares its
interpreter lock: fine for tests, but it skews timing.  ``SimulatorProcess``
starts ``python -m mmpfast sim --port 0`` with the same mmpfast package the
caller imported (never a source tree that happens to be the working
directory) and reads the port it printed.
"""
from __future__ import annotations

import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import List, Optional, Sequence, Tuple, Type

__all__ = ["SimulatorProcess"]

_MARK = " listening on "


class SimulatorProcess:
    """``python -m mmpfast sim`` in a child process on 127.0.0.1, any free port.

    ``latency`` is the device answer time per request in seconds, ``modules``
    a rack spec as the ``sim`` command takes it (``"di:32,do:16,-"``),
    ``max_connections``, ``idle_timeout`` (seconds) and ``backlog`` as for
    ``Simulator`` (passed on as ``--max-connections``, ``--idle-timeout``,
    ``--backlog`` when not the defaults), ``extra_args`` more command-line options.
    ``address`` is ``(host, port)``; ``pid`` the child's process id.
    Waits at most ``startup_timeout`` seconds for the child to listen.
    """

    def __init__(self, *, latency: float = 0.0, modules: Optional[str] = None, profile: str = "epic",
                 udp: bool = False, max_connections: Optional[int] = None,
                 idle_timeout: Optional[float] = None, backlog: int = 100,
                 extra_args: Sequence[str] = (), startup_timeout: float = 20.0) -> None:
        args = self.command(latency=latency, modules=modules, profile=profile, udp=udp,
                            max_connections=max_connections, idle_timeout=idle_timeout,
                            backlog=backlog, extra_args=extra_args)
        import mmpfast

        env = dict(os.environ)
        root = str(Path(mmpfast.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.proc = subprocess.Popen(args, env=env, cwd=tempfile.gettempdir(), stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True)
        try:
            self.host, self.port = self._wait_listening(startup_timeout)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def command(*, latency: float = 0.0, modules: Optional[str] = None, profile: str = "epic",
                udp: bool = False, max_connections: Optional[int] = None,
                idle_timeout: Optional[float] = None, backlog: int = 100,
                extra_args: Sequence[str] = ()) -> List[str]:
        """The child's command line for these options (ValueError/TypeError for bad ones)."""
        from .server import DEFAULT_BACKLOG, check_latency, check_options

        seconds = check_latency(latency)
        check_options(max_connections, idle_timeout, backlog)
        args: List[str] = [sys.executable, "-m", "mmpfast", "sim", "--host", "127.0.0.1", "--port", "0",
                           "--latency", repr(seconds * 1000.0), "--profile", profile]
        if modules is not None:
            args += ["--modules", modules]
        if not udp:
            args.append("--no-udp")
        if max_connections is not None:
            args += ["--max-connections", str(max_connections)]
        if idle_timeout is not None:
            args += ["--idle-timeout", repr(float(idle_timeout))]
        if backlog != DEFAULT_BACKLOG:
            args += ["--backlog", str(backlog)]
        return args + list(extra_args)

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.proc.pid

    @property
    def address(self) -> Tuple[str, int]:
        """``(host, port)`` the child listens on."""
        return (self.host, self.port)

    def _wait_listening(self, timeout: float) -> Tuple[str, int]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"simulator process did not start within {timeout} s")
            ready, _, _ = select.select([self.proc.stdout], [], [], remaining)
            if not ready:
                continue
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"simulator process exited with {self.proc.wait(5)}")
            if _MARK in line:
                where = line.split(_MARK, 1)[1].split()[0]
                host, port = where.rsplit(":", 1)
                return host, int(port)

    def close(self) -> None:
        """Stop the child (SIGTERM, then SIGKILL after 10 s)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:   # pragma: no cover
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> "SimulatorProcess":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()
