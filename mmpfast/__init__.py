"""mmpfast: fast, correct OptoMMP for Opto 22 groov EPIC and SNAP PAC controllers.

The codec (``mmpfast.codec``) is sans-I/O; ``Client`` and ``AsyncClient``
talk to a device on TCP port 2001; ``ScanPlan`` coalesces many points into
few block reads; ``mmpfast.sim`` is a simulated groov EPIC.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import (
    MmpConnectionError,
    MmpError,
    MmpNakError,
    MmpProtocolError,
    MmpTimeoutError,
    WriteOutcomeUnknown,
)

logging.getLogger("mmpfast").addHandler(logging.NullHandler())

if TYPE_CHECKING:   # what type checkers see; at run time these load on first use (below)
    from .aio import AsyncClient as AsyncClient
    from .client import Client as Client
    from .plan import ScanPlan as ScanPlan, ScanResult as ScanResult
    from .records import (AnalogChannel as AnalogChannel, DigitalChannel as DigitalChannel,
                          DigitalCounts as DigitalCounts, PointConfig as PointConfig, Status as Status)
    from .scanloop import AsyncScanLoop as AsyncScanLoop, ScanLoop as ScanLoop

# Public names that live in modules loaded on first use (keeps `import mmpfast` light).
_LAZY = {
    "Client": ("client", "Client"),
    "AsyncClient": ("aio", "AsyncClient"),
    "Status": ("records", "Status"),
    "DigitalChannel": ("records", "DigitalChannel"),
    "AnalogChannel": ("records", "AnalogChannel"),
    "DigitalCounts": ("records", "DigitalCounts"),
    "PointConfig": ("records", "PointConfig"),
    "ScanPlan": ("plan", "ScanPlan"),
    "ScanResult": ("plan", "ScanResult"),
    "ScanLoop": ("scanloop", "ScanLoop"),
    "AsyncScanLoop": ("scanloop", "AsyncScanLoop"),
}

__all__ = [
    "__version__",
    "MmpError", "MmpConnectionError", "MmpTimeoutError", "MmpProtocolError", "MmpNakError",
    "WriteOutcomeUnknown",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attr)
        globals()[name] = value
        return value
    if name in ("sim", "codec", "testing", "compat", "memmap", "protocol"):
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'mmpfast' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
