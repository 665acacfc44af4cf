"""The blocking client's single-exchange hot path: the compiled ``mmpfast._wire``
unless ``MMPFAST_NO_EXTENSIONS=1`` asks for the pure ``mmpfast._wire_py``
(or the extension is missing: the codec's import already warned about that).
"""
from __future__ import annotations

from ._env import no_extensions

if no_extensions():
    from ._wire_py import IMPLEMENTATION, exchange_read, exchange_write
else:
    try:
        from ._wire import IMPLEMENTATION, exchange_read, exchange_write  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        from ._wire_py import IMPLEMENTATION, exchange_read, exchange_write

__all__ = ["IMPLEMENTATION", "exchange_read", "exchange_write"]
