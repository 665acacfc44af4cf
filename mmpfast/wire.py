"""The blocking client's single-exchange hot path: the compiled ``mmpfast._wire``
unless ``MMPFAST_NO_EXTENSIONS=1`` asks for the pure ``mmpfast._wire_py``
(or the extension is missing: the codec's import already warned about that).
"""
from __future__ import annotations

from types import ModuleType

from . import _wire_py
from ._env import no_extensions

_impl: ModuleType = _wire_py
if not no_extensions():
    try:
        from . import _wire
        _impl = _wire
    except ImportError:
        pass

IMPLEMENTATION: str = _impl.IMPLEMENTATION
exchange_read = _wire_py.exchange_read if _impl is _wire_py else _impl.exchange_read
exchange_write = _wire_py.exchange_write if _impl is _wire_py else _impl.exchange_write
exchange_window = _wire_py.exchange_window if _impl is _wire_py else _impl.exchange_window

__all__ = ["IMPLEMENTATION", "exchange_read", "exchange_write", "exchange_window"]
